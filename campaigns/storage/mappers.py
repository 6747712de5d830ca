"""Rows in, domain values out: one mapper per table, shared by the store modules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from campaigns.callbacks import Callback, CallbackState
from campaigns.cases import Case, CaseStatus, CaseType, Priority
from campaigns.model import Attempt, CampaignState, Contact, ContactState, Outcome
from campaigns.spec import Campaign, CampaignSpec
from campaigns.users import Role, User
from campaigns.wrapup import (
    Category,
    Direction,
    EndReason,
    Feedback,
    Interaction,
    Registration,
    Topic,
)


def campaign(row: sa.Row[Any]) -> Campaign:
    return Campaign(
        id=row.id,
        state=CampaignState(row.state),
        spec=CampaignSpec.model_validate(row.spec),
        created_at=row.created_at,
    )


def claimed(row: Sequence[Any]) -> Contact:
    """A contact the claim just took (the claim's columns): dialing, out of the queue."""
    id_, campaign_id, phone, timezone, priority, attempts, dials, attributes, last = row
    return Contact(
        id=id_,
        campaign_id=campaign_id,
        phone=phone,
        timezone=timezone,
        state=ContactState.DIALING,
        due_at=None,
        priority=priority,
        attempts=attempts,
        dials=dials,
        attributes=dict(attributes),
        last_outcome=Outcome(last) if last else None,
    )


def contact(row: Mapping[Any, Any]) -> Contact:
    """A contact from a whole row of the contacts table (``Row._mapping``)."""
    return Contact(
        id=row["id"],
        campaign_id=row["campaign_id"],
        phone=row["phone"],
        timezone=row["timezone"],
        state=ContactState(row["state"]),
        due_at=row["due_at"],
        priority=row["priority"],
        attempts=row["attempts"],
        dials=row["dials"],
        attributes=dict(row["attributes"]),
        last_outcome=Outcome(row["last_outcome"]) if row["last_outcome"] else None,
    )


def attempt(row: sa.Row[Any]) -> Attempt:
    return Attempt(
        id=row.id,
        contact_id=row.contact_id,
        campaign_id=row.campaign_id,
        phone=row.phone,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outcome=Outcome(row.outcome) if row.outcome else None,
        counted=row.counted,
        detail=dict(row.detail),
    )


def callback(row: sa.Row[Any]) -> Callback:
    return Callback(
        id=row.id,
        contact_id=row.contact_id,
        campaign_id=row.campaign_id,
        booked_by=row.booked_by,
        owner_id=row.owner_id,
        due_at=row.due_at,
        comment=row.comment,
        state=CallbackState(row.state),
        created_at=row.created_at,
        reserved_until=row.reserved_until,
        interaction_id=row.interaction_id,
    )


def user(row: sa.Row[Any]) -> User:
    return User(row.id, row.username, Role(row.role), row.name, row.extension, bool(row.active))


def category(row: sa.Row[Any]) -> Category:
    return Category(
        row.id, row.name, row.multi_choice, row.campaign_id, row.active, bool(row.required)
    )


def topic(row: sa.Row[Any]) -> Topic:
    return Topic(row.id, row.category_id, row.name, row.script, row.active)


def end_reason(row: sa.Row[Any]) -> EndReason:
    return EndReason(
        row.id,
        row.name,
        row.close_by_default,
        row.followup_queue,
        row.active,
        row.description,
        row.campaign_id,
        row.position,
    )


def interaction(row: sa.Row[Any]) -> Interaction:
    return Interaction(
        id=row.id,
        agent_id=row.agent_id,
        direction=Direction(row.direction),
        phone=row.phone,
        started_at=row.started_at,
        contact_id=row.contact_id,
        campaign_id=row.campaign_id,
        attempt_id=row.attempt_id,
        ended_at=row.ended_at,
        wrapped_up_at=row.wrapped_up_at,
        end_reason_id=row.end_reason_id,
        end_description=row.end_description,
        closed=row.closed,
        followup_queue=row.followup_queue,
        wrapup_deadline=row.wrapup_deadline,
        wrapup_extended=row.wrapup_extended,
        registration_required=row.registration_required,
    )


def registration(row: sa.Row[Any], topic_ids: tuple[int, ...]) -> Registration:
    return Registration(
        id=row.id,
        interaction_id=row.interaction_id,
        agent_id=row.agent_id,
        campaign_id=row.campaign_id,
        comment=row.comment,
        feedback=Feedback(row.feedback) if row.feedback else None,
        automatic=row.automatic,
        created_at=row.created_at,
        topic_ids=topic_ids,
    )


def case_type(row: sa.Row[Any]) -> CaseType:
    return CaseType(row.id, row.name, row.department, tuple(row.mandatory_fields))


def case(row: sa.Row[Any]) -> Case:
    return Case(
        id=row.id,
        type_id=row.type_id,
        subject=row.subject,
        priority=Priority(row.priority),
        status=CaseStatus(row.status),
        department=row.department,
        creator_id=row.creator_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        comments=row.comments,
        phone=row.phone,
        interaction_id=row.interaction_id,
        taken_by=row.taken_by,
        fields=dict(row.fields),
    )


def utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
