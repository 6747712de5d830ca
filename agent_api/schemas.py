"""Request and response bodies. Requests refuse unknown fields; responses are read from the
domain values (``from_attributes``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from campaigns.callbacks import CallbackFor, CallbackState
from campaigns.cases import CaseActionKind, CaseStatus, Priority
from campaigns.model import CampaignState, ContactState
from campaigns.text import check_storable
from campaigns.users import AgentState, Role
from campaigns.wrapup import Direction, Feedback

Name = Annotated[str, Field(min_length=1, max_length=100)]
Text = Annotated[str, Field(max_length=4000)]
Phone = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^\+?[0-9]{2,20}$")]
# Ids as the columns hold them: 32-bit (campaigns, users, callbacks, cases, the catalogue)
# or 64-bit (contacts, interactions). A larger one finds nothing, and is refused as such.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=INT32_MAX)]
BigId = Annotated[int, Field(ge=1, le=INT64_MAX)]
IdPath = Annotated[int, Path(ge=1, le=INT32_MAX)]
BigIdPath = Annotated[int, Path(ge=1, le=INT64_MAX)]
IdQuery = Annotated[int, Query(ge=1, le=INT32_MAX)]


def _in_utc_range(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once in UTC") from None
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_in_utc_range)]
"""A time with its zone, that exists in UTC (year 1 at +14:00 does not)."""


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return check_storable(value)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Users


class UserIn(In):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    role: Role
    name: Annotated[str, Field(max_length=200)] = ""
    extension: Annotated[str | None, Field(max_length=100)] = None


class UserOut(Out):
    id: int
    username: str
    role: Role
    name: str
    extension: str | None


class UserCreated(Out):
    user: UserOut
    token: str = Field(description="Shown once; only its hash is kept.")


class TokenOut(Out):
    token: str


# Agent state


class StateIn(In):
    state: Literal["ready", "paused", "logged_out"]
    reason: Annotated[str | None, Field(max_length=200)] = None
    campaigns: Annotated[list[Id] | None, Field(max_length=100)] = None
    """Campaigns to log in to (default: every running campaign)."""


class StateOut(Out):
    state: str
    reason: str | None
    may_become_ready: bool
    campaigns: list[int] = []
    """The campaigns the agent takes calls from."""
    all_running: bool = False
    """Logged in to every running campaign: campaigns started later are added."""
    since: datetime | None = None
    """When the current state began (null: logged out)."""
    seconds_in_state: float | None = None


# Wrap-up catalogue


class CategoryIn(In):
    name: Name
    multi_choice: bool = False
    campaign_id: Id | None = None
    required: bool = False
    """A forced registration needs a topic of this category when it is offered."""


class CategoryPatch(In):
    active: bool | None = None
    required: bool | None = None


class TopicIn(In):
    name: Name
    script: Text = ""


class TopicOut(Out):
    id: int
    category_id: int
    name: str
    script: str
    active: bool


class CategoryOut(Out):
    id: int
    name: str
    multi_choice: bool
    campaign_id: int | None
    active: bool
    required: bool = False
    topics: list[TopicOut] = []


ReasonName = Annotated[str, Field(min_length=1, max_length=200)]
Position = Annotated[int, Field(ge=0, le=INT32_MAX)]


class EndReasonIn(In):
    name: ReasonName
    close_by_default: bool = Field(description="the close-the-request default")
    followup_queue: Name = Field(
        default="general", description="where a request left open goes for further work"
    )
    description: Text = Field(default="", description="what the reason covers, for agents")
    campaign_id: Id | None = Field(default=None, description="null: offered for every call")
    position: Position = Field(default=0, description="order in the list: position, then name")


class EndReasonPatch(In):
    """The values to change; ``active`` false retires the reason, true brings it back."""

    name: ReasonName | None = None
    close_by_default: bool | None = None
    followup_queue: Name | None = None
    description: Text | None = None
    position: Position | None = None
    active: bool | None = None


class EndReasonOut(Out):
    id: int
    name: str
    close_by_default: bool
    followup_queue: str
    description: str
    campaign_id: int | None
    position: int
    active: bool


# Interactions and registration


class InteractionIn(In):
    phone: Phone
    direction: Direction = Direction.INBOUND
    contact_id: BigId | None = None
    campaign_id: Id | None = None


class TimerOut(Out):
    elapsed_seconds: float
    remaining_seconds: float | None
    extended: bool


class InteractionOut(Out):
    id: int
    agent_id: int
    direction: Direction
    phone: str
    contact_id: int | None
    campaign_id: int | None
    started_at: datetime
    ended_at: datetime | None
    wrapped_up_at: datetime | None
    end_reason_id: int | None
    end_description: str
    closed: bool | None
    followup_queue: str | None
    registration_required: bool
    timer: TimerOut | None = None


class ContactOut(Out):
    id: int
    phone: str
    timezone: str
    state: ContactState
    attributes: dict[str, str]


class RefusedRowOut(Out):
    line: int
    phone: str
    reason: str


class ContactImportOut(Out):
    lines: int
    imported: int
    merged: int
    refused: dict[str, int]
    """Refused rows by reason."""
    refused_rows: list[RefusedRowOut]
    """The first refused rows, with their line numbers."""


class DncAddIn(In):
    numbers: list[str] = Field(min_length=1, max_length=10_000)
    reason: str = Field("", max_length=200)
    region: str = Field("NO", description="Region for numbers without +country.")


class DncAddOut(Out):
    added: int
    already_listed: int
    """Numbers of the request (each counted once) that were on the list already."""


class DncNumberOut(Out):
    number: str
    """E.164."""
    listed: bool


class DncEntryOut(Out):
    number: str
    reason: str
    added_at: datetime


class DncPageOut(Out):
    total: int
    """Numbers matching the filter, all pages."""
    numbers: list[DncEntryOut]


class AttemptOut(Out):
    attempt_id: int


class CallbackIn(In):
    due_at: Moment
    comment: Text = ""
    for_: CallbackFor = Field(default=CallbackFor.ME, alias="for")


class EndReasonChoiceIn(In):
    reason_id: Id
    close: bool | None = Field(default=None, description="None: the reason's default")
    description: Text = ""


class RegistrationIn(In):
    topic_ids: Annotated[list[Id], Field(max_length=100)] = []
    comment: Text = ""
    feedback: Feedback | None = None
    callback: CallbackIn | None = None
    end_reason: EndReasonChoiceIn | None = None


class CallbackOut(Out):
    id: int
    contact_id: int
    campaign_id: int
    booked_by: int
    owner_id: int | None
    due_at: datetime
    comment: str
    state: CallbackState
    interaction_id: int | None
    reserved_until: datetime | None = None
    """Due: held for its owner until then, before any free agent may take it."""


class ScheduledCallOut(CallbackOut):
    phone: str
    contact_name: str | None
    """The contact's ``name`` attribute, when the list has one."""


