"""Wrap-up (SPEC 5 and 6): interactions, registrations, end reasons, and their rules.

Pure: frozen values and functions that raise :class:`campaigns.errors.Invalid` (naming the
field) or return new values. The agent service reads what the rules need, calls them, then
has the store write the result in one transaction.
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from campaigns.callbacks import CallbackFor, CallbackRequest, NewCallback
from campaigns.errors import Code, Conflict, Invalid
from campaigns.hours import next_open
from campaigns.model import Attempt, Contact, ContactState, Outcome
from campaigns.spec import (
    CallingHours,
    RetryRules,
    SpecError,
    Wrapup,
    describe_errors,
)
from campaigns.text import check_storable


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Feedback(enum.StrEnum):
    """Dialer feedback given with a registration."""

    NOT_ANSWERED = "not_answered"
    ANSWERING_MACHINE = "answering_machine"
    CALLBACK = "callback"


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    name: str
    multi_choice: bool
    campaign_id: int | None = None
    """Set: the category is offered only for this campaign's dialer calls."""
    active: bool = True
    required: bool = False
    """A forced registration needs a topic of this category when it is offered."""


@dataclass(frozen=True, slots=True)
class Topic:
    id: int
    category_id: int
    name: str
    script: str = ""
    """Guidance shown to the agent once the topic is picked."""
    active: bool = True


@dataclass(frozen=True, slots=True)
class EndReason:
    """What a call was about, picked by the agent when it ends: data that administrators
    create, edit, order and retire, for every campaign (``campaign_id`` None) or one."""

    id: int
    name: str
    close_by_default: bool
    followup_queue: str = "general"
    """Where a request that is not closed goes for further work (by subject)."""
    active: bool = True
    """False: retired; kept for the interactions that name it, offered no more."""
    description: str = ""
    """What the reason covers, shown to the agent."""
    campaign_id: int | None = None
    position: int = 0
    """Order in the agent's list: by position, then name."""

    def offered_for(self, campaign_id: int | None) -> bool:
        """Whether an agent may pick it for a call of ``campaign_id`` (None: inbound)."""
        return self.active and self.campaign_id in (None, campaign_id)


@dataclass(frozen=True, slots=True)
class NewEndReason:
    name: str
    close_by_default: bool
    followup_queue: str = "general"
    description: str = ""
    campaign_id: int | None = None
    position: int = 0


@dataclass(frozen=True, slots=True)
class EndReasonChanges:
    """An edit of an end reason: None leaves a value as it is."""

    name: str | None = None
    close_by_default: bool | None = None
    followup_queue: str | None = None
    description: str | None = None
    position: int | None = None
    active: bool | None = None


@dataclass(frozen=True, slots=True)
class Interaction:
    """One call handled by an agent, from offer to wrap-up."""

    id: int
    agent_id: int
    direction: Direction
    phone: str
    started_at: datetime
    contact_id: int | None = None
    campaign_id: int | None = None
    attempt_id: int | None = None
    ended_at: datetime | None = None
    wrapped_up_at: datetime | None = None
    end_reason_id: int | None = None
    end_description: str = ""
    closed: bool | None = None
    followup_queue: str | None = None
    wrapup_deadline: datetime | None = None
    wrapup_extended: bool = False
    registration_required: bool = False

    @property
    def is_dialer_call(self) -> bool:
        return self.campaign_id is not None and self.contact_id is not None

    @property
    def awaiting_wrapup(self) -> bool:
        return self.ended_at is not None and self.wrapped_up_at is None


@dataclass(frozen=True, slots=True)
class EndReasonChoice:
    reason_id: int
    close: bool | None = None
    """None: the reason's default."""
    description: str = ""


@dataclass(frozen=True, slots=True)
class RegistrationDraft:
    topic_ids: tuple[int, ...] = ()
    comment: str = ""
    feedback: Feedback | None = None
    callback: CallbackRequest | None = None
    end_reason: EndReasonChoice | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    id: int
    interaction_id: int
    agent_id: int
    campaign_id: int | None
    comment: str
    feedback: Feedback | None
    automatic: bool
    created_at: datetime
    topic_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class EndReasonOutcome:
    """What choosing an end reason writes on the interaction."""

    reason_id: int
    closed: bool
    followup_queue: str | None
    description: str


