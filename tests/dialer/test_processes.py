"""Real processes: ``ringback serve`` killed with SIGKILL and restarted, and two services
sharing one PostgreSQL database, each with its own PBX simulator."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from campaigns.storage.engine import make_engine
from dialer.testing import TEST_PG_URL

RINGBACK = [str(Path(sys.executable).parent / "ringback")]
ALWAYS = 'start = "00:00"\nend = "23:59"\nweekdays = [0, 1, 2, 3, 4, 5, 6]'
CAMPAIGN = f"""
[campaign]
name = "crash"
[campaign.dialing]
mode = "predictive"
ring_timeout_seconds = 5
max_concurrent = 8
[campaign.retry]
max_attempts = 2
delays_minutes = {{ no_answer = 0.02, busy = 0.02, congestion = 0.02, machine = 0.02, \
rejected = 0.02, abandoned = 0.02, failed_system = 0.02 }}
[campaign.hours]
{ALWAYS}
[campaign.wrapup]
seconds = 1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ringback(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*RINGBACK, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextmanager
def process(env: dict[str, str], *args: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([*RINGBACK, *args], env=env, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def wait_http(url: str, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def agent_ready(url: str, token: str) -> None:
    reply = httpx.put(
        f"{url}/agents/me/state",
        json={"state": "ready"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text


def state_becomes(url: str, token: str, state: str, within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        reply = httpx.get(
            f"{url}/agents/me/state", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        if reply.json()["state"] == state:
            return True
        time.sleep(0.2)
    return False


def setup(
    tmp_path: Path, database_url: str, contacts: int, agents: int
) -> tuple[dict[str, str], list[str]]:
    env = {
        **os.environ,
        "RINGBACK_DATA_DIR": str(tmp_path / "data"),
        "RINGBACK_DATABASE_URL": database_url,
        "RINGBACK_CONFIG": str(tmp_path / "none.toml"),
        "RINGBACK_LOG_LEVEL": "info",
    }
    (tmp_path / "campaign.toml").write_text(CAMPAIGN)
    lines = "\n".join(f"+4741{i:06d}" for i in range(contacts))
    (tmp_path / "contacts.csv").write_text(f"phone\n{lines}\n")
    ringback(env, "campaign", "apply", str(tmp_path / "campaign.toml"))
    ringback(env, "contacts", "import", "crash", str(tmp_path / "contacts.csv"), "--workers", "0")
    ringback(env, "campaign", "start", "crash")
    tokens = [
        ringback(env, "user", "add", f"agent{n}", "--extension", f"PJSIP/agent-{n}")
        for n in range(agents)
    ]
    return env, tokens


def rows(database_url: str, query: str) -> list[Any]:
    async def fetch() -> list[Any]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as conn:
                return list(await conn.execute(sa.text(query)))
        finally:
            await engine.dispose()

    return asyncio.run(fetch())


def check_invariants(database_url: str, contacts: int) -> None:
    states = dict(rows(database_url, "SELECT state, count(*) FROM contacts GROUP BY state"))
    assert sum(states.values()) == contacts
    assert "dialing" not in states, states
    assert rows(database_url, "SELECT id FROM attempts WHERE ended_at IS NULL") == []
    mismatched = rows(
        database_url,
        """SELECT c.id FROM contacts c
           LEFT JOIN attempts a ON a.contact_id = c.id
           GROUP BY c.id, c.dials, c.attempts
           HAVING c.dials != count(a.id)
               OR c.attempts != sum(CASE WHEN a.counted THEN 1 ELSE 0 END)""",
    )
    assert mismatched == [], "contact counters differ from their attempts"
    overlapping = rows(
        database_url,
        """SELECT a.id FROM attempts a JOIN attempts b
           ON a.contact_id = b.contact_id AND a.id < b.id AND b.started_at < a.ended_at""",
    )
    assert overlapping == [], "a contact was dialled while an attempt on it was open"


def test_sigkill_and_restart_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL in mid-campaign, start again: every attempt settled, nothing stuck or doubled."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'ringback.db'}"
    (tmp_path / "data").mkdir()
    env, tokens = setup(tmp_path, database_url, contacts=20, agents=3)
    ami_port, api_port = free_port(), free_port()
    env |= {
        "RINGBACK_AMI__SIMULATE": "false",
        "RINGBACK_AMI__PORT": str(ami_port),
        "RINGBACK_AMI__SECRET": "ringback",
        "RINGBACK_API__PORT": str(api_port),
        "RINGBACK_INSTANCE_ID": "crashy",
    }
    url = f"http://127.0.0.1:{api_port}"
    log = tmp_path / "log.txt"
    with process(
        env, "simulator", "--port", str(ami_port), "--time-scale", "0.2", "--seed", "3", log=log
    ):
        with process(env, "serve", log=log) as first:
            wait_http(url)
            for token in tokens:
                agent_ready(url, token)
            time.sleep(2)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        open_before = rows(database_url, "SELECT id FROM attempts WHERE ended_at IS NULL")
        assert open_before, "the kill should leave calls in progress"
        with process(env, "serve", log=log) as second:
            wait_http(url)
            for token in tokens:
                agent_ready(url, token)
            end = time.monotonic() + 60
            while time.monotonic() < end:
                left = rows(
                    database_url,
                    "SELECT count(*) FROM contacts WHERE state IN ('pending', 'retry', 'dialing')",
                )[0][0]
                if left == 0:
                    break
                time.sleep(0.5)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0
    recovered = rows(
        database_url,
        f"SELECT outcome FROM attempts WHERE id IN ({','.join(str(r[0]) for r in open_before)})",
    )
    assert {r[0] for r in recovered} == {"failed_system"}
    check_invariants(database_url, 20)
    assert "recovered" in log.read_text()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database, for processes that cannot be given a schema."""
    name = f"rb_{uuid.uuid4().hex[:10]}"

    async def admin(statement: str) -> None:
        engine = make_engine(TEST_PG_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text(statement))
        finally:
            await engine.dispose()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield TEST_PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f"DROP DATABASE {name} WITH (FORCE)"))


def test_two_services_share_one_postgresql_database(tmp_path: Path, pg_database: str) -> None:
    """Two dialers, each with its own PBX, work one campaign and never dial a contact twice."""
    env, tokens = setup(tmp_path, pg_database, contacts=30, agents=2)
    log = tmp_path / "log.txt"
    urls = []
    procs: list[subprocess.Popen[bytes]] = []
    with ExitStack() as stack:
        for n, token in enumerate(tokens):
            port = free_port()
            mine = env | {
                "RINGBACK_API__PORT": str(port),
                "RINGBACK_INSTANCE_ID": f"dialer-{n}",
                "RINGBACK_AMI__SIMULATE": "true",
                "RINGBACK_AMI__SIMULATOR_TIME_SCALE": "0.1",
            }
            procs.append(stack.enter_context(process(mine, "serve", log=log)))
            urls.append((f"http://127.0.0.1:{port}", token))
        for url, token in urls:
            wait_http(url)
            agent_ready(url, token)
        # Each agent is recorded as logged in to its own service (callbacks reserved for
        # an agent are left to the service the agent is logged in to).
        where = rows(pg_database, "SELECT logged_in_to FROM agents ORDER BY id")
        assert [r[0] for r in where] == ["dialer-0", "dialer-1"]
        end = time.monotonic() + 60
        while time.monotonic() < end:
            left = rows(
                pg_database,
                "SELECT count(*) FROM contacts WHERE state IN ('pending', 'retry', 'dialing')",
            )[0][0]
            if left == 0:
                break
            time.sleep(0.5)
        # Each service wraps up its own agents' countdowns and makes them ready again (a
        # countdown the other service wrapped up left its agent in wrap-up for good).
        for url, token in urls:
            assert state_becomes(url, token, "ready", within=15), "an agent stayed in wrap-up"
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert proc.wait(timeout=60) == 0
    owners = dict(rows(pg_database, "SELECT owner, count(*) FROM attempts GROUP BY owner"))
    assert set(owners) == {"dialer-0", "dialer-1"}, owners
    handled = dict(rows(pg_database, "SELECT owner, count(*) FROM interactions GROUP BY owner"))
    assert set(handled) == {"dialer-0", "dialer-1"}, handled
    check_invariants(pg_database, 30)
