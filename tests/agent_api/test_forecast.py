"""POST /campaigns/{id}/forecast: for managers, bounded, the simulation off the event loop."""

from __future__ import annotations

import dataclasses

import pytest

from campaigns.services import Forecasts
from campaigns.storage.store import SqlStore
from dialer.forecast import simulate
from tests.agent_api.conftest import Api

SMALL = {"agents": 2, "hours": 0.5, "runs": 1, "start": "2026-11-23T09:00:00+01:00"}


@pytest.fixture
def forecasting(api: Api) -> Api:
    """The app with the dialer's simulation behind it, as the composition root builds it."""
    store = api.services.campaigns
    assert isinstance(store, SqlStore)
    forecasts = Forecasts(store, store, simulate, api.clock)
    api.app.state.services = dataclasses.replace(api.services, forecasts=forecasts)
    return api


async def test_manager_gets_the_forecast(forecasting: Api) -> None:
    """A manager's forecast names the campaign, the plan and every figure."""
    api = forecasting
    r = await api.client.post(
        f"/campaigns/{api.campaign_id}/forecast", json=SMALL, headers=api.manager
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["campaign"] == "spring" and body["agents"] == 2 and body["runs_planned"] == 1
    assert body["start"] == "2026-11-23T09:00:00+01:00"
    for figure in (
        "talk_minutes_per_agent_hour",
        "abandon_rate",
        "abandon_rate_p95_hour",
        "idle_share",
        "calls_per_hour",
    ):
        assert isinstance(body[figure], float), figure
    assert body["profile"]["attempts_seen"] == 0 and body["profile"]["defaults"]
    assert [run["run"] for run in body["runs"]] == [1] and body["exhausted_at"] is None


async def test_agents_may_not_forecast(forecasting: Api) -> None:
    """An agent is refused (403 forbidden); no token is 401."""
    api = forecasting
    url = f"/campaigns/{api.campaign_id}/forecast"
    r = await api.client.post(url, json=SMALL, headers=api.agent)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert (await api.client.post(url, json=SMALL)).status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"runs": 11}, "runs"),
        ({"runs": 0}, "runs"),
        ({"hours": 0}, "hours"),
        ({"hours": 24.5}, "hours"),
        ({"agents": 201}, "agents"),
        ({"start": "2026-11-23T09:00:00"}, "start"),
        ({"speed": 2}, "speed"),
    ],
)
async def test_plan_is_bounded(forecasting: Api, change: dict[str, object], field: str) -> None:
    """Agents, hours and seeds past their caps, a start without offset or an unknown field:
    422 naming the field, before anything is simulated."""
    api = forecasting
    r = await api.client.post(
        f"/campaigns/{api.campaign_id}/forecast", json={**SMALL, **change}, headers=api.manager
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


async def test_unknown_campaign_is_404(forecasting: Api) -> None:
    """A campaign id that does not exist: 404 not_found."""
    api = forecasting
    r = await api.client.post("/campaigns/999/forecast", json=SMALL, headers=api.manager)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


async def test_time_limit_refuses_a_forecast_too_long(forecasting: Api) -> None:
    """A forecast that cannot finish a run within the time limit: 422 forecast.too_long."""
    api = forecasting
    forecasts = api.app.state.services.forecasts
    forecasts.time_limit = 0.0
    r = await api.client.post(
        f"/campaigns/{api.campaign_id}/forecast",
        json={**SMALL, "agents": 50, "hours": 4},
        headers=api.manager,
    )
    assert r.status_code == 422 and r.json()["code"] == "forecast.too_long"


async def test_no_simulation_behind_the_api(api: Api) -> None:
    """An API built without the dialer's simulation says so: 409 forecast.unavailable."""
    r = await api.client.post(
        f"/campaigns/{api.campaign_id}/forecast", json=SMALL, headers=api.manager
    )
    assert r.status_code == 409 and r.json()["code"] == "forecast.unavailable"