@dataclass(frozen=True, slots=True)
class ContactChange:
    """The contact's new state after dialer feedback."""

    contact_id: int
    state: ContactState
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class WrapupTimer:
    elapsed_seconds: float
    remaining_seconds: float | None
    """None: no countdown (none configured, extended, or already wrapped up)."""
    extended: bool


@dataclass(frozen=True, slots=True)
class TopicCount:
    """Registrations with a topic; ``topic_id`` None: registrations without any topic."""

    category_id: int | None
    category: str | None
    topic_id: int | None
    topic: str | None
    count: int
    campaign_id: int | None = None
    agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class FollowupNote:
    id: int
    interaction_id: int
    author_id: int
    author: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FollowupItem:
    """A request left open at the end of a call, in its follow-up queue: the call, its end
    reason, who has taken it, and the case it became, if any."""

    interaction: Interaction
    reason: str | None
    taken_by: int | None = None
    taken_by_name: str | None = None
    taken_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: int | None = None
    case_id: int | None = None
    notes: int = 0

    @property
    def queue(self) -> str:
        return self.interaction.followup_queue or ""

    @property
    def opened_at(self) -> datetime:
        """When the request was left open: the call's end (or its start, if it has none)."""
        return self.interaction.ended_at or self.interaction.started_at


@dataclass(frozen=True, slots=True)
class QueueSummary:
    queue: str
    open: int
    """Not closed, taken or not."""
    taken: int
    oldest_opened_at: datetime | None


def check_followup_work(item: FollowupItem, user_id: int, manager: bool) -> None:
    """Only an open item can be worked on, and one taken by another agent only by a
    manager."""
    if item.closed_at is not None:
        raise Conflict(f"follow-up {item.interaction.id} is closed", code=Code.FOLLOWUP_CLOSED)
    if item.taken_by not in (None, user_id) and not manager:
        raise Conflict(
            f"follow-up {item.interaction.id} is taken by {item.taken_by_name}",
            code=Code.FOLLOWUP_TAKEN,
        )


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """One agent's work over a period: calls handled, seconds talking and in wrap-up
    (of the calls that ended, and were wrapped up), registrations made."""

    agent_id: int
    username: str
    calls: int
    talk_seconds: float
    wrapup_seconds: float
    registrations: int


class _FileModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: object) -> object:
        return check_storable(value)


