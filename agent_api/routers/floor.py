"""The floor for managers: every agent with their state and how long they have been in it;
the campaigns an agent may choose."""

from __future__ import annotations

from fastapi import APIRouter

from agent_api.deps import Manager, Me, Svc
from agent_api.schemas import AgentOnFloorOut, CampaignChoiceOut, IdQuery
from campaigns.model import CampaignState
from campaigns.users import AgentState

router = APIRouter(tags=["floor"])


@router.get("/agents", response_model=list[AgentOnFloorOut])
async def floor(
    svc: Svc,
    me: Manager,
    campaign_id: IdQuery | None = None,
    state: AgentState | None = None,
) -> list[AgentOnFloorOut]:
    """Every active agent (and any other user logged in) with their state, since when and
    the campaigns they take calls from; ``campaign_id``: those logged in to it; ``state``:
    those in it (e.g. ``paused``). Longest in their state first."""
    now = svc.clock()
    users = await svc.users.list_users(me)
    seen = [
        AgentOnFloorOut(
            id=a.user.id,
            username=a.user.username,
            name=a.user.name,
            role=a.user.role,
            state=a.state,
            reason=a.reason,
            since=a.since,
            seconds_in_state=round((now - a.since).total_seconds(), 3) if a.since else None,
            campaigns=list(a.campaigns),
            follows_running=a.follows_running,
        )
        for a in svc.agents.floor_view(me, users, campaign_id)
        if state is None or a.state is state
    ]
    seen.sort(key=lambda a: (a.since is None, a.since or now, a.username))
    return seen


@router.get("/agents/me/campaigns", response_model=list[CampaignChoiceOut])
async def my_campaigns(svc: Svc, _: Me) -> list[CampaignChoiceOut]:
    """The campaigns an agent may choose when going ready: all but finished ones (a
    campaign not started yet sends calls once it is)."""
    open_states = (CampaignState.DRAFT, CampaignState.RUNNING, CampaignState.PAUSED)
    return [
        CampaignChoiceOut(
            id=c.id,
            name=c.name,
            state=c.state,
            mode=c.spec.dialing.mode.value,
            description=c.spec.description,
        )
        for c in await svc.campaigns.list_campaigns()
        if c.state in open_states
    ]
