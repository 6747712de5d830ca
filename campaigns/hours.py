"""Calling hours: wall-clock windows in the contact's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from campaigns.spec import CallingHours


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
