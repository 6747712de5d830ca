"""The seams of the domain: the store protocols, the clock, the events the use cases emit,
and the dialer's floor of agents. Docstrings live on these interfaces."""

from campaigns.ports.agent_side import AgentEvents, AgentFloor, Clock
from campaigns.ports.agent_store import (
    AgentStore,
    CallbackStore,
    CaseDesk,
    CaseStore,
    CatalogueStore,
    FollowupStore,
    InteractionStore,
    UserStore,
    WrapupStore,
)
from campaigns.ports.campaign_store import AddResult, CampaignStats, Store

__all__ = [
    "AddResult",
    "AgentEvents",
    "AgentFloor",
    "AgentStore",
    "CallbackStore",
    "CampaignStats",
    "CaseDesk",
    "CaseStore",
    "CatalogueStore",
    "Clock",
    "FollowupStore",
    "InteractionStore",
    "Store",
    "UserStore",
    "WrapupStore",
]
