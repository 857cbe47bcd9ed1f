"""an index on the inbox by ticket, for the time from receipt to acknowledgement

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbox_ticket", "inbox", ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbox_ticket", table_name="inbox")
