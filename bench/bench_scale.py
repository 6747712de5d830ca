"""Scale of one process: how many agents and concurrent calls one ``ringback serve`` carries.

    .venv/bin/python bench/bench_scale.py [--quick] [--agents 250,500,1000,1500]
        [--seconds 60] [--warmup 120] [--backends sqlite,postgresql] [--pg-url URL]

For each backend and each agent count it runs the real service (``dialer.service.serve``:
engine, store, AMI bridge, agent API, auto wrap-up) in a child process of its own, dialing
a predictive campaign against the PBX simulator, which runs in this (the parent) process
and speaks AMI over TCP on 127.0.0.1. It stops raising the agents once dispatch p99
passes 50 ms or the event loop lags more than 50 ms (p99). On PostgreSQL it then runs
two service processes on the same database and campaign, each with the agent count one
process carried (or ``--two-agents``), and prints how many calls per second they put
through to agents together against one process with as many agents.

What is real: the service process as ``ringback serve`` runs it (its store on SQLite or
PostgreSQL, its claims, attempts and settlements, the bridge's AMI client over TCP, the
interactions and the auto wrap-up that makes an agent ready again, the agent API);
agents are users created as ``ringback user add`` does, and each goes ready through
``PUT /agents/me/state`` over HTTP. What is simulated: the PBX (the simulator: a person
answers 20 % of calls after 6 s, the rest ring out at the 30 s ring timeout; talk times
are exponential with a mean of 60 s), and the agents' behaviour after going ready: no
agent registers anything; the campaign's wrap-up is 1 second, so the service's auto
wrap-up makes them ready as soon as a call ends. Time runs at its real speed by default
(``--time-scale`` below 1 shortens rings and talk, and multiplies the calls each agent
brings: the figures then stand for more agents than were logged in). At real speed a
floor of 1,000 such agents keeps about 3,000 calls up (1,000 talking, 2,000 ringing).

Figures, over the measured window after a warm-up, all from the service process:

- concurrent calls: the engine's calls in progress (ringing, waiting, talking), mean;
- calls/s: Originates sent; settled/s: attempts given their final outcome;
- abandoned: of the calls a person answered, the share no agent took within 2 s (the
  pacer's doing: the warm-up is short beside a working day, so read it as a check);
- CPU per call: the service process's CPU time (``time.process_time()``) over the
  window divided by the calls placed in it (the simulator's CPU is not in it);
- dispatch: from an agent going free (a roster change) to the engine's answer to it: the
  next Originate of the campaign, or the pacer's decision that no call is needed;
- lag: how late a 50 ms sleep in the service's event loop wakes (p99);
- answer s: seconds from Originate to a person's answer as the engine saw them (mean):
  the simulator answers after 6 s, so more is the service's AMI events waiting.

The machine this was written on has 2 cores shared with other work; figures vary from
run to run, so run it more than once and read medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ami_bridge.simulator import Behaviour, PbxSimulator
from campaigns.model import CampaignState, ContactRow
from campaigns.services.users import Users
from campaigns.spec import CampaignSpec
from campaigns.storage.store import SqlAgentStore
from dialer.app import open_store
from dialer.demo import add_agents
from dialer.roster import AgentStatus, Seat
from dialer.settings import Settings, load_settings
from dialer.testing import TEST_PG_URL

TARGET_P99_MS = 50.0
TARGET_LAG_MS = 50.0
TARGET_AGENTS, TARGET_CALLS, TARGET_TWO = 1000, 3000, 1.8
# Answered by a person 20 % of the time; the rest ring until the campaign's ring timeout.
WEIGHTS = {Behaviour.HUMAN: 0.2, Behaviour.NO_ANSWER: 0.8}
RING_TIMEOUT = 30
TALK_SECONDS = 60.0


@dataclass(frozen=True)
class Step:
    backend: str
    processes: int
    agents: int
    """Per process."""
    calls: float
    concurrent_max: int
    calls_per_s: float
    settled_per_s: float
    cpu_ms_per_call: float
    dispatch_p50: float
    dispatch_p99: float
    lag_p99: float
    answered_per_s: float
    abandoned_pct: float
    answer_delay: float
    """Seconds from Originate to a person's answer, as the engine saw them (6 s in fact)."""

    @property
    def ok(self) -> bool:
        return self.dispatch_p99 <= TARGET_P99_MS and self.lag_p99 <= TARGET_LAG_MS


