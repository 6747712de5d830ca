"""What a manager sees of the floor: the do-not-call list, registration counts, agents and
their figures."""

from __future__ import annotations

import csv
import io

from tests.agent_api.conftest import Api
from tests.agent_api.test_http import dialer_interaction


async def test_dnc_list_browsed_by_page_and_prefix_and_exported(api: Api) -> None:
    """GET /dnc pages the list by number, filters by prefix, and exports it as CSV."""
    numbers = ["+4741000003", "+4741000001", "+4790000002", "+4641000000"]
    r = await api.client.post(
        "/dnc", json={"numbers": numbers, "reason": "asked"}, headers=api.manager
    )
    assert r.status_code == 200, r.text
    page = (await api.client.get("/dnc?limit=2", headers=api.manager)).json()
    assert page["total"] == 4
    assert [n["number"] for n in page["numbers"]] == ["+4641000000", "+4741000001"]
    assert page["numbers"][0]["reason"] == "asked" and page["numbers"][0]["added_at"]
    rest = (await api.client.get("/dnc?limit=2&offset=2", headers=api.manager)).json()
    assert [n["number"] for n in rest["numbers"]] == ["+4741000003", "+4790000002"]
    norway = (await api.client.get("/dnc?prefix=%2B4741", headers=api.manager)).json()
    assert norway["total"] == 2
    export = await api.client.get("/dnc?format=csv", headers=api.manager)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["phone"] for r in rows] == sorted(numbers)
    assert rows[0]["reason"] == "asked"
    bad = await api.client.get("/dnc?prefix=47%25", headers=api.manager)
    assert bad.status_code == 422 and bad.json()["field"] == "prefix"
    assert (await api.client.get("/dnc", headers=api.agent)).status_code == 403


async def test_registration_stats_count_registrations_without_topics(api: Api) -> None:
    """A registration without topics counts (topic null); a campaign filter is echoed."""
    r = await api.client.post(
        "/agents/me/interactions", json={"phone": "+4799000000"}, headers=api.agent
    )
    reg = await api.client.post(
        f"/interactions/{r.json()['id']}/registration", json={}, headers=api.agent
    )
    assert reg.status_code == 201, reg.text
    stats = (await api.client.get("/stats/registrations", headers=api.manager)).json()
    assert [(s["topic_id"], s["count"]) for s in stats] == [(None, 1)]
    by_agent = await api.client.get(
        "/stats/registrations", params={"agent_id": api.agent_id}, headers=api.manager
    )
    assert by_agent.json()[0]["agent_id"] == api.agent_id
    filtered = await api.client.get(
        "/stats/registrations", params={"campaign_id": api.campaign_id}, headers=api.manager
    )
    assert filtered.json() == []  # the call was inbound
    call = await dialer_interaction(api, settled=True)
    await api.client.post(f"/interactions/{call}/end", headers=api.agent)
    await api.client.post(f"/interactions/{call}/registration", json={}, headers=api.agent)
    filtered = await api.client.get(
        "/stats/registrations", params={"campaign_id": api.campaign_id}, headers=api.manager
    )
    assert [(s["campaign_id"], s["count"]) for s in filtered.json()] == [(api.campaign_id, 1)]
    export = await api.client.get(
        "/stats/registrations", params={"format": "csv"}, headers=api.manager
    )
    assert export.headers["content-disposition"] == 'attachment; filename="registrations.csv"'
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["topic"], r["count"]) for r in rows] == [("", "2")]


async def _handled_call(api: Api, talk: float, wrapup: float) -> None:
    """A dialer call answered now, talked ``talk`` s, wrapped up after ``wrapup`` s."""
    call = await dialer_interaction(api)
    api.clock.advance(talk)
    await api.client.post(f"/interactions/{call}/end", headers=api.agent)
    api.clock.advance(wrapup)
    r = await api.client.post(f"/interactions/{call}/registration", json={}, headers=api.agent)
    assert r.status_code == 201, r.text


async def test_agent_figures_and_campaign_handling_times(api: Api) -> None:
    """Per agent: calls, talk and wrap-up seconds, registrations; the campaign's stats
    show the same totals and averages; CSV for a file; filters by agent and period."""
    await _handled_call(api, talk=60, wrapup=10)
    await _handled_call(api, talk=120, wrapup=20)
    r = await api.client.get(
        "/stats/agents", params={"campaign_id": api.campaign_id}, headers=api.manager
    )
    assert r.status_code == 200, r.text
    assert r.json() == [
        {
            "agent_id": api.agent_id,
            "username": "anna",
            "calls": 2,
            "talk_seconds": 180.0,
            "wrapup_seconds": 30.0,
            "registrations": 2,
        }
    ]
    stats = (
        await api.client.get(f"/campaigns/{api.campaign_id}/stats", headers=api.manager)
    ).json()
    assert (stats["calls_handled"], stats["talk_seconds"], stats["wrapup_seconds"]) == (
        2,
        180.0,
        30.0,
    )
    assert (stats["average_talk_seconds"], stats["average_wrapup_seconds"]) == (90.0, 15.0)
    other = await api.client.get(
        "/stats/agents", params={"agent_id": api.agent_id + 1}, headers=api.manager
    )
    assert other.json() == []
    later = await api.client.get(
        "/stats/agents", params={"since": "2030-01-01T00:00:00Z"}, headers=api.manager
    )
    assert later.json() == []
    export = await api.client.get("/stats/agents?format=csv", headers=api.manager)
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert export.headers["content-type"].startswith("text/csv")
    assert (rows[0]["username"], rows[0]["calls"], rows[0]["talk_seconds"]) == (
        "anna",
        "2",
        "180.0",
    )
    assert (await api.client.get("/stats/agents", headers=api.agent)).status_code == 403
    bad = await api.client.get("/stats/agents?format=xml", headers=api.manager)
    assert bad.status_code == 422 and bad.json()["field"] == "format"


async def test_agents_on_the_floor_with_time_in_state(api: Api) -> None:
    """Managers list agents with state, since when and seconds in it; filter by state."""
    r = await api.client.put(
        "/agents/me/state", json={"state": "paused", "reason": "coffee"}, headers=api.agent
    )
    assert r.status_code == 200, r.text
    api.clock.advance(45)
    floor = (await api.client.get("/agents", headers=api.manager)).json()
    assert [(a["username"], a["state"]) for a in floor] == [
        ("anna", "paused"),
        ("bob", "logged_out"),
    ]
    anna = floor[0]
    assert (anna["reason"], anna["seconds_in_state"], anna["role"]) == ("coffee", 45.0, "agent")
    assert floor[1]["since"] is None and floor[1]["seconds_in_state"] is None
    paused = await api.client.get("/agents?state=paused", headers=api.manager)
    assert [a["username"] for a in paused.json()] == ["anna"]
    # The same state again keeps its start; another state starts anew.
    await api.client.put(
        "/agents/me/state", json={"state": "paused", "reason": "coffee"}, headers=api.agent
    )
    assert (await api.client.get("/agents", headers=api.manager)).json()[0][
        "seconds_in_state"
    ] == 45.0
    await api.client.put("/agents/me/state", json={"state": "ready"}, headers=api.agent)
    assert (await api.client.get("/agents", headers=api.manager)).json()[0][
        "seconds_in_state"
    ] == 0.0
    bad = await api.client.get("/agents?state=asleep", headers=api.manager)
    assert bad.status_code == 422 and bad.json()["field"] == "state"
    assert (await api.client.get("/agents", headers=api.agent)).status_code == 403
