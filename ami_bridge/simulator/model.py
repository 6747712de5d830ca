"""The simulated PBX's state: how a number behaves, a call in progress, agents' phones,
id counters and timing. Shared by the server and the call scripts.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ami_bridge.simulator.wire import Channel, Fields


class Behaviour(enum.StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    NO_ANSWER = "noanswer"
    BUSY = "busy"
    CONGESTION = "congestion"
    UNALLOCATED = "unallocated"
    INVALID_FORMAT = "invalid-format"
    REJECTED = "rejected"
    HANGUP_DURING_AMD = "answer"
    """Answers, then hangs up before AMD decides (AMDSTATUS HANGUP, no UserEvent)."""


FAR_END_HANGUP = {
    Behaviour.UNALLOCATED: 1,
    Behaviour.INVALID_FORMAT: 28,
    Behaviour.REJECTED: 21,
}
DEFAULT_WEIGHTS: Mapping[Behaviour, float] = {
    Behaviour.HUMAN: 0.43,
    Behaviour.NO_ANSWER: 0.20,
    Behaviour.MACHINE: 0.12,
    Behaviour.BUSY: 0.10,
    Behaviour.REJECTED: 0.05,
    Behaviour.CONGESTION: 0.03,
    Behaviour.UNALLOCATED: 0.03,
    Behaviour.INVALID_FORMAT: 0.02,
    Behaviour.HANGUP_DURING_AMD: 0.02,
}


@dataclass(slots=True)
class Call:
    one: Channel
    two: Channel | None
    """The Local pair's ;2 half; None for a one-channel call (PJSIP and the like)."""
    number: str
    behaviour: Behaviour | None
    """None for an agent phone, which answers and stays up."""
    action_id: str
    dial_string: str
    context: str
    exten: str
    timeout: float
    variables: Fields
    attempt_var: str
    channel_id_given: bool
    hangup: asyncio.Event = field(default_factory=asyncio.Event)
    redirected: asyncio.Event = field(default_factory=asyncio.Event)
    answered: bool = False

    @property
    def channels(self) -> tuple[Channel, ...]:
        return (self.one,) if self.two is None else (self.one, self.two)


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds of each phase, and the factor every wait is multiplied by."""

    scale: float = 1.0
    ring: float = 4.0
    amd: float = 2.0
    talk: float = 30.0


class Phones:
    """Which dial strings are agents' phones, and which of them nobody picks up."""

    def __init__(self, pattern: str) -> None:
        self._pattern = re.compile(pattern)
        self.agents: set[str] = set()
        self.unanswered: set[str] = set()

    def is_agent(self, dial: str) -> bool:
        return dial in self.agents or bool(self._pattern.search(dial))

    def behaviour(self, dial: str) -> Behaviour | None:
        """An agent phone answers (None) unless it is one nobody picks up."""
        return Behaviour.NO_ANSWER if dial in self.unanswered else None


class Ids:
    """Uniqueids (epoch.counter, restarting with the PBX) and channel sequence numbers."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._seq = itertools.count(1)
        self._epoch = int(time.time())

    def uniqueid(self) -> str:
        return f"{self._epoch}.{next(self._counter)}"

    def seq(self) -> int:
        return next(self._seq)

    def restart(self) -> None:
        self._counter = itertools.count()
        self._epoch = int(time.time())
