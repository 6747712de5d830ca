"""The agent desk and the supervisor board in Chromium, against ``ringback serve`` on the
simulator: what an agent and a supervisor do, by clicking and typing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Service, screenshot

OSLO = ZoneInfo("Europe/Oslo")
CONSOLE_ERRORS: list[str] = []
WAIT = 20_000  # ms: every wait is bounded; none is a sleep


@pytest.fixture(scope="module")
def floor(service: Service) -> dict[str, Any]:
    """A campaign of one contact (forced registration, a long countdown), its wrap-up
    catalogue, end reasons, a case type, and two agents."""
    api = service.api
    campaign = service.campaign(
        "winter",
        "progressive",
        "phone;name;account\n+4791234567;Kari Nordmann;LP-1001\n",
        timezone="Europe/Oslo",
        wrapup={"forced_registration": True, "seconds": 600, "extendable": True},
        callback_reservation_minutes=5,
    )
    result = api.post(
        "/wrapup/categories",
        json={"name": "Result", "campaign_id": campaign, "required": True},
    ).json()
    for name, script in (("Sale", "Confirm the address."), ("Call me later", "Offer a time.")):
        api.post(f"/wrapup/categories/{result['id']}/topics", json={"name": name, "script": script})
    api.post(
        "/end-reasons",
        json={"name": "Call me later", "close_by_default": False, "followup_queue": "sales"},
    )
    api.post(
        "/case-types",
        json={"name": "Complaint", "department": "quality", "mandatory_fields": ["account"]},
    )
    ann_id, ann = service.user("ann", name="Ann Agent", extension="PJSIP/agent-ann")
    _, bob = service.user("bob", name="Bob Agent", extension="PJSIP/agent-bob")
    return {"campaign": campaign, "ann_id": ann_id, "ann": ann, "bob": bob}


@pytest.fixture(scope="module")
def pages(browser: Any, service: Service) -> Iterator[dict[str, Page]]:
    """One browser context per person: tokens live in each tab's own storage."""
    contexts = {
        who: browser.new_context(
            base_url=service.url, viewport={"width": 1280, "height": 900}, timezone_id="Europe/Oslo"
        )
        for who in ("ann", "board", "bob")
    }
    opened = {who: context.new_page() for who, context in contexts.items()}
    for who, page in opened.items():
        # A script error or a CSP refusal (an inline style, a foreign asset) is a failure.
        page.on("console", lambda m, who=who: _console(who, m))
        page.on("pageerror", lambda e, who=who: CONSOLE_ERRORS.append(f"{who}: {e}"))
    yield opened
    for context in contexts.values():
        context.close()
    assert not CONSOLE_ERRORS, CONSOLE_ERRORS


def _console(who: str, message: Any) -> None:
    # The API's refusals the tests provoke (422; Bob's 404 for Ann's interaction) are
    # logged by the browser too.
    expected = re.search(r"status of 422 ", message.text) or (
        who == "bob" and "/interactions/" in message.location.get("url", "")
    )
    if message.type == "error" and not expected:
        CONSOLE_ERRORS.append(f"{who}: {message.text} {message.location.get('url', '')}")


