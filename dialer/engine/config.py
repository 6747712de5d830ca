"""The engine's settings and what it tells the rest of Ringback (agent API, MQTT)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from campaigns.callbacks import Callback
from campaigns.model import Contact, Outcome
from campaigns.retry import Decision
from campaigns.spec import Campaign


@dataclass(frozen=True, slots=True)
class TrunkLimit:
    max_concurrent: int = 1000
    calls_per_second: float = 50.0


@dataclass(frozen=True, slots=True)
class EngineConfig:
    owner: str
    """This process's name on leases and attempts; stable across restarts."""
    lease: timedelta = timedelta(minutes=5)
    max_idle: float = 15.0
    """Longest wait without a look at the store: changes made by other processes."""
    abandon_wait: float = 2.0
    """An answered call with no agent after this long is abandoned (regulators: 2 s)."""
    drain_timeout: float = 120.0
    behind_after: float = 1.0
    """Call events waiting longer than this for the engine: it is behind, and predictive
    campaigns dial only for free agents until it has caught up."""
    trunks: Mapping[str, TrunkLimit] = field(default_factory=dict)

    def trunk(self, name: str) -> TrunkLimit:
        return self.trunks.get(name, TrunkLimit())


class EngineEvents(Protocol):
    """What the engine tells the rest of Ringback (agent API, MQTT). Must not block."""

    def call_connected(
        self,
        agent_id: int,
        attempt_id: int,
        contact: Contact,
        campaign: Campaign,
        callback: Callback | None,
    ) -> None:
        """A call is on the agent's line: show the contact (and the booking comment)."""

    def call_ended(self, agent_id: int, attempt_id: int, talk_seconds: float) -> None:
        """The agent's call is over: wrap-up starts."""

    def attempt_settled(
        self, attempt_id: int, contact: Contact, outcome: Outcome, decision: Decision
    ) -> None:
        """An attempt's one final outcome, and what became of its contact."""

    def callback_due(self, callback: Callback) -> None:
        """A callback fell due and waits in its owner's personal queue."""

    def agent_phone_failed(self, agent_id: int, attempt_id: int, reason: str) -> None:
        """The agent's phone did not take a call put through to it: they are paused."""


class NoEvents:
    def call_connected(
        self,
        agent_id: int,
        attempt_id: int,
        contact: Contact,
        campaign: Campaign,
        callback: Callback | None,
    ) -> None:
        pass

    def call_ended(self, agent_id: int, attempt_id: int, talk_seconds: float) -> None:
        pass

    def attempt_settled(
        self, attempt_id: int, contact: Contact, outcome: Outcome, decision: Decision
    ) -> None:
        pass

    def callback_due(self, callback: Callback) -> None:
        pass

    def agent_phone_failed(self, agent_id: int, attempt_id: int, reason: str) -> None:
        pass
