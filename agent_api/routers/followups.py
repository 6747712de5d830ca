"""Follow-up queues: requests left open at the end of a call, worked by agents and
managers (take, notes, close, or hand on as a case)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from agent_api.deps import Me, Svc
from agent_api.schemas import (
    BigIdPath,
    CaseOut,
    FollowupCaseIn,
    FollowupCloseIn,
    FollowupDetailOut,
    FollowupNoteIn,
    FollowupNoteOut,
    FollowupOut,
    Name,
    QueueOut,
)
from campaigns.cases import CaseDraft
from campaigns.wrapup import FollowupItem

router = APIRouter(tags=["follow-ups"])


def _out(item: FollowupItem, now: datetime) -> FollowupOut:
    call = item.interaction
    return FollowupOut(
        id=call.id,
        queue=item.queue,
        reason_id=call.end_reason_id,
        reason=item.reason,
        description=call.end_description,
        phone=call.phone,
        contact_id=call.contact_id,
        campaign_id=call.campaign_id,
        agent_id=call.agent_id,
        opened_at=item.opened_at,
        age_seconds=round((now - item.opened_at).total_seconds(), 3),
        taken_by=item.taken_by,
        taken_by_name=item.taken_by_name,
        taken_at=item.taken_at,
        closed_at=item.closed_at,
        closed_by=item.closed_by,
        case_id=item.case_id,
        notes=item.notes,
    )


@router.get("/followups/queues", response_model=list[QueueOut])
async def queues(svc: Svc, me: Me) -> list[QueueOut]:
    """Each queue with open requests: how many, how many taken, the oldest and its age."""
    now = svc.clock()
    return [
        QueueOut(
            queue=q.queue,
            open=q.open,
            taken=q.taken,
            oldest_opened_at=q.oldest_opened_at,
            oldest_age_seconds=(
                round((now - q.oldest_opened_at).total_seconds(), 3) if q.oldest_opened_at else None
            ),
        )
        for q in await svc.followups.queues(me)
    ]


@router.get("/followups", response_model=list[FollowupOut])
async def followups(
    svc: Svc,
    me: Me,
    queue: Name | None = None,
    closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[FollowupOut]:
    """Open requests (``closed=true``: closed ones), of one queue or all, oldest first."""
    now = svc.clock()
    items = await svc.followups.items(me, queue, closed=closed, limit=limit, offset=offset)
    return [_out(item, now) for item in items]


@router.get("/followups/{interaction_id}", response_model=FollowupDetailOut)
async def followup(interaction_id: BigIdPath, svc: Svc, me: Me) -> FollowupDetailOut:
    item, notes = await svc.followups.item(me, interaction_id)
    return FollowupDetailOut(
        followup=_out(item, svc.clock()),
        notes=[FollowupNoteOut.model_validate(n) for n in notes],
    )


@router.post("/followups/{interaction_id}/take", response_model=FollowupOut)
async def take(interaction_id: BigIdPath, svc: Svc, me: Me) -> FollowupOut:
    """Take the request to work on it (409 ``followup.taken`` if another agent has; a
    manager takes it over)."""
    return _out(await svc.followups.take(me, interaction_id), svc.clock())


@router.post("/followups/{interaction_id}/notes", response_model=FollowupNoteOut, status_code=201)
async def add_note(
    interaction_id: BigIdPath, body: FollowupNoteIn, svc: Svc, me: Me
) -> FollowupNoteOut:
    note = await svc.followups.note(me, interaction_id, body.text)
    return FollowupNoteOut.model_validate(note)


@router.post("/followups/{interaction_id}/close", response_model=FollowupOut)
async def close(interaction_id: BigIdPath, body: FollowupCloseIn, svc: Svc, me: Me) -> FollowupOut:
    """Close the request (the interaction's ``closed`` becomes true)."""
    return _out(await svc.followups.close(me, interaction_id, body.note), svc.clock())


@router.post("/followups/{interaction_id}/case", response_model=CaseOut, status_code=201)
async def to_case(interaction_id: BigIdPath, body: FollowupCaseIn, svc: Svc, me: Me) -> CaseOut:
    """Hand the request to another department as a case naming the call; the follow-up
    is closed and shows the case (``case_id``)."""
    draft = CaseDraft(
        type_id=body.type_id,
        subject=body.subject,
        priority=body.priority,
        comments=body.comments,
        phone=body.phone,
        fields=dict(body.fields),
    )
    return CaseOut.model_validate(await svc.followups.to_case(me, interaction_id, draft))