def sign_in(page: Page, path: str, token: str) -> None:
    page.goto(path)
    page.get_by_label("Your API token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_a_day_on_the_desk_watched_from_the_board(
    service: Service, floor: dict[str, Any], pages: dict[str, Page]
) -> None:
    ann, board = pages["ann"], pages["board"]
    sign_in(board, "/board", service.manager_token)
    sign_in(ann, "/desk", floor["ann"])
    expect(ann.locator("#state")).to_have_text("logged out", timeout=WAIT)
    ann_row = board.locator('#agents tr[data-agent="ann"]')
    expect(ann_row.locator(".state")).to_have_text("logged out", timeout=WAIT)
    winter = board.locator('article[data-campaign="winter"]')
    expect(winter.locator(".handled")).to_have_text("0", timeout=WAIT)

    # Ann goes ready in the campaign; the board sees it live, without a reload.
    ann.get_by_label("winter").check()
    ann.get_by_role("button", name="Ready").click()
    expect(ann.locator("#state")).to_have_text("ready", timeout=WAIT)
    expect(ann_row.locator(".state")).to_have_text("ready", timeout=WAIT)

    # The supervisor starts the campaign; the call comes to Ann with the contact's card.
    board.get_by_role("button", name="Start winter").click()
    expect(ann.locator("#call-phone")).to_have_text("+4791234567", timeout=WAIT)
    expect(ann.locator("#contact")).to_contain_text("Kari Nordmann")
    expect(ann.locator("#contact")).to_contain_text("LP-1001")
    expect(ann.locator("#scripts")).to_contain_text("Confirm the address.")
    expect(ann_row.locator(".state")).to_have_text("on call", timeout=WAIT)
    expect(winter.locator(".handled")).to_have_text("1", timeout=WAIT)
    screenshot(ann, "desk-call")

    # She hangs up: wrap-up with its countdown, and ready is blocked until she registers.
    ann.get_by_role("button", name="Hang up").click()
    expect(ann.locator("#wrapup")).to_be_visible(timeout=WAIT)
    expect(ann.locator("#countdown")).to_have_text(re.compile(r"^(9|10):\d\d$"), timeout=WAIT)
    expect(ann.locator("#ready-blocked")).to_be_visible(timeout=WAIT)
    expect(ann.get_by_role("button", name="Ready")).to_be_disabled()
    expect(ann_row.locator(".state")).to_have_text("wrapup", timeout=WAIT)

    # A registration without the required category is refused by the field.
    ann.get_by_role("button", name="Register").click()
    expect(ann.locator('[data-error="topic_ids"]')).to_contain_text("Result", timeout=WAIT)

    # A callback in the past is refused by its field; one in 20 s is booked.
    ann.get_by_label("Call me later").check()
    expect(ann.locator("#scripts")).to_contain_text("Offer a time.")
    ann.get_by_label("Comment", exact=True).fill("Wants the offer by phone after lunch.")
    ann.get_by_label("Callback", exact=True).check()
    now = datetime.now(OSLO)  # the browser's time zone
    ann.get_by_label("Call back at").fill(f"{now - timedelta(hours=1):%Y-%m-%dT%H:%M:%S}")
    ann.get_by_label("Callback comment").fill("Ask for Kari, mention the bonus points")
    ann.get_by_role("button", name="Register").click()
    expect(ann.locator('[data-error="callback.due_at"]')).to_contain_text("in the past")
    expect(ann.get_by_label("Call back at")).to_have_attribute("aria-invalid", "true")
    due = datetime.now(OSLO) + timedelta(seconds=20)
    ann.get_by_label("Call back at").fill(f"{due:%Y-%m-%dT%H:%M:%S}")
    screenshot(ann, "desk-wrapup")
    ann.get_by_role("button", name="Register").click()
    expect(ann.locator("#wrapup")).to_be_hidden(timeout=WAIT)

    # The callback is in her scheduled calls; she goes ready and takes it when it is due.
    scheduled = ann.locator("#scheduled tr")
    expect(scheduled).to_have_count(1, timeout=WAIT)
    expect(scheduled).to_contain_text("Ask for Kari")
    expect(scheduled).to_contain_text("Kari Nordmann")
    expect(ann.get_by_role("button", name="Ready")).to_be_enabled(timeout=WAIT)
    ann.get_by_role("button", name="Ready").click()
    expect(ann.locator("#callback-comment")).to_contain_text(
        "Ask for Kari, mention the bonus points", timeout=40_000
    )
    expect(ann.locator("#call-phone")).to_have_text("+4791234567")
    ann.locator("#history-box summary").click()
    expect(ann.locator("#history-registrations")).to_contain_text("Call me later")
    expect(ann.locator("#history-attempts tr")).to_have_count(1)
    expect(ann_row.locator(".state")).to_have_text("on call", timeout=WAIT)
    expect(winter.locator(".handled")).to_have_text("2", timeout=WAIT)

    # The board's registrations and callbacks moved too.
    expect(board.locator("#registrations")).to_contain_text("Call me later", timeout=WAIT)
    expect(board.locator("#callbacks")).to_contain_text("Ask for Kari", timeout=WAIT)
    screenshot(board, "board")

    # The second call is wrapped up by hand with an end reason that leaves it open.
    ann.get_by_role("button", name="Hang up").click()
    ann.get_by_label("Sale").check()
    ann.get_by_label("End reason").select_option(label="Call me later")
    expect(ann.get_by_label("Close the request")).not_to_be_checked()
    ann.get_by_role("button", name="Register").click()
    expect(ann.locator("#wrapup")).to_be_hidden(timeout=WAIT)
    expect(board.locator("#queues")).to_contain_text("sales", timeout=WAIT)
    screenshot(ann, "desk")
    assert not CONSOLE_ERRORS, CONSOLE_ERRORS


