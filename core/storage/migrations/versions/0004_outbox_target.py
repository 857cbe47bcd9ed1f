"""an index on the outbox by target, for the acknowledgements one address got lately

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_target", "outbox", ["channel", "address", "kind", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_target", table_name="outbox")
