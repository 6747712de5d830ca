"""``ringback demo``: the whole cycle in a minute, on SQLite, with nothing else installed.

It starts the real service (``dialer.service.serve``) against the built-in PBX simulator,
loads a demo campaign of generated contacts, and lets simulated agents work it through
the real HTTP API: they go ready, receive calls on their event stream, register what each
call was about, mark answering machines, book callbacks (for themselves or for all), and
take the callbacks that come back to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from campaigns.model import CampaignState, ContactRow, ContactState
from campaigns.services import Users
from campaigns.spec import CampaignSpec
from campaigns.storage.store import SqlAgentStore
from campaigns.users import Role
from campaigns.wrapup import NewEndReason
from dialer.app import open_store
from dialer.service import Running, serve
from dialer.settings import Settings

NAMES = ("Ola", "Kari", "Per", "Ingrid", "Lars", "Nora", "Jonas", "Emma", "Aksel", "Sofie")
SURNAMES = ("Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen")
CAMPAIGN = {
    "name": "demo",
    "description": "Loyalty members with unused bonus points",
    # Progressive: in 20x compressed time the 2 s abandon rule (real seconds) and the agents'
    # think time do not shrink, and predictive pacing would drop calls it would not drop
    # at real speed. bench/bench_pacing.py measures predictive dialing in virtual time.
    "dialing": {
        "mode": "progressive",
        "channel": "PJSIP/{number}@demo-trunk",
        "ring_timeout_seconds": 20,
        "max_concurrent": 30,
        "calls_per_second": 20,
    },
    # The simulator runs 20 times faster than life; so do the retry delays.
    "retry": {
        "max_attempts": 3,
        "delays_minutes": {
            "no_answer": 0.3,
            "busy": 0.2,
            "congestion": 0.1,
            "machine": 0.4,
            "rejected": 0.3,
            "abandoned": 0.05,
        },
    },
    "hours": {"start": "00:00", "end": "23:59", "weekdays": [0, 1, 2, 3, 4, 5, 6]},
    # 30 real seconds: time for a person at the agent desk (the simulated agents take 1-2).
    "wrapup": {"forced_registration": True, "seconds": 30, "default_end_reason": "Other"},
    "callback_reservation_minutes": 1,
}
# The campaign's own end reasons; "Other" is its default for automatic wrap-up.
END_REASONS = (
    NewEndReason("Order placed", True, position=1),
    NewEndReason("Call me later", False, "callbacks", position=2),
    NewEndReason("Other", False, description="Say what in the description.", position=3),
)
TOPICS = {
    ("Result", False): ["Sale", "Interested", "Not interested"],
    ("Product", True): ["Bonus points", "Membership card", "Offers", "Mobile app"],
}


@dataclass
class Tally:
    offered: Counter[str] = field(default_factory=Counter)
    registered: int = 0
    machines_marked: int = 0
    callbacks_booked: int = 0
    callbacks_taken: int = 0
    log: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.log.append(f"{datetime.now():%H:%M:%S} {line}")
        del self.log[:-8]


async def add_agents(users: Users, count: int) -> list[str]:
    """Agents agent1..agentN, each with a phone the simulator answers; their tokens."""
    tokens = []
    for n in range(1, count + 1):
        _, token = await users.create_user(
            f"agent{n}", Role.AGENT, f"Agent {n}", f"PJSIP/agent-{n}"
        )
        tokens.append(token)
    return tokens


@dataclass(frozen=True)
class Tokens:
    """The demo's users: a manager for the board, a seat for a person at the agent desk,
    and the simulated agents."""

    manager: str
    desk: str
    simulated: list[str]


DESK_USER = "you"


async def prepare(settings: Settings, contacts: int, agents: int, seed: int) -> Tokens:
    """A fresh demo database: campaign, contacts, wrap-up topics, users."""
    chance = random.Random(seed)
    now = datetime.now(UTC)
    async with open_store(settings) as store:
        campaign = await store.create_campaign(CampaignSpec.parse(CAMPAIGN), now)
        rows = [
            ContactRow(
                i + 2,
                f"+474{chance.randrange(10**6, 10**7):07d}",
                "Europe/Oslo",
                {
                    "name": f"{chance.choice(NAMES)} {chance.choice(SURNAMES)}",
                    "account": f"LP-{100000 + i}",
                    "points": str(chance.randrange(100, 20000)),
                },
            )
            for i in range(contacts)
        ]
        await store.add_contacts(campaign.id, rows, now)
        agent_store = SqlAgentStore(store.engine)
        users = Users(agent_store, lambda: datetime.now(UTC))
        _, manager = await users.create_user("manager", Role.MANAGER, "Demo manager", None)
        # The simulator answers every phone whose name starts with PJSIP/agent.
        _, desk = await users.create_user(DESK_USER, Role.AGENT, "You", "PJSIP/agent-you")
        await agent_store.add_end_reasons(
            [replace(reason, campaign_id=campaign.id) for reason in END_REASONS]
        )
        for (name, multi), topics in TOPICS.items():
            category = await agent_store.create_category(name, multi, campaign.id)
            for topic in topics:
                await agent_store.create_topic(category.id, topic, f"Script for {topic}.")
        tokens = await add_agents(users, agents)
        await store.set_campaign_state(campaign.id, CampaignState.RUNNING, now)
    return Tokens(manager, desk, tokens)


async def sse(client: httpx.AsyncClient, token: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with client.stream("GET", "/agents/me/events", headers=headers, timeout=None) as r:
        name = ""
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                yield name, json.loads(line[6:])


async def agent(url: str, token: str, tally: Tally, chance: random.Random) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        me = (await client.get("/users/me")).json()["username"]
        await client.put("/agents/me/state", json={"state": "ready"})
        topics = {
            t["name"]: t["id"]
            for c in (await client.get("/wrapup/categories")).json()
            for t in c.get("topics", [])
        }
        async for name, data in sse(client, token):
            if name == "call_offered":
                contact = data.get("contact") or {}
                kind = "callback" if data.get("callback_comment") else "call"
                tally.offered[kind] += 1
                if kind == "callback":
                    tally.callbacks_taken += 1
                    tally.note(f"{me} takes a callback: {data['callback_comment']!r}")
                else:
                    tally.note(f"{me} talks to {contact.get('name', data['phone'])}")
            elif name == "wrapup_countdown":
                await asyncio.sleep(chance.uniform(0.3, 1.5))
                await register(client, data["interaction_id"], topics, tally, chance, me)
                await client.put("/agents/me/state", json={"state": "ready"})


async def register(
    client: httpx.AsyncClient,
    interaction_id: int,
    topics: dict[str, int],
    tally: Tally,
    chance: random.Random,
    me: str,
) -> None:
    roll = chance.random()
    body: dict[str, Any] = {"comment": "demo call"}
    if roll < 0.1:
        body["feedback"] = "answering_machine"
        tally.machines_marked += 1
    elif roll < 0.25:
        due = datetime.now(UTC) + timedelta(seconds=chance.uniform(10, 25))
        whom = "me" if chance.random() < 0.7 else "all"
        body["topic_ids"] = [topics["Interested"]]
        body["feedback"] = "callback"
        body["callback"] = {
            "due_at": due.isoformat(),
            "comment": "call back about offers",
            "for": whom,
        }
        tally.callbacks_booked += 1
        tally.note(f"{me} books a callback for {whom} at {due:%H:%M:%S}")
    else:
        body["topic_ids"] = [
            topics[chance.choice(["Sale", "Interested", "Not interested"])],
            topics[chance.choice(["Bonus points", "Membership card", "Offers"])],
        ]
    reply = await client.post(f"/interactions/{interaction_id}/registration", json=body)
    if reply.status_code < 300:
        tally.registered += 1
    else:
        tally.note(f"{me}: registration refused: {reply.json().get('message')}")


def view(stats: Any, running: Running, tally: Tally, left: float) -> Group:
    table = Table(title=f"Ringback demo, {left:.0f} s left")
    table.add_column("contacts")
    table.add_column("n", justify="right")
    for state in ContactState:
        table.add_row(state.value, str(stats.contacts_by_state.get(state, 0)))
    outcomes = Table(title="attempts")
    outcomes.add_column("outcome")
    outcomes.add_column("n", justify="right")
    for outcome, n in sorted(stats.attempts_by_outcome.items()):
        outcomes.add_row(outcome.value, str(n))
    outcomes.add_row("(in progress)", str(stats.attempts_open))
    agents = Counter(seat.status.value for seat in running.roster.seats())
    floor = Table(title="agents and wrap-up")
    floor.add_column("")
    floor.add_column("n", justify="right")
    for status, n in sorted(agents.items()):
        floor.add_row(status, str(n))
    floor.add_row("registrations", str(tally.registered))
    floor.add_row("machines marked", str(tally.machines_marked))
    floor.add_row("callbacks booked", str(tally.callbacks_booked))
    floor.add_row("callbacks taken", str(tally.callbacks_taken))
    grid = Table.grid(padding=2)
    grid.add_row(table, outcomes, floor)
    return Group(grid, *tally.log)


async def run_demo(
    settings: Settings, *, seconds: float, contacts: int, agents: int, seed: int
) -> Tally:
    folder = settings.data_dir
    if folder.exists():
        shutil.rmtree(folder)
    tokens = await prepare(settings, contacts, agents, seed)
    tally = Tally()
    console = Console()

    async def drive(running: Running) -> None:
        chance = random.Random(seed)
        workers = [
            asyncio.create_task(agent(running.url, token, tally, random.Random(chance.random())))
            for token in tokens.simulated
        ]
        console.print(f"agent API on {running.url} (OpenAPI: {running.url}/docs)")
        console.print(
            f"supervisor board  {running.url}/board\n"
            f"  manager token   {tokens.manager}\n"
            f"agent desk        {running.url}/desk\n"
            f"  token of {DESK_USER!r}  {tokens.desk}\n"
            "  (sign in with a token, tick 'demo' and press Ready: the next call is yours;\n"
            "  Ctrl-C ends the demo)",
            highlight=False,
            soft_wrap=True,
        )
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        campaign = await running.store.get_campaign("demo")
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while (left := end - loop.time()) > 0 and not running.server.should_exit:
                stats = await running.store.campaign_stats(campaign.id)
                live.update(view(stats, running, tally, left))
                await asyncio.sleep(min(1.0, left))
            stats = await running.store.campaign_stats(campaign.id)
            live.update(view(stats, running, tally, 0))
        for worker in workers:
            worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*workers, return_exceptions=True)
        running.server.should_exit = True

    await serve(
        settings,
        simulator_options={"seed": seed, "time_scale": 0.05, "talk_seconds": 60},
        on_started=drive,
    )
    return tally
