"""Alembic's environment for the tests' app's migrations (tests/app/migrations/versions), run by
the migrate service as a fork's are; hand-written, so no metadata to compare with."""

import stack_database

stack_database.run_migrations(None)
