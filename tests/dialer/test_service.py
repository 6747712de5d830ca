"""``ringback serve`` end to end: simulator over TCP, engine, agent API over HTTP and SSE."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from ami_bridge.simulator import Behaviour
from campaigns.model import CampaignState, ContactRow, ContactState, Outcome
from campaigns.spec import CampaignSpec
from campaigns.users import Role
from dialer.app import open_store
from dialer.service import Running, serve
from dialer.settings import load_settings
from tests.support.sse import Stream

ALWAYS = {"start": "00:00", "end": "23:59", "weekdays": [0, 1, 2, 3, 4, 5, 6]}


def run_service(tmp_path: Path, scenario: Any, prefix: str = "unused") -> None:
    settings = load_settings(
        data_dir=tmp_path,
        database_url="",
        api={"port": 0},
        ami={"simulate": True},
        mqtt={"enabled": True, "topic_prefix": prefix},
        instance_id="test",
    )

    async def prepare() -> None:
        now = datetime.now(UTC)
        async with open_store(settings) as store:
            for name, mode, phones in (
                ("outbound", "progressive", ["+4741000001"]),
                ("look-first", "preview", ["+4741000002"]),
            ):
                spec = CampaignSpec.parse(
                    {"name": name, "dialing": {"mode": mode}, "hours": ALWAYS}
                )
                campaign = await store.create_campaign(spec, now)
                rows = [ContactRow(2, p, "Europe/Oslo", {"name": "Kari"}) for p in phones]
                await store.add_contacts(campaign.id, rows, now)
                await store.set_campaign_state(campaign.id, CampaignState.RUNNING, now)

    async def main() -> None:
        await prepare()
        failure: list[BaseException] = []

        async def drive(running: Running) -> None:
            try:
                async with asyncio.timeout(60):
                    await scenario(running)
            except BaseException as exc:  # reported after the service stopped
                failure.append(exc)
            finally:
                running.server.should_exit = True

        await serve(
            settings,
            simulator_options={
                "rules": [(r".", Behaviour.HUMAN)],
                "time_scale": 0.02,
                "talk_seconds": 20,
            },
            on_started=drive,
        )
        if failure:
            raise failure[0]

    asyncio.run(main())


async def collect(
    prefix: str,
    seen: list[tuple[str, dict[str, Any]]],
    ready: asyncio.Event,
    arrived: asyncio.Event,
) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883) as client:
        await client.subscribe(f"{prefix}/#", qos=1)
        ready.set()
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            seen.append((str(message.topic), json.loads(message.payload)))
            arrived.set()


def test_agent_takes_a_call_registers_it_and_previews_the_next(tmp_path: Path) -> None:
    """A progressive call reaches the agent, is registered; a preview call is started by hand.

    Outcomes, campaign progress and agent states go to the real MQTT broker.
    """
    prefix = f"rbtest-{uuid.uuid4().hex[:8]}"
    seen: list[tuple[str, dict[str, Any]]] = []

    async def scenario(running: Running) -> None:
        subscribed, arrived = asyncio.Event(), asyncio.Event()
        listener = asyncio.create_task(collect(prefix, seen, subscribed, arrived))
        await subscribed.wait()
        _, token = await running.services.users.create_user(
            "ann", Role.AGENT, "Ann", "PJSIP/agent-ann"
        )
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=running.url, headers=headers) as client:
            health = (await client.get("/health")).json()
            assert health["status"] == "ok"
            stream = Stream(client)
            await stream.opened()
            reply = await client.put("/agents/me/state", json={"state": "ready", "campaigns": [1]})
            assert reply.json()["state"] == "ready"
            offered = await stream.next("call_offered")
            assert offered["phone"] == "+4741000001"
            assert offered["contact"] == {"name": "Kari"}
            ended = await stream.next("wrapup_countdown")
            first_call = len(stream.seen)
            assert ended["interaction_id"] == offered["interaction_id"]
            assert (await client.get("/agents/me/state")).json()["state"] == "wrapup"
            reply = await client.post(
                f"/interactions/{offered['interaction_id']}/registration",
                json={"comment": "wants the offer"},
            )
            assert reply.status_code in (200, 201), reply.text

            # Preview: the agent reads the contact, then calls it.
            await client.put("/agents/me/state", json={"state": "paused", "campaigns": [1, 2]})
            wrong = await client.post("/agents/me/preview", params={"campaign_id": 1})
            assert wrong.status_code == 409
            shown = await client.post("/agents/me/preview", params={"campaign_id": 2})
            assert shown.json()["phone"] == "+4741000002"
            await client.put("/agents/me/state", json={"state": "ready"})
            attempt = await client.post(f"/agents/me/preview/{shown.json()['id']}/dial")
            assert attempt.status_code == 200, attempt.text
            second = await stream.next("call_offered", after=first_call)
            assert second["phone"] == "+4741000002"
            await stream.next("wrapup_countdown", after=first_call)
            empty = await client.post("/agents/me/preview", params={"campaign_id": 2})
            assert empty.status_code == 204
            await stream.close()

        await running.engine.until_quiet()
        outbound = await running.store.campaign_stats(1)
        preview = await running.store.campaign_stats(2)
        assert outbound.contacts_by_state == {ContactState.COMPLETED: 1}
        assert outbound.attempts_by_outcome == {Outcome.ANSWERED: 1}
        assert preview.attempts_by_outcome == {Outcome.ANSWERED: 1}
        # The publisher drains its buffer in the background: wait for what is checked below.
        wanted = {f"{prefix}/campaigns/1/progress", f"{prefix}/agents/1/state"}
        async with asyncio.timeout(5):
            while not (
                wanted <= {topic for topic, _ in seen}
                and sum(topic.endswith("/outcome") for topic, _ in seen) >= 2
            ):
                arrived.clear()
                await arrived.wait()
        listener.cancel()
        topics = {topic for topic, _ in seen}
        assert f"{prefix}/campaigns/1/progress" in topics
        assert f"{prefix}/agents/1/state" in topics
        outcomes = [data for topic, data in seen if topic.endswith("/outcome")]
        assert {(o["campaign_id"], o["outcome"]) for o in outcomes} == {
            (1, "answered"),
            (2, "answered"),
        }

    run_service(tmp_path, scenario, prefix)


def test_wrong_ami_secret_is_a_clear_start_up_error(tmp_path: Path) -> None:
    """A service pointed at an AMI server with another secret stops at once, saying why."""
    from ami_bridge import AmiAuthError
    from ami_bridge.simulator import PbxSimulator

    async def main() -> None:
        async with PbxSimulator(secret="right", login_failure_delay=0.01) as pbx:
            settings = load_settings(
                data_dir=tmp_path,
                database_url="",
                api={"port": 0},
                ami={"simulate": False, "port": pbx.port, "secret": "wrong"},
            )
            with pytest.raises(AmiAuthError):
                async with asyncio.timeout(20):
                    await serve(settings)

    asyncio.run(main())


def test_open_event_streams_do_not_hold_the_service_up_when_it_stops(tmp_path: Path) -> None:
    """A supervisor's board and an agent's desk keep their streams open; stopping the
    service ends them instead of waiting for them forever."""
    settings = load_settings(
        data_dir=tmp_path, api={"port": 0}, ami={"simulate": True}, instance_id="test"
    )
    ended: list[str] = []

    async def read(client: httpx.AsyncClient, path: str, opened: asyncio.Event) -> None:
        async with client.stream("GET", path) as reply:
            assert reply.status_code == 200
            async for line in reply.aiter_lines():
                opened.set()
                del line
        ended.append(path)

    async def main() -> None:
        async def drive(running: Running) -> None:
            _, token = await running.services.users.create_user("boss", Role.MANAGER, "", None)
            client = httpx.AsyncClient(
                base_url=running.url, headers={"Authorization": f"Bearer {token}"}, timeout=None
            )
            opened = [asyncio.Event(), asyncio.Event()]
            readers = [
                asyncio.create_task(read(client, path, event))
                for path, event in zip(("/floor/events", "/agents/me/events"), opened, strict=True)
            ]
            async with asyncio.timeout(10):
                await asyncio.gather(*(event.wait() for event in opened))
            running.server.should_exit = True
            async with asyncio.timeout(10):
                await asyncio.gather(*readers)
            await client.aclose()

        async with asyncio.timeout(30):
            await serve(settings, on_started=drive)

    asyncio.run(main())
    assert sorted(ended) == ["/agents/me/events", "/floor/events"]
