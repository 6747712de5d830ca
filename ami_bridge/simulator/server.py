"""The simulator's AMI server: sessions, logins, action dispatch, the call table.

How calls play out is :mod:`ami_bridge.simulator.scripts`; see the package docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import structlog

from ami_bridge.protocol import AmiParser, Message
from ami_bridge.simulator.model import DEFAULT_WEIGHTS, Behaviour, Call, Ids, Phones, Timing
from ami_bridge.simulator.scripts import CallScripts
from ami_bridge.simulator.wire import (
    BANNER,
    Channel,
    Fields,
    cause_fields,
    chan_fields,
    channel_name,
    encode,
    event,
    is_local,
    number_of,
    parse_caller_id,
)

log = structlog.get_logger()


@dataclass(slots=True, eq=False)
class Session:
    writer: asyncio.StreamWriter
    logged_in: bool = False
    events: bool = True


class PbxSimulator:
    """``async with PbxSimulator(...) as pbx``: listening on ``pbx.port`` until exit."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "ringback",
        secret: str = "ringback",
        rules: Sequence[tuple[str, Behaviour]] = (),
        weights: Mapping[Behaviour, float] = DEFAULT_WEIGHTS,
        seed: int = 0,
        time_scale: float = 1.0,
        ring_seconds: float = 4.0,
        amd_seconds: float = 2.0,
        talk_seconds: float = 30.0,
        talk_varies: bool = False,
        agent_channel_pattern: str = r"^PJSIP/agent",
        contexts: Sequence[str] = ("ringback", "ringback-agent"),
        attempt_variable: str = "RINGBACK_ATTEMPT_ID",
        login_failure_delay: float = 1.0,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._secret = secret
        self._rules = [(re.compile(p), b) for p, b in rules]
        self._weights = dict(weights)
        self._rng = random.Random(seed)
        self._contexts = frozenset(contexts)
        self._attempt_var = attempt_variable
        self._login_failure_delay = login_failure_delay
        self._server: asyncio.Server | None = None
        self._sessions: set[Session] = set()
        self._calls: dict[str, Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = Ids()
        self._phones = Phones(agent_channel_pattern)
        self.originates: list[Message] = []
        """Every Originate action received, in order (tests check nothing is re-sent)."""
        self.connected: dict[str, str] = {}
        """Answered calls redirected to an agent: originated channel's Uniqueid → RINGBACK_AGENT."""
        self.agent_phones = self._phones.agents
        """Dial strings of agents' phones (the agents' extensions)."""
        self.unanswered_phones = self._phones.unanswered
        """Agent phones that ring and are never picked up."""
        self.unresponsive = False
        """When set, the PBX keeps TCP open but neither answers nor sends anything."""
        self.duplicate_events = False
        """When set, every event is written twice."""
        self._scripts = CallScripts(
            emit=self._emit,
            timing=Timing(time_scale, ring_seconds, amd_seconds, talk_seconds),
            phones=self._phones,
            ids=self._ids,
            choose=self._behaviour,
            connected=self.connected,
            # Conversations of exponential length (mean talk_seconds), as on a real floor,
            # where they are seldom alike; otherwise every one lasts talk_seconds.
            talk=(lambda: self._rng.expovariate(1 / talk_seconds)) if talk_varies else None,
        )

    # ---- lifecycle and test controls ---------------------------------------------

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve_client, self._host, self._port)
        log.info("simulator_listening", host=self._host, port=self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._cancel_calls()
        self._close_sessions()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def live_calls(self) -> int:
        return len(self._calls)

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    def drop_connections(self) -> None:
        """Cut every AMI connection without a word; calls go on."""
        self._close_sessions()

    async def restart(self) -> None:
        """Like ``core restart now``: calls hang up (cause 0), Shutdown, close, ids restart."""
        for call in list(self._calls.values()):
            for ch in reversed(call.channels):
                self._emit("SoftHangupRequest", [*chan_fields(ch), ("Cause", "4")])
            for ch in call.channels:
                self._emit("Hangup", chan_fields(ch) + cause_fields(0))
        await self._cancel_calls()
        self._emit("Shutdown", [("Shutdown", "Cleanly"), ("Restart", "True")], "system,all")
        await asyncio.sleep(0.01)
        self._close_sessions()
        self._ids.restart()

    def inject(self, data: bytes) -> None:
        """Write raw bytes to every logged-in session (malformed-input tests)."""
        for session in self._sessions:
            if session.logged_in:
                session.writer.write(data)

    async def _cancel_calls(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._calls.clear()

    def _close_sessions(self) -> None:
        for session in list(self._sessions):
            session.writer.close()
        self._sessions.clear()

    # ---- AMI sessions -------------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        session = Session(writer)
        self._sessions.add(session)
        writer.write(BANNER)
        parser = AmiParser(expect_banner=False)
        try:
            while not writer.is_closing():
                data = await reader.read(65536)
                if not data:
                    break
                if self.unresponsive:
                    continue
                for item in parser.feed(data):
                    if isinstance(item, Message):
                        await self._action(session, item)
        except (ConnectionError, OSError):
            pass
        finally:
            self._sessions.discard(session)
            writer.close()

    def _reply(
        self, session: Session, action: Message, response: str, *extra: tuple[str, str]
    ) -> None:
        fields: Fields = [("Response", response)]
        if action.action_id is not None:
            fields.append(("ActionID", action.action_id))
        fields += extra
        session.writer.write(encode(fields))

    async def _action(self, session: Session, m: Message) -> None:
        name = m.get("Action").lower()
        if name == "login":
            if m.get("Username") == self._username and m.get("Secret") == self._secret:
                session.logged_in = True
                session.events = m.get("Events", "on").lower() != "off"
                self._reply(session, m, "Success", ("Message", "Authentication accepted"))
                fields = [("Uptime", "60"), ("LastReload", "60"), ("Status", "Fully Booted")]
                session.writer.write(encode(event("FullyBooted", fields, "system,all")))
            else:
                # Asterisk delays a failed login by about 1 s, then closes the socket.
                await asyncio.sleep(self._login_failure_delay)
                self._reply(session, m, "Error", ("Message", "Authentication failed"))
                session.writer.close()
            return
        if not session.logged_in:
            self._reply(session, m, "Error", ("Message", "Permission denied"))
            return
        if name == "ping":
            self._reply(
                session, m, "Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")
            )
        elif name == "logoff":
            self._reply(session, m, "Goodbye", ("Message", "Thanks for all the fish."))
            session.writer.close()
        elif name == "originate":
            self._originate(session, m)
        elif name == "hangup":
            call = self._find(m.get("Channel"))
            if call is None:
                self._reply(session, m, "Error", ("Message", "No such channel"))
            else:
                self._reply(session, m, "Success", ("Message", "Channel Hungup"))
                call.hangup.set()
        elif name == "setvar":
            call = self._find(m.get("Channel"))
            if call is None:
                self._reply(session, m, "Error", ("Message", "No such channel"))
            else:
                call.variables.append((m.get("Variable"), m.get("Value")))
                self._reply(session, m, "Success", ("Message", "Variable Set"))
        elif name == "redirect":
            call = self._find(m.get("Channel"))
            if call is None or not call.answered:
                self._reply(session, m, "Error", ("Message", "No such channel"))
            else:
                agent = next((v for k, v in reversed(call.variables) if k == "RINGBACK_AGENT"), "")
                self.connected[call.one.uniqueid] = agent
                call.context, call.exten = m.get("Context"), m.get("Exten")
                self._reply(session, m, "Success", ("Message", "Redirect successful"))
                call.redirected.set()
        elif name == "coreshowchannels":
            self._core_show_channels(session, m)
        else:
            message = (
                f"Invalid/unknown command: {m.get('Action')}. "
                "Use Action: ListCommands to show available commands."
            )
            self._reply(session, m, "Error", ("Message", message))

    def _core_show_channels(self, session: Session, m: Message) -> None:
        self._reply(
            session, m, "Success", ("EventList", "start"), ("Message", "Channels will follow")
        )
        count = 0
        for call in self._calls.values():
            for ch in call.channels:
                fields: Fields = [("Event", "CoreShowChannel"), ("ActionID", m.get("ActionID"))]
                fields += chan_fields(ch)
                fields += [
                    ("Application", "AppDial2" if ch is call.one else "Wait"),
                    ("ApplicationData", ""),
                    ("Duration", "00:00:01"),
                    ("BridgeId", ""),
                ]
                session.writer.write(encode(fields))
                count += 1
        done = [
            ("Event", "CoreShowChannelsComplete"),
            ("ActionID", m.get("ActionID")),
            ("EventList", "Complete"),
            ("ListItems", str(count)),
        ]
        session.writer.write(encode(done))

    def _find(self, channel: str) -> Call | None:
        for call in self._calls.values():
            if any(channel in (ch.name, ch.uniqueid) for ch in call.channels):
                return call
        return None

    # ---- calls --------------------------------------------------------------------

    def _originate(self, session: Session, m: Message) -> None:
        self.originates.append(m)
        if m.get("Context") not in self._contexts:
            self._reply(session, m, "Error", ("Message", "Extension does not exist."))
            return
        dial = m.get("Channel")
        number = number_of(dial)
        seq = self._ids.seq()
        uid1 = m.get("ChannelId") or self._ids.uniqueid()
        tail = dial.split("@", 1)[1] if "@" in dial else "trunk"
        two: Channel | None = None
        if is_local(dial):
            uid2 = m.get("OtherChannelId") or self._ids.uniqueid()
            one = Channel(f"{dial}-{seq:08x};1", uid1, uid1, tail, number)
            two = Channel(f"{dial}-{seq:08x};2", uid2, uid1, tail, number, state=4)
        else:
            one = Channel(channel_name(dial, seq), uid1, uid1, tail, number)
        cid_name, cid_num = parse_caller_id(m.get("CallerID"))
        variables: Fields = []
        for v in m.get_all("Variable"):
            for part in v.split(","):
                key, _, value = part.partition("=")
                variables.append((key, value))
        call = Call(
            one,
            two,
            number,
            self._phones.behaviour(dial) if self.is_agent_phone(dial) else self._behaviour(number),
            m.get("ActionID"),
            dial,
            m.get("Context"),
            m.get("Exten"),
            int(m.get("Timeout", "30000") or 30000) / 1000,
            variables,
            self._attempt_var,
            bool(m.get("ChannelId")),
        )
        self._calls[uid1] = call
        self._reply(session, m, "Success", ("Message", "Originate successfully queued"))
        task = asyncio.create_task(self._play(call, cid_num, cid_name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def is_agent_phone(self, dial: str) -> bool:
        return self._phones.is_agent(dial)

    def _behaviour(self, number: str) -> Behaviour:
        for pattern, behaviour in self._rules:
            if pattern.search(number):
                return behaviour
        choices = list(self._weights)
        return self._rng.choices(choices, [self._weights[c] for c in choices])[0]

    async def _play(self, call: Call, cid_num: str, cid_name: str) -> None:
        try:
            await self._scripts.play(call, cid_num, cid_name)
        finally:
            self._calls.pop(call.one.uniqueid, None)

    def _emit(self, name: str, fields: Fields, privilege: str = "call,all") -> None:
        if self.unresponsive:
            return
        data = encode(event(name, fields, privilege))
        if self.duplicate_events:
            data += data
        for session in self._sessions:
            if session.logged_in and session.events:
                session.writer.write(data)


async def serve(
    host: str = "127.0.0.1",
    port: int = 5038,
    *,
    username: str = "ringback",
    secret: str = "ringback",
    seed: int = 0,
    time_scale: float = 1.0,
    rules: Sequence[tuple[str, Behaviour]] = (),
) -> None:
    """Run the simulator until cancelled (``ringback simulator``)."""
    async with PbxSimulator(
        host=host,
        port=port,
        username=username,
        secret=secret,
        seed=seed,
        time_scale=time_scale,
        rules=rules,
    ) as pbx:
        await pbx.serve_forever()
