"""``ringback serve`` on a real Asterisk 22, driven over HTTP by a manager and agents.

Each test runs the service on a fresh database against the session's private Asterisk
(the shipped dialplan and AMI user, see ``tests/live/pbx.py``). Numbers end in the test
carrier's scenario code (00 a person, 02 no answer, 08 hangs up during AMD, 09 a person
who stays); agents' extensions are the test phones (answer, talk3, noanswer,
unreachable).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.campaigns.test_store import book_callback
from tests.live.pbx import LivePbx
from tests.live.service import live_service, no_contact_dialing

pytestmark = pytest.mark.live


def number(code: str, middle: str = "201") -> str:
    """A valid Norwegian mobile whose last two digits pick the test carrier's behaviour."""
    return f"+47410{middle}{code}"


async def test_answered_calls_reach_agents_and_either_side_ends_them(
    pbx: LivePbx, tmp_path: Path
) -> None:
    """Two people answer: each goes to an agent; one call ended by the agent's side (talk3),
    the other by the contact's (hangs up ~11 s in); both agents wrap up, both contacts
    completed."""
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.phones["talk3"])
        bob = await live.agent("bob", pbx.phones["answer"])
        cid = await live.campaign("people", [number("00", "201"), number("00", "202")])
        for agent in (ann, bob):
            state = await agent.state("ready")
            assert state["campaigns"] == [cid] and state["all_running"]
        for agent in (ann, bob):
            offered = await agent.events.next("call_offered", within=30)
            ended = await agent.events.next("wrapup_countdown", within=30)
            assert ended["interaction_id"] == offered["interaction_id"]
            assert (await agent.get_state())["state"] == "wrapup"
        stats = await live.settled(cid, 2)
        assert stats["attempts_by_outcome"] == {"answered": 2}
        assert stats["contacts_by_state"] == {"completed": 2}


async def test_answered_call_over_pjsip_reaches_the_agent(
    sip_carrier: LivePbx, tmp_path: Path
) -> None:
    """The SIP carrier behind the shipped PJSIP trunk: answered, AMD HUMAN, put through to
    the agent's SIP phone, wrapped up."""
    pbx = sip_carrier
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.sip_phones["talk3"])
        cid = await live.campaign("sip", [number("00", "211")], channel=pbx.pjsip_carrier)
        await ann.state("ready")
        await ann.events.next("call_offered", within=30)
        await ann.events.next("wrapup_countdown", within=30)
        stats = await live.settled(cid, 1)
        assert stats["attempts_by_outcome"] == {"answered": 1}


async def test_hangup_during_amd_is_settled_and_requeued(pbx: LivePbx, tmp_path: Path) -> None:
    """The contact answers and hangs up before AMD decides (no UserEvent follows): the
    attempt is closed abandoned, the contact waits for its retry, no slot stays taken."""
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.phones["answer"])
        cid = await live.campaign("amd", [number("08", "221")])
        await ann.state("ready")
        stats = await live.settled(cid, 1, within=20)
        assert stats["attempts_by_outcome"] == {"abandoned": 1}
        assert stats["contacts_by_state"] == {"retry": 1}
        assert live.running.engine.calls_in_progress == 0
        assert "call_offered" not in ann.events.names()


async def test_failed_agent_leg_is_a_dropped_call_and_pauses_the_agent(
    pbx: LivePbx, tmp_path: Path
) -> None:
    """The agent's phone cannot be reached after the Redirect: the dialplan hangs up on the
    contact. Abandoned and requeued with priority, the agent paused with the reason and
    told, and no wrap-up for a call that never happened."""
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.phones["unreachable"])
        cid = await live.campaign("leg", [number("00", "231")])
        await ann.state("ready")
        failed = await ann.events.next("call_failed", within=30)
        assert failed["reason"] == "phone unreachable"
        stats = await live.settled(cid, 1)
        assert stats["attempts_by_outcome"] == {"abandoned": 1}
        assert stats["contacts_by_state"] == {"retry": 1}
        state = await ann.get_state()
        assert (state["state"], state["reason"]) == ("paused", "phone unreachable")
        assert "call_offered" not in ann.events.names()
        assert "wrapup_countdown" not in ann.events.names()


