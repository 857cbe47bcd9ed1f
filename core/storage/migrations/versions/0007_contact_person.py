"""contacts linked as one person: person_id names the person's canonical contact

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(
            sa.Column(
                "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
    op.create_index("ix_contacts_person_id", "contacts", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contacts_person_id", table_name="contacts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("person_id")
