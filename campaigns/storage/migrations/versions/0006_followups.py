"""followups and followup_notes: who took a request left open, who closed it, its notes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("interaction_id", _ID, nullable=False),
        sa.Column("taken_by", sa.Integer(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_followups_interaction_id_interactions"),
        ),
        sa.ForeignKeyConstraint(
            ["taken_by"], ["agents.id"], name=op.f("fk_followups_taken_by_agents")
        ),
        sa.ForeignKeyConstraint(
            ["closed_by"], ["agents.id"], name=op.f("fk_followups_closed_by_agents")
        ),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_followups")),
    )
    op.create_table(
        "followup_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interaction_id", _ID, nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_followup_notes_interaction_id_interactions"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["agents.id"], name=op.f("fk_followup_notes_author_id_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_notes")),
    )
    op.create_index(op.f("ix_followup_notes_interaction_id"), "followup_notes", ["interaction_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_followup_notes_interaction_id"), table_name="followup_notes")
    op.drop_table("followup_notes")
    op.drop_table("followups")
