"""the incident's own promise in the promise loop: nudged_for and eta_apologized on incidents

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.add_column(sa.Column("nudged_for", _WHEN, nullable=True))
        table.add_column(sa.Column("eta_apologized", _WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as table:
        table.drop_column("eta_apologized")
        table.drop_column("nudged_for")
