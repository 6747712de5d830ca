"""Replay every recorded Asterisk 22 transcript through the parser and the outcome logic."""

from __future__ import annotations

import random

import pytest

from ami_bridge.call_events import CallAnswered, CallEnded, CallEvent, CallOutcome
from ami_bridge.events import (
    AmdStatus,
    CoreShowChannel,
    CoreShowChannelsComplete,
    DialerAmd,
    Hangup,
    OriginateResponse,
    Shutdown,
    decode_event,
)
from ami_bridge.protocol import AmiParser, Message
from ami_bridge.tracker import CallTracker
from campaigns.model import Outcome
from tests.ami_bridge import traces
from tests.support.clock import FakeClock

# The outcome each README entry names, in the order the Originates were sent.
EXPECTED: dict[str, list[Outcome]] = {
    "answer": [Outcome.ABANDONED],  # AMD HANGUP: the contact hung up on silence
    "noanswer": [Outcome.NO_ANSWER],
    "busy": [Outcome.BUSY],
    "busy-with-channelid": [Outcome.BUSY],
    "congestion": [Outcome.CONGESTION],
    "unallocated": [Outcome.INVALID],
    "invalid-format": [Outcome.INVALID],
    "machine": [Outcome.MACHINE],
    "human": [Outcome.ANSWERED],
    "human-with-channelvars": [Outcome.ANSWERED],
    "coreshowchannels-status": [Outcome.ANSWERED],
    "shutdown-during-call": [Outcome.ANSWERED],
    # We hung up the ringing call ourselves: the contact did not answer.
    "cancel-while-ringing": [Outcome.NO_ANSWER],
    # A dial string that does not exist, or a dialplan target refused: our fault.
    "originate-unknown-local-exten": [Outcome.FAILED_SYSTEM],
    "originate-unknown-dialplan-target": [Outcome.FAILED_SYSTEM],
    # "answer" hangs up after 3 s, during AMD: abandoned, as in the "answer" trace.
    "concurrent-originates": [Outcome.ABANDONED, Outcome.BUSY, Outcome.NO_ANSWER],
    "concurrent-originates.observer": [],
    "login-failed": [],
    "login-failed.observer": [],
    "login-ping-logoff": [],
}
# A person was on the line and an agent would have been connected.
HUMAN = {"human", "human-with-channelvars", "coreshowchannels-status", "shutdown-during-call"}


def replay(
    name: str, messages: list[Message], *, register: bool = True
) -> tuple[CallTracker, list[CallEvent], FakeClock[float]]:
    clock = FakeClock(1000.0)
    tracker = CallTracker(attempt_variable=traces.ATTEMPT_VARIABLE, clock=clock)
    sent = traces.originates(name) if register else []
    by_action = {o.action_id: o for o in sent}
    for o in sent:
        tracker.register(
            o.attempt_id, o.action_id, ring_timeout=o.timeout_s, channel_ids=o.channel_ids
        )
    out: list[CallEvent] = []
    for m in messages:
        clock.now += 0.01
        if m.response == "Error" and m.action_id in by_action:
            out += tracker.originate_rejected(by_action[m.action_id].attempt_id, m.get("Message"))
        event = decode_event(m)
        if event is not None:
            out += tracker.handle(event)
    return tracker, out, clock


def outcomes(name: str, events: list[CallEvent]) -> list[Outcome]:
    order = [o.attempt_id for o in traces.originates(name)]
    found = {e.attempt_id: e.outcome for e in events if isinstance(e, CallOutcome)}
    return [found[a] for a in order if a in found]


