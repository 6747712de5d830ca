"""Helpers for tests of code that uses the agent side: a settable clock, recorded events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from campaigns.callbacks import Callback
from campaigns.cases import Case
from campaigns.wrapup import Interaction, Registration, WrapupTimer


@dataclass
class SettableClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class RecordingEvents:
    """An :class:`agent_api.ports.AgentEvents` that keeps (event name, details) pairs."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def call_offered(
        self, interaction: Interaction, contact: Mapping[str, Any] | None, callback: Callback | None
    ) -> None:
        self.events.append(("call_offered", {"interaction": interaction, "contact": contact}))

    def wrapup_started(self, interaction: Interaction, timer: WrapupTimer | None) -> None:
        self.events.append(("wrapup_started", {"interaction": interaction, "timer": timer}))

    def wrapped_up(self, interaction: Interaction, registration: Registration) -> None:
        self.events.append(
            ("wrapped_up", {"interaction": interaction, "registration": registration})
        )

    def callback_booked(self, callback: Callback) -> None:
        self.events.append(("callback_booked", {"callback": callback}))

    def callback_due(self, callback: Callback) -> None:
        self.events.append(("callback_due", {"callback": callback}))

    def agent_state(self, agent_id: int, state: str, reason: str | None) -> None:
        self.events.append(("agent_state", {"agent_id": agent_id, "state": state}))

    def case_changed(self, case: Case, action: str) -> None:
        self.events.append(("case_changed", {"case": case, "action": action}))

    def call_outcome(
        self, attempt_id: int, campaign_id: int, contact_id: int, outcome: str
    ) -> None:
        self.events.append(("call_outcome", {"attempt_id": attempt_id, "outcome": outcome}))

    def campaign_progress(self, campaign_id: int, progress: Mapping[str, Any]) -> None:
        self.events.append(("campaign_progress", {"campaign_id": campaign_id, **progress}))
