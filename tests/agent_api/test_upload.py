"""Contact-list upload over HTTP: the CLI's import, with refusals reported per line."""

from __future__ import annotations

import pytest

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


_LIST = b"name;telefon\nOla;+47 412 34 567\nKari;+47 412 34 568\n"


async def test_multipart_upload_reads_the_file_part(api: Api) -> None:
    """`curl -F file=@list.csv`: the file part is the list; the boundary is no column."""
    reply = await api.client.post(
        f"/campaigns/{api.campaign_id}/contacts",
        files={"file": ("list.csv", _LIST, "text/csv")},
        data={"note": "ignored"},
        headers=api.manager,
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["imported"], reply.json()["refused"]) == (2, {})


async def test_upload_by_campaign_name(api: Api) -> None:
    """The campaign may be named instead of numbered; an unknown one is 404."""
    reply = await api.client.post(
        "/campaigns/spring/contacts",
        content=_LIST,
        headers={**api.manager, "content-type": "text/csv"},
    )
    assert reply.status_code == 200 and reply.json()["imported"] == 2
    missing = await api.client.post(
        "/campaigns/autumn/contacts", content=_LIST, headers=api.manager
    )
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_upload_refusals_name_the_file_not_a_server_path(api: Api) -> None:
    """An unreadable list, no file part or two of them: 422 on `file`, no temporary path."""
    url = f"/campaigns/{api.campaign_id}/contacts"
    empty = await api.client.post(
        url, files={"file": ("list.csv", b"", "text/csv")}, headers=api.manager
    )
    no_file = await api.client.post(url, data={"file": "not a file"}, headers=api.manager)
    two = await api.client.post(
        url,
        files=[("file", ("a.csv", _LIST, "text/csv")), ("file", ("b.csv", _LIST, "text/csv"))],
        headers=api.manager,
    )
    latin = await api.client.post(
        url, content="phone\n4123ø\n".encode("latin-1"), headers=api.manager
    )
    for reply in (empty, no_file, two, latin):
        err = reply.json()
        assert reply.status_code == 422, reply.text
        assert err["field"] == "file" and err["message"].startswith("file: "), err
        assert "ringback-upload" not in err["message"] and "/tmp" not in err["message"]
    assert "empty file" in empty.json()["message"]
    assert "UTF-8" in latin.json()["message"]


async def test_upload_body_documented(api: Api) -> None:
    """OpenAPI shows the list as a multipart file part or a raw text/csv body."""
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    body = paths["/campaigns/{campaign}/contacts"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert "text/csv" in body


# Starlette leaves the temporary file of a part cut short unclosed (the GC closes it).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_truncated_multipart_is_refused(api: Api) -> None:
    """A multipart body cut off inside its file part imports nothing: 422 on `file`."""
    reply = await api.client.post(
        f"/campaigns/{api.campaign_id}/contacts",
        content=b"--x\r\nContent-Disposition: form-data; name=file; filename=a\r\n\r\nab",
        headers={**api.manager, "content-type": "multipart/form-data; boundary=x"},
    )
    assert reply.status_code == 422 and reply.json()["field"] == "file"
