"""The agent's interactions: the current call, registration, end reason, wrap-up timer."""

from __future__ import annotations

from fastapi import APIRouter

from agent_api.deps import Me, Svc
from agent_api.routers.convert import categories_out, interaction_out, registration_out
from agent_api.schemas import (
    BigIdPath,
    ContactHistoryOut,
    ContactOut,
    EndReasonChoiceIn,
    InteractionDetail,
    InteractionIn,
    InteractionOut,
    RegistrationIn,
    RegistrationOut,
)
from campaigns.callbacks import CallbackRequest
from campaigns.wrapup import EndReasonChoice, RegistrationDraft

router = APIRouter(tags=["interactions"])


@router.get("/agents/me/interactions", response_model=list[InteractionOut])
async def my_interactions(svc: Svc, me: Me, limit: int = 50) -> list[InteractionOut]:
    now = svc.clock()
    limit = max(1, min(limit, 500))
    return [interaction_out(i, now) for i in await svc.interactions.mine(me, limit)]


@router.post("/agents/me/interactions", response_model=InteractionOut, status_code=201)
async def take_interaction(body: InteractionIn, svc: Svc, me: Me) -> InteractionOut:
    """Record a call the agent takes by hand (inbound, or a manual/preview dial)."""
    interaction = await svc.interactions.take(
        me, body.phone, body.direction, body.contact_id, body.campaign_id
    )
    return interaction_out(interaction, svc.clock())


@router.get("/interactions/{interaction_id}", response_model=InteractionDetail)
async def get_interaction(interaction_id: BigIdPath, svc: Svc, me: Me) -> InteractionDetail:
    """The interaction with its timer, the contact, the offered categories with scripts."""
    view = await svc.interactions.view(me, interaction_id)
    return InteractionDetail(
        interaction=interaction_out(view.interaction, svc.clock()),
        contact=ContactOut.model_validate(view.contact) if view.contact else None,
        categories=categories_out(view.categories, view.topics),
        registration=registration_out(view.registration, None) if view.registration else None,
        history=ContactHistoryOut.model_validate(view.history) if view.history else None,
    )


@router.post("/interactions/{interaction_id}/end", response_model=InteractionOut)
async def end_interaction(interaction_id: BigIdPath, svc: Svc, me: Me) -> InteractionOut:
    """End a call the agent recorded; the wrap-up countdown starts."""
    return interaction_out(await svc.interactions.end(me, interaction_id), svc.clock())


@router.post("/interactions/{interaction_id}/extend", response_model=InteractionOut)
async def extend_wrapup(interaction_id: BigIdPath, svc: Svc, me: Me) -> InteractionOut:
    """Cancel the countdown and wrap up by hand (where the campaign allows it)."""
    return interaction_out(await svc.interactions.extend(me, interaction_id), svc.clock())


@router.put("/interactions/{interaction_id}/end-reason", response_model=InteractionOut)
async def set_end_reason(
    interaction_id: BigIdPath, body: EndReasonChoiceIn, svc: Svc, me: Me
) -> InteractionOut:
    choice = EndReasonChoice(body.reason_id, body.close, body.description)
    interaction = await svc.interactions.set_end_reason(me, interaction_id, choice)
    return interaction_out(interaction, svc.clock())


@router.post(
    "/interactions/{interaction_id}/registration", response_model=RegistrationOut, status_code=201
)
async def register(
    interaction_id: BigIdPath, body: RegistrationIn, svc: Svc, me: Me
) -> RegistrationOut:
    """Register the wrap-up: topics, comment, dialer feedback, callback, end reason — at once."""
    draft = RegistrationDraft(
        topic_ids=tuple(body.topic_ids),
        comment=body.comment,
        feedback=body.feedback,
        callback=(
            CallbackRequest(body.callback.due_at, body.callback.comment, body.callback.for_)
            if body.callback
            else None
        ),
        end_reason=(
            EndReasonChoice(
                body.end_reason.reason_id, body.end_reason.close, body.end_reason.description
            )
            if body.end_reason
            else None
        ),
    )
    registration, callback = await svc.interactions.register(me, interaction_id, draft)
    return registration_out(registration, callback)
