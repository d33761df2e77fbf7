"""The writes table.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("writes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("tag", sa.Text, nullable=False))


def downgrade() -> None:
    op.drop_table("writes")
