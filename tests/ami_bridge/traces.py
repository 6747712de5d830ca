"""Helpers to load the recorded Asterisk 22 transcripts in ``tests/fixtures/ami-traces``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ami_bridge.protocol import AmiParser, Banner, MalformedMessage, Message

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "ami-traces"
ATTEMPT_VARIABLE = "DIALER_ATTEMPT_ID"
# The events a dialer reasons about, compared between the simulator and a real Asterisk;
# the rest (Newexten, NewCallerid, DeviceStateChange, Cdr, RTCP...) is noise to a dialer.
DIALER_EVENTS = frozenset(
    {
        "Newchannel",
        "Newstate",
        "VarSet",
        "DialBegin",
        "DialState",
        "DialEnd",
        "HangupRequest",
        "SoftHangupRequest",
        "Hangup",
        "UserEvent",
    }
)


@dataclass(frozen=True)
class SentOriginate:
    attempt_id: str
    action_id: str
    channel_ids: tuple[str, ...]
    timeout_s: float


def scenario_names() -> list[str]:
    return sorted(p.name.removesuffix(".ami") for p in TRACES.glob("*.ami"))


def received(name: str) -> list[Message]:
    items = AmiParser().feed((TRACES / f"{name}.ami").read_bytes())
    assert isinstance(items[0], Banner)
    assert not any(isinstance(i, MalformedMessage) for i in items)
    return [i for i in items if isinstance(i, Message)]


def sent(name: str) -> list[Message]:
    items = AmiParser(expect_banner=False).feed((TRACES / f"{name}.sent").read_bytes())
    return [i for i in items if isinstance(i, Message)]


def originates(name: str) -> list[SentOriginate]:
    out = []
    for m in sent(name):
        if m.get("Action") != "Originate":
            continue
        var, _, value = m.get("Variable").partition("=")
        assert var == ATTEMPT_VARIABLE
        ids = tuple(v for v in (m.get("ChannelId"), m.get("OtherChannelId")) if v)
        out.append(SentOriginate(value, m.get("ActionID"), ids, int(m.get("Timeout")) / 1000))
    return out


# ---- the live recordings (tests/fixtures/ami-live, recorded by tests/live/test_outcomes.py)

LIVE = TRACES.parent / "ami-live"
LIVE_ATTEMPT_VARIABLE = "RINGBACK_ATTEMPT_ID"
LIVE_TRANSPORTS = ("local", "pjsip")
LIVE_CODES = ("00", "01", "02", "03", "04", "05", "06", "07", "08")


@dataclass(frozen=True)
class LiveCall:
    """What the recording tells of the Originate behind it (the actions are not recorded)."""

    transport: str
    code: str
    attempt_id: str
    number: str
    messages: list[Message]

    @property
    def channel_ids(self) -> tuple[str, str]:
        return f"rb-{self.attempt_id}-1", f"rb-{self.attempt_id}-2"


def live_received(transport: str, code: str) -> list[Message]:
    """The observer connection's stream of one call, parsed (banner and login reply kept)."""
    items = AmiParser().feed((LIVE / f"{transport}-{code}.ami").read_bytes())
    assert isinstance(items[0], Banner)
    assert not any(isinstance(i, MalformedMessage) for i in items)
    return [i for i in items if isinstance(i, Message)]


def live_call(transport: str, code: str) -> LiveCall:
    """The recording with its attempt id (the attempt VarSet) and number (DialBegin)."""
    messages = live_received(transport, code)
    (attempt_id,) = {
        m.get("Value")
        for m in messages
        if m.event == "VarSet" and m.get("Variable") == LIVE_ATTEMPT_VARIABLE
    }
    (dial_string,) = {m.get("DialString") for m in messages if m.event == "DialBegin"}
    return LiveCall(transport, code, attempt_id, dial_string.split("@")[0], messages)
