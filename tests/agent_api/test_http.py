"""The agent API through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from campaigns.model import ContactState, Outcome
from campaigns.retry import Decision
from tests.agent_api.conftest import Api
from tests.conftest import NOW

TOMORROW_15 = "2026-11-24T15:00:00+01:00"
SATURDAY = "2026-11-28T12:00:00+01:00"


async def dialer_interaction(api: Api, *, settled: bool = False) -> int:
    """A call the dialer hands the agent: an attempt on the claimed contact and its
    interaction. ``settled``: the attempt ended answered, as the engine settles it."""
    store = api.services.campaigns
    contact = await store.get_contact(api.contact_id)
    attempt = await store.start_attempt(contact, "test", NOW, NOW + timedelta(minutes=5))
    if settled:
        done = Decision(ContactState.COMPLETED, None, 1, 1, 0, True)
        assert await store.finish_attempt(attempt.id, Outcome.ANSWERED, done, NOW)
    interaction = await api.services.interactions.start_interaction(
        api.agent_id, contact.phone, contact=contact, attempt_id=attempt.id
    )
    return interaction.id


async def category(api: Api, name: str, multi: bool, campaign: bool = False) -> list[int]:
    body: dict[str, Any] = {"name": name, "multi_choice": multi}
    if campaign:
        body["campaign_id"] = api.campaign_id
    r = await api.client.post("/wrapup/categories", json=body, headers=api.manager)
    assert r.status_code == 201, r.text
    ids = []
    for topic in ("One", "Two"):
        t = await api.client.post(
            f"/wrapup/categories/{r.json()['id']}/topics",
            json={"name": topic, "script": f"Say {topic}"},
            headers=api.manager,
        )
        assert t.status_code == 201, t.text
        ids.append(t.json()["id"])
    return ids


async def test_health_and_openapi(api: Api) -> None:
    """/health answers without a token; the OpenAPI document lists the endpoints."""
    r = await api.client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    assert "/interactions/{interaction_id}/registration" in paths
    assert (await api.client.get("/docs")).status_code == 200


async def test_auth_required_and_roles(api: Api) -> None:
    """No or a wrong token is 401; an agent may not manage; a manager may."""
    assert (await api.client.get("/users/me")).status_code == 401
    bad = await api.client.get("/users/me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["code"] == "unauthorized"
    me = await api.client.get("/users/me", headers=api.agent)
    assert me.json()["username"] == "anna"
    body = {"username": "zoe", "role": "agent"}
    assert (await api.client.post("/users", json=body, headers=api.agent)).status_code == 403
    created = await api.client.post("/users", json=body, headers=api.manager)
    assert created.status_code == 201
    token = created.json()["token"]
    zoe = await api.client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert zoe.json()["username"] == "zoe"


async def test_registration_with_callback_end_to_end(api: Api) -> None:
    """Register topics, comment, callback and end reason in one request; see it everywhere."""
    mood = await category(api, "Mood", multi=False)
    sale = await category(api, "Sale", multi=False, campaign=True)
    interaction_id = await dialer_interaction(api, settled=True)
    ended = await api.client.post(f"/interactions/{interaction_id}/end", headers=api.agent)
    assert ended.json()["timer"] == {
        "elapsed_seconds": 0.0,
        "remaining_seconds": 30.0,
        "extended": False,
    }
    blocked = await api.client.put("/agents/me/state", json={"state": "ready"}, headers=api.agent)
    assert blocked.status_code == 409
    assert blocked.json()["code"] == "wrapup.registration_required"
    api.clock.advance(10)
    detail = (await api.client.get(f"/interactions/{interaction_id}", headers=api.agent)).json()
    assert detail["interaction"]["timer"]["remaining_seconds"] == 20.0
    assert detail["contact"]["attributes"] == {"name": "Per"}
    assert [c["name"] for c in detail["categories"]] == ["Mood", "Sale"]
    assert detail["categories"][1]["topics"][0]["script"] == "Say One"
    reasons = (await api.client.get("/end-reasons", headers=api.agent)).json()
    assert len(reasons) == 24
    r = await api.client.post(
        f"/interactions/{interaction_id}/registration",
        json={
            "topic_ids": [mood[0], sale[1]],
            "comment": "wants a call tomorrow",
            "feedback": "callback",
            "callback": {"due_at": TOMORROW_15, "comment": "ask for Per", "for": "me"},
            "end_reason": {"reason_id": reasons[-1]["id"], "description": "callback"},
        },
        headers=api.agent,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["topic_ids"] == sorted([mood[0], sale[1]])
    assert body["callback"]["owner_id"] == api.agent_id
    scheduled = (await api.client.get("/agents/me/callbacks", headers=api.agent)).json()
    assert [c["comment"] for c in scheduled] == ["ask for Per"]
    assert (await api.client.get("/agents/me/callbacks", headers=api.other)).json() == []
    ready = await api.client.put("/agents/me/state", json={"state": "ready"}, headers=api.agent)
    assert ready.status_code == 200 and ready.json()["state"] == "ready"
    contact = await api.services.campaigns.get_contact(api.contact_id)
    assert contact.state.value == "callback"
    again = await api.client.post(
        f"/interactions/{interaction_id}/registration", json={}, headers=api.agent
    )
    assert again.status_code == 409


async def test_bad_registrations_name_the_field_and_write_nothing(api: Api) -> None:
    """Each bad registration is a 4xx naming the field; nothing is half-written."""
    mood = await category(api, "Mood", multi=False)
    sale = await category(api, "Sale", multi=True, campaign=True)
    interaction_id = await dialer_interaction(api)
    url = f"/interactions/{interaction_id}/registration"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"topic_ids": mood}, 422, "topic_ids"),
        ({"topic_ids": [sale[0]], "colour": "red"}, 422, "colour"),
        ({"feedback": "callback"}, 422, "callback"),
        (
            {"feedback": "callback", "callback": {"due_at": SATURDAY}, "topic_ids": [sale[0]]},
            422,
            "callback.due_at",
        ),
        (
            {"feedback": "callback", "callback": {"due_at": "2026-11-20T10:00:00+01:00"}},
            422,
            "callback.due_at",
        ),
        (
            {"feedback": "callback", "callback": {"due_at": "2026-11-24T15:00:00"}},
            422,
            "callback.due_at",
        ),
        ({"topic_ids": ["x"]}, 422, "topic_ids.0"),
        ({"end_reason": {"reason_id": 9999}}, 422, "end_reason.reason_id"),
    ]
    for body, status, field in cases:
        r = await api.client.post(url, json=body, headers=api.agent)
        assert r.status_code == status, (body, r.text)
        assert r.json()["field"] == field, (body, r.json())
        assert field.split(".")[0] in r.json()["message"]
    saturday = await api.client.post(
        url, json={"feedback": "callback", "callback": {"due_at": SATURDAY}}, headers=api.agent
    )
    assert "outside the campaign's calling hours" in saturday.json()["message"]
    detail = (await api.client.get(f"/interactions/{interaction_id}", headers=api.agent)).json()
    assert detail["registration"] is None
    assert (await api.client.get("/agents/me/callbacks", headers=api.agent)).json() == []
    ok = await api.client.post(url, json={"topic_ids": [sale[0], sale[1]]}, headers=api.agent)
    assert ok.status_code == 201


async def test_agents_only_see_their_own(api: Api) -> None:
    """Another agent's interaction, callback and case answer 404."""
    interaction_id = await dialer_interaction(api, settled=True)
    for method, url in (
        ("GET", f"/interactions/{interaction_id}"),
        ("POST", f"/interactions/{interaction_id}/end"),
        ("POST", f"/interactions/{interaction_id}/extend"),
    ):
        r = await api.client.request(method, url, headers=api.other)
        assert r.status_code == 404, (url, r.text)
    r = await api.client.post(
        f"/interactions/{interaction_id}/registration",
        json={"feedback": "callback", "callback": {"due_at": TOMORROW_15}},
        headers=api.agent,
    )
    callback_id = r.json()["callback"]["id"]
    assert (await api.client.get(f"/callbacks/{callback_id}", headers=api.other)).status_code == 404
    cancel = await api.client.post(f"/callbacks/{callback_id}/cancel", headers=api.other)
    assert cancel.status_code == 404
    other_list = await api.client.get("/agents/me/interactions", headers=api.other)
    assert other_list.json() == []


