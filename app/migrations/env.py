"""Alembic's environment for the app's migrations, which `stackctl migrate` (the migrate service,
postgres/compose.yaml) runs against DATABASE_URL before the app starts. Write each one so that the
running version of the app and the next both work with it: expand, then contract
(postgres/README.md)."""

import stack_database
from webapp.notes import metadata

stack_database.run_migrations(metadata)
