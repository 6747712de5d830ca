"""The seams of the agent side's use cases: the clock, the events they emit, and the
dialer's floor of agents.

Docstrings live here; implementations (:mod:`agent_api.notifier`, the dialer) stay terse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from campaigns.callbacks import Callback
from campaigns.cases import Case
from campaigns.model import Contact
from campaigns.users import AgentState
from campaigns.wrapup import Interaction, Registration, WrapupTimer

Clock = Callable[[], datetime]


class AgentEvents(Protocol):
    """Everything the agent side announces: to agents (push channel) and other systems (MQTT).

    Methods never block and never raise for a lost subscriber or broker: events are
    buffered or dropped (and counted), the call that caused them goes on.
    """

    def call_offered(
        self, interaction: Interaction, contact: Mapping[str, Any] | None, callback: Callback | None
    ) -> None:
        """A call is coming to the agent (with the contact's data and a callback's comment)."""

    def wrapup_started(self, interaction: Interaction, timer: WrapupTimer | None) -> None:
        """The call ended: the wrap-up countdown runs (``timer`` None: no countdown)."""

    def wrapped_up(self, interaction: Interaction, registration: Registration) -> None:
        """The interaction is registered (by the agent, or automatically at zero)."""

    def callback_booked(self, callback: Callback) -> None: ...

    def callback_due(self, callback: Callback) -> None:
        """A callback is due: to its owner, or to every connected agent when for all."""

    def agent_state(self, agent_id: int, state: str, reason: str | None) -> None: ...

    def case_changed(self, case: Case, action: str) -> None: ...

    def call_outcome(
        self, attempt_id: int, campaign_id: int, contact_id: int, outcome: str
    ) -> None:
        """For the engine: the final outcome of a dialer attempt."""

    def campaign_progress(self, campaign_id: int, progress: Mapping[str, Any]) -> None:
        """For the engine: counters of a running campaign."""


class AgentFloor(Protocol):
    """The dialer's view of agents: who is logged in to which campaigns, and who is free."""

    def state_of(self, agent_id: int) -> tuple[AgentState, str | None]:
        """The agent's state and, when paused, why."""
        ...

    def since(self, agent_id: int) -> datetime | None:
        """When the agent's current state began; None when logged out."""
        ...

    def campaigns_of(self, agent_id: int) -> tuple[list[int], bool]:
        """The campaigns the agent is logged in to, and whether they follow every running
        campaign (then campaigns started later are added)."""
        ...

    def log_in(self, agent_id: int, channel: str, campaigns: Sequence[int] | None) -> None:
        """Log in (paused) to ``campaigns``; None: every running campaign."""

    def ready(self, agent_id: int) -> None: ...

    def pause(self, agent_id: int, reason: str | None) -> None: ...

    def log_out(self, agent_id: int) -> None: ...

    async def hang_up(self, agent_id: int, attempt_id: int) -> bool:
        """The agent ends their current dialer call: hang it up in Asterisk and move the
        agent to wrap-up now. False when the call is not up or not the agent's."""
        ...

    def previewing(self, agent_id: int) -> int | None:
        """The contact the agent is previewing now, if any."""
        ...

    async def preview_next(self, agent_id: int, campaign_id: int) -> Contact | None:
        """Preview mode: hold the campaign's next due contact for the agent to read."""
        ...

    async def preview_dial(self, agent_id: int, contact_id: int) -> int:
        """Call the previewed contact (the agent's phone first); returns the attempt id."""
        ...

    async def preview_skip(self, agent_id: int, contact_id: int) -> None:
        """Put the previewed contact back in the queue, untouched."""
        ...
