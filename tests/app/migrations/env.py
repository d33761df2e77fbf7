"""Alembic's environment for the tests' app's migrations (tests/app/migrations/versions), run by
the migrate service as a fork's are; hand-written, so no metadata to compare with."""

from alembic import context

import stack_database

with stack_database.engine().connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
