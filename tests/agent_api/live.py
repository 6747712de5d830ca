"""The agent API served by uvicorn on 127.0.0.1, in a thread with its own event loop, over
a fresh database (SQLite or PostgreSQL): for tests that need real sockets."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvicorn

from agent_api.app import create_app
from agent_api.hub import AgentHub
from agent_api.mqtt import NullPublisher
from agent_api.notifier import Notifier, Topics
from agent_api.server import server_config
from campaigns.model import CampaignState, ContactRow
from campaigns.services import Services
from campaigns.spec import CampaignSpec
from campaigns.storage.engine import make_engine
from campaigns.storage.migrate import upgrade
from campaigns.storage.store import SqlAgentStore, SqlStore
from campaigns.users import Role
from campaigns.wrapup import read_end_reasons
from dialer.settings import ApiSettings
from dialer.testing import TEST_PG_URL
from tests.agent_api.conftest import STARTER_END_REASONS
from tests.conftest import NOW
from tests.support.clock import FakeClock


@dataclass
class Live:
    host: str
    port: int
    manager: str
    agent: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


async def _seed(services: Services, store: SqlStore, agents: SqlAgentStore) -> tuple[str, str]:
    campaign = await store.create_campaign(CampaignSpec(name="spring"), NOW)
    await store.set_campaign_state(campaign.id, CampaignState.RUNNING, NOW)
    await store.add_contacts(campaign.id, [ContactRow(2, "+4741000001", "Europe/Oslo", {})], NOW)
    await store.claim_due(campaign.id, 1, NOW, "test", NOW + timedelta(minutes=5))
    await agents.add_end_reasons(read_end_reasons(STARTER_END_REASONS))
    _, manager = await services.users.create_user("mia", Role.MANAGER)
    _, agent = await services.users.create_user("anna", Role.AGENT, "Anna", "PJSIP/anna")
    return manager, agent


@contextmanager
def live_api(backend: str, folder: Path, **server_options: Any) -> Iterator[Live]:
    """Serve the app until the block ends; ``server_options`` go to uvicorn's Config."""
    started = threading.Event()
    found: dict[str, Any] = {}
    holder: dict[str, uvicorn.Server] = {}

    async def main() -> None:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = None
        if backend == "sqlite":
            engine = make_engine(f"sqlite+aiosqlite:///{folder / 'live.db'}")
        else:
            admin = make_engine(TEST_PG_URL)
            async with admin.begin() as conn:
                await conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
            engine = make_engine(
                TEST_PG_URL, connect_args={"server_settings": {"search_path": schema}}
            )
        try:
            await upgrade(engine)
            store, agents, hub = SqlStore(engine), SqlAgentStore(engine), AgentHub()
            services = Services.build(
                agents, store, Notifier(hub, NullPublisher(), Topics()), FakeClock(NOW)
            )
            manager, agent = await _seed(services, store, agents)
            app = create_app(services, ApiSettings(), hub, publisher=NullPublisher())
            server = holder["server"] = uvicorn.Server(
                server_config(app, "127.0.0.1", 0, **server_options)
            )
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn has no event)
                await asyncio.sleep(0.01)
            if task.done():
                await task
            socket = server.servers[0].sockets[0]
            found.update(port=socket.getsockname()[1], manager=manager, agent=agent)
            started.set()
            await task
        except BaseException as exc:
            found["error"] = exc
            raise
        finally:
            started.set()
            await engine.dispose()
            if admin is not None:
                async with admin.begin() as conn:
                    await conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
                await admin.dispose()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    started.wait(30)
    if "port" not in found:
        raise RuntimeError("the live API did not start") from found.get("error")
    try:
        yield Live("127.0.0.1", found["port"], found["manager"], found["agent"])
    finally:
        holder["server"].should_exit = True
        thread.join(30)