# The service process


async def child(options: dict[str, Any]) -> dict[str, Any]:
    """Run ``serve`` and measure it; returns the figures (printed as JSON by ``main``)."""
    import httpx

    from dialer.service import Running, serve

    settings = load_settings(**options["settings"])
    result: dict[str, Any] = {}

    async def on_started(running: Running) -> None:
        try:
            result.update(await measure(running, options, httpx))
        finally:
            running.server.should_exit = True

    await serve(settings, on_started=on_started)
    return result


async def measure(running: Running_, options: dict[str, Any], httpx: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    engine, roster = running.engine, running.roster
    placer = engine._placer
    settle = running.parts.events
    freed: list[float] = []
    answering: list[float] = []
    dispatch: list[float] = []
    counts = {"calls": 0, "settled": 0}
    counts_all = {"calls": 0}
    outcomes: Counter[str] = Counter()
    measuring = False

    def on_roster(before: Seat | None, after: Seat | None) -> None:
        became_free = after is not None and after.status is AgentStatus.FREE
        if became_free and (before is None or before.status is not AgentStatus.FREE):
            freed.append(loop.time())

    roster.listen(on_roster)
    capacity, originate = placer.capacity, running.parts.bridge.originate
    attempt_settled = settle.attempt_settled

    def timed_capacity(campaign: Any) -> tuple[int, float | None]:
        wanted, recheck = capacity(campaign)
        now = loop.time()
        if wanted == 0:
            if measuring:
                dispatch.extend(now - t for t in freed)
        else:
            answering.extend(freed)
        freed.clear()
        return wanted, recheck

    async def timed_originate(*args: Any, **kwargs: Any) -> None:
        now = loop.time()
        counts_all["calls"] += 1
        if measuring:
            counts["calls"] += 1
            dispatch.extend(now - t for t in answering)
        answering.clear()
        await originate(*args, **kwargs)

    def counted_settled(*args: Any) -> None:
        if measuring:
            counts["settled"] += 1
            outcomes[args[2].value] += 1
        attempt_settled(*args)

    placer.capacity = timed_capacity  # type: ignore[method-assign]
    running.parts.bridge.originate = timed_originate  # type: ignore[method-assign]
    settle.attempt_settled = counted_settled  # type: ignore[method-assign]

    async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
        for token in options["tokens"]:
            r = await client.put(
                "/agents/me/state",
                json={"state": "ready"},
                headers={"Authorization": f"Bearer {token}"},
            )
            r.raise_for_status()
    if options.get("trace"):
        # What the floor does over time, for the reader (stderr): a line every 5 s.
        async def trace() -> None:
            started, cpu_was, calls_was = loop.time(), time.process_time(), counts_all["calls"]
            answered_was = abandoned_was = 0
            while True:
                await asyncio.sleep(5)
                cpu, calls = time.process_time(), counts_all["calls"]
                stats = [engine.stats(c) for c in engine.running_campaigns()]
                seen = [s.answer_delays.values for s in stats]
                recent = [d for window in seen for d in list(window)[-50:]] or [0.0]
                talk = [s.mean_talk for s in stats] or [0.0]
                answered = sum(s.answered for s in stats)
                abandoned = sum(s.abandoned for s in stats)
                dropped = (abandoned - abandoned_was) / max(1, answered - answered_was)
                print(
                    f"t {loop.time() - started:6.0f}  calls in progress "
                    f"{engine.calls_in_progress:6}  calls/s {(calls - calls_was) / 5:6.1f}  "
                    f"cpu {(cpu - cpu_was) / 5:5.0%}  "
                    f"answers seen at {statistics.mean(recent):5.1f} s  "
                    f"abandoned {dropped:6.1%}  ended calls' mean talk "
                    f"{statistics.mean(talk):5.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                cpu_was, calls_was = cpu, calls
                answered_was, abandoned_was = answered, abandoned

        tracer = asyncio.create_task(trace())
    await asyncio.sleep(options["warmup"])
    lags: list[float] = []
    concurrent: list[int] = []
    measuring = True
    dispatch.clear()
    cpu0, t0 = time.process_time(), loop.time()
    while loop.time() - t0 < options["seconds"]:
        before = loop.time()
        await asyncio.sleep(0.05)
        lags.append(loop.time() - before - 0.05)
        concurrent.append(engine.calls_in_progress)
    cpu, took = time.process_time() - cpu0, loop.time() - t0
    measuring = False
    if options.get("trace"):
        tracer.cancel()
    # Measured: the service need not wait for its calls in progress to end (two minutes
    # of a step's run); the next step starts on a new database.
    engine._config = dataclasses.replace(engine._config, drain_timeout=1.0)
    # The simulator answers after 6 s: a longer delay seen is the service's events late.
    seen = [engine.stats(cid).answer_delays.values for cid in engine.running_campaigns()]
    delays = [d for window in seen for d in window] or [0.0]
    ms = [d * 1000 for d in dispatch] or [0.0]
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    return {
        "calls": counts["calls"],
        "settled": counts["settled"],
        "outcomes": dict(outcomes),
        "answer_delay": statistics.mean(delays),
        "seconds": took,
        "cpu": cpu,
        "concurrent_mean": statistics.mean(concurrent),
        "concurrent_max": max(concurrent),
        "dispatch_p50": statistics.median(ms),
        "dispatch_p99": q[98],
        "dispatches": len(dispatch),
        "lag_p99": statistics.quantiles([x * 1000 for x in lags], n=100)[98],
    }


Running_ = Any  # dialer.service.Running, imported in the child only


# The parent: database, simulator, processes


async def prepare(settings: Settings, agents: int, contacts: int) -> list[str]:
    """A campaign with ``contacts`` contacts and ``agents`` agents; returns their tokens."""
    now = datetime.now(UTC)
    spec = CampaignSpec.parse(
        {
            "name": "scale",
            "dialing": {
                "mode": "predictive",
                "channel": "PJSIP/{number}@trunk",
                "ring_timeout_seconds": RING_TIMEOUT,
                "max_concurrent": 10_000,
                "calls_per_second": 1000,
            },
            "hours": {"start": "00:00", "end": "23:59", "weekdays": [0, 1, 2, 3, 4, 5, 6]},
            "retry": {"max_attempts": 1},
            # 1 s: the shortest countdown (0 means none, and agents would stay in wrap-up).
            "wrapup": {"seconds": 1},
        }
    )
    async with open_store(settings) as store:
        campaign = await store.create_campaign(spec, now)
        for first in range(0, contacts, 10_000):
            rows = [
                ContactRow(i + 2, f"+474{i:07d}", "Europe/Oslo", {})
                for i in range(first, min(contacts, first + 10_000))
            ]
            await store.add_contacts(campaign.id, rows, now)
        users = Users(SqlAgentStore(store.engine), lambda: datetime.now(UTC))
        tokens = await add_agents(users, agents)
        await store.set_campaign_state(campaign.id, CampaignState.RUNNING, now)
    return tokens


def service_settings(folder: Path, url: str, port: int, name: str) -> dict[str, Any]:
    return {
        "data_dir": str(folder),
        "database_url": url,
        "instance_id": name,
        "log_level": "error",
        "ami": {"simulate": False, "port": port, "secret": "ringback"},
        "api": {"port": 0},
        "trunks": {"default": {"max_concurrent": 10_000, "calls_per_second": 1000}},
    }


async def run_step(
    backend: str, url: str, agents: int, processes: int, args: argparse.Namespace
) -> Step:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if backend == "postgresql":
            await reset_pg(url)
        db_url = url if backend == "postgresql" else ""
        settings = load_settings(data_dir=folder, database_url=db_url, instance_id="prepare")
        # Calls per agent per window, with room: the list must not run out.
        per_agent = int((args.warmup + args.seconds) / (TALK_SECONDS * args.time_scale) * 12) + 40
        tokens = await prepare(settings, agents * processes, agents * processes * per_agent)
        async with contextlib.AsyncExitStack() as stack:
            # One PBX for every process, as a site runs them; --pbx-each: one each.
            sims = [
                await stack.enter_async_context(
                    PbxSimulator(
                        port=0,
                        weights=WEIGHTS,
                        time_scale=args.time_scale,
                        talk_seconds=TALK_SECONDS,
                        talk_varies=True,
                        seed=1 + n,
                    )
                )
                for n in range(processes if args.pbx_each else 1)
            ]
            children = []
            for n in range(processes):
                port = sims[n % len(sims)].port
                options = {
                    "settings": service_settings(folder, db_url, port, f"scale-{n}"),
                    "tokens": tokens[n * agents : (n + 1) * agents],
                    "warmup": args.warmup,
                    "seconds": args.seconds,
                    "profile": args.profile and f"{args.profile}/{backend}-{agents}-{n}.prof",
                    "trace": args.trace,
                }
                children.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        __file__,
                        "--child",
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                    )
                )
                assert children[-1].stdin is not None
                children[-1].stdin.write(json.dumps(options).encode())
                children[-1].stdin.close()
            watch = asyncio.create_task(parent_cpu()) if args.trace else None
            outs = await asyncio.gather(*(c.communicate() for c in children))
            if watch is not None:
                watch.cancel()
    results = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outs]
    calls = sum(r["calls"] for r in results)
    outcomes: Counter[str] = Counter()
    for r in results:
        outcomes.update(r["outcomes"])
    answered, abandoned = outcomes["answered"], outcomes["abandoned"]
    seconds = statistics.mean(r["seconds"] for r in results)
    return Step(
        backend=backend,
        processes=processes,
        agents=agents,
        calls=sum(r["concurrent_mean"] for r in results),
        concurrent_max=sum(r["concurrent_max"] for r in results),
        calls_per_s=calls / seconds,
        settled_per_s=sum(r["settled"] for r in results) / seconds,
        cpu_ms_per_call=sum(r["cpu"] for r in results) / max(1, calls) * 1000,
        dispatch_p50=max(r["dispatch_p50"] for r in results),
        dispatch_p99=max(r["dispatch_p99"] for r in results),
        lag_p99=max(r["lag_p99"] for r in results),
        answered_per_s=answered / seconds,
        abandoned_pct=100 * abandoned / max(1, answered + abandoned),
        answer_delay=max(r["answer_delay"] for r in results),
    )


