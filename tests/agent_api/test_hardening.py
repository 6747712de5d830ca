"""What a fault and abuse probe found (issue 11), through the real app on both backends."""

from __future__ import annotations

from datetime import timedelta

from campaigns.model import ContactState
from tests.agent_api.conftest import Api
from tests.conftest import NOW

HAND_RECORDED = {"phone": "+4741000001", "direction": "outbound"}


async def dialer_offer(api: Api) -> int:
    """The dialer calls the claimed contact and offers the call to the agent."""
    store = api.services.campaigns
    contact = await store.get_contact(api.contact_id)
    attempt = await store.start_attempt(contact, "test", NOW, NOW + timedelta(minutes=5))
    interaction = await api.services.interactions.start_interaction(
        api.agent_id, contact.phone, contact=contact, attempt_id=attempt.id
    )
    return interaction.id


async def test_a_hand_recorded_call_cannot_requeue_a_contact_being_dialled(api: Api) -> None:
    """Recording the dialer's contact by hand, ending it and marking it a machine is
    refused: the contact keeps the dialer's claim (it would be dialled twice at once)."""
    await dialer_offer(api)
    r = await api.client.post(
        "/agents/me/interactions",
        json={
            "phone": "+4741000001",
            "direction": "outbound",
            "contact_id": api.contact_id,
            "campaign_id": api.campaign_id,
        },
        headers=api.agent,
    )
    interaction_id = r.json()["id"]
    await api.client.post(f"/interactions/{interaction_id}/end", headers=api.agent)
    marked = await api.client.post(
        f"/interactions/{interaction_id}/registration",
        json={"feedback": "answering_machine"},
        headers=api.agent,
    )
    assert marked.status_code == 422 and marked.json()["field"] == "feedback", marked.text
    contact = await api.services.campaigns.get_contact(api.contact_id)
    assert contact.state is ContactState.DIALING


async def test_calling_hours_with_an_offset_are_refused(api: Api) -> None:
    """Hours with a UTC offset or of the wrong type are a 422 naming the field (they
    used to be stored, and then every claim of the campaign failed)."""
    for hours, field in (
        ({"start": "00:00:00Z", "end": "23:59:00Z"}, "hours.start"),
        ({"start": 0, "end": "20:00"}, "hours.start"),
    ):
        r = await api.client.post(
            "/campaigns", json={"name": "utc", "hours": hours}, headers=api.manager
        )
        assert r.status_code == 422, r.text
        assert field in r.json()["field"].split(",")


async def test_extensions_and_channels_are_single_dial_strings(api: Api) -> None:
    """An extension or channel template Asterisk would read as more than one dial string
    (a header, a second destination, Dial() options, channel variables) is a 422."""
    for extension in (
        "PJSIP/x\r\nAction: Originate",
        "PJSIP/a&PJSIP/+4741000000@trunk,20,U(x)",
        "PJSIP/a|b",
        "ann",
    ):
        r = await api.client.post(
            "/users",
            json={"username": "eve", "role": "agent", "extension": extension},
            headers=api.manager,
        )
        assert r.status_code == 422 and r.json()["field"] == "extension", (extension, r.text)
    ok = await api.client.post(
        "/users",
        json={"username": "eve", "role": "agent", "extension": "Local/agent-answer@phones"},
        headers=api.manager,
    )
    assert ok.status_code == 201, ok.text
    r = await api.client.post(
        "/campaigns",
        json={"name": "vars", "dialing": {"channel": "PJSIP/{number}@trunk,RINGBACK_ATTEMPT_ID=X"}},
        headers=api.manager,
    )
    assert r.status_code == 422 and r.json()["field"] == "dialing.channel", r.text