class _StarterReason(_FileModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    close: bool = Field(description="the close-the-request default")
    queue: Annotated[str, Field(min_length=1, max_length=100)] = "general"
    description: Annotated[str, Field(max_length=4000)] = ""


class _StarterFile(_FileModel):
    reason: list[_StarterReason] = Field(min_length=1)


def read_end_reasons(path: Path, campaign_id: int | None = None) -> list[NewEndReason]:
    """An end-reason file (``[[reason]]`` tables: name, close, queue, description; see
    ``config/end-reasons.toml``), in its order; raises :class:`SpecError` naming each bad
    key. ``campaign_id`` makes them that campaign's own."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from exc
    try:
        parsed = _StarterFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{path}: " + describe_errors(exc)) from exc
    names = [r.name for r in parsed.reason]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise SpecError(f"{path}: reason.name: listed twice: {', '.join(twice)}")
    return [
        NewEndReason(r.name, r.close, r.queue, r.description, campaign_id, position)
        for position, r in enumerate(parsed.reason, start=1)
    ]


def offered_categories(categories: Iterable[Category], interaction: Interaction) -> list[Category]:
    """Active categories the agent may use: global ones, plus the campaign's for its calls."""
    return [
        c
        for c in categories
        if c.active
        and (
            c.campaign_id is None
            or (interaction.is_dialer_call and c.campaign_id == interaction.campaign_id)
        )
    ]


def check_topics(
    interaction: Interaction,
    requested: Sequence[int],
    topics: Mapping[int, Topic],
    categories: Mapping[int, Category],
) -> None:
    """Refuse unknown or inactive topics, other campaigns' topics, two in a single choice."""
    if len(set(requested)) != len(requested):
        raise Invalid("topic_ids: a topic is listed twice", field="topic_ids")
    chosen: dict[int, list[Topic]] = {}
    for topic_id in requested:
        topic = topics.get(topic_id)
        category = categories.get(topic.category_id) if topic else None
        if topic is None or category is None or not (topic.active and category.active):
            raise Invalid(f"topic_ids: no topic {topic_id}", field="topic_ids")
        if category.campaign_id is not None and not (
            interaction.is_dialer_call and category.campaign_id == interaction.campaign_id
        ):
            raise Invalid(
                f"topic_ids: category {category.name!r} is only for dialer calls of "
                f"campaign {category.campaign_id}",
                code=Code.WRAPUP_CAMPAIGN_CATEGORY,
                field="topic_ids",
            )
        chosen.setdefault(category.id, []).append(topic)
    for category_id, picked in chosen.items():
        category = categories[category_id]
        if not category.multi_choice and len(picked) > 1:
            names = ", ".join(repr(t.name) for t in picked)
            raise Invalid(
                f"topic_ids: category {category.name!r} is single-choice; pick one of {names}",
                code=Code.WRAPUP_SINGLE_CHOICE,
                field="topic_ids",
            )


# Dialer feedback that ends a call with nothing to register about its subject.
_ENDING_FEEDBACK = frozenset({Feedback.NOT_ANSWERED, Feedback.ANSWERING_MACHINE, Feedback.CALLBACK})


def check_required(
    draft: RegistrationDraft,
    offered: Iterable[Category],
    topics: Mapping[int, Topic],
) -> None:
    """A forced registration needs a topic of every required category offered for the call,
    unless the dialer feedback says the call was not a conversation (or is called back)."""
    if draft.feedback in _ENDING_FEEDBACK:
        return
    chosen = {topics[t].category_id for t in draft.topic_ids if t in topics}
    missing = [c.name for c in offered if c.required and c.id not in chosen]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise Invalid(
            f"topic_ids: a topic is required from {names}",
            code=Code.WRAPUP_TOPIC_REQUIRED,
            field="topic_ids",
        )


def check_draft(interaction: Interaction, draft: RegistrationDraft) -> None:
    """Feedback is for dialer calls; a callback comes with its details and only then."""
    if interaction.wrapped_up_at is not None:
        raise Conflict(
            f"interaction {interaction.id} is already wrapped up",
            code=Code.WRAPUP_ALREADY_REGISTERED,
        )
    if draft.feedback is not None and (
        not interaction.is_dialer_call or interaction.attempt_id is None
    ):
        # A call recorded by hand is no dialer attempt: it never changes the contact.
        raise Invalid("feedback: dialer feedback is only for dialer calls", field="feedback")
    if draft.feedback is Feedback.CALLBACK and draft.callback is None:
        raise Invalid("callback: a callback needs a date and time", field="callback")
    if draft.callback is not None and draft.feedback is not Feedback.CALLBACK:
        raise Invalid("callback: give feedback 'callback' to book a callback", field="callback")


def feedback_change(
    feedback: Feedback,
    contact: Contact,
    rules: RetryRules,
    hours: CallingHours,
    now: datetime,
) -> ContactChange | None:
    """The contact's next state after the agent's dialer feedback; None leaves it as it is.

    The attempt itself was counted by the dialer when the call ended, so the counters are
    read, not bumped: the contact comes back later if attempts remain.
    """
    if contact.state in (ContactState.DNC, ContactState.INVALID):
        return None
    if feedback is Feedback.CALLBACK:
        return ContactChange(contact.id, ContactState.CALLBACK, None)
    outcome = Outcome.MACHINE if feedback is Feedback.ANSWERING_MACHINE else Outcome.NO_ANSWER
    if contact.attempts >= rules.max_attempts or contact.dials >= rules.max_dials:
        return ContactChange(contact.id, ContactState.EXHAUSTED, None)
    due = next_open(hours, contact.timezone, now + rules.delay(outcome))
    return ContactChange(contact.id, ContactState.RETRY, due)


def choose_end_reason(
    reason: EndReason, choice: EndReasonChoice, campaign_id: int | None
) -> EndReasonOutcome:
    """The end reason of a call of ``campaign_id``: a retired reason, or another campaign's,
    is not one the agent can pick."""
    if not reason.offered_for(campaign_id):
        raise Invalid(
            f"end_reason.reason_id: no end reason {reason.id} for this call",
            field="end_reason.reason_id",
        )
    closed = reason.close_by_default if choice.close is None else choice.close
    return EndReasonOutcome(
        reason.id, closed, None if closed else reason.followup_queue, choice.description
    )


def wrapup_deadline(ended_at: datetime, settings: Wrapup | None) -> datetime | None:
    """When the automatic wrap-up happens; None when no countdown applies (seconds = 0)."""
    if settings is None or settings.seconds == 0:
        return None
    return ended_at + timedelta(seconds=settings.seconds)


def wrapup_timer(interaction: Interaction, now: datetime) -> WrapupTimer | None:
    """Elapsed time since the call ended and the countdown; None while the call is on."""
    if interaction.ended_at is None:
        return None
    end = interaction.wrapped_up_at or now
    elapsed = max(0.0, (end - interaction.ended_at).total_seconds())
    remaining = None
    if interaction.wrapped_up_at is None and interaction.wrapup_deadline is not None:
        remaining = max(0.0, (interaction.wrapup_deadline - now).total_seconds())
    return WrapupTimer(elapsed, remaining, interaction.wrapup_extended)


def check_extend(interaction: Interaction, settings: Wrapup | None) -> None:
    if interaction.ended_at is None:
        raise Conflict("the call is still on; nothing to extend", code=Code.WRAPUP_CALL_ACTIVE)
    if interaction.wrapped_up_at is not None:
        raise Conflict(
            f"interaction {interaction.id} is already wrapped up",
            code=Code.WRAPUP_ALREADY_REGISTERED,
        )
    if settings is not None and not settings.extendable:
        raise Conflict(
            "this campaign does not allow extending the wrap-up", code=Code.WRAPUP_NOT_EXTENDABLE
        )


def may_become_ready(open_interactions: Iterable[Interaction]) -> bool:
    """False while an ended call that demands a registration is not registered."""
    return not any(i.awaiting_wrapup and i.registration_required for i in open_interactions)


@dataclass(frozen=True, slots=True)
class StatsQuery:
    campaign_id: int | None = None
    agent_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    by_agent: bool = False
    by_campaign: bool = False


def new_callback(interaction: Interaction, request: CallbackRequest, agent_id: int) -> NewCallback:
    assert interaction.contact_id is not None and interaction.campaign_id is not None
    return NewCallback(
        contact_id=interaction.contact_id,
        campaign_id=interaction.campaign_id,
        booked_by=agent_id,
        owner_id=agent_id if request.for_ is CallbackFor.ME else None,
        due_at=request.due_at,
        comment=request.comment,
        interaction_id=interaction.id,
    )


@dataclass(frozen=True, slots=True)
class PastRegistration:
    """What an agent registered after an earlier call with a contact."""

    interaction_id: int
    at: datetime
    agent: str
    comment: str
    feedback: Feedback | None
    automatic: bool
    topics: tuple[str, ...]
    end_reason: str | None
    callback_due_at: datetime | None
    callback_comment: str | None


@dataclass(frozen=True, slots=True)
class ContactHistory:
    """A contact's earlier attempts and registrations, newest first."""

    attempts: tuple[Attempt, ...]
    registrations: tuple[PastRegistration, ...]
