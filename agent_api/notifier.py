"""The one place events leave the agent side: to agents (the hub) and over MQTT.

Topic names are built here and nowhere else (see ``Topics``); payloads are JSON objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from agent_api.hub import AgentEvent, AgentHub
from campaigns.callbacks import Callback
from campaigns.cases import Case
from campaigns.wrapup import Interaction, Registration, WrapupTimer


class Publisher(Protocol):
    """Sends JSON payloads to topics (MQTT); never blocks, buffers while disconnected."""

    def publish(self, topic: str, payload: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "ringback"

    def call_outcome(self, attempt_id: int) -> str:
        return f"{self.prefix}/calls/{attempt_id}/outcome"

    def agent_state(self, agent_id: int) -> str:
        return f"{self.prefix}/agents/{agent_id}/state"

    def agent_interaction(self, agent_id: int) -> str:
        return f"{self.prefix}/agents/{agent_id}/interaction"

    def campaign_progress(self, campaign_id: int) -> str:
        return f"{self.prefix}/campaigns/{campaign_id}/progress"

    def campaign_registration(self, campaign_id: int | None) -> str:
        scope = "inbound" if campaign_id is None else str(campaign_id)
        return f"{self.prefix}/campaigns/{scope}/registrations"

    def callback(self, callback_id: int) -> str:
        return f"{self.prefix}/callbacks/{callback_id}/state"

    def case(self, case_id: int) -> str:
        return f"{self.prefix}/cases/{case_id}/status"


def _interaction(i: Interaction) -> dict[str, Any]:
    return {
        "interaction_id": i.id,
        "agent_id": i.agent_id,
        "direction": i.direction.value,
        "phone": i.phone,
        "contact_id": i.contact_id,
        "campaign_id": i.campaign_id,
        "attempt_id": i.attempt_id,
    }


def _callback(c: Callback) -> dict[str, Any]:
    return {
        "callback_id": c.id,
        "contact_id": c.contact_id,
        "campaign_id": c.campaign_id,
        "owner_id": c.owner_id,
        "due_at": c.due_at.isoformat(),
        "comment": c.comment,
        "state": c.state.value,
    }


class Notifier:
    """:class:`agent_api.ports.AgentEvents` over the agent hub and an MQTT publisher."""

    def __init__(self, hub: AgentHub, publisher: Publisher, topics: Topics) -> None:
        self._hub = hub
        self._pub = publisher
        self._topics = topics
        self.callbacks_changed: Callable[[], None] = lambda: None
        """Told of every booking, rebooking and reassignment (the dialer's delivery)."""

    def _agent(self, agent_id: int, name: str, data: Mapping[str, Any]) -> None:
        self._hub.send(agent_id, AgentEvent(name, data))

    def call_offered(
        self, interaction: Interaction, contact: Mapping[str, Any] | None, callback: Callback | None
    ) -> None:
        data = {
            **_interaction(interaction),
            "contact": dict(contact) if contact is not None else None,
            "callback_comment": callback.comment if callback else None,
        }
        self._agent(interaction.agent_id, "call_offered", data)
        self._hub.to_floor(AgentEvent("call_offered", _interaction(interaction)))
        self._pub.publish(
            self._topics.agent_interaction(interaction.agent_id),
            {"event": "offered", **_interaction(interaction)},
        )

    def wrapup_started(self, interaction: Interaction, timer: WrapupTimer | None) -> None:
        data = {**_interaction(interaction), "timer": asdict(timer) if timer else None}
        self._agent(interaction.agent_id, "wrapup_countdown", data)
        self._pub.publish(
            self._topics.agent_interaction(interaction.agent_id),
            {"event": "ended", **_interaction(interaction)},
        )

    def wrapped_up(self, interaction: Interaction, registration: Registration) -> None:
        data = {
            **_interaction(interaction),
            "registration_id": registration.id,
            "automatic": registration.automatic,
            "topic_ids": list(registration.topic_ids),
            "feedback": registration.feedback.value if registration.feedback else None,
        }
        self._agent(interaction.agent_id, "wrapped_up", data)
        self._hub.to_floor(AgentEvent("wrapped_up", data))
        self._pub.publish(self._topics.campaign_registration(interaction.campaign_id), data)

    def callback_booked(self, callback: Callback) -> None:
        self.callbacks_changed()
        self._agent(callback.booked_by, "callback_booked", _callback(callback))
        self._hub.to_floor(AgentEvent("callback_booked", _callback(callback)))
        self._pub.publish(self._topics.callback(callback.id), _callback(callback))

    def callback_due(self, callback: Callback) -> None:
        event = AgentEvent("callback_due", _callback(callback))
        if callback.owner_id is None:
            self._hub.broadcast(event)
        else:
            self._hub.send(callback.owner_id, event)
        self._hub.to_floor(event)
        self._pub.publish(self._topics.callback(callback.id), {**_callback(callback), "due": True})

    def call_failed(self, agent_id: int, attempt_id: int, reason: str) -> None:
        """A call put through to the agent's phone never reached them (they are paused)."""
        self._agent(agent_id, "call_failed", {"attempt_id": attempt_id, "reason": reason})

    def agent_state(self, agent_id: int, state: str, reason: str | None) -> None:
        data = {"agent_id": agent_id, "state": state, "reason": reason}
        self._agent(agent_id, "state", data)
        self._hub.to_floor(AgentEvent("agent_state", data))
        self._pub.publish(self._topics.agent_state(agent_id), data)

    def case_changed(self, case: Case, action: str) -> None:
        data = {
            "case_id": case.id,
            "action": action,
            "status": case.status.value,
            "department": case.department,
            "creator_id": case.creator_id,
        }
        self._agent(case.creator_id, "case_changed", data)
        self._pub.publish(self._topics.case(case.id), data)

    def call_outcome(
        self, attempt_id: int, campaign_id: int, contact_id: int, outcome: str
    ) -> None:
        data = {
            "attempt_id": attempt_id,
            "campaign_id": campaign_id,
            "contact_id": contact_id,
            "outcome": outcome,
        }
        self._pub.publish(self._topics.call_outcome(attempt_id), data)
        self._hub.to_floor(AgentEvent("call_outcome", data))

    def campaign_progress(self, campaign_id: int, progress: Mapping[str, Any]) -> None:
        data = {"campaign_id": campaign_id, **progress}
        self._pub.publish(self._topics.campaign_progress(campaign_id), data)
        self._hub.to_floor(AgentEvent("campaign_progress", data))
