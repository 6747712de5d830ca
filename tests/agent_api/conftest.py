"""The real app over the test database (SQLite and PostgreSQL), driven through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_api.app import create_app
from agent_api.hub import AgentHub
from agent_api.mqtt import NullPublisher
from agent_api.notifier import Notifier, Topics
from campaigns.model import CampaignState, ContactRow
from campaigns.services import Services
from campaigns.spec import CampaignSpec, Wrapup
from campaigns.storage.store import SqlAgentStore, SqlStore
from campaigns.users import Role
from campaigns.wrapup import read_end_reasons
from dialer.settings import ApiSettings
from tests.conftest import NOW
from tests.support.clock import FakeClock

# The sample starter set, as `ringback end-reasons import` reads it.
STARTER_END_REASONS = Path(__file__).resolve().parents[2] / "config" / "end-reasons.toml"


@dataclass
class Api:
    client: httpx.AsyncClient
    services: Services
    hub: AgentHub
    clock: FakeClock[datetime]
    agent: dict[str, str]
    other: dict[str, str]
    manager: dict[str, str]
    agent_id: int
    campaign_id: int
    contact_id: int
    app: FastAPI


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    """The app with an agent, a second agent, a manager, a running campaign and a contact."""
    store, agent_store = SqlStore(engine), SqlAgentStore(engine)
    clock, hub = FakeClock(NOW), AgentHub()
    services = Services.build(agent_store, store, Notifier(hub, NullPublisher(), Topics()), clock)
    spec = CampaignSpec(
        name="spring", wrapup=Wrapup(forced_registration=True, seconds=30, extendable=True)
    )
    campaign = await store.create_campaign(spec, NOW)
    await store.set_campaign_state(campaign.id, CampaignState.RUNNING, NOW)
    row = ContactRow(2, "+4741000001", "Europe/Oslo", {"name": "Per"})
    await store.add_contacts(campaign.id, [row], NOW)
    (contact,) = await store.claim_due(campaign.id, 1, NOW, "test", NOW + timedelta(minutes=5))
    await agent_store.add_end_reasons(read_end_reasons(STARTER_END_REASONS))
    agent, agent_token = await services.users.create_user("anna", Role.AGENT, "Anna", "PJSIP/1001")
    _, other_token = await services.users.create_user("bob", Role.AGENT)
    _, manager_token = await services.users.create_user("mia", Role.MANAGER)
    app = create_app(services, ApiSettings(), hub, publisher=NullPublisher())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(
            client,
            services,
            hub,
            clock,
            bearer(agent_token),
            bearer(other_token),
            bearer(manager_token),
            agent.id,
            campaign.id,
            contact.id,
            app,
        )
