"""Preview dialing: the agent sees the next contact first, then calls or skips it."""

from __future__ import annotations

from fastapi import APIRouter, Response

from agent_api.deps import Me, Svc
from agent_api.schemas import (
    AttemptOut,
    BigIdPath,
    ContactOut,
    IdQuery,
)
from campaigns.errors import Code, Conflict
from campaigns.model import DialMode
from campaigns.ports import AgentFloor
from campaigns.services import Services

router = APIRouter(tags=["preview"])


def _floor(svc: Services) -> AgentFloor:
    if svc.floor is None:
        raise Conflict("no dialer behind this API", code=Code.PREVIEW_UNAVAILABLE)
    return svc.floor


@router.post(
    "/agents/me/preview",
    response_model=ContactOut,
    responses={204: {"description": "no contact is due"}},
)
async def preview_next(campaign_id: IdQuery, svc: Svc, me: Me) -> ContactOut | Response:
    """Hold the next due contact of a preview campaign for me to read."""
    campaign = await svc.campaigns.get_campaign(campaign_id)
    if campaign.spec.dialing.mode is not DialMode.PREVIEW:
        raise Conflict(
            f"campaign {campaign.name!r} is not a preview campaign", code=Code.PREVIEW_MODE
        )
    contact = await _floor(svc).preview_next(me.id, campaign_id)
    if contact is None:
        return Response(status_code=204)
    return ContactOut.model_validate(contact)


@router.post("/agents/me/preview/{contact_id}/dial", response_model=AttemptOut)
async def preview_dial(contact_id: BigIdPath, svc: Svc, me: Me) -> AttemptOut:
    """Call the contact I am previewing: my phone rings first, then theirs."""
    return AttemptOut(attempt_id=await _floor(svc).preview_dial(me.id, contact_id))


@router.post("/agents/me/preview/{contact_id}/skip", status_code=204)
async def preview_skip(contact_id: BigIdPath, svc: Svc, me: Me) -> None:
    """Put the contact I am previewing back in the queue."""
    await _floor(svc).preview_skip(me.id, contact_id)