async def parent_cpu() -> None:
    """The simulator's process's CPU every 5 s (stderr, with --trace)."""
    was = time.process_time()
    while True:
        await asyncio.sleep(5)
        now = time.process_time()
        print(f"simulator cpu {(now - was) / 5:5.0%}", file=sys.stderr, flush=True)
        was = now


async def reset_pg(url: str) -> None:
    """The bench's own database, made afresh (nothing else is touched)."""
    import asyncpg

    base, name = url.rsplit("/", 1)
    admin = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql") + "/test")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


HEADER = (
    f"{'procs':>5} {'agents':>6} {'conc.mean':>9} {'conc.max':>8} {'calls/s':>8} "
    f"{'settled/s':>9} {'abandoned':>9} {'CPU ms/call':>11} {'disp p50':>8} {'disp p99':>8} "
    f"{'lag p99':>7} {'answer s':>8}"
)


def row(s: Step) -> str:
    return (
        f"{s.processes:>5} {s.agents * s.processes:>6} {s.calls:>9.0f} {s.concurrent_max:>8} "
        f"{s.calls_per_s:>8.1f} {s.settled_per_s:>9.1f} {s.abandoned_pct:>8.1f}% "
        f"{s.cpu_ms_per_call:>11.2f} "
        f"{s.dispatch_p50:>8.1f} {s.dispatch_p99:>8.1f} {s.lag_p99:>7.1f} {s.answer_delay:>8.1f}"
        + ("" if s.ok else "   <- past the limit")
    )


