"""A PBX simulator speaking AMI like Asterisk 22, for tests, demos and the CLI.

It plays each call out with the event sequences, field names and codes recorded from a
real Asterisk in ``tests/fixtures/ami-traces`` and ``tests/fixtures/ami-live`` (conformance
tests keep it honest). The dial string's technology picks the channel model:

* ``Local/...``: the Local channel pair, ``;1`` the originated channel (Uniqueid the
  ChannelId), ``;2`` the contact side (the OtherChannelId), which carries the real cause
  for busy/congestion while the OriginateResponse says Reason 5/8;
* anything else (``PJSIP/...``): one channel named after the endpoint
  (``PJSIP/trunk-0000000a``), OtherChannelId unused. Busy, congestion and every other
  failure come with Reason 0 (no answer: 3) and only the Hangup cause tells them apart; a
  far end that hangs up during AMD sends a BYE without a Reason header: cause 0.

A failed Originate names the dial string as Channel, and as Uniqueid the ChannelId when
one was given (else ``<unknown>``).

Which outcome a dialed number gets is chosen by ``rules`` (regex on the number, first
match wins), else by ``weights`` with a seeded RNG. Times are multiplied by
``time_scale`` so tests can run calls in milliseconds.

Agent phones are the dial strings in :attr:`PbxSimulator.agent_phones` (the service adds
each logged-in agent's extension) or matching ``agent_channel_pattern``; they answer,
except those in :attr:`PbxSimulator.unanswered_phones`, and any other non-number dial
string is unreachable. The simulated dialplan is the shipped one: an Originate to
``ringback-agent``/``callback`` dials ``${RINGBACK_CONTACT}`` once the phone answers; any
other target runs AMD on whoever answered (an agent's phone there is heard as a machine,
as on a real Asterisk); a Redirect to ``ringback``/``agent`` Dial()s ``${RINGBACK_AGENT}``
and hangs up on the contact if that fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import structlog

from ami_bridge.protocol import AmiParser, Message

log = structlog.get_logger()

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
Fields = list[tuple[str, str]]


class Behaviour(enum.StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    NO_ANSWER = "noanswer"
    BUSY = "busy"
    CONGESTION = "congestion"
    UNALLOCATED = "unallocated"
    INVALID_FORMAT = "invalid-format"
    REJECTED = "rejected"
    HANGUP_DURING_AMD = "answer"
    """Answers, then hangs up before AMD decides (AMDSTATUS HANGUP, no UserEvent)."""


# Q.850 cause and its Cause-txt, as Asterisk prints them.
_CAUSE_TXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    21: "Call Rejected",
    28: "Invalid number format",
    34: "Circuit/channel congestion",
}
_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
_FAR_END_HANGUP = {
    Behaviour.UNALLOCATED: 1,
    Behaviour.INVALID_FORMAT: 28,
    Behaviour.REJECTED: 21,
}
DEFAULT_WEIGHTS: Mapping[Behaviour, float] = {
    Behaviour.HUMAN: 0.43,
    Behaviour.NO_ANSWER: 0.20,
    Behaviour.MACHINE: 0.12,
    Behaviour.BUSY: 0.10,
    Behaviour.REJECTED: 0.05,
    Behaviour.CONGESTION: 0.03,
    Behaviour.UNALLOCATED: 0.03,
    Behaviour.INVALID_FORMAT: 0.02,
    Behaviour.HANGUP_DURING_AMD: 0.02,
}
_NUMBER = re.compile(r"^[^/]+/([^@]+)")


@dataclass(slots=True)
class _Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int = 0
    priority: int = 1
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"


@dataclass(slots=True)
class _Call:
    one: _Channel
    two: _Channel | None
    """The Local pair's ;2 half; None for a one-channel call (PJSIP and the like)."""
    number: str
    behaviour: Behaviour | None
    """None for an agent phone, which answers and stays up."""
    action_id: str
    dial_string: str
    context: str
    exten: str
    timeout: float
    variables: Fields
    attempt_var: str
    channel_id_given: bool
    hangup: asyncio.Event = field(default_factory=asyncio.Event)
    redirected: asyncio.Event = field(default_factory=asyncio.Event)
    answered: bool = False

    @property
    def channels(self) -> tuple[_Channel, ...]:
        return (self.one,) if self.two is None else (self.one, self.two)


