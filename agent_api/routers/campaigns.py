"""Campaign management for managers: create or edit, start/pause, live statistics."""

from __future__ import annotations

import csv
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_api.deps import Hub, Manager, Svc
from agent_api.hub import AgentEvent
from agent_api.schemas import (
    AbandonBucketOut,
    AbandonSeriesOut,
    CampaignOut,
    CampaignStateIn,
    CampaignStatsOut,
    ContactImportOut,
    IdPath,
    RefusedRowOut,
)
from campaigns.errors import Invalid, NotFound
from campaigns.imports.files import ImportFileError, ImportOptions
from campaigns.imports.loading import LoadSummary, load_contacts
from campaigns.model import Outcome, abandon_buckets, abandon_rate, bucket_start
from campaigns.phones import check_region
from campaigns.services import Services
from campaigns.spec import Campaign, CampaignSpec
from campaigns.wrapup import StatsQuery

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
async def stats(campaign_id: IdPath, svc: Svc, me: Manager) -> CampaignStatsOut:
    """Contacts by state, attempts by outcome, abandon rate, and the agents' handling:
    calls, talk and wrap-up seconds (totals and averages per call)."""
    await svc.campaigns.get_campaign(campaign_id)
    s = await svc.campaigns.campaign_stats(campaign_id)
    answered = s.attempts_by_outcome.get(Outcome.ANSWERED, 0)
    abandoned = s.attempts_by_outcome.get(Outcome.ABANDONED, 0)
    figures = await svc.interactions.agent_figures(me, StatsQuery(campaign_id=campaign_id))
    calls = sum(f.calls for f in figures)
    talk = sum(f.talk_seconds for f in figures)
    wrapup = sum(f.wrapup_seconds for f in figures)
    data: dict[str, Any] = {
        "contacts_by_state": {k.value: v for k, v in s.contacts_by_state.items()},
        "attempts_by_outcome": {k.value: v for k, v in s.attempts_by_outcome.items()},
        "attempts_open": s.attempts_open,
        "abandon_rate": abandon_rate(answered, abandoned),
        "calls_handled": calls,
        "talk_seconds": round(talk, 3),
        "wrapup_seconds": round(wrapup, 3),
        "average_talk_seconds": round(talk / calls, 3) if calls else None,
        "average_wrapup_seconds": round(wrapup / calls, 3) if calls else None,
    }
    return CampaignStatsOut(**data)


@router.get("/campaigns/{campaign_id}/abandon-rate", response_model=AbandonSeriesOut)
async def abandon_series(
    campaign_id: IdPath,
    svc: Svc,
    _: Manager,
    hours: Annotated[float, Query(gt=0, le=24 * 7)] = 8,
    bucket_minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 15,
) -> AbandonSeriesOut:
    """The abandon rate over the last ``hours``, per bucket and running since the first
    bucket, beside the campaign's cap: calls answered by a person and those dropped,
    by when they ended."""
    campaign = await svc.campaigns.get_campaign(campaign_id)
    width = timedelta(minutes=bucket_minutes)
    if hours * 60 / bucket_minutes > _MAX_BUCKETS:
        raise Invalid(f"bucket_minutes: at most {_MAX_BUCKETS} buckets", field="bucket_minutes")
    now = svc.clock()
    since = bucket_start(now - timedelta(hours=hours), width)
    calls = await svc.campaigns.connected_calls(campaign_id, since)
    return AbandonSeriesOut(
        campaign_id=campaign_id,
        cap=campaign.spec.dialing.abandon_rate_cap,
        bucket_minutes=bucket_minutes,
        buckets=[
            AbandonBucketOut.model_validate(b) for b in abandon_buckets(calls, since, now, width)
        ],
    )


_MAX_BUCKETS = 2000
_REFUSED_SHOWN = 100


# The request body as OpenAPI shows it: a file part (`curl -F file=@list.csv`) or the raw
# file (`curl --data-binary @list.csv -H 'content-type: text/csv'`).
_CONTACT_LIST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The contact list: CSV in UTF-8, ',' or ';' between fields, a header.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "text/csv": {"schema": {"type": "string"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def _campaign(svc: Services, ref: str) -> Campaign:
    """A campaign by id or by name (a name made of digits is tried as an id first)."""
    if ref.isdigit() and len(ref) < 10:
        try:
            return await svc.campaigns.get_campaign(int(ref))
        except NotFound:
            pass
    return await svc.campaigns.get_campaign(ref)


async def _save_upload(request: Request, target: FilePath) -> None:
    """Write the uploaded list to ``target``: the one file part of a multipart/form-data
    body, or else the body itself."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    with target.open("wb") as out:
        if media != "multipart/form-data":
            async for chunk in request.stream():
                out.write(chunk)
            return
        try:
            async with request.form(max_files=2, max_fields=20) as form:
                files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
                if len(files) != 1:
                    raise Invalid(
                        "file: send one file part, e.g. curl -F file=@list.csv "
                        f"({len(files)} file parts sent)",
                        field="file",
                    )
                while chunk := await files[0].read(1 << 20):
                    out.write(chunk)
        except StarletteHTTPException as exc:
            if exc.status_code != 400:
                raise
            raise Invalid(f"file: unreadable multipart body: {exc.detail}", field="file") from None


@router.post(
    "/campaigns/{campaign}/contacts",
    response_model=ContactImportOut,
    openapi_extra=_CONTACT_LIST_BODY,
)
async def upload_contacts(
    campaign: Annotated[str, Path(max_length=100, description="the campaign's id or name")],
    request: Request,
    svc: Svc,
    hub: Hub,
    me: Manager,
    phone_column: str | None = None,
    timezone_column: str | None = None,
    region: str | None = None,
) -> ContactImportOut:
    """Import a CSV contact list, as the CLI does: a multipart/form-data file part
    (`curl -F file=@list.csv`) or the raw body (`text/csv`).

    Progress goes to the uploader's event stream (``import_progress``). The answer counts
    imported rows, merged duplicates and refusals by reason, and lists the first refused
    rows with their line numbers. A file that cannot be read at all imports nothing (422,
    field ``file``).
    """
    found = await _campaign(svc, campaign)
    campaign_id = found.id
    if region is not None:
        try:
            check_region(region)
        except ValueError as exc:
            raise Invalid(f"region: {exc}", field="region") from None
    options = ImportOptions(
        region=region or found.spec.default_region,
        default_timezone=found.spec.timezone,
        phone_column=phone_column,
        timezone_column=timezone_column,
    )
    with tempfile.TemporaryDirectory(prefix="ringback-upload-") as folder:
        upload, refused = FilePath(folder) / "contacts.csv", FilePath(folder) / "refused.csv"
        await _save_upload(request, upload)

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

        try:
            summary = await load_contacts(
                svc.campaigns,
                campaign_id,
                upload,
                options,
                datetime.now(UTC),
                errors_path=refused,
                on_progress=progress,
            )
        except ImportFileError as exc:
            # Its message names the file: here a server temporary path, of no use to the
            # client and not theirs to see.
            raise Invalid(f"file: {exc.problem}", field="file") from None
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
