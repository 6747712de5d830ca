"""Scheduled calls: the agent's own upcoming callbacks; rebook or cancel."""

from __future__ import annotations

from fastapi import APIRouter

from agent_api.deps import Me, Svc
from agent_api.schemas import (
    CallbackOut,
    IdPath,
    RebookIn,
)

router = APIRouter(tags=["callbacks"])


@router.get("/agents/me/callbacks", response_model=list[CallbackOut])
async def my_callbacks(svc: Svc, me: Me) -> list[CallbackOut]:
    """Callbacks booked for me, from booking until due, soonest first."""
    return [CallbackOut.model_validate(c) for c in await svc.callbacks.scheduled(me)]


@router.get("/callbacks/{callback_id}", response_model=CallbackOut)
async def get_callback(callback_id: IdPath, svc: Svc, me: Me) -> CallbackOut:
    return CallbackOut.model_validate(await svc.callbacks.get(me, callback_id))


@router.put("/callbacks/{callback_id}", response_model=CallbackOut)
async def rebook(callback_id: IdPath, body: RebookIn, svc: Svc, me: Me) -> CallbackOut:
    callback = await svc.callbacks.rebook(me, callback_id, body.due_at, body.comment)
    return CallbackOut.model_validate(callback)


@router.post("/callbacks/{callback_id}/cancel", response_model=CallbackOut)
async def cancel(callback_id: IdPath, svc: Svc, me: Me) -> CallbackOut:
    return CallbackOut.model_validate(await svc.callbacks.cancel(me, callback_id))
