"""Campaign management for managers: create or edit, start/pause, live statistics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent_api.deps import Manager, Svc
from agent_api.schemas import CampaignOut, CampaignStateIn, CampaignStatsOut
from campaigns.agents import Invalid
from campaigns.model import Outcome
from campaigns.spec import Campaign, CampaignSpec

router = APIRouter(tags=["campaigns"])


def _out(campaign: Campaign) -> CampaignOut:
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        state=campaign.state,
        created_at=campaign.created_at,
        spec=campaign.spec.model_dump(mode="json"),
    )


@router.get("/campaigns", response_model=list[CampaignOut])
async def list_campaigns(svc: Svc, _: Manager) -> list[CampaignOut]:
    return [_out(c) for c in await svc.campaigns.list_campaigns()]


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
async def create_campaign(body: CampaignSpec, svc: Svc, _: Manager) -> CampaignOut:
    return _out(await svc.campaigns.create_campaign(body, svc.clock()))


@router.put("/campaigns/{name}", response_model=CampaignOut)
async def apply_campaign(name: str, body: CampaignSpec, svc: Svc, _: Manager) -> CampaignOut:
    """Create the campaign or replace its settings; its state is kept."""
    if body.name != name:
        raise Invalid("name: must match the campaign name in the path", field="name")
    campaign, _created = await svc.campaigns.apply_campaign(body, svc.clock())
    return _out(campaign)


@router.post("/campaigns/{campaign_id}/state", response_model=CampaignOut)
async def set_state(campaign_id: int, body: CampaignStateIn, svc: Svc, _: Manager) -> CampaignOut:
    """Start (running), pause (paused), or finish."""
    return _out(await svc.campaigns.set_campaign_state(campaign_id, body.state, svc.clock()))


@router.get("/campaigns/{campaign_id}/stats", response_model=CampaignStatsOut)
async def stats(campaign_id: int, svc: Svc, _: Manager) -> CampaignStatsOut:
    await svc.campaigns.get_campaign(campaign_id)
    s = await svc.campaigns.campaign_stats(campaign_id)
    answered = s.attempts_by_outcome.get(Outcome.ANSWERED, 0)
    abandoned = s.attempts_by_outcome.get(Outcome.ABANDONED, 0)
    connected = answered + abandoned
    data: dict[str, Any] = {
        "contacts_by_state": {k.value: v for k, v in s.contacts_by_state.items()},
        "attempts_by_outcome": {k.value: v for k, v in s.attempts_by_outcome.items()},
        "attempts_open": s.attempts_open,
        "abandon_rate": abandoned / connected if connected else None,
    }
    return CampaignStatsOut(**data)