async def test_hostile_values_are_4xx_naming_the_field(api: Api) -> None:
    """Each value the probe answered with a 500 is now a 4xx naming the field."""
    m, a = api.manager, api.agent
    case_type = await api.client.post(
        "/case-types", json={"name": "Billing", "department": "finance"}, headers=m
    )
    type_id = case_type.json()["id"]
    case = await api.client.post("/cases", json={"type_id": type_id, "subject": "s"}, headers=a)
    case_id = case.json()["id"]
    big = 2**31
    cases: list[tuple[str, str, dict[str, object] | bytes | None, str]] = [
        ("PATCH", f"/cases/{case_id}", {"subject": "a\u0000b"}, "subject"),
        ("PATCH", f"/cases/{case_id}", {"fields": {"k": "\u0000"}}, "fields"),
        ("GET", f"/callbacks/{big}", None, "callback_id"),
        ("GET", "/cases/9223372036854775808", None, "case_id"),
        ("GET", f"/interactions/{2**63}", None, "interaction_id"),
        ("POST", "/cases", {"type_id": big, "subject": "s"}, "type_id"),
        ("POST", "/wrapup/categories", {"name": "c", "campaign_id": big}, "campaign_id"),
        ("PUT", "/callbacks/1", {"due_at": "9999-12-31T23:00:00-05:00"}, "due_at"),
        ("GET", "/stats/registrations?since=0001-01-01T00:30:00%2B14:00", None, "since"),
        ("GET", f"/stats/registrations?campaign_id={big}", None, "campaign_id"),
        ("POST", f"/campaigns/{api.campaign_id}/contacts?region=XX", None, "region"),
        ("POST", "/campaigns", b'{"name": "x", "description": "\\ud800"}', "description"),
        ("GET", "/followups?queue=a%00b", None, "query"),
        ("GET", "/dnc/%00", None, "path"),
    ]
    for method, url, body, field in cases:
        headers = a if url.startswith(("/cases", "/callbacks")) else m
        if isinstance(body, bytes):
            headers = {**headers, "content-type": "application/json"}
            r = await api.client.request(method, url, content=body, headers=headers)
        else:
            r = await api.client.request(method, url, json=body, headers=headers)
        assert 400 <= r.status_code < 500, (url, body, r.status_code, r.text)
        assert field in r.json()["field"].split(","), (url, r.text)
    # The interaction's end reason names its body field too.
    r = await api.client.put(
        f"/interactions/{2**40}/end-reason", json={"reason_id": big}, headers=a
    )
    assert r.status_code == 422 and "reason_id" in r.json()["field"], r.text


async def test_an_unexpected_error_is_json_and_the_connection_stays(api: Api) -> None:
    """A failure no handler knows is a JSON 500 {code, message}, not the server's text."""

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    api.services.cases.mine = broken  # type: ignore[method-assign]
    r = await api.client.get("/agents/me/cases", headers=api.agent)
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json()["code"] == "internal" and "boom" not in r.text
    assert (await api.client.get("/health")).status_code == 200


async def test_an_agent_sees_only_contacts_offered_to_them(api: Api) -> None:
    """Recording a call by hand with someone else's contact, to read it back, answers as
    for a contact that does not exist; unknown campaigns in a state change are refused."""
    body = {**HAND_RECORDED, "contact_id": api.contact_id, "campaign_id": api.campaign_id}
    missing = {**body, "contact_id": 999_999}
    for attempt in (body, missing):
        r = await api.client.post("/agents/me/interactions", json=attempt, headers=api.agent)
        assert r.status_code == 404 and r.json()["field"] == "contact_id", r.text
        assert r.json()["message"].startswith("contact_id: no contact")
    assert (await api.client.get("/agents/me/interactions", headers=api.agent)).json() == []
    await dialer_offer(api)
    r = await api.client.post("/agents/me/interactions", json=body, headers=api.agent)
    assert r.status_code == 201, r.text
    detail = await api.client.get(f"/interactions/{r.json()['id']}", headers=api.agent)
    assert detail.json()["contact"]["id"] == api.contact_id
    other = await api.client.post("/agents/me/interactions", json=body, headers=api.other)
    assert other.status_code == 404
    for campaigns in ([-1, 0, 2**31], [999]):
        r = await api.client.put(
            "/agents/me/state",
            json={"state": "paused", "campaigns": campaigns},
            headers=api.agent,
        )
        assert r.status_code == 422 and r.json()["field"].startswith("campaigns"), r.text


async def test_case_with_anothers_interaction_is_404_like_a_missing_one(api: Api) -> None:
    """Another agent's interaction and a missing one give the same answer (no oracle)."""
    t = await api.client.post(
        "/case-types", json={"name": "Billing", "department": "finance"}, headers=api.manager
    )
    theirs = await dialer_offer(api)  # the first agent's
    answers = []
    for interaction_id in (theirs, 987_654):
        r = await api.client.post(
            "/cases",
            json={"type_id": t.json()["id"], "subject": "s", "interaction_id": interaction_id},
            headers=api.other,
        )
        assert r.status_code == 404 and r.json()["field"] == "interaction_id", r.text
        answers.append(r.json()["message"].replace(str(interaction_id), "N"))
    assert answers[0] == answers[1]


async def test_a_callback_is_booked_at_most_a_year_ahead(api: Api) -> None:
    """A callback in year 9999 (or two years ahead) is refused with a clear message."""
    interaction_id = await dialer_offer(api)
    r = await api.client.post(
        f"/interactions/{interaction_id}/registration",
        json={"feedback": "callback", "callback": {"due_at": "2028-11-23T12:00:00+01:00"}},
        headers=api.agent,
    )
    assert r.status_code == 422 and r.json()["field"] == "callback.due_at", r.text
    assert "more than a year ahead" in r.json()["message"]
    assert r.json()["code"] == "callback.too_far"
