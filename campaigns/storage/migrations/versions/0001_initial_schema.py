"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 01:26:20.756615
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import campaigns.storage.tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=True),
        sa.Column("extension", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agents_token_hash")),
        sa.UniqueConstraint("username", name=op.f("uq_agents_username")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "created_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "case_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column(
            "mandatory_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_types")),
        sa.UniqueConstraint("name", name=op.f("uq_case_types_name")),
    )
    op.create_table(
        "dnc",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column("added_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_dnc")),
    )
    op.create_table(
        "end_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("close_by_default", sa.Boolean(), nullable=False),
        sa.Column(
            "followup_queue", sa.String(length=100), server_default="general", nullable=False
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_end_reasons")),
        sa.UniqueConstraint("name", name=op.f("uq_end_reasons_name")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("due_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("dials", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column(
            "lease_expires_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "created_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_contacts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("campaign_id", "phone", name=op.f("uq_contacts_campaign_id_phone")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_campaign_state", ["campaign_id", "state"], unique=False)
        batch_op.create_index(
            "ix_contacts_queue",
            ["campaign_id", "due_at", "id"],
            unique=False,
            sqlite_where=sa.text("due_at IS NOT NULL AND priority = 0"),
            postgresql_where=sa.text("due_at IS NOT NULL AND priority = 0"),
        )
        batch_op.create_index(
            "ix_contacts_urgent",
            ["campaign_id", sa.literal_column("priority DESC"), "due_at", "id"],
            unique=False,
            sqlite_where=sa.text("due_at IS NOT NULL AND priority > 0"),
            postgresql_where=sa.text("due_at IS NOT NULL AND priority > 0"),
        )

    op.create_table(
        "interactions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column(
            "attempt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "started_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("ended_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "wrapped_up_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("end_reason_id", sa.Integer(), nullable=True),
        sa.Column("end_description", sa.Text(), server_default="", nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=True),
        sa.Column("followup_queue", sa.String(length=100), nullable=True),
        sa.Column(
            "wrapup_deadline", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("wrapup_extended", sa.Boolean(), nullable=False),
        sa.Column("registration_required", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_interactions_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["end_reason_id"],
            ["end_reasons.id"],
            name=op.f("fk_interactions_end_reason_id_end_reasons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
    )
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interactions_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            "ix_interactions_followup",
            ["followup_queue", "id"],
            unique=False,
            sqlite_where=sa.text("followup_queue IS NOT NULL"),
            postgresql_where=sa.text("followup_queue IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_interactions_wrapup_due",
            ["wrapup_deadline"],
            unique=False,
            sqlite_where=sa.text("wrapped_up_at IS NULL"),
            postgresql_where=sa.text("wrapped_up_at IS NULL"),
        )

    op.create_table(
        "wrapup_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("multi_choice", sa.Boolean(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_wrapup_categories_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wrapup_categories")),
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column(
            "started_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("ended_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_attempts_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_attempts_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_attempts_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attempts_campaign_started", ["campaign_id", "started_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_attempts_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(
            "ix_attempts_open",
            ["owner"],
            unique=False,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )

    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("booked_by", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("due_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "reserved_until", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "interaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "created_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["booked_by"], ["agents.id"], name=op.f("fk_callbacks_booked_by_agents")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_callbacks_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_callbacks_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_callbacks_interaction_id_interactions"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["agents.id"], name=op.f("fk_callbacks_owner_id_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index("ix_callbacks_owner", ["owner_id", "state"], unique=False)
        batch_op.create_index("ix_callbacks_state_due", ["state", "due_at"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("taken_by", sa.String(length=100), nullable=True),
        sa.Column(
            "interaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("comments", sa.Text(), server_default="", nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column(
            "created_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["agents.id"], name=op.f("fk_cases_creator_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_cases_interaction_id_interactions"),
        ),
        sa.ForeignKeyConstraint(
            ["type_id"], ["case_types.id"], name=op.f("fk_cases_type_id_case_types")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_creator_id"), ["creator_id"], unique=False)
        batch_op.create_index("ix_cases_department_status", ["department", "status"], unique=False)

    op.create_table(
        "registrations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "interaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("feedback", sa.String(length=32), nullable=True),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_registrations_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_registrations_interaction_id_interactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint("interaction_id", name=op.f("uq_registrations_interaction_id")),
    )
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_registrations_campaign_created", ["campaign_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_registrations_created", ["created_at"], unique=False)

    op.create_table(
        "wrapup_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("script", sa.Text(), server_default="", nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["wrapup_categories.id"],
            name=op.f("fk_wrapup_topics_category_id_wrapup_categories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wrapup_topics")),
        sa.UniqueConstraint("category_id", "name", name=op.f("uq_wrapup_topics_category_id_name")),
    )
    with op.batch_alter_table("wrapup_topics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wrapup_topics_category_id"), ["category_id"], unique=False
        )

    op.create_table(
        "case_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", campaigns.storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_actions_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_actions")),
    )
    with op.batch_alter_table("case_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_actions_case_id"), ["case_id"], unique=False)

    op.create_table(
        "registration_topics",
        sa.Column(
            "registration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_registration_topics_registration_id_registrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["wrapup_topics.id"],
            name=op.f("fk_registration_topics_topic_id_wrapup_topics"),
        ),
        sa.PrimaryKeyConstraint("registration_id", "topic_id", name=op.f("pk_registration_topics")),
    )


def downgrade() -> None:
    op.drop_table("registration_topics")
    with op.batch_alter_table("case_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_actions_case_id"))

    op.drop_table("case_actions")
    with op.batch_alter_table("wrapup_topics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wrapup_topics_category_id"))

    op.drop_table("wrapup_topics")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_registrations_created")
        batch_op.drop_index("ix_registrations_campaign_created")

    op.drop_table("registrations")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_department_status")
        batch_op.drop_index(batch_op.f("ix_cases_creator_id"))

    op.drop_table("cases")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_callbacks_state_due")
        batch_op.drop_index("ix_callbacks_owner")

    op.drop_table("callbacks")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_attempts_open",
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_attempts_contact_id"))
        batch_op.drop_index("ix_attempts_campaign_started")

    op.drop_table("attempts")
    op.drop_table("wrapup_categories")
    with op.batch_alter_table("interactions", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_interactions_wrapup_due",
            sqlite_where=sa.text("wrapped_up_at IS NULL"),
            postgresql_where=sa.text("wrapped_up_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_interactions_followup",
            sqlite_where=sa.text("followup_queue IS NOT NULL"),
            postgresql_where=sa.text("followup_queue IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_interactions_agent_id"))

    op.drop_table("interactions")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_contacts_urgent",
            sqlite_where=sa.text("due_at IS NOT NULL AND priority > 0"),
            postgresql_where=sa.text("due_at IS NOT NULL AND priority > 0"),
        )
        batch_op.drop_index(
            "ix_contacts_queue",
            sqlite_where=sa.text("due_at IS NOT NULL AND priority = 0"),
            postgresql_where=sa.text("due_at IS NOT NULL AND priority = 0"),
        )
        batch_op.drop_index("ix_contacts_campaign_state")

    op.drop_table("contacts")
    op.drop_table("end_reasons")
    op.drop_table("dnc")
    op.drop_table("case_types")
    op.drop_table("campaigns")
    op.drop_table("agents")
