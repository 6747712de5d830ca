"""The database schema (SQLAlchemy Core). Only the store and the migrations import this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False, **kw: Any) -> sa.Column[datetime]:
    return sa.Column(name, UtcDateTime(), nullable=nullable, **kw)


campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("spec", Json, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "campaign_id", sa.Integer, sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # Set only while the contact is queued (pending/retry): the claim indexes are partial on it.
    _ts("due_at", nullable=True),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("dials", sa.Integer, nullable=False, server_default="0"),
    sa.Column("attributes", Json, nullable=False),
    sa.Column("last_outcome", sa.String(16), nullable=True),
    sa.Column("lease_owner", sa.String(100), nullable=True),
    _ts("lease_expires_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    # The attempt holding the claim (None: claimed but not dialled yet, or not claimed).
    # Only that attempt's settlement releases the contact. No foreign key: attempts
    # refer to contacts already, and the two tables would depend on each other.
    sa.Column("attempt_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=True),
    sa.UniqueConstraint("campaign_id", "phone"),
)
# The claim reads these two partial indexes, each as one range scan in queue order. The
# predicates are literals on purpose: a planner only matches a partial index to a query
# that repeats its predicate.
sa.Index(
    "ix_contacts_queue",
    contacts.c.campaign_id,
    contacts.c.due_at,
    contacts.c.id,
    sqlite_where=sa.text("due_at IS NOT NULL AND priority = 0"),
    postgresql_where=sa.text("due_at IS NOT NULL AND priority = 0"),
)
sa.Index(
    "ix_contacts_urgent",
    contacts.c.campaign_id,
    contacts.c.priority.desc(),
    contacts.c.due_at,
    contacts.c.id,
    sqlite_where=sa.text("due_at IS NOT NULL AND priority > 0"),
    postgresql_where=sa.text("due_at IS NOT NULL AND priority > 0"),
)
# Counts by state, and the contacts being dialled (leases are found through it: an index
# on the lease columns would be one more index for every claim to maintain).
sa.Index("ix_contacts_campaign_state", contacts.c.campaign_id, contacts.c.state)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "contact_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("contacts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("owner", sa.String(100), nullable=False),
    _ts("started_at"),
    _ts("ended_at", nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("counted", sa.Boolean, nullable=False),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
    sa.Column("detail", Json, nullable=False),
)
sa.Index("ix_attempts_campaign_started", attempts.c.campaign_id, attempts.c.started_at)
sa.Index(
    "ix_attempts_open",
    attempts.c.owner,
    sqlite_where=attempts.c.ended_at.is_(None),
    postgresql_where=attempts.c.ended_at.is_(None),
)

dnc = sa.Table(
    "dnc",
    metadata,
    sa.Column("phone", sa.String(20), primary_key=True),
    sa.Column("reason", sa.String(200), nullable=False, server_default=""),
    _ts("added_at"),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(128), nullable=True, unique=True),
    sa.Column("extension", sa.String(100), nullable=True),
    _ts("created_at"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    # The service (instance id) the agent is logged in to; empty: logged out everywhere.
    # Services sharing a database route callbacks reserved for an agent by it.
    sa.Column("logged_in_to", sa.String(100), nullable=True),
)

callbacks = sa.Table(
    "callbacks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "contact_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("contacts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("booked_by", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
    # NULL: for all agents.
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
    _ts("due_at"),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("state", sa.String(16), nullable=False),
    _ts("reserved_until", nullable=True),
    sa.Column(
        "interaction_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("interactions.id"),
        nullable=True,
    ),
    _ts("created_at"),
    _ts("updated_at"),
)
sa.Index("ix_callbacks_state_due", callbacks.c.state, callbacks.c.due_at)
sa.Index("ix_callbacks_owner", callbacks.c.owner_id, callbacks.c.state)

wrapup_categories = sa.Table(
    "wrapup_categories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("multi_choice", sa.Boolean, nullable=False),
    sa.Column(
        "campaign_id",
        sa.Integer,
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),
)

wrapup_topics = sa.Table(
    "wrapup_topics",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "category_id",
        sa.Integer,
        sa.ForeignKey("wrapup_categories.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("script", sa.Text, nullable=False, server_default=""),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.UniqueConstraint("category_id", "name"),
)

end_reasons = sa.Table(
    "end_reasons",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("close_by_default", sa.Boolean, nullable=False),
    sa.Column("followup_queue", sa.String(100), nullable=False, server_default="general"),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    # NULL: offered for every call; set: for that campaign's calls only.
    sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaigns.id"), nullable=True),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    # A name is unique among the global reasons and within a campaign's own.
    sa.Index(
        "uq_end_reasons_global_name",
        "name",
        unique=True,
        sqlite_where=sa.text("campaign_id IS NULL"),
        postgresql_where=sa.text("campaign_id IS NULL"),
    ),
    sa.Index(
        "uq_end_reasons_campaign_name",
        "campaign_id",
        "name",
        unique=True,
        sqlite_where=sa.text("campaign_id IS NOT NULL"),
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
    ),
)

interactions = sa.Table(
    "interactions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False, index=True),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("phone", sa.String(32), nullable=False),
    sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=True),
    sa.Column("campaign_id", sa.Integer, nullable=True),
    sa.Column("attempt_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=True),
    _ts("started_at"),
    _ts("ended_at", nullable=True),
    _ts("wrapped_up_at", nullable=True),
    sa.Column("end_reason_id", sa.Integer, sa.ForeignKey("end_reasons.id"), nullable=True),
    sa.Column("end_description", sa.Text, nullable=False, server_default=""),
    sa.Column("closed", sa.Boolean, nullable=True),
    sa.Column("followup_queue", sa.String(100), nullable=True),
    # Set when the call ends and a countdown applies; cleared when the agent extends.
    _ts("wrapup_deadline", nullable=True),
    sa.Column("wrapup_extended", sa.Boolean, nullable=False),
    sa.Column("registration_required", sa.Boolean, nullable=False),
    # The service whose agent has it (its instance id): that one wraps it up on time,
    # others only once it is overdue (the owner may be gone). Empty: whoever looks.
    sa.Column("owner", sa.String(100), nullable=True),
)
sa.Index(
    "ix_interactions_wrapup_due",
    interactions.c.wrapup_deadline,
    sqlite_where=interactions.c.wrapped_up_at.is_(None),
    postgresql_where=interactions.c.wrapped_up_at.is_(None),
)
sa.Index(
    "ix_interactions_followup",
    interactions.c.followup_queue,
    interactions.c.id,
    sqlite_where=interactions.c.followup_queue.isnot(None),
    postgresql_where=interactions.c.followup_queue.isnot(None),
)

registrations = sa.Table(
    "registrations",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "interaction_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("interactions.id"),
        nullable=False,
        unique=True,
    ),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("campaign_id", sa.Integer, nullable=True),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("feedback", sa.String(32), nullable=True),
    sa.Column("automatic", sa.Boolean, nullable=False),
    _ts("created_at"),
)
sa.Index("ix_registrations_created", registrations.c.created_at)
sa.Index(
    "ix_registrations_campaign_created", registrations.c.campaign_id, registrations.c.created_at
)

registration_topics = sa.Table(
    "registration_topics",
    metadata,
    sa.Column(
        "registration_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("registrations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("topic_id", sa.Integer, sa.ForeignKey("wrapup_topics.id"), primary_key=True),
)

case_types = sa.Table(
    "case_types",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("department", sa.String(100), nullable=False),
    sa.Column("mandatory_fields", Json, nullable=False),
)

# A request left open (interactions.followup_queue set, closed false) is in its queue from
# the end of the call; a row here once someone takes it or closes it.
followups = sa.Table(
    "followups",
    metadata,
    sa.Column(
        "interaction_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("interactions.id"),
        primary_key=True,
    ),
    sa.Column("taken_by", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
    _ts("taken_at", nullable=True),
    sa.Column("closed_by", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
    _ts("closed_at", nullable=True),
)

followup_notes = sa.Table(
    "followup_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "interaction_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("interactions.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("author_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    _ts("created_at"),
)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("type_id", sa.Integer, sa.ForeignKey("case_types.id"), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("department", sa.String(100), nullable=False),
    sa.Column("creator_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False, index=True),
    sa.Column("taken_by", sa.String(100), nullable=True),
    sa.Column(
        "interaction_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("interactions.id"),
        nullable=True,
    ),
    sa.Column("fields", Json, nullable=False),
    sa.Column("comments", sa.Text, nullable=False, server_default=""),
    sa.Column("phone", sa.String(32), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
)
sa.Index("ix_cases_department_status", cases.c.department, cases.c.status)

case_actions = sa.Table(
    "case_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "case_id",
        sa.Integer,
        sa.ForeignKey("cases.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("detail", Json, nullable=False),
    _ts("at"),
)
