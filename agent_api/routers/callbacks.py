"""Scheduled calls: the agent's own upcoming and due callbacks; rebook or cancel. For
managers: every callback, reassigning one, and how late they were delivered."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from agent_api.deps import Manager, Me, Svc
from agent_api.schemas import (
    INT32_MAX,
    CallbackLatenessOut,
    CallbackOut,
    CallbackOwnerIn,
    CallbackPageOut,
    IdPath,
    RebookIn,
    ScheduledCallOut,
)
from campaigns.callbacks import CallbackQuery, CallbackState, day_in

router = APIRouter(tags=["callbacks"])

_Id = Annotated[int | None, Query(ge=1, le=INT32_MAX)]


@router.get("/agents/me/callbacks", response_model=list[ScheduledCallOut])
async def my_callbacks(svc: Svc, me: Me) -> list[ScheduledCallOut]:
    """My scheduled calls, soonest first: callbacks booked for me (``booked``), those due
    and reserved for me until ``reserved_until`` (``due``), and the due ones for all agents
    (``owner_id`` null) that any free agent may take; with the contact's number and name."""
    callbacks = await svc.callbacks.scheduled(me)
    contacts = await svc.campaigns.get_contacts({c.contact_id for c in callbacks})
    return [
        ScheduledCallOut(
            **CallbackOut.model_validate(c).model_dump(),
            phone=contacts[c.contact_id].phone,
            contact_name=contacts[c.contact_id].attributes.get("name"),
        )
        for c in callbacks
    ]


@router.get("/callbacks", response_model=CallbackPageOut)
async def browse(
    svc: Svc,
    me: Manager,
    agent_id: _Id = None,
    campaign_id: _Id = None,
    state: CallbackState | None = None,
    day: date | None = None,
    tz: Annotated[str, Query(max_length=64)] = "UTC",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> CallbackPageOut:
    """Every callback, soonest due first, a page at a time: ``agent_id`` the owner,
    ``campaign_id``, ``state``, ``day`` the day it is due in ``tz`` (an IANA zone, default
    UTC)."""
    due_from, due_before = day_in(day, tz) if day is not None else (None, None)
    query = CallbackQuery(agent_id, campaign_id, state, due_from, due_before, limit, offset)
    total, found = await svc.callbacks.browse(me, query)
    return CallbackPageOut(total=total, callbacks=[CallbackOut.model_validate(c) for c in found])


@router.get("/callbacks/lateness", response_model=list[CallbackLatenessOut])
async def lateness(svc: Svc, me: Manager, campaign_id: _Id = None) -> list[CallbackLatenessOut]:
    """Per campaign (or the one of ``campaign_id``): how late its delivered callbacks were,
    from their due time to the start of the call that delivered them, in seconds."""
    found = await svc.callbacks.lateness(me, campaign_id)
    return [CallbackLatenessOut.model_validate(x) for x in found]


@router.put("/callbacks/{callback_id}/owner", response_model=CallbackOut)
async def reassign(
    callback_id: IdPath, body: CallbackOwnerIn, svc: Svc, me: Manager
) -> CallbackOut:
    """Give an open callback to an agent, or (``owner_id`` null) to all agents. A due one
    is reserved for its new owner for the campaign's reservation time from now."""
    callback = await svc.callbacks.reassign(me, callback_id, body.owner_id)
    return CallbackOut.model_validate(callback)


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
