"""contacts.attempt_id: the attempt that holds a contact's claim

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "attempt_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
    # Contacts being dialled now belong to their open attempt, as they would have.
    op.execute(
        "UPDATE contacts SET attempt_id = (SELECT max(a.id) FROM attempts a"
        " WHERE a.contact_id = contacts.id AND a.ended_at IS NULL)"
        " WHERE state = 'dialing'"
    )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("attempt_id")
