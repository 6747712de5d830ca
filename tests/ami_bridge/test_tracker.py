"""CallTracker on its own: deadlines, reconciliation and bounded maps, with a fake clock."""

from __future__ import annotations

import pytest

from ami_bridge.call_events import AgentLeg, CallAnswered, CallEnded, CallOutcome
from ami_bridge.events import (
    AmdStatus,
    CoreShowChannel,
    DialBegin,
    DialEnd,
    DialerAgent,
    DialerAmd,
    DialStatus,
    Hangup,
    Newchannel,
    OriginateResponse,
)
from ami_bridge.tracker import CallTracker
from campaigns.model import Outcome
from tests.support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock[float]:
    return FakeClock(0.0)


@pytest.fixture
def tracker(clock: FakeClock[float]) -> CallTracker:
    t = CallTracker(amd_timeout=8.0, hangup_grace=2.0, originate_grace=30.0, clock=clock)
    t.register("7", "act-7", ring_timeout=20.0, channel_ids=("rb-7-1", "rb-7-2"))
    return t


def newchannel(uid: str) -> Newchannel:
    return Newchannel(f"PJSIP/x-{uid}", uid, "rb-7-1", "ringback", "s", "", "")


def answered(tracker: CallTracker) -> None:
    tracker.handle(newchannel("rb-7-1"))
    tracker.handle(OriginateResponse("act-7", True, 4, "PJSIP/x-1", "rb-7-1"))


def test_silence_settles_failed_system_after_the_deadline(
    clock: FakeClock[float], tracker: CallTracker
) -> None:
    """No event at all: failed_system once ring timeout + grace passed, then forgotten."""
    clock.now = 49.0
    assert tracker.expire() == []
    clock.now = 50.0
    (outcome,) = tracker.expire()
    assert isinstance(outcome, CallOutcome) and outcome.outcome is Outcome.FAILED_SYSTEM
    assert len(tracker) == 0 and tracker.next_deadline() is None
    assert tracker.expire() == []


def test_missing_amd_verdict_is_treated_as_a_person(
    clock: FakeClock[float], tracker: CallTracker
) -> None:
    """Answered but no DialerAMD within amd_timeout: CallAnswered(NOTSURE) and answered."""
    answered(tracker)
    clock.now = 8.0
    events = tracker.expire()
    assert [type(e) for e in events] == [CallAnswered, CallOutcome]
    assert events[0] == CallAnswered("7", "rb-7-1", AmdStatus.NOTSURE)


def test_lost_hangup_ends_the_call_after_max_call_time(clock: FakeClock[float]) -> None:
    """An answered call whose hangup never comes is ended (lost) at max_call_seconds."""
    tracker = CallTracker(amd_enabled=False, max_call_seconds=100.0, clock=clock)
    tracker.register("7", "act-7", ring_timeout=20.0, channel_ids=("rb-7-1",))
    answered(tracker)
    clock.now = 100.0
    (ended,) = tracker.expire()
    assert isinstance(ended, CallEnded) and ended.lost
    assert len(tracker) == 0


def test_reconcile_keeps_live_and_settles_gone(
    clock: FakeClock[float], tracker: CallTracker
) -> None:
    """Reconcile: a live channel id keeps the attempt; without one it is settled once."""
    tracker.register("8", "act-8", ring_timeout=20.0, channel_ids=("rb-8-1", "rb-8-2"))
    live = [CoreShowChannel("PJSIP/x-1", "rb-7-1", "rb-7-1", "q", "Up", "AMD", "00:00:01")]
    (outcome,) = tracker.reconcile(live)
    assert isinstance(outcome, CallOutcome) and outcome.attempt_id == "8"
    assert outcome.outcome is Outcome.FAILED_SYSTEM
    assert tracker.attempt_ids == {"7"}


def test_reconcile_skips_attempts_newer_than_the_snapshot(tracker: CallTracker) -> None:
    """Attempts registered after CoreShowChannels was sent are not judged by it."""
    assert tracker.reconcile([], only=()) == []
    assert tracker.attempt_ids == {"7"}


def test_reconcile_uses_evidence_already_seen(tracker: CallTracker) -> None:
    """Busy DialEnd and a 17 Hangup seen before the drop: reconciled as busy, not failed."""
    tracker.handle(newchannel("rb-7-1"))
    tracker.handle(newchannel("rb-7-2"))
    tracker.handle(DialEnd(None, "rb-7-1", "rb-7-1", DialStatus.BUSY))
    tracker.handle(Hangup("PJSIP/x-2", "rb-7-2", "rb-7-1", 17, "User busy"))
    (outcome,) = tracker.reconcile([])
    assert isinstance(outcome, CallOutcome)
    assert (outcome.outcome, outcome.cause, outcome.detail) == (Outcome.BUSY, 17, "reconciled")