def test_every_trace_has_an_expectation() -> None:
    """Each transcript in tests/fixtures/ami-traces has an expected outcome (none skipped)."""
    assert traces.TRACES.is_dir()
    assert set(traces.scenario_names()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_trace_outcome(name: str) -> None:
    """The README's outcome is settled exactly once per attempt and nothing stays tracked."""
    tracker, events, _ = replay(name, traces.received(name))
    settled = [e.attempt_id for e in events if isinstance(e, CallOutcome)]
    assert len(settled) == len(set(settled))
    assert outcomes(name, events) == EXPECTED[name]
    assert len(tracker) == 0


@pytest.mark.parametrize("name", sorted(HUMAN))
def test_trace_human_is_announced_then_ended(name: str) -> None:
    """A human call gives CallAnswered, then its outcome, then CallEnded."""
    _, events, _ = replay(name, traces.received(name))
    kinds = [type(e) for e in events]
    assert kinds == [CallAnswered, CallOutcome, CallEnded]
    answered = events[0]
    assert isinstance(answered, CallAnswered)
    assert answered.amd is AmdStatus.HUMAN


def test_trace_answer_without_amd_verdict_is_not_announced() -> None:
    """'answer': AMD ended with HANGUP, so the call is answered but no agent is asked for."""
    _, events, _ = replay("answer", traces.received("answer"))
    assert not any(isinstance(e, CallAnswered) for e in events)
    (outcome,) = events
    assert isinstance(outcome, CallOutcome)
    assert outcome.reason == 4


def test_trace_cause_comes_from_the_half_that_has_it() -> None:
    """Busy puts 17 only on the ;2 half, ;1 says 0: the outcome carries 17."""
    _, events, _ = replay("busy", traces.received("busy"))
    (outcome,) = [e for e in events if isinstance(e, CallOutcome)]
    assert (outcome.reason, outcome.cause) == (5, 17)


def test_trace_machine_carries_amd_cause() -> None:
    """The DialerAMD UserEvent is typed with status, cause and attempt id."""
    amd = [decode_event(m) for m in traces.received("machine")]
    (event,) = [e for e in amd if isinstance(e, DialerAmd)]
    assert (event.status, event.cause, event.attempt_id) == (
        AmdStatus.MACHINE,
        "LONGGREETING-1500-1500",
        "1090",
    )


@pytest.mark.parametrize("name", sorted(n for n, v in EXPECTED.items() if v))
def test_trace_duplicated_events(name: str) -> None:
    """Every message delivered twice still settles one identical outcome per attempt."""
    doubled = [m for m in traces.received(name) for _ in range(2)]
    tracker, events, _ = replay(name, doubled)
    assert outcomes(name, events) == EXPECTED[name]
    assert len([e for e in events if isinstance(e, CallOutcome)]) == len(EXPECTED[name])
    assert len(tracker) == 0


@pytest.mark.parametrize("where", ["first", "last"])
@pytest.mark.parametrize("name", sorted(n for n, v in EXPECTED.items() if v))
def test_trace_originate_response_anywhere(name: str, where: str) -> None:
    """OriginateResponse moved before every channel event or after all of them changes nothing."""
    messages = traces.received(name)
    ors = [m for m in messages if m.event == "OriginateResponse"]
    rest = [m for m in messages if m.event != "OriginateResponse"]
    reordered = ors + rest if where == "first" else rest + ors
    tracker, events, clock = replay(name, reordered)
    clock.now += 60
    events += tracker.expire()
    assert outcomes(name, events) == EXPECTED[name]
    assert len(tracker) == 0


@pytest.mark.parametrize("name", traces.scenario_names())
def test_trace_parses_the_same_in_any_chunking(name: str) -> None:
    """Feeding the bytes in random pieces (1..200 bytes) gives the same messages."""
    data = (traces.TRACES / f"{name}.ami").read_bytes()
    rng = random.Random(name)
    parser = AmiParser()
    items = []
    i = 0
    while i < len(data):
        n = rng.randint(1, 200)
        items += parser.feed(data[i : i + n])
        i += n
    assert [i for i in items if isinstance(i, Message)] == traces.received(name)


def test_trace_observer_ignores_foreign_originate_responses() -> None:
    """Another session's OriginateResponses (broadcast) settle nothing here."""
    name = "concurrent-originates.observer"
    messages = traces.received(name)
    assert sum(m.event == "OriginateResponse" for m in messages) == 3
    tracker, events, _ = replay(name, messages)
    assert events == []
    assert len(tracker) == 0


def test_trace_login_failed_and_ping() -> None:
    """Failed login, ping reply and Goodbye read as responses, not events."""
    (failed,) = traces.received("login-failed")
    assert (failed.response, failed.get("Message")) == ("Error", "Authentication failed")
    replies = [m for m in traces.received("login-ping-logoff") if m.response]
    assert [(m.response, m.action_id) for m in replies] == [
        ("Success", "login-1"),
        ("Success", "ping-1"),
        ("Goodbye", "logoff-1"),
    ]
    assert replies[1].get("Ping") == "Pong"


def test_trace_originate_response_is_an_event_not_a_reply() -> None:
    """OriginateResponse has Response: but is typed as an event; the reply is the earlier one."""
    messages = traces.received("human")
    replies = [m for m in messages if m.action_id == "orig-human-1100"]
    assert [m.response for m in replies] == ["Success", None]
    event = decode_event(replies[1])
    assert isinstance(event, OriginateResponse)
    assert (event.success, event.reason, event.uniqueid) == (True, 4, "1795385061.18")


def test_trace_failed_originate_has_no_uniqueid_unless_channel_id_given() -> None:
    """OR on failure says <unknown>, unless ChannelId was passed in the Originate."""
    (busy,) = [decode_event(m) for m in traces.received("busy") if m.event == "OriginateResponse"]
    (with_id,) = [
        decode_event(m)
        for m in traces.received("busy-with-channelid")
        if m.event == "OriginateResponse"
    ]
    assert isinstance(busy, OriginateResponse) and busy.uniqueid is None
    assert isinstance(with_id, OriginateResponse) and with_id.uniqueid == "attempt-1180-leg1"


def test_trace_chanvariable_lines_are_all_kept() -> None:
    """Repeated ChanVariable keys survive parsing, in order."""
    newchannel = next(
        m for m in traces.received("human-with-channelvars") if m.event == "Newchannel"
    )
    assert newchannel.get_all("ChanVariable") == ["DIALER_ATTEMPT_ID=", "DIALER_AMD="]


def test_trace_coreshowchannels_list() -> None:
    """CoreShowChannels items and Complete are typed with the ActionID and count."""
    events = [decode_event(m) for m in traces.received("coreshowchannels-status")]
    items = [e for e in events if isinstance(e, CoreShowChannel) and e.action_id == "csc-1"]
    (done,) = [
        e for e in events if isinstance(e, CoreShowChannelsComplete) and e.action_id == "csc-1"
    ]
    assert [c.uniqueid for c in items] == ["1795385099.22", "1795385099.23"]
    assert done.list_items == 2


def test_trace_shutdown_hangups_then_event() -> None:
    """'core stop now': Hangup 0/0 on both halves, then Shutdown (Cleanly, no restart)."""
    events = [decode_event(m) for m in traces.received("shutdown-during-call")]
    hangups = [e for e in events if isinstance(e, Hangup)]
    assert [h.cause for h in hangups] == [0, 0]
    assert events[-1] == Shutdown(cleanly=True, restart=False)


def test_trace_reconcile_after_lost_events() -> None:
    """Events lost after the answer: reconcile with no live channel ends the call as lost."""
    messages = traces.received("human")
    cut = next(i for i, m in enumerate(messages) if m.event == "UserEvent") + 1
    tracker, events, _ = replay("human", messages[:cut])
    assert [type(e) for e in events] == [CallAnswered, CallOutcome]
    ended = tracker.reconcile([])
    assert len(ended) == 1 and isinstance(ended[0], CallEnded) and ended[0].lost
    assert len(tracker) == 0
