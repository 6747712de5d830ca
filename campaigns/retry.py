"""What happens to a contact after an attempt: the SPEC section 2 table as a pure function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from campaigns.model import ContactState, Outcome
from campaigns.spec import CallingHours, RetryRules


@dataclass(frozen=True, slots=True)
class Decision:
    state: ContactState
    due_at: datetime | None
    attempts: int
    dials: int
    priority: int
    counted: bool


def decide(
    *,
    attempts: int,
    dials: int,
    outcome: Outcome,
    rules: RetryRules,
    hours: CallingHours,
    timezone: str,
    now: datetime,
) -> Decision:
    """Next state and due time of a contact whose attempt ended with ``outcome``.

    ``attempts`` and ``dials`` are the contact's counters before this attempt.
    """
    counted = rules.counts(outcome)
    attempts += counted
    dials += 1

    def final(state: ContactState) -> Decision:
        return Decision(state, None, attempts, dials, 0, counted)

    if outcome is Outcome.INVALID:
        return final(ContactState.INVALID)
    if outcome is Outcome.ANSWERED:
        return final(ContactState.COMPLETED)
    if attempts >= rules.max_attempts or dials >= rules.max_dials:
        return final(ContactState.EXHAUSTED)
    due = next_open(hours, timezone, now + rules.delay(outcome))
    priority = rules.abandoned_priority if outcome is Outcome.ABANDONED else 0
    return Decision(ContactState.RETRY, due, attempts, dials, priority, counted)


def is_open(hours: CallingHours, timezone: str, at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(timezone))
    return local.weekday() in hours.weekdays and hours.start <= local.time() < hours.end


def next_open(hours: CallingHours, timezone: str, at: datetime) -> datetime:
    """The first instant at or after ``at`` inside the contact's local calling window.

    Returned in UTC. Handles days outside the window and DST changes: the window is
    wall-clock time in the contact's zone.
    """
    if at.tzinfo is None:
        raise ValueError("aware datetime required")
    if is_open(hours, timezone, at):
        return at.astimezone(UTC)
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    day = local.date()
    for offset in range(8):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() not in hours.weekdays:
            continue
        start = datetime.combine(candidate_day, hours.start, tzinfo=zone)
        # A start inside a DST gap (say 02:30 on the spring-forward night) does not exist;
        # zoneinfo reads it with the pre-transition offset, which lands just after the gap.
        start_utc = start.astimezone(UTC)
        if start_utc >= at and is_open(hours, timezone, start_utc):
            return start_utc
    raise AssertionError("a weekly window always opens within 8 days")  # pragma: no cover
