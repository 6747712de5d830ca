"""Callbacks booked by agents: their values, when one may be booked, how long it is reserved
for its owner, and what cancelling one does to its contact.

Pure: frozen values and functions that raise :class:`campaigns.errors.Invalid` (naming the
field) or return new values.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaigns.errors import Code, Invalid
from campaigns.hours import is_open, next_open
from campaigns.model import ContactState
from campaigns.spec import CallingHours

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class CallbackFor(enum.StrEnum):
    ME = "me"
    ALL = "all"


class CallbackState(enum.StrEnum):
    BOOKED = "booked"
    # Due and handed to the engine; reserved for the owner until ``reserved_until``.
    DUE = "due"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    due_at: datetime
    comment: str = ""
    for_: CallbackFor = CallbackFor.ME


@dataclass(frozen=True, slots=True)
class Callback:
    id: int
    contact_id: int
    campaign_id: int
    booked_by: int
    owner_id: int | None
    """None: for all agents."""
    due_at: datetime
    comment: str
    state: CallbackState
    created_at: datetime
    reserved_until: datetime | None = None
    interaction_id: int | None = None


OPEN_STATES = frozenset({CallbackState.BOOKED, CallbackState.DUE})
"""A callback in these states may still be rebooked or cancelled."""

CONTACT_WHILE_BOOKED = ContactState.CALLBACK
"""A contact with a booked callback waits for it, out of the ordinary queue."""

CONTACT_AFTER_CANCEL = ContactState.COMPLETED
"""Cancelling a contact's last open callback completes the contact: it was answered when the
callback was booked."""


def reserved_until(due_at: datetime, reservation_minutes: int) -> datetime:
    """A due callback waits for its owner this long before any free agent may take it."""
    return due_at + timedelta(minutes=reservation_minutes)


def reserved_after_reassign(due_at: datetime, now: datetime, reservation_minutes: int) -> datetime:
    """A due callback given to another owner waits for them a whole reservation from the
    reassignment (from its due time, if that is later)."""
    return reserved_until(max(due_at, now), reservation_minutes)


@dataclass(frozen=True, slots=True)
class CallbackQuery:
    """Every callback, as managers filter it: ``agent_id`` the owner, due in
    [``due_from``, ``due_before``), soonest first, a page of ``limit`` from ``offset``."""

    agent_id: int | None = None
    campaign_id: int | None = None
    state: CallbackState | None = None
    due_from: datetime | None = None
    due_before: datetime | None = None
    limit: int = 100
    offset: int = 0


def day_in(day: date, timezone: str, field: str = "tz") -> tuple[datetime, datetime]:
    """The day's start and the next day's start, in ``timezone`` (an IANA name)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid(f"{field}: {timezone!r} is not a known time zone", field=field) from None
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


@dataclass(frozen=True, slots=True)
class Lateness:
    """How late a campaign's callbacks were delivered: due time to the start of the attempt
    that delivered them (an agent's phone that did not answer delivered nothing)."""

    campaign_id: int
    delivered: int
    p50_seconds: float
    p90_seconds: float
    max_seconds: float


def nearest_rank(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ascending, non-empty ``ordered``."""
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def lateness(deliveries: Iterable[tuple[int, datetime, datetime]]) -> list[Lateness]:
    """Per campaign, by id, of ``(campaign_id, due_at, delivery started_at)``; a delivery
    before the due time (not done by the engine) counts as on time."""
    seconds: dict[int, list[float]] = {}
    for campaign_id, due_at, started_at in deliveries:
        late = max(0.0, (started_at - due_at).total_seconds())
        seconds.setdefault(campaign_id, []).append(late)
    out = []
    for campaign_id in sorted(seconds):
        ordered = sorted(seconds[campaign_id])
        out.append(
            Lateness(
                campaign_id,
                len(ordered),
                nearest_rank(ordered, 0.5),
                nearest_rank(ordered, 0.9),
                ordered[-1],
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class NewCallback:
    contact_id: int
    campaign_id: int
    booked_by: int
    owner_id: int | None
    due_at: datetime
    comment: str = ""
    interaction_id: int | None = None


MAX_CALLBACK_AHEAD = timedelta(days=366)


def describe_hours(hours: CallingHours, timezone: str) -> str:
    days = ",".join(_WEEKDAYS[d] for d in sorted(hours.weekdays))
    return f"{hours.start:%H:%M}-{hours.end:%H:%M} {days}, {timezone} time"


def check_callback_time(
    due_at: datetime, now: datetime, hours: CallingHours, timezone: str, field: str
) -> None:
    """A callback must be in the future and inside the contact's calling hours."""
    if due_at.tzinfo is None:
        raise Invalid(f"{field}: give a time zone (e.g. 2026-11-24T15:00+01:00)", field=field)
    if due_at <= now:
        raise Invalid(
            f"{field}: {due_at.isoformat()} is in the past", code=Code.CALLBACK_IN_PAST, field=field
        )
    if due_at > now + MAX_CALLBACK_AHEAD:
        raise Invalid(
            f"{field}: {due_at.isoformat()} is more than a year ahead; book a callback "
            f"at most {MAX_CALLBACK_AHEAD.days} days from now",
            code=Code.CALLBACK_TOO_FAR,
            field=field,
        )
    if not is_open(hours, timezone, due_at):
        raise Invalid(
            f"{field}: {due_at.isoformat()} is outside the campaign's calling hours "
            f"({describe_hours(hours, timezone)}); the next opening is "
            f"{next_open(hours, timezone, due_at).isoformat()}",
            code=Code.CALLBACK_OUTSIDE_HOURS,
            field=field,
        )