async def bench(args: argparse.Namespace) -> None:
    for backend in args.backends:
        url = args.pg_url if backend == "postgresql" else ""
        print(f"\n{backend}: one process, agents raised until dispatch p99 or lag > 50 ms")
        print(HEADER, flush=True)
        carried: Step | None = None
        for agents in args.agents:
            step = await run_step(backend, url, agents, 1, args)
            print(row(step), flush=True)
            if not step.ok:
                break
            carried = step
        if carried is None:
            print("no agent count stayed under the limits")
            continue
        met = carried.agents >= TARGET_AGENTS and carried.calls >= TARGET_CALLS
        print(
            f"carried: {carried.agents} agents, {carried.calls:.0f} concurrent calls, "
            f"dispatch p99 {carried.dispatch_p99:.1f} ms (target >= {TARGET_AGENTS} agents "
            f"and {TARGET_CALLS} calls under {TARGET_P99_MS:.0f} ms: "
            f"{'met' if met else 'not met'})"
        )
        if backend == "postgresql":
            if args.two_agents and args.two_agents != carried.agents:
                # Two processes against one of the same size, where the machine's cores
                # hold both (the simulator and PostgreSQL share them).
                carried = await run_step(backend, url, args.two_agents, 1, args)
                print(row(carried), flush=True)
            two = await run_step(backend, url, carried.agents, 2, args)
            print(row(two))
            # Calls put through to an agent, not outcomes settled: a floor that dials
            # far too much settles more and connects fewer.
            ratio = two.answered_per_s / carried.answered_per_s if carried.answered_per_s else 0
            print(
                f"two processes / one: {ratio:.2f}x calls put through to agents per second "
                f"(target >= {TARGET_TWO}x: {'met' if ratio >= TARGET_TWO else 'not met'})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke check: 20, 40 agents, 5 s")
    parser.add_argument("--agents", default="250,500,1000,1500", help="per process")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured, per step")
    parser.add_argument("--warmup", type=float, default=120.0)
    parser.add_argument("--time-scale", type=float, default=1.0, help="PBX times x this")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default=TEST_PG_URL.rsplit("/", 1)[0] + "/ringback_bench_scale",
        help="a database of its own: dropped and created for each step",
    )
    parser.add_argument(
        "--two-agents", type=int, default=0, help="per process in the two-process pass"
    )
    parser.add_argument(
        "--pbx-each", action="store_true", help="a simulator per process, not one shared"
    )
    parser.add_argument(
        "--trace", action="store_true", help="each service prints its floor every 5 s (stderr)"
    )
    parser.add_argument("--profile", default="", help="a folder: cProfile each service into it")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    if args.child:
        # As `ringback serve` logs (JSON, to stderr), errors only: the measure, not the log.
        from dialer.logs import configure

        configure("error", "json")
        options = json.loads(sys.stdin.read())
        if options["profile"]:
            import cProfile

            with cProfile.Profile() as profile:
                figures = asyncio.run(child(options))
            Path(options["profile"]).parent.mkdir(parents=True, exist_ok=True)
            profile.dump_stats(options["profile"])
        else:
            figures = asyncio.run(child(options))
        print(json.dumps(figures), flush=True)
        return
    if args.quick:
        args.agents, args.seconds, args.warmup, args.time_scale = "20,40", 5.0, 5.0, 0.1
    args.agents = [int(a) for a in args.agents.split(",")]
    args.backends = args.backends.split(",")
    started = time.perf_counter()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(bench(args))
    print(f"\n({time.perf_counter() - started:.0f} s; pid {os.getpid()})")


if __name__ == "__main__":
    main()
