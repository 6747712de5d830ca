"""The use cases: routes (and the dialer) call these; they check the rules (pure functions
in the domain modules), have the store act, then announce what happened.

Typed on :mod:`campaigns.ports` only: no storage, no HTTP, no dialer here.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.ports import AgentEvents, AgentFloor, AgentStore, Clock, Store
from campaigns.ports.forecast import ForecastSimulator, HistoryStore
from campaigns.services.agent_state import AgentStates
from campaigns.services.callbacks import Callbacks
from campaigns.services.cases import Cases
from campaigns.services.followups import Followups
from campaigns.services.forecast import Forecasts
from campaigns.services.interactions import Interactions, InteractionView
from campaigns.services.users import Users
from campaigns.spec import Wrapup
from campaigns.users import AgentState

__all__ = [
    "AgentState",
    "AgentStates",
    "Callbacks",
    "Cases",
    "Followups",
    "Forecasts",
    "InteractionView",
    "Interactions",
    "Services",
    "Users",
]


@dataclass(frozen=True, slots=True)
class Services:
    """What the HTTP app and the engine are given by the composition root."""

    users: Users
    interactions: Interactions
    callbacks: Callbacks
    cases: Cases
    agents: AgentStates
    followups: Followups
    campaigns: Store
    clock: Clock
    floor: AgentFloor | None = None
    forecasts: Forecasts | None = None
    """None: no simulation behind this API (it is the dialer's)."""

    @classmethod
    def build(
        cls,
        store: AgentStore,
        campaigns: Store,
        events: AgentEvents,
        clock: Clock,
        inbound_wrapup: Wrapup | None = None,
        floor: AgentFloor | None = None,
        history: HistoryStore | None = None,
        simulator: ForecastSimulator | None = None,
        owner: str | None = None,
    ) -> Services:
        cases = Cases(store, events, clock)
        forecasts = None
        if history is not None and simulator is not None:
            forecasts = Forecasts(campaigns, history, simulator, clock)
        return cls(
            Users(store, clock),
            Interactions(store, campaigns, events, clock, inbound_wrapup, floor, owner),
            Callbacks(store, campaigns, events, clock),
            cases,
            AgentStates(store, campaigns, events, floor, clock, owner),
            Followups(store, cases, clock),
            campaigns,
            clock,
            floor,
            forecasts,
        )
