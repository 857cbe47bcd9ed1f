"""ticket page tokens, stored as their SHA-256 hashes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ticket_tokens",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.BigInteger(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_ticket_tokens_token_hash"),
    )
    op.create_index("ix_ticket_tokens_ticket_id", "ticket_tokens", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_tokens_ticket_id", table_name="ticket_tokens")
    op.drop_table("ticket_tokens")
