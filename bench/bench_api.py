"""Agent API load test: `python bench/bench_api.py` (options: --help).

Starts the real app under uvicorn on 127.0.0.1 over a fresh SQLite file (one process, one
core), then drives a bounded number of concurrent agents at a target request rate. Each
agent loops: who-am-i (log in), take a call by hand to the contact the dialer offered it
(the API refuses any other), end it, read it (timer, scripts), register the wrap-up, list
its scheduled calls (one: the wrap-up of the dialer's call booked it; a call taken by hand
books none). Requests
of the first seconds (--warmup) are not counted: the first use of each statement compiles
it, once per process. Prints requests/s and p50/p99 latency per endpoint, and the CPU the
server and the load generator used. Target: p99 < 25 ms for registration at 200
requests/s.

On a machine busy with other work the figures measure the scheduler as much as the
server; `chrt -f 10` before the command gives both processes priority.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def now() -> datetime:
    return datetime.now(UTC)


async def prepare(db: Path, agents: int) -> tuple[list[str], int, list[int], list[int]]:
    """Schema, a running campaign open all week, topics, and per agent a user and one
    contact the dialer offered it."""
    from campaigns.callbacks import CallbackRequest
    from campaigns.model import CampaignState, ContactRow, ContactState, Outcome
    from campaigns.retry import Decision
    from campaigns.services.testing import RecordingEvents
    from campaigns.spec import CallingHours, CampaignSpec, Wrapup
    from campaigns.storage.engine import make_engine
    from campaigns.storage.migrate import upgrade
    from campaigns.storage.store import SqlAgentStore, SqlStore
    from campaigns.users import Role
    from campaigns.wrapup import Feedback, RegistrationDraft, read_end_reasons
    from dialer.app import build_services
    from dialer.clock import SystemClock

    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    await upgrade(engine)
    store, agent_store = SqlStore(engine), SqlAgentStore(engine)
    services = build_services(store, RecordingEvents(), SystemClock())
    hours = CallingHours(start=dtime(0, 0), end=dtime(23, 59, 59), weekdays=frozenset(range(7)))
    spec = CampaignSpec(name="bench", hours=hours, wrapup=Wrapup(seconds=60))
    campaign = await store.create_campaign(spec, now())
    await store.set_campaign_state(campaign.id, CampaignState.RUNNING, now())
    rows = [
        ContactRow(i + 2, f"+47410{i:05d}", "Europe/Oslo", {"n": str(i)}) for i in range(agents)
    ]
    await store.add_contacts(campaign.id, rows, now())
    contacts = await store.claim_due(campaign.id, agents, now(), "bench", now() + timedelta(days=1))
    await agent_store.add_end_reasons(read_end_reasons(ROOT / "config" / "end-reasons.toml"))
    manager, _ = await services.users.create_user("manager", Role.MANAGER)
    mood = await services.interactions.create_category(manager, "Mood", False, None)
    product = await services.interactions.create_category(manager, "Product", True, campaign.id)
    topics = [
        (await services.interactions.create_topic(manager, mood.id, "Positive", "")).id,
        (await services.interactions.create_topic(manager, product.id, "App", "Say hi")).id,
        (await services.interactions.create_topic(manager, product.id, "Catalog", "")).id,
    ]
    tokens, contact_ids = [], []
    for i, contact in enumerate(sorted(contacts, key=lambda c: c.id)):
        agent, token = await services.users.create_user(f"agent{i}", Role.AGENT)
        # The dialer offered each agent its contact once: an agent may take calls by hand
        # only with contacts offered to it (or previewed), any other answers 404.
        attempt = await store.start_attempt(contact, "bench", now(), now() + timedelta(days=1))
        offered = await services.interactions.start_interaction(
            agent.id, contact.phone, contact=contact, attempt_id=attempt.id
        )
        await services.interactions.end_interaction(offered.id)
        answered = Decision(ContactState.COMPLETED, None, 1, 1, 0, counted=True)
        await store.finish_attempt(attempt.id, Outcome.ANSWERED, answered, now())
        # Its wrap-up books a callback (only dialer calls can): the agent has a scheduled
        # call to list. The calls taken by hand in the loop book none.
        callback = CallbackRequest(due_at=now() + timedelta(days=1))
        draft = RegistrationDraft(feedback=Feedback.CALLBACK, callback=callback)
        await services.interactions.register(agent, offered.id, draft)
        tokens.append(token)
        contact_ids.append(contact.id)
    await engine.dispose()
    return tokens, campaign.id, contact_ids, topics


def serve(db: Path, port: int) -> None:
    """The server process: the app as the composition root would build it, over SQLite."""
    import uvicorn

    from dialer.app import build_api, open_store
    from dialer.clock import SystemClock
    from dialer.logs import configure
    from dialer.service import settle_heap
    from dialer.settings import load_settings

    configure("warning", "json")
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{db}", api={"port": port})

    async def run() -> None:
        # One connection: SQLite has one writer anyway, and waiting on its file lock (busy
        # timeout back-off) costs far more than queueing for the connection in the pool.
        async with open_store(settings, migrate=False, pool_size=1, max_overflow=0) as store:
            app = build_api(settings, store, SystemClock()).api
            config = uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", access_log=False
            )
            settle_heap()
            await uvicorn.Server(config).serve()

    try:
        import uvloop  # what uvicorn.run picks when it is installed
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())


class Pacer:
    """Hands out request slots at ``rate`` per second (open loop: late slots are not skipped)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1 / rate
        self._next = time.perf_counter()

    async def slot(self) -> None:
        when = self._next
        self._next += self._interval
        delay = when - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