def test_reason_zero_before_any_channel_waits_for_causes(
    clock: FakeClock[float], tracker: CallTracker
) -> None:
    """OR reason 0 first: the Hangup cause that follows decides (here 1 → invalid)."""
    assert tracker.handle(OriginateResponse("act-7", False, 0, "PJSIP/x", "rb-7-1")) == []
    tracker.handle(newchannel("rb-7-1"))
    (outcome,) = tracker.handle(Hangup("PJSIP/x-1", "rb-7-1", "rb-7-1", 1, "Unallocated"))
    assert isinstance(outcome, CallOutcome) and outcome.outcome is Outcome.INVALID


def test_reason_zero_and_nothing_else_settles_after_grace(
    clock: FakeClock[float], tracker: CallTracker
) -> None:
    """OR reason 0 and no channel ever: failed_system after the hangup grace."""
    tracker.handle(OriginateResponse("act-7", False, 0, "PJSIP/x", None))
    clock.now = 2.0
    (outcome,) = tracker.expire()
    assert isinstance(outcome, CallOutcome) and outcome.outcome is Outcome.FAILED_SYSTEM


def test_rejected_cause_21(tracker: CallTracker) -> None:
    """Cause 21 settles rejected even before the OriginateResponse."""
    tracker.handle(newchannel("rb-7-1"))
    (outcome,) = tracker.handle(Hangup("PJSIP/x-1", "rb-7-1", "rb-7-1", 21, "Call Rejected"))
    assert isinstance(outcome, CallOutcome) and outcome.outcome is Outcome.REJECTED


def test_attempt_cannot_be_dialed_twice_at_once(tracker: CallTracker) -> None:
    """Registering an attempt id already in flight is refused."""
    with pytest.raises(ValueError, match="already"):
        tracker.register("7", "act-other", ring_timeout=5.0)


def amd(status: AmdStatus) -> DialerAmd:
    return DialerAmd("PJSIP/x-1", "rb-7-1", "rb-7-1", status, "", "7")


def test_hangup_during_amd_is_abandoned(clock: FakeClock[float], tracker: CallTracker) -> None:
    """AMD() returns HANGUP and no UserEvent follows: settled abandoned, nothing tracked."""
    answered(tracker)
    assert tracker.handle(Hangup("PJSIP/x-1", "rb-7-1", "rb-7-1", 16, "Normal Clearing")) == [
        CallOutcome("7", Outcome.ABANDONED, reason=4, detail="hung up during AMD")
    ]
    assert len(tracker) == 0


def test_agent_leg_after_redirect_is_reported(tracker: CallTracker) -> None:
    """The dialplan's Dial of the agent's phone ends: one AgentLeg, answered or not."""
    answered(tracker)
    events = tracker.handle(amd(AmdStatus.HUMAN))
    assert [type(e) for e in events] == [CallAnswered, CallOutcome]
    tracker.handle(DialBegin("rb-7-1", "Local/ann@phones-1;1", "9.1", "rb-7-1", "ann@phones"))
    # Another channel's DialEnd, or one for a leg we did not see begin, is not ours.
    assert tracker.handle(DialEnd("rb-7-1", "9.9", "rb-7-1", DialStatus.ANSWER)) == []
    assert tracker.handle(DialEnd("rb-7-1", "9.1", "rb-7-1", DialStatus.CHANUNAVAIL)) == [
        AgentLeg("7", False, DialStatus.CHANUNAVAIL)
    ]
    assert tracker.handle(DialEnd("rb-7-1", "9.1", "rb-7-1", DialStatus.CHANUNAVAIL)) == []


def test_agent_dial_that_fails_at_once_is_told_by_the_user_event(tracker: CallTracker) -> None:
    """No such agent endpoint: no DialBegin/DialEnd, only our DialerAgent UserEvent."""
    answered(tracker)
    tracker.handle(amd(AmdStatus.HUMAN))
    event = DialerAgent("PJSIP/x-1", "rb-7-1", "rb-7-1", DialStatus.CHANUNAVAIL, "7")
    assert tracker.handle(event) == [AgentLeg("7", False, DialStatus.CHANUNAVAIL)]
    assert tracker.handle(event) == []
