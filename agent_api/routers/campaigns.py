"""Campaign management for managers: create or edit, start/pause, live statistics."""

from __future__ import annotations

import csv
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from agent_api.deps import Hub, Manager, Svc
from agent_api.hub import AgentEvent
from agent_api.schemas import (
    CampaignOut,
    CampaignStateIn,
    CampaignStatsOut,
    ContactImportOut,
    IdPath,
    RefusedRowOut,
)
from campaigns.errors import Invalid
from campaigns.imports.files import ImportOptions
from campaigns.imports.loading import LoadSummary, load_contacts
from campaigns.model import Outcome
from campaigns.phones import check_region
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
async def set_state(
    campaign_id: IdPath, body: CampaignStateIn, svc: Svc, _: Manager
) -> CampaignOut:
    """Start (running), pause (paused), or finish."""
    return _out(await svc.campaigns.set_campaign_state(campaign_id, body.state, svc.clock()))


@router.get("/campaigns/{campaign_id}/stats", response_model=CampaignStatsOut)
async def stats(campaign_id: IdPath, svc: Svc, _: Manager) -> CampaignStatsOut:
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


_REFUSED_SHOWN = 100


@router.post("/campaigns/{campaign_id}/contacts", response_model=ContactImportOut)
async def upload_contacts(
    campaign_id: IdPath,
    request: Request,
    svc: Svc,
    hub: Hub,
    me: Manager,
    phone_column: str | None = None,
    timezone_column: str | None = None,
    region: str | None = None,
) -> ContactImportOut:
    """Import a CSV contact list (the request body, UTF-8, ',' or ';'), as the CLI does.

    Progress goes to the uploader's event stream (``import_progress``). The answer counts
    imported rows, merged duplicates and refusals by reason, and lists the first refused
    rows with their line numbers. A file that cannot be read at all imports nothing (422).
    """
    campaign = await svc.campaigns.get_campaign(campaign_id)
    if region is not None:
        try:
            check_region(region)
        except ValueError as exc:
            raise Invalid(f"region: {exc}", field="region") from None
    options = ImportOptions(
        region=region or campaign.spec.default_region,
        default_timezone=campaign.spec.timezone,
        phone_column=phone_column,
        timezone_column=timezone_column,
    )
    with tempfile.TemporaryDirectory(prefix="ringback-upload-") as folder:
        upload, refused = Path(folder) / "contacts.csv", Path(folder) / "refused.csv"
        with upload.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)

        def progress(summary: LoadSummary) -> None:
            hub.send(
                me.id,
                AgentEvent(
                    "import_progress",
                    {
                        "campaign_id": campaign_id,
                        "bytes_read": summary.bytes_read,
                        "size": summary.size,
                        "lines": summary.lines,
                        "imported": summary.imported,
                    },
                ),
            )

        summary = await load_contacts(
            svc.campaigns,
            campaign_id,
            upload,
            options,
            datetime.now(UTC),
            errors_path=refused,
            on_progress=progress,
        )
        with refused.open(encoding="utf-8", newline="") as f:
            shown = [
                RefusedRowOut(line=int(r["line"]), phone=r["phone"], reason=r["reason"])
                for _, r in zip(range(_REFUSED_SHOWN), csv.DictReader(f), strict=False)
            ]
    return ContactImportOut(
        lines=summary.lines,
        imported=summary.imported,
        merged=summary.merged,
        refused=dict(summary.refused),
        refused_rows=shown,
    )
