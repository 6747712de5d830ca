"""Forecasting a campaign for managers: its own history replayed through a simulation of
the floor with the planned agents and the campaign's settings."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from agent_api.deps import Manager, Svc
from agent_api.schemas import IdPath
from campaigns.errors import Code, Conflict
from campaigns.services import Forecasts, Services

router = APIRouter(tags=["campaigns"])

MAX_AGENTS = 200
MAX_HOURS = 24.0
MAX_RUNS = 10


class ForecastIn(BaseModel):
    """The plan to forecast. Bounded so that one request cannot hold the server: the
    simulation also stops at its time limit (20 s, 422 `forecast.too_long`)."""

    model_config = ConfigDict(extra="forbid")

    agents: int = Field(10, ge=1, le=MAX_AGENTS, description="Agents on the floor.")
    hours: float = Field(8.0, gt=0, le=MAX_HOURS, description="Length of the shift.")
    runs: int = Field(
        5, ge=1, le=MAX_RUNS, description="Simulated runs, each with calls of its own."
    )
    start: AwareDatetime | None = Field(
        None,
        description="When the shift starts; default now, or when the campaign's calling "
        "hours next open in its zone.",
    )


class ProfileOut(BaseModel):
    """What the simulation replayed."""

    attempts_seen: int
    talks_seen: int
    wrapups_seen: int
    answer_rate_by_dial: list[float] = Field(
        description="Chance a person answers the 1st, 2nd, ... 6th and later call."
    )
    mean_talk_seconds: float
    mean_wrapup_seconds: float
    defaults: list[str] = Field(description="The figures taken from the defaults.")


class RunOut(BaseModel):
    run: int
    run_hours: float
    talk_minutes_per_agent_hour: float
    abandon_rate: float
    worst_hour_abandon_rate: float
    idle_share: float
    calls_per_hour: float
    exhausted_after_hours: float | None


class ForecastOut(BaseModel):
    """Expected figures of the floor, over the runs."""

    campaign: str
    mode: str
    abandon_rate_cap: float
    agents: int
    hours: float
    runs_planned: int = Field(description="Runs asked for; `runs` has those done in time.")
    start: datetime
    talk_minutes_per_agent_hour: float = Field(description="Mean over the runs.")
    abandon_rate: float = Field(description="Abandoned per call answered by a person.")
    abandon_rate_p95_hour: float = Field(
        description="95th percentile of rolling 60-minute abandon rates over the runs."
    )
    worst_hour_abandon_rate: float
    idle_share: float
    calls_per_hour: float
    contacts_queued: int
    exhausted_at: datetime | None = Field(
        description="When the list runs out in the slowest run; null: not within the hours."
    )
    exhausted_runs: int
    profile: ProfileOut
    runs: list[RunOut]
    notes: list[str]


def _forecasts(svc: Services) -> Forecasts:
    if svc.forecasts is None:
        raise Conflict("no forecast simulation behind this API", code=Code.FORECAST_UNAVAILABLE)
    return svc.forecasts


@router.post("/campaigns/{campaign_id}/forecast", response_model=ForecastOut)
async def forecast(campaign_id: IdPath, body: ForecastIn, svc: Svc, _: Manager) -> ForecastOut:
    """Expected talk minutes per agent hour, abandon rate (over the shift and its 95th
    percentile hour), agent idle share, calls per hour and when the list runs out, from the
    campaign's own history (defaults where it has none)."""
    result = await _forecasts(svc).forecast(
        campaign_id, agents=body.agents, hours=body.hours, seeds=body.runs, start=body.start
    )
    figures = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    figures["runs_planned"] = figures.pop("seeds")
    figures["profile"] = ProfileOut(**dataclasses.asdict(result.profile))
    figures["runs"] = [
        RunOut(run=r.seed, **{k: v for k, v in dataclasses.asdict(r).items() if k != "seed"})
        for r in result.runs
    ]
    return ForecastOut.model_validate(figures)
