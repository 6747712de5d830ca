"""Contact-list upload over HTTP: the CLI's import, with refusals reported per line."""

from __future__ import annotations

from tests.agent_api.conftest import Api


async def test_manager_uploads_a_contact_list(api: Api) -> None:
    """Good rows are imported, duplicates merged, bad rows refused with their line numbers."""
    body = (
        "\ufeffname;telefon;account\n"
        "Ola;+47 412 34 567;A1\n"
        "Kari;41234567;A2\n"
        "Bad;12ab;A3\n"
        "Per;+4741000001;A4\n"
        "ragged;1\n"
    ).encode()
    url = f"/campaigns/{api.campaign_id}/contacts"
    assert (await api.client.post(url, content=body, headers=api.agent)).status_code == 403
    reply = await api.client.post(url, content=body, headers=api.manager)
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert (result["imported"], result["merged"]) == (1, 2)  # +4741000001 was there already
    assert result["refused"] == {"phone number contains letters": 1, "too few fields": 1}
    assert [(r["line"], r["reason"]) for r in result["refused_rows"]] == [
        (4, "phone number contains letters"),
        (6, "too few fields"),
    ]
    stats = await api.client.get(f"/campaigns/{api.campaign_id}/stats", headers=api.manager)
    assert stats.status_code == 200


async def test_unreadable_upload_imports_nothing(api: Api) -> None:
    """A list that is not UTF-8 is refused whole with 422, naming the problem."""
    body = "phone;name\n41234567;Bjørn\n".encode("latin-1")
    url = f"/campaigns/{api.campaign_id}/contacts"
    reply = await api.client.post(url, content=body, headers=api.manager)
    assert reply.status_code == 422
    assert "UTF-8" in reply.json()["message"]
    before = await api.services.campaigns.campaign_stats(api.campaign_id)
    assert sum(before.contacts_by_state.values()) == 1


async def test_other_bodies_keep_the_small_limit(api: Api) -> None:
    """The large limit is for contact lists only: a 100 KiB registration is refused."""
    reply = await api.client.post(
        "/interactions/1/registration", content=b"x" * 100_000, headers=api.agent
    )
    assert reply.status_code == 413
