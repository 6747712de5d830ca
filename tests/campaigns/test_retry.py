"""Retry rules and calling hours: pure functions, no database, no Asterisk."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.hours import is_open, next_open
from campaigns.model import ContactState, Outcome
from campaigns.retry import decide
from campaigns.spec import CallingHours, RetryRules

OSLO = "Europe/Oslo"
NY = "America/New_York"
MONDAY_11_OSLO = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
WEEKDAYS_9_TO_20 = CallingHours()
ALWAYS = CallingHours(start=time(0, 0), end=time(23, 59, 59), weekdays=frozenset(range(7)))


def step(outcome: Outcome, attempts: int = 0, dials: int = 0, rules: RetryRules | None = None):
    return decide(
        attempts=attempts,
        dials=dials,
        outcome=outcome,
        rules=rules or RetryRules(),
        hours=ALWAYS,
        timezone=OSLO,
        now=MONDAY_11_OSLO,
    )


@pytest.mark.parametrize(
    ("outcome", "minutes"),
    [
        (Outcome.NO_ANSWER, 60),
        (Outcome.BUSY, 10),
        (Outcome.CONGESTION, 2),
        (Outcome.MACHINE, 120),
        (Outcome.REJECTED, 30),
        (Outcome.ABANDONED, 1),
        (Outcome.FAILED_SYSTEM, 1),
    ],
)
def test_unanswered_outcomes_retry_after_their_default_delay(
    outcome: Outcome, minutes: int
) -> None:
    """Each unanswered outcome comes back after its own delay (SPEC section 2 table)."""
    decision = step(outcome)
    assert decision.state is ContactState.RETRY
    assert decision.due_at == MONDAY_11_OSLO + timedelta(minutes=minutes)
    assert decision.dials == 1


def test_busy_retries_sooner_than_no_answer() -> None:
    """The busy delay is shorter than the no-answer delay by default."""
    busy, no_answer = step(Outcome.BUSY).due_at, step(Outcome.NO_ANSWER).due_at
    assert busy is not None and no_answer is not None
    assert busy < no_answer


def test_answered_completes_and_invalid_is_final() -> None:
    """A human answer completes the contact; an invalid number is final at once."""
    answered = step(Outcome.ANSWERED)
    assert (answered.state, answered.due_at, answered.attempts) == (ContactState.COMPLETED, None, 1)
    invalid = step(Outcome.INVALID)
    assert (invalid.state, invalid.due_at) == (ContactState.INVALID, None)


def test_congestion_and_system_failures_do_not_count_by_default() -> None:
    """Network trouble is not the contact's fault: no attempt is counted."""
    for outcome in (Outcome.CONGESTION, Outcome.FAILED_SYSTEM):
        decision = step(outcome, attempts=2, dials=4)
        assert (decision.attempts, decision.dials, decision.counted) == (2, 5, False)
    assert step(Outcome.BUSY, attempts=2).attempts == 3


def test_last_counted_attempt_exhausts_the_contact() -> None:
    """When the maximum is reached the contact is exhausted, not requeued."""
    rules = RetryRules(max_attempts=3)
    assert step(Outcome.NO_ANSWER, attempts=1, rules=rules).state is ContactState.RETRY
    exhausted = step(Outcome.NO_ANSWER, attempts=2, rules=rules)
    assert (exhausted.state, exhausted.due_at, exhausted.attempts) == (
        ContactState.EXHAUSTED,
        None,
        3,
    )


def test_uncounted_calls_are_capped_by_max_dials() -> None:
    """A number that only ever meets congestion is not dialled forever."""
    rules = RetryRules(max_attempts=3, max_dials=5)
    assert step(Outcome.CONGESTION, dials=3, rules=rules).state is ContactState.RETRY
    assert step(Outcome.CONGESTION, dials=4, rules=rules).state is ContactState.EXHAUSTED


def test_abandoned_calls_come_back_with_priority() -> None:
    """An abandoned (dropped) call is requeued ahead of the others."""
    assert step(Outcome.ABANDONED).priority == RetryRules().abandoned_priority > 0
    assert step(Outcome.BUSY).priority == 0