def test_an_agent_cannot_open_another_agents_interaction(
    service: Service, floor: dict[str, Any], pages: dict[str, Page]
) -> None:
    bob = pages["bob"]
    sign_in(bob, "/desk", floor["bob"])
    expect(bob.locator("#state")).to_have_text("logged out", timeout=WAIT)
    ann_calls = service.api.get("/stats/agents", params={"agent_id": floor["ann_id"]}).json()
    assert ann_calls and ann_calls[0]["calls"] >= 1
    # Ann's first interaction id, read as the supervisor would; Bob asks for it from his desk.
    mine = service.get_as(floor["ann"], "/agents/me/interactions")
    assert mine, "Ann has no interaction"
    status = bob.evaluate(
        "async (id) => { try { await RB.get(`/interactions/${id}`); return 200; }"
        " catch (e) { return e.status; } }",
        mine[-1]["id"],
    )
    assert status == 404
    expect(bob.locator("#no-call")).to_be_visible()
    expect(bob.locator("#scheduled tr")).to_have_count(0)
    # Nor can he open the board: it is for managers.
    sign_in(bob, "/board", floor["bob"])
    expect(bob.locator("#token-error")).to_contain_text("for managers", timeout=WAIT)
    expect(bob.locator("#app")).to_be_hidden()