async def test_callback_booked_by_the_agent_rings_them_first_then_the_contact(
    pbx: LivePbx, tmp_path: Path
) -> None:
    """An agent books a callback for themselves in the wrap-up; when due their phone rings,
    they answer, then the contact is dialled (ringback-agent/callback) and answers."""
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.phones["talk3"])
        cid = await live.campaign("cb", [number("00", "241")])
        await ann.state("ready")
        first = await ann.events.next("call_offered", within=30)
        await ann.events.next("wrapup_countdown", within=30)
        due = datetime.now(UTC) + timedelta(seconds=2)
        reply = await ann.client.post(
            f"/interactions/{first['interaction_id']}/registration",
            json={
                "feedback": "callback",
                "callback": {"due_at": due.isoformat(), "comment": "after lunch", "for": "me"},
            },
        )
        assert reply.status_code == 201, reply.text
        await ann.state("ready")
        mark = len(ann.events.seen)
        again = await ann.events.next("call_offered", after=mark, within=30)
        assert again["callback_comment"] == "after lunch"
        stats = await live.settled(cid, 2)
        assert stats["attempts_by_outcome"] == {"answered": 2}
        assert stats["contacts_by_state"] == {"completed": 1}


@pytest.mark.parametrize(
    ("phone", "code", "outcome", "agent_state"),
    [
        ("talk3", "02", "no_answer", "ready"),
        ("noanswer", "00", "failed_system", "paused"),
    ],
    ids=["contact-does-not-answer", "agent-does-not-answer"],
)
async def test_callback_not_answered(
    pbx: LivePbx, tmp_path: Path, phone: str, code: str, outcome: str, agent_state: str
) -> None:
    """The contact does not answer the callback: closed no_answer, the contact follows the
    retry rules. The agent does not answer: the contact was never called, the agent is
    paused ("missed callback") and the callback stays due for them."""
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.phones[phone])
        cid = await live.campaign(
            "cbx", [number(code, "251")], start=False, dialing={"ring_timeout_seconds": 6}
        )
        await book_callback(
            live.running.store.engine, 1, cid, datetime.now(UTC) + timedelta(seconds=1), ann.id
        )
        await live.start(cid)
        await ann.state("ready")
        stats = await live.settled(cid, 1, within=40)
        assert stats["attempts_by_outcome"] == {outcome: 1}
        state = await ann.get_state()
        assert state["state"] in (agent_state, "wrapup"), state
        if outcome == "failed_system":
            assert state["reason"] == "missed callback"
            reply = await ann.client.get("/agents/me/callbacks")
            assert reply.status_code == 200


async def test_preview_call_rings_the_agent_then_the_contact(pbx: LivePbx, tmp_path: Path) -> None:
    """Preview: the agent reads the contact, starts the call; their phone rings first,
    then the contact's, who answers."""
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.phones["talk3"])
        cid = await live.campaign("look", [number("00", "261")], dialing={"mode": "preview"})
        await ann.state("ready", campaigns=[cid])
        shown = await ann.client.post("/agents/me/preview", params={"campaign_id": cid})
        assert shown.status_code == 200, shown.text
        dialled = await ann.client.post(f"/agents/me/preview/{shown.json()['id']}/dial")
        assert dialled.status_code == 200, dialled.text
        await ann.events.next("call_offered", within=30)
        stats = await live.settled(cid, 1)
        assert stats["attempts_by_outcome"] == {"answered": 1}
        assert stats["contacts_by_state"] == {"completed": 1}