async def agent_loop(
    client: aiohttp.ClientSession,
    token: str,
    contact_id: int,
    campaign_id: int,
    topics: list[int],
    pacer: Pacer,
    window: tuple[float, float],
    samples: dict[str, list[float]],
    errors: dict[str, int],
    start: tuple[float, int],
) -> None:
    """Loops until the window's end; records the requests started inside it.

    ``start``: the delay before the first request and the loop count to begin at. Agents
    log in one after another and are at different points of their calls, as real agents
    are; started together, all would book their callbacks in the same second.
    """
    measure_from, stop = window
    delay, n = start
    await asyncio.sleep(delay)
    headers = {"Authorization": f"Bearer {token}"}

    async def call(name: str, method: str, url: str, json: object = None) -> Any:
        await pacer.slot()
        started = time.perf_counter()
        async with client.request(method, url, json=json, headers=headers) as r:
            body = await r.json()
        if started >= measure_from:
            samples[name].append((time.perf_counter() - started) * 1000)
            if r.status >= 400:
                errors[name] += 1
        return body

    while time.perf_counter() < stop:
        n += 1
        await call("GET /users/me", "GET", "/users/me")
        r = await call(
            "POST /agents/me/interactions",
            "POST",
            "/agents/me/interactions",
            {
                "phone": "+4741000000",
                "direction": "outbound",
                "contact_id": contact_id,
                "campaign_id": campaign_id,
            },
        )
        interaction = r["id"]
        await call("POST /interactions/{id}/end", "POST", f"/interactions/{interaction}/end")
        await call("GET /interactions/{id}", "GET", f"/interactions/{interaction}")
        body = {"topic_ids": [topics[0], topics[1 + n % 2]], "comment": "ok"}
        await call(
            "POST /interactions/{id}/registration",
            "POST",
            f"/interactions/{interaction}/registration",
            body,
        )
        await call("GET /agents/me/callbacks", "GET", "/agents/me/callbacks")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` and all its threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200.0, help="target requests/s (all)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds")
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of load before measuring (first use of each statement compiles it)",
    )
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    from dialer.logs import configure

    configure("warning", "console")

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        tokens, campaign_id, contacts, topics = await prepare(db, args.agents)
        # The load generator's own full collections (40-100 ms with all prepare() imported)
        # would show as server latency: out of the collector's sight, as in the server.
        gc.collect()
        gc.freeze()
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            str(db),
            str(args.port),
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            base = f"http://127.0.0.1:{args.port}"
            # aiohttp: a fifth of httpx's CPU per request, so that on a small machine the
            # load generator leaves the cores to the server it measures.
            connector = aiohttp.TCPConnector(limit=args.agents)
            timeout = aiohttp.ClientTimeout(total=10)
            async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:
                async with asyncio.timeout(15):
                    while True:
                        try:
                            async with client.get("/health") as health:
                                if health.status == 200:
                                    break
                        except aiohttp.ClientConnectionError:
                            await asyncio.sleep(0.1)
                samples: dict[str, list[float]] = defaultdict(list)
                errors: dict[str, int] = defaultdict(int)
                pacer = Pacer(args.rate)
                measure_from = time.perf_counter() + args.warmup
                window = (measure_from, measure_from + args.seconds)
                budget = args.warmup + args.seconds + 30
                async with asyncio.timeout(budget), asyncio.TaskGroup() as group:
                    # One agent's loop is six requests: spread the agents over one loop.
                    stagger = 6 / args.rate
                    for i, (token, contact) in enumerate(zip(tokens, contacts, strict=True)):
                        group.create_task(
                            agent_loop(
                                client,
                                token,
                                contact,
                                campaign_id,
                                topics,
                                pacer,
                                window,
                                samples,
                                errors,
                                (i * stagger, i),
                            )
                        )
                    await asyncio.sleep(args.warmup)
                    cpu_before = cpu_seconds(server.pid)
                    client_before = time.process_time()
                elapsed = time.perf_counter() - measure_from
                cpu_after = cpu_seconds(server.pid)
                client_cpu = time.process_time() - client_before
        finally:
            server.terminate()
            async with asyncio.timeout(10):
                await server.wait()

    total = sum(len(v) for v in samples.values())
    print(
        f"\n{args.agents} agents, target {args.rate:.0f} req/s, {elapsed:.1f} s measured after "
        f"{args.warmup:.0f} s of warm-up, "
        f"{total} requests, {total / elapsed:.1f} req/s achieved, SQLite, one server process\n"
    )
    print(f"{'endpoint':40} {'count':>6} {'err':>4} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for name, values in samples.items():
        print(
            f"{name:40} {len(values):6d} {errors[name]:4d} {len(values) / elapsed:7.1f} "
            f"{statistics.median(values):7.2f} {pct(values, 0.99):7.2f}"
        )
    everything = [v for values in samples.values() for v in values]
    print(
        f"{'all':40} {total:6d} {sum(errors.values()):4d} {total / elapsed:7.1f} "
        f"{statistics.median(everything):7.2f} {pct(everything, 0.99):7.2f}"
    )
    if cpu_before is not None and cpu_after is not None:
        busy = cpu_after - cpu_before
        print(
            f"\nserver CPU: {busy * 1000 / total:.2f} ms per request, "
            f"{busy / elapsed:.0%} of one core"
        )
    print(f"load generator CPU: {client_cpu / elapsed:.0%} of one core")
    registration = samples["POST /interactions/{id}/registration"]
    verdict = "met" if pct(registration, 0.99) < 25 else "MISSED"
    print(f"\nregistration p99 {pct(registration, 0.99):.2f} ms: target (< 25 ms) {verdict}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        asyncio.run(main())