def test_campaign_settings_override_delays_and_counting() -> None:
    """Delays and which outcomes count are campaign settings."""
    rules = RetryRules(delays_minutes={Outcome.BUSY: 3}, uncounted=frozenset({Outcome.MACHINE}))
    assert step(Outcome.BUSY, rules=rules).due_at == MONDAY_11_OSLO + timedelta(minutes=3)
    assert step(Outcome.NO_ANSWER, rules=rules).due_at == MONDAY_11_OSLO + timedelta(hours=1)
    assert not step(Outcome.MACHINE, rules=rules).counted
    assert step(Outcome.CONGESTION, rules=rules).counted


def test_retry_waits_for_the_contacts_local_window() -> None:
    """A retry that would fall after hours is moved to the next local opening."""
    friday_evening = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)  # 19:30 in Oslo
    decision = decide(
        attempts=0,
        dials=0,
        outcome=Outcome.NO_ANSWER,
        rules=RetryRules(),
        hours=WEEKDAYS_9_TO_20,
        timezone=OSLO,
        now=friday_evening,
    )
    assert decision.due_at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 Oslo


def test_window_is_in_the_contacts_own_zone() -> None:
    """The same instant is open in Oslo and closed in New York."""
    assert is_open(WEEKDAYS_9_TO_20, OSLO, MONDAY_11_OSLO)
    assert not is_open(WEEKDAYS_9_TO_20, NY, MONDAY_11_OSLO)  # 05:00 there
    assert next_open(WEEKDAYS_9_TO_20, NY, MONDAY_11_OSLO) == datetime(
        2026, 11, 23, 14, 0, tzinfo=UTC
    )


def test_next_open_across_spring_forward() -> None:
    """On the night clocks go forward the window opens at 09:00 local, the new offset."""
    saturday = datetime(2026, 3, 28, 21, 0, tzinfo=UTC)
    hours = CallingHours(weekdays=frozenset(range(7)))
    # Sunday 29 March 2026: Oslo moves from UTC+1 to UTC+2 at 01:00 UTC.
    assert next_open(hours, OSLO, saturday) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)


def test_next_open_across_fall_back() -> None:
    """On the night clocks go back the window opens at 09:00 local, the new offset."""
    saturday = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)
    hours = CallingHours(weekdays=frozenset(range(7)))
    assert next_open(hours, OSLO, saturday) == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)


def test_window_starting_inside_a_dst_gap_opens_after_the_gap() -> None:
    """A 02:30 start that does not exist on the spring-forward night opens at 03:30."""
    hours = CallingHours(start=time(2, 30), end=time(5, 0), weekdays=frozenset(range(7)))
    saturday_night = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    opened = next_open(hours, OSLO, saturday_night)
    assert opened.astimezone(ZoneInfo(OSLO)).time() == time(3, 30)


def test_naive_datetimes_are_refused() -> None:
    """Every instant in the domain is time-zone aware."""
    with pytest.raises(ValueError, match="aware"):
        next_open(WEEKDAYS_9_TO_20, OSLO, datetime(2026, 1, 1))


ZONES = st.sampled_from([OSLO, NY, "Asia/Kolkata", "Australia/Lord_Howe", "UTC", "Pacific/Apia"])
INSTANTS = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
HOURS = st.builds(
    lambda a, b, days: CallingHours(
        start=time(min(a, b)), end=time(max(a, b) + 1), weekdays=frozenset(days)
    ),
    st.integers(0, 22),
    st.integers(0, 22),
    st.sets(st.integers(0, 6), min_size=1),
)


@given(hours=HOURS, zone=ZONES, at=INSTANTS)
def test_next_open_is_inside_the_window_and_not_before(
    hours: CallingHours, zone: str, at: datetime
) -> None:
    """The next opening is never earlier than asked, and always inside the local window."""
    opened = next_open(hours, zone, at)
    assert opened >= at
    assert is_open(hours, zone, opened)
    if is_open(hours, zone, at):
        assert opened == at
    else:
        # Nothing in between is open: probe the minutes before the opening.
        probe = opened - timedelta(minutes=1)
        assert probe < at or not is_open(hours, zone, probe)
