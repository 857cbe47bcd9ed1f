"""similar tickets: words, index keys, best matches, possible-incident suggestions

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "similar_texts",
        sa.Column("ticket_id", _ID, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("words", sa.String(length=400), nullable=False),
    )
    op.create_table(
        "similar_keys",
        sa.Column("key", sa.String(length=16), primary_key=True),
        sa.Column("ticket_id", _ID, sa.ForeignKey("tickets.id"), primary_key=True),
    )
    op.create_table(
        "similar_matches",
        sa.Column("ticket_id", _ID, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("rank", sa.Integer(), primary_key=True),
        sa.Column("other_ticket_id", _ID, nullable=True),
        sa.Column("incident_id", _ID, nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
    )
    op.create_table(
        "incident_suggestions",
        sa.Column("id", _ID, autoincrement=True, primary_key=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("incident_id", _ID, nullable=True),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
    )
    op.create_table(
        "suggestion_members",
        sa.Column("ticket_id", _ID, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("suggestion_id", _ID, sa.ForeignKey("incident_suggestions.id"), nullable=False),
    )
    op.create_index(
        "ix_suggestion_members_suggestion", "suggestion_members", ["suggestion_id", "ticket_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_suggestion_members_suggestion", table_name="suggestion_members")
    for table in ("suggestion_members", "incident_suggestions", "similar_matches",
                  "similar_keys", "similar_texts"):  # fmt: skip
        op.drop_table(table)
