"""Rules that moved out of SQL into the domain: the campaign state machine and callbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaigns import callbacks
from campaigns.model import CampaignState


def test_campaign_state_machine() -> None:
    """Draft, running and paused may finish; running and paused swap; finished is final."""
    s = CampaignState
    assert s.DRAFT.may_become(s.RUNNING) and s.DRAFT.may_become(s.FINISHED)
    assert not s.DRAFT.may_become(s.PAUSED)
    assert s.RUNNING.may_become(s.PAUSED) and s.PAUSED.may_become(s.RUNNING)
    assert not s.RUNNING.may_become(s.DRAFT)
    assert all(not s.FINISHED.may_become(other) for other in s if other is not s.FINISHED)
    assert all(state.may_become(state) for state in s)


def test_callback_reservation_and_cancel() -> None:
    """A due callback is reserved for its owner from its due time; cancelling completes."""
    due = datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert callbacks.reserved_until(due, 20) == due + timedelta(minutes=20)
    assert callbacks.CONTACT_AFTER_CANCEL.value == "completed"
    booked, due_state = callbacks.CallbackState.BOOKED, callbacks.CallbackState.DUE
    assert frozenset({booked, due_state}) == callbacks.OPEN_STATES