class CallbackPageOut(Out):
    total: int
    """Callbacks matching the filters, all pages."""
    callbacks: list[CallbackOut]


class CallbackOwnerIn(In):
    owner_id: Annotated[int, Field(ge=1, le=INT32_MAX)] | None
    """The agent to give the callback to; null: to all agents."""


class CallbackLatenessOut(Out):
    campaign_id: int
    delivered: int
    """Callbacks delivered (their attempt started; an agent phone that failed is not one)."""
    p50_seconds: float
    p90_seconds: float
    max_seconds: float


class RegistrationOut(Out):
    id: int
    interaction_id: int
    agent_id: int
    campaign_id: int | None
    comment: str
    feedback: Feedback | None
    automatic: bool
    created_at: datetime
    topic_ids: list[int]
    callback: CallbackOut | None = None


class PastAttemptOut(Out):
    attempt_id: int = Field(validation_alias="id")
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    """null: still open."""


class PastRegistrationOut(Out):
    interaction_id: int
    at: datetime
    agent: str
    """The registering agent's username."""
    comment: str
    feedback: Feedback | None
    automatic: bool
    topics: list[str]
    end_reason: str | None
    callback_due_at: datetime | None
    """When a callback was booked with it."""
    callback_comment: str | None


class ContactHistoryOut(Out):
    """Earlier calls to the contact, newest first (the current one left out)."""

    attempts: list[PastAttemptOut]
    registrations: list[PastRegistrationOut]


class InteractionDetail(Out):
    interaction: InteractionOut
    contact: ContactOut | None
    categories: list[CategoryOut]
    registration: RegistrationOut | None
    history: ContactHistoryOut | None = None


class RebookIn(In):
    due_at: Moment
    comment: Text | None = None


# Cases


class CaseTypeIn(In):
    name: Name
    department: Name
    mandatory_fields: Annotated[list[Name], Field(max_length=50)] = []


class CaseTypeOut(Out):
    id: int
    name: str
    department: str
    mandatory_fields: list[str]


Fields = Annotated[dict[Name, Annotated[str, Field(max_length=2000)]], Field(max_length=50)]


class CaseIn(In):
    type_id: Id
    subject: Annotated[str, Field(max_length=200)]
    priority: Priority = Priority.NORMAL
    comments: Text = ""
    phone: Phone | None = None
    interaction_id: BigId | None = None
    fields: Fields = {}


