"""Alembic's environment for the app's migrations, which `stackctl migrate` (the migrate service,
postgres/compose.yaml) runs against DATABASE_URL before the app starts. Write each one so that the
running version of the app and the next both work with it: expand, then contract (docs/database.md)."""

from alembic import context

import stack_database
from webapp.notes import metadata

with stack_database.engine().connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