@dataclass(slots=True, eq=False)
class _Session:
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
        self._scale = time_scale
        self._ring = ring_seconds
        self._amd = amd_seconds
        self._talk = talk_seconds
        self._agent = re.compile(agent_channel_pattern)
        self._contexts = frozenset(contexts)
        self._attempt_var = attempt_variable
        self._login_failure_delay = login_failure_delay
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._calls: dict[str, _Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._counter = itertools.count()
        self._local_seq = itertools.count(1)
        self._epoch = int(time.time())
        self.originates: list[Message] = []
        """Every Originate action received, in order (tests check nothing is re-sent)."""
        self.connected: dict[str, str] = {}
        """Answered calls redirected to an agent: originated channel's Uniqueid → RINGBACK_AGENT."""
        self.agent_phones: set[str] = set()
        """Dial strings of agents' phones (the agents' extensions)."""
        self.unanswered_phones: set[str] = set()
        """Agent phones that ring and are never picked up."""
        self.unresponsive = False
        """When set, the PBX keeps TCP open but neither answers nor sends anything."""
        self.duplicate_events = False
        """When set, every event is written twice."""

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
                self._emit("SoftHangupRequest", [*_chan_fields(ch), ("Cause", "4")])
            for ch in call.channels:
                self._emit("Hangup", _chan_fields(ch) + _cause(0))
        await self._cancel_calls()
        self._emit("Shutdown", [("Shutdown", "Cleanly"), ("Restart", "True")], "system,all")
        await asyncio.sleep(0.01)
        self._close_sessions()
        self._counter = itertools.count()
        self._epoch = int(time.time())

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
        session = _Session(writer)
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
        self, session: _Session, action: Message, response: str, *extra: tuple[str, str]
    ) -> None:
        fields: Fields = [("Response", response)]
        if action.action_id is not None:
            fields.append(("ActionID", action.action_id))
        fields += extra
        session.writer.write(_encode(fields))

    async def _action(self, session: _Session, m: Message) -> None:
        name = m.get("Action").lower()
        if name == "login":
            if m.get("Username") == self._username and m.get("Secret") == self._secret:
                session.logged_in = True
                session.events = m.get("Events", "on").lower() != "off"
                self._reply(session, m, "Success", ("Message", "Authentication accepted"))
                fields = [("Uptime", "60"), ("LastReload", "60"), ("Status", "Fully Booted")]
                session.writer.write(_encode(_event("FullyBooted", fields, "system,all")))
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

    def _core_show_channels(self, session: _Session, m: Message) -> None:
        self._reply(
            session, m, "Success", ("EventList", "start"), ("Message", "Channels will follow")
        )
        count = 0
        for call in self._calls.values():
            for ch in call.channels:
                fields: Fields = [("Event", "CoreShowChannel"), ("ActionID", m.get("ActionID"))]
                fields += _chan_fields(ch)
                fields += [
                    ("Application", "AppDial2" if ch is call.one else "Wait"),
                    ("ApplicationData", ""),
                    ("Duration", "00:00:01"),
                    ("BridgeId", ""),
                ]
                session.writer.write(_encode(fields))
                count += 1
        done = [
            ("Event", "CoreShowChannelsComplete"),
            ("ActionID", m.get("ActionID")),
            ("EventList", "Complete"),
            ("ListItems", str(count)),
        ]
        session.writer.write(_encode(done))

    def _find(self, channel: str) -> _Call | None:
        for call in self._calls.values():
            if any(channel in (ch.name, ch.uniqueid) for ch in call.channels):
                return call
        return None

    # ---- calls --------------------------------------------------------------------

    def _originate(self, session: _Session, m: Message) -> None:
        self.originates.append(m)
        if m.get("Context") not in self._contexts:
            self._reply(session, m, "Error", ("Message", "Extension does not exist."))
            return
        dial = m.get("Channel")
        found = _NUMBER.match(dial)
        number = found.group(1) if found else dial
        seq = next(self._local_seq)
        uid1 = m.get("ChannelId") or self._uniqueid()
        tail = dial.split("@", 1)[1] if "@" in dial else "trunk"
        two: _Channel | None = None
        if _is_local(dial):
            uid2 = m.get("OtherChannelId") or self._uniqueid()
            one = _Channel(f"{dial}-{seq:08x};1", uid1, uid1, tail, number)
            two = _Channel(f"{dial}-{seq:08x};2", uid2, uid1, tail, number, state=4)
        else:
            one = _Channel(_channel_name(dial, seq), uid1, uid1, tail, number)
        cid_name, cid_num = _parse_caller_id(m.get("CallerID"))
        variables: Fields = []
        for v in m.get_all("Variable"):
            for part in v.split(","):
                key, _, value = part.partition("=")
                variables.append((key, value))
        call = _Call(
            one,
            two,
            number,
            self._phone_behaviour(dial) if self.is_agent_phone(dial) else self._behaviour(number),
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

    def _phone_behaviour(self, dial: str) -> Behaviour | None:
        return Behaviour.NO_ANSWER if dial in self.unanswered_phones else None

    def is_agent_phone(self, dial: str) -> bool:
        return dial in self.agent_phones or bool(self._agent.search(dial))

    def _uniqueid(self) -> str:
        return f"{self._epoch}.{next(self._counter)}"

    def _behaviour(self, number: str) -> Behaviour:
        for pattern, behaviour in self._rules:
            if pattern.search(number):
                return behaviour
        choices = list(self._weights)
        return self._rng.choices(choices, [self._weights[c] for c in choices])[0]

    async def _sleep(self, call: _Call, seconds: float) -> bool:
        """Wait, scaled; True when the client hung the call up meanwhile."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds * self._scale):
                await call.hangup.wait()
        return call.hangup.is_set()

    async def _play(self, call: _Call, cid_num: str, cid_name: str) -> None:
        one = call.one
        try:
            for ch in call.channels:
                self._emit("Newchannel", _chan_fields(ch))
            for ch in call.channels:
                if call.two is not None:
                    ch.cid_num, ch.cid_name = cid_num, cid_name
                for key, value in call.variables:
                    self._emit(
                        "VarSet",
                        [*_chan_fields(ch), ("Variable", key), ("Value", value)],
                        "dialplan,all",
                    )
            # A PJSIP channel gets the caller id after the Originate's variables.
            one.cid_num, one.cid_name = cid_num, cid_name
            self._emit(
                "DialBegin",
                [*_dest_fields(one), ("DialString", call.dial_string.split("/", 1)[-1])],
            )
            if call.two is None:
                await self._script_one(call)
            else:
                await self._script(call)
        finally:
            self._calls.pop(one.uniqueid, None)

    def _ring_seconds(self, call: _Call) -> float:
        """How long the far end takes to answer or fail (a no-answer rings out)."""
        if call.behaviour is Behaviour.NO_ANSWER:
            return call.timeout
        if call.behaviour is None or call.behaviour is Behaviour.REJECTED:
            return min(self._ring / 4, call.timeout)
        return min(self._ring, call.timeout)

    def _ringing(self, call: _Call) -> None:
        call.one.state = 5
        self._emit("Newstate", _chan_fields(call.one))
        self._emit("DialState", [*_dest_fields(call.one), ("DialStatus", "RINGING")])

    async def _script(self, call: _Call) -> None:
        """The Local pair: ;1 the originated channel, ;2 the far end's dialplan."""
        one, two = call.one, call.two
        assert two is not None
        behaviour = call.behaviour
        if behaviour in (Behaviour.NO_ANSWER, Behaviour.REJECTED, None):
            self._ringing(call)
        if await self._sleep(call, self._ring_seconds(call)):
            return self._cancelled(call)
        if behaviour is Behaviour.NO_ANSWER:
            self._emit("HangupRequest", [*_chan_fields(two), ("Cause", "19")])
            self._emit("SoftHangupRequest", [*_chan_fields(two), ("Cause", "16")])
            self._originate_response(call, False, 3)
            self._hangups(call, 19, 19)
        elif behaviour in (Behaviour.BUSY, Behaviour.CONGESTION):
            busy = behaviour is Behaviour.BUSY
            two.state = 7
            self._emit("Newstate", _chan_fields(two))
            self._emit(
                "DialEnd", [*_dest_fields(one), ("DialStatus", "BUSY" if busy else "CONGESTION")]
            )
            self._emit("HangupRequest", [*_chan_fields(two), ("Cause", "0")])
            self._emit("SoftHangupRequest", [*_chan_fields(two), ("Cause", "16")])
            self._originate_response(call, False, 5 if busy else 8)
            self._hangups(call, 0, 17 if busy else 34)
        elif behaviour in _FAR_END_HANGUP:
            cause = _FAR_END_HANGUP[behaviour]
            self._emit("SoftHangupRequest", [*_chan_fields(two), ("Cause", "16")])
            self._emit("HangupRequest", [*_chan_fields(one), ("Cause", str(cause))])
            self._emit("Hangup", _chan_fields(two) + _cause(cause))
            self._emit("DialEnd", [*_dest_fields(one), ("DialStatus", "NOANSWER")])
            self._originate_response(call, False, 0)
            self._emit("Hangup", _chan_fields(one) + _cause(cause))
        else:
            await self._answered(call)

    async def _script_one(self, call: _Call) -> None:
        """One channel (PJSIP): the far end's answer is the channel's own state and cause."""
        one = call.one
        behaviour = call.behaviour
        if behaviour in (Behaviour.NO_ANSWER, Behaviour.REJECTED, None):
            self._ringing(call)
        if await self._sleep(call, self._ring_seconds(call)):
            return self._cancelled(call)
        if behaviour is Behaviour.NO_ANSWER:
            # The Originate gives up: no DialEnd, no hang-up request.
            self._originate_response(call, False, 3)
            self._emit("Hangup", _chan_fields(one) + _cause(19))
        elif behaviour in (Behaviour.BUSY, Behaviour.CONGESTION):
            busy = behaviour is Behaviour.BUSY
            cause = 17 if busy else 34
            self._emit("HangupRequest", [*_chan_fields(one), ("Cause", str(cause))])
            self._originate_response(call, False, 0)
            self._emit(
                "DialEnd", [*_dest_fields(one), ("DialStatus", "BUSY" if busy else "CONGESTION")]
            )
            self._emit("Hangup", _chan_fields(one) + _cause(cause))
        elif behaviour in _FAR_END_HANGUP:
            cause = _FAR_END_HANGUP[behaviour]
            self._emit("HangupRequest", [*_chan_fields(one), ("Cause", str(cause))])
            self._emit("DialEnd", [*_dest_fields(one), ("DialStatus", "NOANSWER")])
            self._originate_response(call, False, 0)
            self._emit("Hangup", _chan_fields(one) + _cause(cause))
        else:
            await self._answered(call)

    async def _answered(self, call: _Call) -> None:
        one, two = call.one, call.two
        one.state = 6
        call.answered = True
        if two is not None:
            two.state = 6
            self._emit("Newstate", _chan_fields(two))
        self._emit("Newstate", _chan_fields(one))
        self._emit("DialEnd", [*_dest_fields(one), ("DialStatus", "ANSWER")])
        self._originate_response(call, True, 4)
        one.context, one.exten, one.priority = call.context, call.exten, 2
        if call.behaviour is None:  # an agent phone
            contact = next((v for k, v in call.variables if k == "RINGBACK_CONTACT"), None)
            if call.exten == "callback" and contact is not None:
                await self._dial_contact(call, contact)
                return self._hangups(call, 16, 16)
            if call.exten != "connect":
                await self._sleep(call, 24 * 3600.0)  # up until someone hangs up
                return self._hangups(call, 16, 16)
            # The answered-call context runs AMD() on the agent's own line.
        if call.behaviour is Behaviour.HANGUP_DURING_AMD:
            if await self._sleep(call, self._amd / 2):
                return self._hangups(call, 16, 16)
            if two is None:
                # The far end's BYE: a hang-up request without a cause (no Reason header).
                self._emit("HangupRequest", _chan_fields(one))
            else:
                self._emit("SoftHangupRequest", [*_chan_fields(two), ("Cause", "16")])
                self._emit("HangupRequest", [*_chan_fields(one), ("Cause", "16")])
                self._emit("Hangup", _chan_fields(two) + _cause(16))
            for name, value in (("AMDSTATUS", "HANGUP"), ("AMDCAUSE", "")):
                self._emit(
                    "VarSet",
                    [*_chan_fields(one), ("Variable", name), ("Value", value)],
                    "dialplan,all",
                )
            self._emit("SoftHangupRequest", [*_chan_fields(one), ("Cause", "16")])
            self._emit("Hangup", _chan_fields(one) + _cause(16 if two is not None else 0))
            return None
        if await self._sleep(call, self._amd):
            return self._hangups(call, 16, 16)
        machine = call.behaviour in (Behaviour.MACHINE, None)
        status, cause = (
            ("MACHINE", "LONGGREETING-1500-1500") if machine else ("HUMAN", "HUMAN-800-800")
        )
        self._emit(
            "VarSet",
            [*_chan_fields(one), ("Variable", "AMDSTATUS"), ("Value", status)],
            "dialplan,all",
        )
        self._emit(
            "VarSet",
            [*_chan_fields(one), ("Variable", "AMDCAUSE"), ("Value", cause)],
            "dialplan,all",
        )
        attempt = next((v for k, v in call.variables if k == call.attempt_var), "")
        user = [
            ("UserEvent", "DialerAMD"),
            ("Status", status),
            ("Cause", cause),
            ("AttemptId", attempt),
        ]
        self._emit("UserEvent", _chan_fields(one) + user, "user,all")
        # A machine is dropped by the dialplan (Wait(2) then Hangup); a human waits for
        # the dialer to send it to an agent.
        if not machine and await self._redirected(call, self._talk):
            await self._dial_agent(call)
        elif await self._sleep(call, 2.0 if machine else 0.0):
            pass
        self._emit("SoftHangupRequest", [*_chan_fields(one), ("Cause", "16")])
        if two is not None:
            self._emit("HangupRequest", [*_chan_fields(two), ("Cause", "16")])
        self._emit("Hangup", _chan_fields(one) + _cause(16))
        if two is not None:
            self._emit("SoftHangupRequest", [*_chan_fields(two), ("Cause", "16")])
            self._emit("Hangup", _chan_fields(two) + _cause(16))

    async def _redirected(self, call: _Call, seconds: float) -> bool:
        """Wait, scaled, for a Redirect; False when the time ran out or the call hung up."""
        hung = asyncio.ensure_future(call.hangup.wait())
        moved = asyncio.ensure_future(call.redirected.wait())
        try:
            await asyncio.wait(
                {hung, moved}, timeout=seconds * self._scale, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            hung.cancel()
            moved.cancel()
        return call.redirected.is_set() and not call.hangup.is_set()

    async def _dial_agent(self, call: _Call) -> None:
        """``ringback,agent``: Dial(${RINGBACK_AGENT},20); the contact is hung up after."""
        agent = self.connected.get(call.one.uniqueid, "")
        seq = next(self._local_seq)
        uid = self._uniqueid()
        phone = _Channel(f"{agent}-{seq:08x}", uid, call.one.linkedid, "", agent)
        caller = _chan_fields(call.one)
        attempt = next((v for k, v in call.variables if k == call.attempt_var), "")

        def returned(status: str) -> None:
            # Dial() returned: the shipped dialplan's UserEvent, then Hangup.
            user = [("UserEvent", "DialerAgent"), ("Status", status), ("AttemptId", attempt)]
            self._emit("UserEvent", caller + user, "user,all")

        if not self.is_agent_phone(agent):
            # No such endpoint: Dial fails before any channel exists, so no DialBegin.
            return returned("CHANUNAVAIL")
        self._emit("Newchannel", _chan_fields(phone))
        self._emit("DialBegin", [*caller, *_dest_fields(phone), ("DialString", agent)])
        if agent in self.unanswered_phones:
            hung = await self._sleep(call, 20.0)
            status = "CANCEL" if hung else "NOANSWER"
            self._emit("Hangup", _chan_fields(phone) + _cause(16 if hung else 19))
            self._emit("DialEnd", [*caller, *_dest_fields(phone), ("DialStatus", status)])
            return None if hung else returned(status)
        if await self._sleep(call, self._ring / 8):
            self._emit("Hangup", _chan_fields(phone) + _cause(16))
            self._emit("DialEnd", [*caller, *_dest_fields(phone), ("DialStatus", "CANCEL")])
            return None
        phone.state = 6
        self._emit("DialEnd", [*caller, *_dest_fields(phone), ("DialStatus", "ANSWER")])
        if not await self._sleep(call, self._talk):
            self._emit("Hangup", _chan_fields(phone) + _cause(16))
            return returned("ANSWER")  # the agent hung up first: Dial returns
        self._emit("Hangup", _chan_fields(phone) + _cause(16))
        return None

    async def _dial_contact(self, call: _Call, dial: str) -> None:
        """Agent-first callback: the agent answered, the dialplan Dial()s the contact."""
        found = _NUMBER.match(dial)
        number = found.group(1) if found else dial
        behaviour = self._behaviour(number)
        seq = next(self._local_seq)
        uid = self._uniqueid()
        name = (
            _channel_name(dial, seq) if not _is_local(dial) else f"{dial.split('@')[0]}-{seq:08x}"
        )
        contact = _Channel(name, uid, call.one.linkedid, "", number)
        caller = _chan_fields(call.one)
        self._emit("Newchannel", _chan_fields(contact))
        self._emit("DialBegin", [*caller, *_dest_fields(contact), ("DialString", dial)])
        if await self._sleep(call, self._ring):
            status, cause = "CANCEL", 16
        elif behaviour in (Behaviour.HUMAN, Behaviour.MACHINE):
            contact.state = 6
            self._emit("DialEnd", [*caller, *_dest_fields(contact), ("DialStatus", "ANSWER")])
            await self._sleep(call, self._talk)
            self._emit("Hangup", _chan_fields(contact) + _cause(16))
            return
        else:
            status, cause = {
                Behaviour.NO_ANSWER: ("NOANSWER", 19),
                Behaviour.BUSY: ("BUSY", 17),
                Behaviour.CONGESTION: ("CONGESTION", 34),
            }.get(behaviour, ("NOANSWER", _FAR_END_HANGUP.get(behaviour, 16)))
        self._emit("Hangup", _chan_fields(contact) + _cause(cause))
        self._emit("DialEnd", [*caller, *_dest_fields(contact), ("DialStatus", status)])

    def _cancelled(self, call: _Call) -> None:
        """The client hung up the ringing call (cancel-while-ringing)."""
        self._emit("DialEnd", [*_dest_fields(call.one), ("DialStatus", "NOANSWER")])
        if call.two is not None:
            self._emit("HangupRequest", [*_chan_fields(call.two), ("Cause", "16")])
            self._emit("SoftHangupRequest", [*_chan_fields(call.two), ("Cause", "16")])
        self._hangups(call, 16, 16)
        self._originate_response(call, False, 0)

    def _hangups(self, call: _Call, cause_one: int, cause_two: int) -> None:
        self._emit("Hangup", _chan_fields(call.one) + _cause(cause_one))
        if call.two is not None:
            self._emit("Hangup", _chan_fields(call.two) + _cause(cause_two))

    def _originate_response(self, call: _Call, success: bool, reason: int) -> None:
        # On failure OR names no channel, unless the Originate chose a ChannelId.
        uid = call.one.uniqueid if success or call.channel_id_given else "<unknown>"
        fields: Fields = [
            ("ActionID", call.action_id),
            ("Response", "Success" if success else "Failure"),
            ("Channel", call.one.name if success else call.dial_string),
            ("Context", call.context),
            ("Exten", call.exten),
            ("Reason", str(reason)),
            ("Uniqueid", uid),
            ("CallerIDNum", call.one.cid_num),
            ("CallerIDName", call.one.cid_name),
        ]
        self._emit("OriginateResponse", fields)

    def _emit(self, name: str, fields: Fields, privilege: str = "call,all") -> None:
        if self.unresponsive:
            return
        data = _encode(_event(name, fields, privilege))
        if self.duplicate_events:
            data += data
        for session in self._sessions:
            if session.logged_in and session.events:
                session.writer.write(data)


def _event(name: str, fields: Fields, privilege: str) -> Fields:
    return [("Event", name), ("Privilege", privilege), *fields]


def _encode(fields: Fields) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields).encode() + b"\r\n"


def _cause(cause: int) -> Fields:
    return [("Cause", str(cause)), ("Cause-txt", _CAUSE_TXT.get(cause, "Unknown"))]


def _chan_fields(ch: _Channel) -> Fields:
    return [
        ("Channel", ch.name),
        ("ChannelState", str(ch.state)),
        ("ChannelStateDesc", _STATE_DESC.get(ch.state, "Unknown")),
        ("CallerIDNum", ch.cid_num),
        ("CallerIDName", ch.cid_name),
        ("ConnectedLineNum", ch.cid_num),
        ("ConnectedLineName", ch.cid_name),
        ("Language", "en"),
        ("AccountCode", ""),
        ("Context", ch.context),
        ("Exten", ch.exten),
        ("Priority", str(ch.priority)),
        ("Uniqueid", ch.uniqueid),
        ("Linkedid", ch.linkedid),
    ]


def _dest_fields(ch: _Channel) -> Fields:
    return [(f"Dest{k}", v) for k, v in _chan_fields(ch)]


def _is_local(dial: str) -> bool:
    return dial.split("/", 1)[0].lower() == "local"


def _channel_name(dial: str, seq: int) -> str:
    """``PJSIP/+4741000100@trunk`` → ``PJSIP/trunk-0000000a``; ``PJSIP/ann`` → ``PJSIP/ann-...``.

    Asterisk names a channel after the endpoint it goes out on, not the number dialled.
    """
    tech, _, resource = dial.partition("/")
    endpoint = resource.split("@", 1)[1] if "@" in resource else resource.split("/", 1)[0]
    return f"{tech}/{endpoint}-{seq:08x}"


def _parse_caller_id(value: str) -> tuple[str, str]:
    """``"Ringback Dialer" <5550100>`` → (name, number)."""
    found = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', value)
    if found:
        return found.group(1), found.group(2)
    return "", value


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