async def test_rebook_and_cancel_scheduled_call(api: Api) -> None:
    """The owner moves a callback inside calling hours, then cancels it."""
    interaction_id = await dialer_interaction(api, settled=True)
    r = await api.client.post(
        f"/interactions/{interaction_id}/registration",
        json={"feedback": "callback", "callback": {"due_at": TOMORROW_15, "for": "all"}},
        headers=api.agent,
    )
    callback = r.json()["callback"]
    assert callback["owner_id"] is None
    url = f"/callbacks/{callback['id']}"
    moved = await api.client.put(url, json={"due_at": SATURDAY}, headers=api.agent)
    assert moved.status_code == 422 and moved.json()["field"] == "due_at"
    moved = await api.client.put(
        url, json={"due_at": "2026-11-25T10:00:00+01:00", "comment": "later"}, headers=api.agent
    )
    assert moved.status_code == 200 and moved.json()["comment"] == "later"
    cancelled = await api.client.post(f"{url}/cancel", headers=api.agent)
    assert cancelled.json()["state"] == "cancelled"
    assert (await api.client.post(f"{url}/cancel", headers=api.agent)).status_code == 409


async def test_end_reason_for_unknown_caller_and_followup_queue(api: Api) -> None:
    """An inbound call from an unknown number ends with a reason; unclosed → follow-up."""
    r = await api.client.post(
        "/agents/me/interactions", json={"phone": "+4799000000"}, headers=api.agent
    )
    interaction_id = r.json()["id"]
    reasons = {
        x["name"]: x for x in (await api.client.get("/end-reasons", headers=api.agent)).json()
    }
    fraud = reasons["Fraud (For example, gave false currency note, etc.)"]
    assert fraud["close_by_default"] is False
    done = await api.client.put(
        f"/interactions/{interaction_id}/end-reason",
        json={"reason_id": fraud["id"], "description": "fake note"},
        headers=api.agent,
    )
    assert done.json()["followup_queue"] == "security" and done.json()["closed"] is False
    queue = await api.client.get("/followups?queue=security", headers=api.manager)
    assert [i["id"] for i in queue.json()] == [interaction_id]
    closed = await api.client.put(
        f"/interactions/{interaction_id}/end-reason",
        json={"reason_id": fraud["id"], "close": True},
        headers=api.agent,
    )
    assert closed.json()["followup_queue"] is None
    assert (await api.client.get("/followups", headers=api.agent)).json() == []


