"""What happens to a contact after an attempt: the SPEC section 2 table as a pure function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from campaigns.hours import next_open
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
