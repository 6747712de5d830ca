"""The wrap-up catalogue (categories, topics), end reasons, follow-up queues, statistics."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from agent_api.deps import Manager, Me, Svc
from agent_api.routers.convert import categories_out
from agent_api.schemas import (
    AgentFiguresOut,
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    EndReasonIn,
    EndReasonOut,
    EndReasonPatch,
    IdPath,
    IdQuery,
    Moment,
    TopicCountOut,
    TopicIn,
    TopicOut,
)
from campaigns.errors import Invalid
from campaigns.wrapup import EndReasonChanges, NewEndReason, StatsQuery

router = APIRouter(tags=["wrap-up"])


@router.get("/wrapup/categories", response_model=list[CategoryOut])
async def list_categories(svc: Svc, _: Me) -> list[CategoryOut]:
    categories, topics = await svc.interactions.catalogue()
    return categories_out(categories, topics)


@router.post("/wrapup/categories", response_model=CategoryOut, status_code=201)
async def create_category(body: CategoryIn, svc: Svc, me: Manager) -> CategoryOut:
    category = await svc.interactions.create_category(
        me, body.name, body.multi_choice, body.campaign_id, body.required
    )
    return CategoryOut.model_validate(category)


@router.patch("/wrapup/categories/{category_id}", response_model=CategoryOut)
async def patch_category(
    category_id: IdPath, body: CategoryPatch, svc: Svc, me: Manager
) -> CategoryOut:
    """Deactivate or reactivate, mark required or not."""
    if body.active is None and body.required is None:
        raise Invalid("active: give active, required or both", field="active")
    category = None
    if body.active is not None:
        category = await svc.interactions.set_category_active(me, category_id, body.active)
    if body.required is not None:
        category = await svc.interactions.set_category_required(me, category_id, body.required)
    return CategoryOut.model_validate(category)


@router.post("/wrapup/categories/{category_id}/topics", response_model=TopicOut, status_code=201)
async def create_topic(category_id: IdPath, body: TopicIn, svc: Svc, me: Manager) -> TopicOut:
    topic = await svc.interactions.create_topic(me, category_id, body.name, body.script)
    return TopicOut.model_validate(topic)


@router.get("/end-reasons", response_model=list[EndReasonOut])
async def list_end_reasons(
    svc: Svc, me: Me, campaign_id: IdQuery | None = None, retired: bool = False
) -> list[EndReasonOut]:
    """The reasons offered for a call of ``campaign_id`` (the global ones and the
    campaign's own; without it, the global ones), in the agents' order. ``retired=true``
    (managers): every reason, retired ones too, of every campaign unless one is named."""
    reasons = await svc.interactions.end_reasons(me, campaign_id, retired=retired)
    return [EndReasonOut.model_validate(r) for r in reasons]


@router.post("/end-reasons", response_model=EndReasonOut, status_code=201)
async def create_end_reason(body: EndReasonIn, svc: Svc, me: Manager) -> EndReasonOut:
    """A reason for every call, or for one campaign's (``campaign_id``)."""
    reason = await svc.interactions.create_end_reason(
        me,
        NewEndReason(
            body.name,
            body.close_by_default,
            body.followup_queue,
            body.description,
            body.campaign_id,
            body.position,
        ),
    )
    return EndReasonOut.model_validate(reason)


@router.patch("/end-reasons/{reason_id}", response_model=EndReasonOut)
async def patch_end_reason(
    reason_id: IdPath, body: EndReasonPatch, svc: Svc, me: Manager
) -> EndReasonOut:
    """Edit, reorder (``position``), retire (``active: false``) or bring back a reason.
    A retired reason stays on the interactions that name it."""
    if all(value is None for value in body.model_dump().values()):
        raise Invalid("body: name a value to change", field="body")
    changes = EndReasonChanges(**body.model_dump(exclude_unset=True))
    reason = await svc.interactions.update_end_reason(me, reason_id, changes)
    return EndReasonOut.model_validate(reason)


_CSV = {"text/csv": {"schema": {"type": "string"}}}


@router.get(
    "/stats/agents",
    response_model=list[AgentFiguresOut],
    responses={200: {"content": _CSV, "description": "JSON, or CSV with format=csv"}},
)
async def agent_figures(
    svc: Svc,
    me: Manager,
    campaign_id: IdQuery | None = None,
    agent_id: IdQuery | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    format: Literal["json", "csv"] = "json",
) -> list[AgentFiguresOut] | Response:
    """Per agent: calls handled, talk and wrap-up seconds, registrations; filter by
    campaign, agent and period (calls started and registrations made in it, ``since``
    included, ``until`` not). ``format=csv`` for a file."""
    query = StatsQuery(campaign_id, agent_id, since, until)
    rows = [
        AgentFiguresOut.model_validate(f) for f in await svc.interactions.agent_figures(me, query)
    ]
    return rows if format == "json" else _csv(rows, AgentFiguresOut, "agents.csv")


def _csv(rows: Sequence[BaseModel], model: type[BaseModel], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    fields = list(model.model_fields)
    writer.writerow(fields)
    writer.writerows([getattr(row, name) for name in fields] for row in rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/stats/registrations",
    response_model=list[TopicCountOut],
    responses={200: {"content": _CSV, "description": "JSON, or CSV with format=csv"}},
)
async def registration_stats(
    svc: Svc,
    me: Manager,
    campaign_id: IdQuery | None = None,
    agent_id: IdQuery | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    by_agent: bool = False,
    by_campaign: bool = False,
    format: Literal["json", "csv"] = "json",
) -> list[TopicCountOut] | Response:
    """Registrations counted by category and topic, and those without a topic (topic
    null); filter by campaign, agent and period (``since`` included, ``until`` not).
    ``format=csv`` for a file."""
    query = StatsQuery(campaign_id, agent_id, since, until, by_agent, by_campaign)
    rows = [TopicCountOut.model_validate(r) for r in await svc.interactions.stats(me, query)]
    return rows if format == "json" else _csv(rows, TopicCountOut, "registrations.csv")