async def test_wrapup_extension_and_automatic_wrapup(api: Api) -> None:
    """The countdown wraps up automatically at zero; an extended one waits for the agent."""
    first = await dialer_interaction(api)
    await api.client.post(f"/interactions/{first}/end", headers=api.agent)
    second = await dialer_interaction(api)
    await api.client.post(f"/interactions/{second}/end", headers=api.agent)
    extended = await api.client.post(f"/interactions/{second}/extend", headers=api.agent)
    assert extended.json()["timer"]["extended"] is True
    done = await api.services.interactions.auto_wrapup_due(NOW + timedelta(seconds=31))
    assert [i.id for i in done] == [first]
    detail = (await api.client.get(f"/interactions/{first}", headers=api.agent)).json()
    assert detail["registration"]["automatic"] is True
    late = await api.client.post(f"/interactions/{first}/extend", headers=api.agent)
    assert late.status_code == 409


async def test_cases_console_log_and_creator_rules(api: Api) -> None:
    """Cases: missing fields named, console, find by id, log, creator-only changes."""
    t = await api.client.post(
        "/case-types",
        json={"name": "Billing", "department": "finance", "mandatory_fields": ["ban", "comments"]},
        headers=api.manager,
    )
    type_id = t.json()["id"]
    interaction_id = await dialer_interaction(api)
    missing = await api.client.post(
        "/cases", json={"type_id": type_id, "subject": "bid"}, headers=api.agent
    )
    assert missing.status_code == 422
    assert missing.json()["field"] == "ban,comments"
    assert "requires: ban, comments" in missing.json()["message"]
    r = await api.client.post(
        "/cases",
        json={
            "type_id": type_id,
            "subject": "bid",
            "priority": "high",
            "comments": "double charge",
            "interaction_id": interaction_id,
            "fields": {"ban": "42"},
        },
        headers=api.agent,
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert (case["status"], case["department"], case["phone"]) == ("sent", "finance", "+4741000001")
    url = f"/cases/{case['id']}"
    assert (await api.client.get(url, headers=api.other)).status_code == 404
    assert (
        await api.client.patch(url, json={"subject": "x"}, headers=api.other)
    ).status_code == 404
    amended = await api.client.patch(url, json={"comments": "triple"}, headers=api.agent)
    assert amended.json()["comments"] == "triple"
    taken = await api.client.post(f"{url}/actions", json={"action": "taken"}, headers=api.manager)
    assert taken.json()["taken_by"] == "mia"
    refused = await api.client.post(f"{url}/close", json={}, headers=api.agent)
    assert refused.status_code == 409 and refused.json()["code"] == "case.taken"
    console = (await api.client.get("/agents/me/cases", headers=api.agent)).json()
    assert [(c["id"], c["status"]) for c in console] == [(case["id"], "taken")]
    log = (await api.client.get(f"{url}/log", headers=api.agent)).json()
    assert [(e["actor"], e["action"]) for e in log] == [
        ("anna", "created"),
        ("anna", "amended"),
        ("mia", "taken"),
    ]
    assert log[1]["detail"] == {"comments": "triple"}


async def test_manager_statistics_by_category_and_topic(api: Api) -> None:
    """Managers see registrations by category and topic, per agent and period."""
    mood = await category(api, "Mood", multi=True)
    for topics in ([mood[0]], [mood[0], mood[1]]):
        r = await api.client.post(
            "/agents/me/interactions", json={"phone": "+4799000000"}, headers=api.agent
        )
        await api.client.post(
            f"/interactions/{r.json()['id']}/registration",
            json={"topic_ids": topics},
            headers=api.agent,
        )
    stats = await api.client.get(
        "/stats/registrations",
        params={"by_agent": "true", "since": "2026-11-23T00:00:00Z"},
        headers=api.manager,
    )
    assert [(s["topic"], s["count"], s["agent_id"]) for s in stats.json()] == [
        ("One", 2, api.agent_id),
        ("Two", 1, api.agent_id),
    ]
    naive = await api.client.get(
        "/stats/registrations", params={"since": "2026-11-23T00:00:00"}, headers=api.manager
    )
    assert naive.status_code == 422 and naive.json()["field"] == "since"
    assert (await api.client.get("/stats/registrations", headers=api.agent)).status_code == 403


async def test_campaign_management(api: Api) -> None:
    """Managers create, list, pause and read stats of campaigns; bad specs name the key."""
    r = await api.client.post("/campaigns", json={"name": "autumn"}, headers=api.manager)
    assert r.status_code == 201 and r.json()["state"] == "draft"
    bad = await api.client.post(
        "/campaigns", json={"name": "x", "hours": {"start": "25:00"}}, headers=api.manager
    )
    assert bad.status_code == 422 and bad.json()["field"] == "hours.start"
    dup = await api.client.post("/campaigns", json={"name": "autumn"}, headers=api.manager)
    assert dup.status_code == 409
    paused = await api.client.post(
        f"/campaigns/{api.campaign_id}/state", json={"state": "paused"}, headers=api.manager
    )
    assert paused.json()["state"] == "paused"
    stats = await api.client.get(f"/campaigns/{api.campaign_id}/stats", headers=api.manager)
    assert stats.json()["contacts_by_state"] == {"dialing": 1}
    assert (await api.client.get("/campaigns", headers=api.agent)).status_code == 403
    assert (await api.client.get("/campaigns/999/stats", headers=api.manager)).status_code == 404


async def test_oversize_and_malformed_bodies_are_refused(api: Api) -> None:
    """A body over 64 KiB is 413 (by header or streamed); broken JSON is 422."""
    interaction_id = await dialer_interaction(api)
    url = f"/interactions/{interaction_id}/registration"
    big = {"comment": "x" * 70_000}
    r = await api.client.post(url, json=big, headers=api.agent)
    assert r.status_code == 413 and r.json()["code"] == "too_large"

    async def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 4096

    streamed = await api.client.post(url, content=chunks(), headers=api.agent)
    assert streamed.status_code == 413
    broken = await api.client.post(
        url, content=b"{", headers={**api.agent, "content-type": "application/json"}
    )
    assert broken.status_code == 422