async def test_campaign_started_later_reaches_agents_already_ready(
    pbx: LivePbx, tmp_path: Path
) -> None:
    """Agents ready before any campaign runs get its calls as soon as it starts: by the API
    in this process, and by ``ringback campaign start`` in another."""
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.phones["talk3"])
        state = await ann.state("ready")
        assert (state["campaigns"], state["all_running"]) == ([], True)
        first = await live.campaign("late", [number("00", "271")])
        started = time.monotonic()
        await ann.events.next("call_offered", within=20)
        by_api = time.monotonic() - started
        assert (await ann.get_state())["campaigns"] == [first]
        await ann.events.next("wrapup_countdown", within=30)
        await ann.state("ready")

        second = await live.campaign("later", [number("00", "272")], start=False)
        cli = Path(sys.executable).with_name("ringback")
        mark = len(ann.events.seen)
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            str(cli),
            "campaign",
            "start",
            "later",
            env={**os.environ, "RINGBACK_DATA_DIR": str(tmp_path), "RINGBACK_DATABASE_URL": ""},
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert await process.wait() == 0
        await ann.events.next("call_offered", after=mark, within=20)
        by_cli = time.monotonic() - started
        assert (await ann.get_state())["campaigns"] == [first, second]
        # Seconds, not the 15 s of the old periodic look (an answer takes ~3 s of AMD).
        assert by_api < 10 and by_cli < 12, (by_api, by_cli)
        print(f"start -> call offered: API {by_api:.1f} s, CLI {by_cli:.1f} s")


async def test_asterisk_restart_mid_call_leaves_nothing_dialing(
    pbx: LivePbx, tmp_path: Path
) -> None:
    """``core restart now`` while a person talks to an agent: the service reconnects and
    reconciles (the call closed, the agent in wrap-up), nothing stays ``dialing``, and
    dialling goes on after the restart."""
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.phones["answer"])
        cid = await live.campaign("restart", [number("09", "281")])
        await ann.state("ready")
        await ann.events.next("call_offered", within=30)
        await asyncio.to_thread(pbx.restart)
        await ann.events.next("wrapup_countdown", within=30)
        stats = await live.settled(cid, 1, within=30)
        assert stats["attempts_by_outcome"] == {"answered": 1}
        assert no_contact_dialing(stats["contacts_by_state"])

        bob = await live.agent("bob", pbx.phones["talk3"])
        more = await live.campaign("after", [number("00", "282")])
        await bob.state("ready", campaigns=[more])
        await bob.events.next("call_offered", within=30)
        stats = await live.settled(more, 1)
        assert stats["attempts_by_outcome"] == {"answered": 1}


async def test_no_dialling_while_asterisk_shuts_down_gracefully(
    pbx: LivePbx, tmp_path: Path
) -> None:
    """``core restart gracefully`` while a call is up: Asterisk refuses Originates ("Asterisk
    is shutting down") and says nothing else. Ringback holds dialling after the first
    refusal instead of burning the queue, and dials again once Asterisk is back."""
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.phones["answer"])
        long_call = await live.campaign("long", [number("00", "291")])
        await ann.state("ready", campaigns=[long_call])
        await ann.events.next("call_offered", within=30)
        shutdown = await asyncio.create_subprocess_exec(
            "/usr/sbin/asterisk", "-C", str(pbx.conf), "-rx", "core restart gracefully"
        )
        await asyncio.sleep(1.0)  # Asterisk now refuses new calls
        bob = await live.agent("bob", pbx.phones["talk3"])
        queued = [number("00", f"29{i}") for i in range(2, 6)]
        cid = await live.campaign("queued", queued)
        await bob.state("ready", campaigns=[cid])
        await asyncio.sleep(4.0)
        held = await live.stats(cid)
        refused = held["attempts_by_outcome"].get("failed_system", 0)
        assert refused <= 1, held  # one refusal, then the service waits
        assert "call_offered" not in bob.events.names()
        # The call ends (the contact hangs up; Asterisk refuses every AMI action and login
        # while it shuts down), Asterisk restarts, the service reconnects and dials again.
        await shutdown.wait()
        await bob.events.next("call_offered", within=40)
        stats = await live.stats(cid)
        # One refusal per 10 s hold while the call ran, none once Asterisk was back (an
        # Originate before its FullyBooted fails).
        assert stats["attempts_by_outcome"].get("failed_system", 0) <= 3, stats
