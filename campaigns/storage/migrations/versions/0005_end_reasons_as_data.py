"""end_reasons: description, campaign_id (a campaign's own reasons) and position; a name is
unique among the global reasons and within each campaign's

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("end_reasons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_foreign_key(
            op.f("fk_end_reasons_campaign_id_campaigns"), "campaigns", ["campaign_id"], ["id"]
        )
        batch_op.drop_constraint(op.f("uq_end_reasons_name"), type_="unique")
    # Until now the order was the order of creation.
    op.execute("UPDATE end_reasons SET position = id")
    op.create_index(
        "uq_end_reasons_global_name",
        "end_reasons",
        ["name"],
        unique=True,
        sqlite_where=sa.text("campaign_id IS NULL"),
        postgresql_where=sa.text("campaign_id IS NULL"),
    )
    op.create_index(
        "uq_end_reasons_campaign_name",
        "end_reasons",
        ["campaign_id", "name"],
        unique=True,
        sqlite_where=sa.text("campaign_id IS NOT NULL"),
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_end_reasons_campaign_name", table_name="end_reasons")
    op.drop_index("uq_end_reasons_global_name", table_name="end_reasons")
    op.execute("DELETE FROM end_reasons WHERE campaign_id IS NOT NULL")
    with op.batch_alter_table("end_reasons", schema=None) as batch_op:
        batch_op.create_unique_constraint(op.f("uq_end_reasons_name"), ["name"])
        batch_op.drop_constraint(op.f("fk_end_reasons_campaign_id_campaigns"), type_="foreignkey")
        batch_op.drop_column("position")
        batch_op.drop_column("campaign_id")
        batch_op.drop_column("description")
