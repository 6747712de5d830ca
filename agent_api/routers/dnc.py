"""The do-not-call list for managers: add numbers, look one up, take one off."""

from __future__ import annotations

from fastapi import APIRouter

from agent_api.deps import Manager, Svc
from agent_api.schemas import DncAddIn, DncAddOut, DncNumberOut
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
