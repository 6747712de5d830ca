"""The do-not-call list for managers: browse or export it, add numbers, look one up, take
one off."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from agent_api.deps import Manager, Svc
from agent_api.schemas import (
    INT32_MAX,
    DncAddIn,
    DncAddOut,
    DncEntryOut,
    DncNumberOut,
    DncPageOut,
)
from campaigns.errors import Invalid
from campaigns.phones import PhoneError, check_region, normalise

router = APIRouter(tags=["do-not-call"])


def _region(region: str) -> str:
    try:
        check_region(region)
    except ValueError as exc:
        raise Invalid(f"region: {exc}", field="region") from None
    return region


def _e164(raw: str, region: str, field: str) -> str:
    """``raw`` in E.164; ``region`` already checked by :func:`_region`."""
    try:
        return normalise(raw, region)
    except PhoneError as exc:
        raise Invalid(f"{field}: {exc}", field=field) from None


@router.post("/dnc", response_model=DncAddOut)
async def add_numbers(body: DncAddIn, svc: Svc, _: Manager) -> DncAddOut:
    """Put numbers on the list; queued contacts with them stop in every campaign.

    One invalid number refuses the whole request, naming it; nothing is added.
    """
    region = _region(body.region)
    phones = sorted({_e164(raw, region, f"numbers[{i}]") for i, raw in enumerate(body.numbers)})
    added = await svc.campaigns.dnc_add(phones, body.reason, svc.clock())
    return DncAddOut(added=added, already_listed=len(phones) - added)


_CSV = {"text/csv": {"schema": {"type": "string"}, "example": "phone,reason,added_at\n"}}


@router.get(
    "/dnc",
    response_model=DncPageOut,
    responses={200: {"content": _CSV, "description": "JSON page, or CSV with format=csv"}},
)
async def browse(
    svc: Svc,
    _: Manager,
    prefix: Annotated[str, Query(max_length=20, pattern=r"^\+?[0-9]*$")] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
    format: Literal["json", "csv"] = "json",
) -> DncPageOut | Response:
    """Browse the list by number (``prefix``: the numbers starting with it, E.164, e.g.
    ``+4741``), a page at a time; ``format=csv``: every matching number as a CSV file
    (phone,reason,added_at), which ``ringback dnc import`` reads back."""
    if format == "csv":
        total, rows = await svc.campaigns.dnc_page(prefix, INT32_MAX, 0)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["phone", "reason", "added_at"])
        writer.writerows((phone, reason, added.isoformat()) for phone, reason, added in rows)
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="do-not-call.csv"'},
        )
    total, rows = await svc.campaigns.dnc_page(prefix, limit, offset)
    return DncPageOut(
        total=total,
        numbers=[DncEntryOut(number=p, reason=r, added_at=a) for p, r, a in rows],
    )


@router.get("/dnc/{number}", response_model=DncNumberOut)
async def look_up(number: str, svc: Svc, _: Manager, region: str = "NO") -> DncNumberOut:
    phone = _e164(number, _region(region), "number")
    return DncNumberOut(number=phone, listed=await svc.campaigns.dnc_contains(phone))


@router.delete("/dnc/{number}", response_model=DncNumberOut)
async def take_off(number: str, svc: Svc, _: Manager, region: str = "NO") -> DncNumberOut:
    """Take a number off the list; contacts already stopped stay stopped."""
    phone = _e164(number, _region(region), "number")
    await svc.campaigns.dnc_remove([phone])
    return DncNumberOut(number=phone, listed=False)
