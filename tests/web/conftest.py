"""Browser tests: ``ringback serve`` on the simulator, driven in Debian's Chromium by
Playwright (its own browser download is not needed: the browser is launched by path).

Without Chromium the tests are reported skipped with the reason; ``RINGBACK_BROWSER=require``
(set by CI) makes that a failure. ``RINGBACK_SCREENSHOTS=DIR`` also saves each page's
screenshot there (the README's come from ``docs/screenshots``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

WEB_DIR = Path(__file__).resolve().parent
ROOT = WEB_DIR.parents[1]
ALWAYS = {"start": "00:00", "end": "23:59", "weekdays": [0, 1, 2, 3, 4, 5, 6]}
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium() -> str | None:
    found = os.environ.get("RINGBACK_CHROMIUM") or next(
        (p for p in CHROMIUM_PATHS if os.access(p, os.X_OK)), None
    )
    return found or shutil.which("chromium")


def _why_not() -> str | None:
    if chromium() is None:
        return "no Chromium (apt-get install chromium, or RINGBACK_CHROMIUM=/path/to/chrome)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


class _Unavailable(pytest.Item):
    """Stands in for a browser test when RINGBACK_BROWSER=require and Chromium is missing."""

    def __init__(self, *, reason: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.reason = reason

    def runtest(self) -> None:
        pytest.fail(f"RINGBACK_BROWSER=require: {self.reason}", pytrace=False)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _why_not()
    for index, item in enumerate(items):
        if WEB_DIR not in item.path.parents:
            continue
        item.add_marker(pytest.mark.browser)
        if reason is None:
            continue
        if os.environ.get("RINGBACK_BROWSER", "").lower() == "require":
            items[index] = _Unavailable.from_parent(item.parent, name=item.name, reason=reason)
        else:
            item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class Service:
    """A running ``ringback serve``: its URL, the manager's token, and an API client."""

    url: str
    data_dir: Path
    manager_token: str
    api: httpx.Client

    def user(self, username: str, role: str = "agent", **fields: Any) -> tuple[int, str]:
        reply = self.api.post("/users", json={"username": username, "role": role, **fields})
        assert reply.status_code == 201, reply.text
        body = reply.json()
        return body["user"]["id"], body["token"]

    def campaign(self, name: str, mode: str, csv: str, **spec: Any) -> int:
        """A campaign dialling through the simulator, always open, with the contacts of
        ``csv``; left in draft."""
        dialing = {"mode": mode, "channel": "PJSIP/{number}@sim"}
        body = {"name": name, "hours": ALWAYS, "dialing": dialing, **spec}
        reply = self.api.post("/campaigns", json=body)
        assert reply.status_code == 201, reply.text
        campaign: int = reply.json()["id"]
        reply = self.api.post(
            f"/campaigns/{campaign}/contacts",
            content=csv.encode(),
            headers={"content-type": "text/csv"},
        )
        assert reply.json()["imported"] == csv.count("\n") - 1, reply.text
        return campaign

    def get_as(self, token: str, path: str) -> Any:
        """``path`` read with another user's token."""
        reply = self.api.get(path, headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200, reply.text
        return reply.json()


def _ringback(data_dir: Path, *args: str) -> str:
    env = {**os.environ, "RINGBACK_DATA_DIR": str(data_dir), "RINGBACK_LOG_LEVEL": "warning"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ringback")), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A fresh database, its first manager made by ``ringback user add``, and the service."""
    data_dir = tmp_path_factory.mktemp("web")
    _ringback(data_dir, "db", "upgrade")
    token = _ringback(data_dir, "user", "add", "maria", "--role", "manager", "--name", "Maria")
    env = {
        **os.environ,
        "RINGBACK_DATA_DIR": str(data_dir),
        "RINGBACK_LOG_LEVEL": "warning",
        "RINGBACK_INSTANCE_ID": "web-tests",
    }
    log = (data_dir / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.web.serve_sim", str(data_dir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while not line.startswith("READY ") and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
        assert line.startswith("READY "), (data_dir / "serve.log").read_text()
        url = line.split()[1]
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as api:
            yield Service(url, data_dir, token, api)
    finally:
        try:
            stop(process, within=30)
        finally:
            if process.stdout is not None:
                process.stdout.close()
            log.close()


def stop(process: subprocess.Popen[Any], *, within: float) -> None:
    """SIGTERM, as an administrator stops the service; not stopping in time is a failure
    (after a kill, so that nothing is left running)."""
    process.terminate()
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"{process.args} did not stop within {within} s of SIGTERM") from None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


def screenshot(page: Any, name: str) -> None:
    """Save the page as ``name``.png where RINGBACK_SCREENSHOTS says, if it does."""
    folder = os.environ.get("RINGBACK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(Path(folder) / f"{name}.png"))
