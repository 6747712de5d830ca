"""``ringback serve`` against the live Asterisk, driven over HTTP as its users would.

:func:`live_service` runs the service (the same ``serve()`` the CLI runs) in this process
with ``[ami] simulate = false`` pointed at the session's private Asterisk, creates the
first manager as ``ringback user add`` does, and hands over HTTP clients. Everything
after that goes through the agent API: campaigns, contact lists, users, agent states,
registrations, and the agents' event streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from campaigns.model import ContactState
from campaigns.users import Role
from dialer.service import Running, serve
from dialer.settings import load_settings
from tests.live.pbx import LivePbx
from tests.support.sse import Stream

ALWAYS = {"start": "00:00", "end": "23:59", "weekdays": [0, 1, 2, 3, 4, 5, 6]}


@dataclass
class Agent:
    id: int
    client: httpx.AsyncClient
    events: Stream

    async def state(self, state: str, **body: Any) -> dict[str, Any]:
        reply = await self.client.put("/agents/me/state", json={"state": state, **body})
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()
        return result

    async def get_state(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self.client.get("/agents/me/state")).json()
        return result


@dataclass
class Live:
    """A running service, its manager's HTTP client and its agents."""

    running: Running
    manager: httpx.AsyncClient
    pbx: LivePbx
    agents: list[Agent] = field(default_factory=list)

    async def campaign(
        self,
        name: str,
        phones: list[str],
        *,
        channel: str | None = None,
        start: bool = True,
        **spec: Any,
    ) -> int:
        dialing = {
            "mode": "progressive",
            "channel": channel or self.pbx.local_carrier,
            "ring_timeout_seconds": 15,
            **spec.pop("dialing", {}),
        }
        body = {"name": name, "hours": ALWAYS, "dialing": dialing, **spec}
        reply = await self.manager.post("/campaigns", json=body)
        assert reply.status_code == 201, reply.text
        campaign_id: int = reply.json()["id"]
        csv = "phone\n" + "".join(f"{p}\n" for p in phones)
        reply = await self.manager.post(
            f"/campaigns/{campaign_id}/contacts",
            content=csv.encode(),
            headers={"content-type": "text/csv"},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["imported"] == len(phones), reply.text
        if start:
            await self.start(campaign_id)
        return campaign_id

    async def start(self, campaign_id: int) -> None:
        reply = await self.manager.post(
            f"/campaigns/{campaign_id}/state", json={"state": "running"}
        )
        assert reply.status_code == 200, reply.text

    async def agent(self, username: str, extension: str) -> Agent:
        reply = await self.manager.post(
            "/users", json={"username": username, "role": "agent", "extension": extension}
        )
        assert reply.status_code == 201, reply.text
        created = reply.json()
        client = httpx.AsyncClient(
            base_url=self.running.url,
            headers={"Authorization": f"Bearer {created['token']}"},
            timeout=10,
        )
        agent = Agent(created["user"]["id"], client, Stream(client))
        await agent.events.opened()
        self.agents.append(agent)
        return agent

    async def stats(self, campaign_id: int) -> dict[str, Any]:
        reply = await self.manager.get(f"/campaigns/{campaign_id}/stats")
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()
        return result

    async def settled(
        self, campaign_id: int, attempts: int, *, within: float = 40.0
    ) -> dict[str, Any]:
        """Campaign stats once ``attempts`` attempts are closed and none is open."""
        async with asyncio.timeout(within):
            while True:
                stats = await self.stats(campaign_id)
                closed = sum(stats["attempts_by_outcome"].values())
                if closed >= attempts and stats["attempts_open"] == 0:
                    return stats
                await asyncio.sleep(0.2)

    async def contact_states(self, campaign_id: int) -> Mapping[str, int]:
        states: Mapping[str, int] = (await self.stats(campaign_id))["contacts_by_state"]
        return states


@contextlib.asynccontextmanager
async def live_service(pbx: LivePbx, data_dir: Path, **settings: Any) -> AsyncIterator[Live]:
    """``ringback serve`` on a fresh SQLite database, dialling through ``pbx``."""
    config = load_settings(
        data_dir=data_dir,
        database_url="",
        api={"port": 0},
        ami={
            "simulate": False,
            "host": pbx.host,
            "port": pbx.ami_port,
            "username": pbx.username,
            "secret": pbx.secret,
            "reconnect_max_seconds": 1,
        },
        instance_id=f"live-{data_dir.name}",
        **settings,
    )
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def on_started(running: Running) -> None:
        started.set_result(running)
        await stop.wait()
        running.server.should_exit = True

    service = asyncio.create_task(serve(config, on_started=on_started))
    try:
        async with asyncio.timeout(20):
            running = await asyncio.shield(started)
    except BaseException:
        service.cancel()
        raise
    _, token = await running.services.users.create_user("boss", Role.MANAGER, "Boss", None)
    manager = httpx.AsyncClient(
        base_url=running.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    live = Live(running, manager, pbx)
    try:
        yield live
    finally:
        for agent in live.agents:
            await agent.events.close()
            await agent.client.aclose()
        await manager.aclose()
        stop.set()
        async with asyncio.timeout(60):
            await service


def no_contact_dialing(states: Mapping[str, int]) -> bool:
    return states.get(ContactState.DIALING.value, 0) == 0
