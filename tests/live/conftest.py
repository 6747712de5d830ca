"""Live tests: a private Asterisk 22 with the shipped dialplan and AMI user, and SIPp.

Missing Asterisk (or SIPp, for the SIP carrier) skips the live tests with the reason;
with ``RINGBACK_LIVE=require`` (CI) each of them fails instead. ``RINGBACK_LIVE_KEEP=1``
keeps the instance's folder (configs, logs, SIPp traces) after the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.pbx import LivePbx, missing_asterisk, missing_sipp

LIVE_DIR = Path(__file__).resolve().parent


def _required() -> bool:
    return os.environ.get("RINGBACK_LIVE", "").lower() == "require"


class _Unavailable(pytest.Item):
    """Stands in for a live test when RINGBACK_LIVE=require and the PBX is missing."""

    def __init__(self, *, reason: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.reason = reason
        self.add_marker(pytest.mark.live)

    def runtest(self) -> None:
        pytest.fail(f"RINGBACK_LIVE=require: {self.reason}", pytrace=False)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name


def needs_sipp(item: pytest.Item) -> bool:
    """Uses the SIP carrier: asks for ``sip_carrier``, or is a ``transport="pjsip"`` row."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("transport") == "pjsip":
        return True
    return "sip_carrier" in getattr(item, "fixturenames", ())


def _why_not(item: pytest.Item) -> str | None:
    reason = missing_asterisk()
    if reason is None and needs_sipp(item):
        reason = missing_sipp()
    return reason


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for index, item in enumerate(items):
        if LIVE_DIR not in item.path.parents:
            continue
        item.add_marker(pytest.mark.live)
        reason = _why_not(item)
        if reason is None:
            continue
        if _required():
            items[index] = _Unavailable.from_parent(item.parent, name=item.name, reason=reason)
        else:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def pbx() -> Iterator[LivePbx]:
    """The session's private Asterisk (see tests/live/pbx.py for its API)."""
    reason = missing_asterisk()
    if reason is not None:
        if _required():
            pytest.fail(f"RINGBACK_LIVE=require: {reason}", pytrace=False)
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="ringback-live-"))
    instance = LivePbx(dir=folder)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        if os.environ.get("RINGBACK_LIVE_KEEP") != "1":
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def sip_carrier(pbx: LivePbx) -> Iterator[LivePbx]:
    """``pbx`` with the SIPp carrier running behind its ``trunk`` endpoint."""
    reason = missing_sipp()
    if reason is not None:
        if _required():
            pytest.fail(f"RINGBACK_LIVE=require: {reason}", pytrace=False)
        pytest.skip(reason)
    pbx.start_sipp()
    try:
        yield pbx
    finally:
        pbx.stop_sipp()