class FollowupOut(Out):
    """A request left open at the end of a call, in its follow-up queue."""

    id: int
    """The interaction's id (the call)."""
    queue: str
    reason_id: int | None
    reason: str | None
    """The end reason's name."""
    description: str
    """What the agent wrote when the call ended."""
    phone: str
    """The caller's number."""
    contact_id: int | None
    """The contact, for a known caller; null for a bare number."""
    campaign_id: int | None
    agent_id: int
    """The agent who took the call."""
    opened_at: datetime
    age_seconds: float
    taken_by: int | None
    taken_by_name: str | None
    taken_at: datetime | None
    closed_at: datetime | None
    closed_by: int | None
    case_id: int | None
    """The case it became, if any (the case names this interaction too)."""
    notes: int


class FollowupNoteOut(Out):
    id: int
    author_id: int
    author: str
    text: str
    created_at: datetime


class FollowupDetailOut(Out):
    followup: FollowupOut
    notes: list[FollowupNoteOut]


class FollowupNoteIn(In):
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class FollowupCloseIn(In):
    note: Text = ""
    """How it was settled (kept as a note)."""


class FollowupCaseIn(In):
    type_id: Id
    subject: Annotated[str, Field(max_length=200)]
    priority: Priority = Priority.NORMAL
    comments: Text = ""
    phone: Phone | None = None
    """Default: the caller's number."""
    fields: Fields = {}


class QueueOut(Out):
    queue: str
    open: int
    taken: int
    oldest_opened_at: datetime | None
    oldest_age_seconds: float | None


class CasePatch(In):
    subject: Annotated[str | None, Field(max_length=200)] = None
    priority: Priority | None = None
    comments: Text | None = None
    fields: Fields | None = None


class CaseCloseIn(In):
    comment: Text = ""


class CaseActionIn(In):
    action: Literal[CaseActionKind.TAKEN, CaseActionKind.RETURNED, CaseActionKind.RESOLVED]
    comment: Text = ""


class CaseOut(Out):
    id: int
    type_id: int
    subject: str
    priority: Priority
    status: CaseStatus
    department: str
    creator_id: int
    taken_by: str | None
    interaction_id: int | None
    phone: str | None
    comments: str
    fields: dict[str, str]
    created_at: datetime
    updated_at: datetime


class CaseActionOut(Out):
    id: int
    actor: str
    action: CaseActionKind
    detail: dict[str, Any]
    at: datetime


# Statistics and campaigns


class TopicCountOut(Out):
    category_id: int | None
    category: str | None
    topic_id: int | None
    """null: registrations without any topic (dialer feedback only, automatic wrap-ups)."""
    topic: str | None
    count: int
    campaign_id: int | None
    """The campaign counted: by_campaign's group, or the campaign_id filter."""
    agent_id: int | None


class CampaignStateIn(In):
    state: CampaignState


class CampaignOut(Out):
    id: int
    name: str
    state: CampaignState
    created_at: datetime
    spec: dict[str, Any]


class CampaignStatsOut(Out):
    contacts_by_state: dict[str, int]
    attempts_by_outcome: dict[str, int]
    attempts_open: int
    abandon_rate: float | None
    calls_handled: int = 0
    """Calls put through to agents (interactions)."""
    talk_seconds: float = 0.0
    wrapup_seconds: float = 0.0
    average_talk_seconds: float | None = None
    average_wrapup_seconds: float | None = None


class CampaignChoiceOut(Out):
    id: int
    name: str
    state: CampaignState
    mode: str
    description: str


class AbandonBucketOut(Out):
    start: datetime
    answered: int
    abandoned: int
    rate: float | None
    """abandoned / (answered + abandoned) in the bucket; null without calls."""
    running_rate: float | None
    """The same from the first bucket to the end of this one."""


class AbandonSeriesOut(Out):
    campaign_id: int
    cap: float
    bucket_minutes: int
    buckets: list[AbandonBucketOut]


class AgentOnFloorOut(Out):
    id: int
    username: str
    name: str
    role: Role
    state: AgentState
    """reserved: a call is being put through to the agent."""
    reason: str | None
    """Why paused, when given."""
    since: datetime | None
    seconds_in_state: float | None
    campaigns: list[int]
    follows_running: bool
    """Logged in to every running campaign (those started later too)."""


class AgentFiguresOut(Out):
    agent_id: int
    username: str
    calls: int
    talk_seconds: float
    wrapup_seconds: float
    registrations: int


class Health(Out):
    status: str
    mqtt_connected: bool | None
    mqtt_dropped: int
    mqtt_buffered: int
    event_subscribers: int
