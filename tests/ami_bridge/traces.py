"""Helpers to load the recorded Asterisk 22 transcripts in ``tests/fixtures/ami-traces``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ami_bridge.protocol import AmiParser, Banner, MalformedMessage, Message

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "ami-traces"
ATTEMPT_VARIABLE = "DIALER_ATTEMPT_ID"


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