def test_the_board_uploads_a_list_and_offers_the_refused_rows(
    service: Service, floor: dict[str, Any], pages: dict[str, Page], tmp_path: Path
) -> None:
    board = pages["board"]
    if not board.url.endswith("/board"):
        sign_in(board, "/board", service.manager_token)
    listing = tmp_path / "list.csv"
    listing.write_text("phone,name\n+4790000001,Ola\nnot-a-number,Per\n+4790000002,Nora\n")
    form = board.get_by_role("region", name="Upload contacts")
    form.get_by_label("Campaign").select_option(label="winter")
    form.get_by_label("Contact file").set_input_files(str(listing))
    form.get_by_role("button", name="Upload").click()
    result = board.locator("#upload-result")
    expect(result).to_contain_text("2 imported", timeout=WAIT)
    expect(board.locator("#upload-progress")).to_have_attribute("value", "100")
    expect(result.locator("table.refused tbody tr")).to_have_count(1)
    expect(result.locator("table.refused")).to_contain_text("not-a-number")
    with board.expect_download() as download:
        board.get_by_role("button", name="Download refused rows (CSV)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "line,phone,reason"
    assert text.splitlines()[1].startswith("3,not-a-number,")


def test_the_token_stays_out_of_urls_and_storage_outlives_no_tab(
    service: Service, floor: dict[str, Any], browser: Any
) -> None:
    context = browser.new_context(base_url=service.url)
    page = context.new_page()
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    sign_in(page, "/desk", floor["bob"])
    expect(page.locator("#state")).to_be_visible(timeout=WAIT)
    assert seen and not any(floor["bob"] in url for url in seen)
    # A new tab starts signed out: the token lives in the tab's session storage only.
    other = context.new_page()
    other.goto("/desk")
    expect(other.get_by_label("Your API token")).to_be_visible(timeout=WAIT)
    context.close()


def test_an_inbound_call_and_a_preview_call_from_the_desk(
    service: Service, floor: dict[str, Any], browser: Any
) -> None:
    api = service.api
    look = service.campaign("look", "preview", "phone,name\n+4791111111,Nora Nilsen\n")
    assert api.post(f"/campaigns/{look}/state", json={"state": "running"}).status_code == 200
    _, cleo = service.user("cleo", name="Cleo", extension="PJSIP/agent-cleo")
    desk = browser.new_context(base_url=service.url).new_page()
    sign_in(desk, "/desk", cleo)

    # An inbound caller: a number that is no number is refused by its field.
    desk.get_by_text("Record an inbound call").click()
    desk.get_by_label("Caller's number").fill("+47 123 abc")
    desk.get_by_role("button", name="Start").click()
    expect(desk.locator('#inbound [data-error="phone"]')).not_to_be_empty(timeout=WAIT)
    desk.get_by_label("Caller's number").fill("+4722334455")
    desk.get_by_role("button", name="Start").click()
    expect(desk.locator("#call-phone")).to_have_text("+4722334455", timeout=WAIT)
    expect(desk.locator("#call-campaign")).to_have_text("inbound")
    desk.get_by_role("button", name="Hang up").click()
    expect(desk.locator("#wrapup")).to_be_visible(timeout=WAIT)
    expect(desk.locator("#feedback-box")).to_be_hidden()
    desk.get_by_label("End reason").select_option(label="Call me later")
    desk.get_by_role("button", name="Register").click()
    expect(desk.locator("#wrapup")).to_be_hidden(timeout=WAIT)

    # Preview: read the next contact, then call it; the call comes to the desk.
    desk.get_by_label("look").check()
    desk.get_by_role("button", name="Ready").click()
    expect(desk.locator("#state")).to_have_text("ready", timeout=WAIT)
    desk.get_by_role("button", name="Next contact").click()
    expect(desk.locator("#preview-card")).to_contain_text("Nora Nilsen", timeout=WAIT)
    desk.get_by_role("button", name="Call", exact=True).click()
    expect(desk.locator("#call-phone")).to_have_text("+4791111111", timeout=WAIT)
    expect(desk.locator("#contact")).to_contain_text("Nora Nilsen")
    desk.get_by_role("button", name="Hang up").click()
    expect(desk.locator("#wrapup")).to_be_visible(timeout=WAIT)
    desk.context.close()


LABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((e) => e.type !== 'hidden' && !e.closest('[hidden]'))
    .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                   && !(e.tagName === 'BUTTON' && e.textContent.trim()))
    .map((e) => e.outerHTML.slice(0, 80))"""


def test_the_desk_by_keyboard_on_a_tablet(
    service: Service, floor: dict[str, Any], browser: Any
) -> None:
    """Signed in and made ready with the keyboard alone, on a tablet's screen: every
    control has a name, and nothing is wider than the screen."""
    _, dora = service.user("dora", name="Dora", extension="PJSIP/agent-dora")
    # No call for Dora: a call still up would hold the service's stop for its drain time.
    for campaign in service.api.get("/campaigns").json():
        if campaign["state"] == "running":
            service.api.post(f"/campaigns/{campaign['id']}/state", json={"state": "paused"})
    context = browser.new_context(
        base_url=service.url, viewport={"width": 768, "height": 1024}, has_touch=True
    )
    desk = context.new_page()
    desk.goto("/desk")
    expect(desk.get_by_label("Your API token")).to_be_focused(timeout=WAIT)
    desk.keyboard.type(dora)
    desk.keyboard.press("Enter")
    expect(desk.locator("#state")).to_have_text("logged out", timeout=WAIT)
    for _ in range(40):  # Tab through the page to the Ready button
        desk.keyboard.press("Tab")
        if desk.evaluate("document.activeElement.id") == "ready":
            break
    else:
        raise AssertionError("Ready cannot be reached with Tab")
    desk.keyboard.press("Enter")
    expect(desk.locator("#state")).to_have_text("ready", timeout=WAIT)
    assert desk.evaluate(LABELLED) == []
    assert desk.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    desk.keyboard.press("Tab")  # focus moves on to the pause reason, in reading order
    assert desk.evaluate("document.activeElement.id") == "pause-reason"
    screenshot(desk, "desk-tablet")
    board = context.new_page()
    sign_in(board, "/board", service.manager_token)
    expect(board.locator("#agents tr")).not_to_have_count(0, timeout=WAIT)
    assert board.evaluate(LABELLED) == []
    assert board.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
