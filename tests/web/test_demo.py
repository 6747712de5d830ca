"""``ringback demo`` as a new user meets it: open the printed board URL with the printed
manager token, and the agent desk with the printed token, and take a call by hand."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import stop

WAIT = 30_000


@dataclass
class Demo:
    board: str
    desk: str
    manager_token: str
    desk_token: str


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    env = {**os.environ, "RINGBACK_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    ringback = str(Path(sys.executable).with_name("ringback"))
    output = tmp_path / "demo.out"
    with output.open("w") as out:
        process = subprocess.Popen(
            [ringback, "demo", "--seconds", "120"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        printed: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(printed) < 4 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)  # polling the demo's output file, not waiting for an outcome
            printed = _printed(output.read_text())
        assert len(printed) == 4, output.read_text()
        yield Demo(printed["board"], printed["desk"], printed["manager"], printed["you"])
    finally:
        stop(process, within=60)


def _printed(text: str) -> dict[str, str]:
    """The URLs and tokens the demo printed so far."""
    printed: dict[str, str] = {}
    for line in text.splitlines():
        for key, pattern in (
            ("board", r"^supervisor board\s+(\S+)"),
            ("manager", r"^\s+manager token\s+(\S+)"),
            ("desk", r"^agent desk\s+(\S+)"),
            ("you", r"^\s+token of 'you'\s+(\S+)"),
        ):
            if found := re.match(pattern, line):
                printed[key] = found.group(1)
    return printed


def test_a_new_user_watches_the_floor_and_takes_a_call_by_hand(demo: Demo, browser: Any) -> None:
    board = browser.new_context().new_page()
    board.goto(demo.board)
    board.get_by_label("Your API token").fill(demo.manager_token)
    board.get_by_role("button", name="Sign in").click()
    # The simulated agents are at work: the board shows them and the campaign moving.
    expect(board.locator('#agents tr[data-agent="agent1"]')).to_be_visible(timeout=WAIT)
    demo_campaign = board.locator('article[data-campaign="demo"]')
    expect(demo_campaign.locator(".handled")).not_to_have_text("0", timeout=WAIT)

    desk = browser.new_context().new_page()
    desk.goto(demo.desk)
    desk.get_by_label("Your API token").fill(demo.desk_token)
    desk.get_by_role("button", name="Sign in").click()
    desk.get_by_label("demo").check()
    desk.get_by_role("button", name="Ready").click()
    expect(board.locator('#agents tr[data-agent="you"] .state')).to_have_text("ready", timeout=WAIT)
    expect(desk.locator("#call-phone")).to_have_text(re.compile(r"^\+47"), timeout=WAIT)
    expect(desk.locator("#contact")).to_contain_text("LP-")
    # The simulated contact hangs up after a few seconds: wrap-up, then a registration.
    expect(desk.locator("#wrapup")).to_be_visible(timeout=WAIT)
    desk.get_by_label("Sale").check()
    desk.get_by_role("button", name="Register").click()
    expect(desk.locator("#wrapup")).to_be_hidden(timeout=WAIT)
    desk.get_by_role("button", name="Ready").click()
    expect(desk.locator("#state")).to_have_text(re.compile("ready|on call"), timeout=WAIT)
