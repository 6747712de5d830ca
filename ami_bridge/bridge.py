"""The AMI bridge as the dialer sees it, and its Asterisk implementation."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Protocol, Self

import structlog

from ami_bridge.call_events import AgentLeg, CallAnswered, CallEnded, CallEvent, CallOutcome
from ami_bridge.client import AmiClient, ConnectionState
from ami_bridge.errors import AmiActionError, AmiDisconnected, AmiError, AmiNotConnected
from ami_bridge.events import AmiEvent, CoreShowChannel, FullyBooted, Shutdown, decode_event
from ami_bridge.protocol import encode_action
from ami_bridge.tracker import AttemptKind, CallTracker

log = structlog.get_logger()

ATTEMPT_VARIABLE = "RINGBACK_ATTEMPT_ID"
CONTACT_VARIABLE = "RINGBACK_CONTACT"
"""Agent-first calls: the dial string the dialplan Dial()s once the agent answered."""
CONTACT_TIMEOUT_VARIABLE = "RINGBACK_CONTACT_TIMEOUT"
AGENT_VARIABLE = "RINGBACK_AGENT"
"""Set on an answered call before it is redirected to the agent extension."""
_SHUTDOWN_HOLD_SECONDS = 10.0
_ATTEMPT_ID = re.compile(r"[A-Za-z0-9_.]{1,64}")
_OUR_CHANNEL = re.compile(r"^rb-([A-Za-z0-9_.]{1,64})-[12]$")


class AmiBridge(Protocol):
    """Placing calls and hearing how they went; all Asterisk details stay behind this.

    Every attempt accepted by :meth:`originate` or :meth:`originate_agent_first` yields
    exactly one :class:`~ami_bridge.call_events.CallOutcome` on :meth:`call_events`, whatever
    happens to the AMI connection. A call answered by a person first yields
    :class:`~ami_bridge.call_events.CallAnswered` (connect an agent now; deciding "abandoned"
    is the dialer's job), and later :class:`~ami_bridge.call_events.CallEnded` with the talk
    time.
    """

    async def originate(
        self,
        attempt_id: str,
        *,
        phone: str,
        channel_template: str,
        context: str,
        exten: str,
        caller_id: str,
        timeout_s: float,
        variables: Mapping[str, str] = ...,
    ) -> None:
        """Dial ``phone`` once (``channel_template`` like ``PJSIP/{number}@trunk``).

        Returns when Asterisk queued the call (or refused it: then a ``failed_system``
        outcome follows). Never re-sent: if the connection drops before Asterisk's reply
        the attempt is settled by reconciliation after the reconnect. Raises ValueError
        for an unusable attempt id or a field with a control character (CR/LF), and
        before anything is sent.
        """
        ...

    async def originate_agent_first(
        self,
        attempt_id: str,
        *,
        agent_channel: str,
        phone: str,
        channel_template: str,
        caller_id: str,
        timeout_s: float,
        variables: Mapping[str, str] = ...,
    ) -> None:
        """A callback or a previewed call: ring ``agent_channel``; once the agent answers,
        the agent-first dialplan (``ringback-agent``/``callback`` in the shipped one, not
        the campaign's answered-call context, which runs AMD) dials the contact
        (``${RINGBACK_CONTACT}``).

        The agent not answering settles ``failed_system`` (the contact was never
        called); otherwise the contact's result settles the attempt as for
        :meth:`originate`.
        """
        ...

    async def connect(self, attempt_id: str, *, agent_channel: str) -> None:
        """Send an answered call, waiting in our dialplan, to the agent's phone.

        Call after :class:`~ami_bridge.call_events.CallAnswered`, within the abandon wait;
        raises :class:`~ami_bridge.client.AmiError` if the call is gone or Asterisk
        refuses (the dialer then counts it abandoned and hangs up).
        """
        ...

    async def hangup(self, attempt_id: str) -> None:
        """Hang up the attempt's call if it is still up (ringing or answered)."""
        ...

    def call_events(self) -> AsyncIterator[CallEvent]:
        """Every CallAnswered / CallOutcome / AgentLeg / CallEnded, in order. One consumer."""
        ...

    @property
    def event_lag(self) -> float:
        """Seconds the last call event taken from :meth:`call_events` had waited for its
        consumer since Asterisk's message was read: how far behind the process is."""
        ...

    @property
    def available(self) -> bool:
        """Asterisk takes calls now: logged in, and not shutting down."""
        ...

    async def wait_available(self) -> None:
        """Until :attr:`available` (after a reconnect, once the new session is up)."""
        ...

    async def live_attempt_ids(self) -> frozenset[str]:
        """Attempts whose calls Asterisk still has up, found by channel id.

        For crash recovery: an attempt left ``dialing`` by a previous process and not
        in this set is over; one in it should be left to finish (or hung up).
        """
        ...


class AsteriskAmiBridge:
    """:class:`AmiBridge` over one AMI connection.

    Either give connection settings, and the bridge builds, connects and closes its own
    :class:`~ami_bridge.client.AmiClient`; or give a ``client`` you own and enter
    yourself (``async with client, bridge``). ``async with bridge`` also runs the
    deadline timer; on every new AMI session the bridge reconciles.
    """

    def __init__(
        self,
        client: AmiClient | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 5038,
        username: str = "",
        secret: str = "",
        ping_interval: float = 10.0,
        connect_timeout: float = 5.0,
        reconnect_max: float = 30.0,
        amd_enabled: bool = True,
        amd_timeout: float = 8.0,
        agent_context: str = "ringback",
        agent_exten: str = "agent",
        callback_context: str = "ringback-agent",
        callback_exten: str = "callback",
    ) -> None:
        self._owns_client = client is None
        self._client = client or AmiClient(
            host=host,
            port=port,
            username=username,
            secret=secret,
            ping_interval=ping_interval,
            connect_timeout=connect_timeout,
            reconnect_max=reconnect_max,
        )
        self._agent_context = agent_context
        self._agent_exten = agent_exten
        self._callback_context = callback_context
        self._callback_exten = callback_exten
        self._available_wait = connect_timeout
        # The AMI session that may place calls: one whose reconciliation has taken its
        # snapshot of the attempts sent before it (an Originate sent on this session must
        # not be reconciled against a channel list asked before its channels existed).
        # Asterisk's Shutdown event closes it: Originates are refused until it is back.
        self._open_session = 0
        self._booted_session = 0
        """The session in which Asterisk said FullyBooted (on login when it is; later
        while it starts): before that an Originate fails for want of its modules."""
        self._down_session = 0
        """The session in which Asterisk said it is shutting down..."""
        self._down_until = 0.0
        """...until when (monotonic): forever after a Shutdown event, which ends the session;
        a while after an Originate refused during a graceful shutdown, which sends no event
        and may be aborted (``core abort shutdown``)."""
        self._session_changed = asyncio.Event()
        self._tracker = CallTracker(
            attempt_variable=ATTEMPT_VARIABLE,
            amd_enabled=amd_enabled,
            amd_timeout=amd_timeout,
            clock=time.monotonic,
        )
        self._events: asyncio.Queue[tuple[float, CallEvent]] = asyncio.Queue()
        self._event_lag = 0.0
        self._wakeup = asyncio.Event()
        self._timer_target = math.inf
        self._timer: asyncio.Task[None] | None = None
        self._client.subscribe(self._on_event)
        self._client.on_session(self._reconcile)

    async def __aenter__(self) -> Self:
        if self._owns_client:
            await self._client.__aenter__()
        elif self._client.state is ConnectionState.CONNECTED and not self.available:
            # Entered before us: nothing of ours to reconcile, its FullyBooted was missed.
            self._open_session = self._booted_session = self._client.sessions
        self._timer = asyncio.create_task(self._expire_loop(), name="ami-bridge-deadlines")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        if self._owns_client:
            await self._client.__aexit__(exc_type, exc, tb)

    @property
    def client(self) -> AmiClient:
        return self._client

    @property
    def tracked_attempts(self) -> int:
        return len(self._tracker)

    # ---- AmiBridge ----------------------------------------------------------------

    async def originate(
        self,
        attempt_id: str,
        *,
        phone: str,
        channel_template: str,
        context: str,
        exten: str,
        caller_id: str,
        timeout_s: float,
        variables: Mapping[str, str] = {},
    ) -> None:
        dial = channel_template.format(number=phone)
        await self._originate(
            attempt_id, dial, context, exten, caller_id, timeout_s, variables, AttemptKind.CONTACT
        )

    async def originate_agent_first(
        self,
        attempt_id: str,
        *,
        agent_channel: str,
        phone: str,
        channel_template: str,
        caller_id: str,
        timeout_s: float,
        variables: Mapping[str, str] = {},
    ) -> None:
        extra = {
            **variables,
            CONTACT_VARIABLE: channel_template.format(number=phone),
            CONTACT_TIMEOUT_VARIABLE: str(max(1, round(timeout_s))),
        }
        await self._originate(
            attempt_id,
            agent_channel,
            self._callback_context,
            self._callback_exten,
            caller_id,
            timeout_s,
            extra,
            AttemptKind.AGENT_FIRST,
        )

    async def _originate(
        self,
        attempt_id: str,
        channel: str,
        context: str,
        exten: str,
        caller_id: str,
        timeout_s: float,
        variables: Mapping[str, str],
        kind: AttemptKind,
    ) -> None:
        if not _ATTEMPT_ID.fullmatch(attempt_id):
            raise ValueError(f"attempt id {attempt_id!r}: letters, digits, '_' and '.' only")
        channel_ids = (f"rb-{attempt_id}-1", f"rb-{attempt_id}-2")
        fields = [
            ("Channel", channel),
            ("Context", context),
            ("Exten", exten),
            ("Priority", "1"),
            ("CallerID", caller_id),
            ("Timeout", str(round(timeout_s * 1000))),
            ("Variable", f"{ATTEMPT_VARIABLE}={attempt_id}"),
            *(("Variable", f"{key}={value}") for key, value in variables.items()),
            # Our own Uniqueids: OR names the channel even on failure, and after a crash
            # CoreShowChannels tells which attempts are still up.
            ("ChannelId", channel_ids[0]),
            ("OtherChannelId", channel_ids[1]),
            ("Async", "true"),
        ]
        action_id = self._client.next_action_id()
        encode_action("Originate", action_id, fields)  # refuse CR/LF before registering
        if self._client.state is ConnectionState.CONNECTED and not self._shutting_down:
            # Just reconnected: wait for this session's reconciliation snapshot (it comes
            # at once). Asterisk away or shutting down: refused below, failed_system.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._available_wait):
                    await self.wait_available()
        self._tracker.register(
            attempt_id, action_id, ring_timeout=timeout_s, channel_ids=channel_ids, kind=kind
        )
        self._rearm()
        log.info("originate_sent", attempt_id=attempt_id, channel=channel, kind=kind.value)
        try:
            reply = await self._client.send_action("Originate", fields, action_id=action_id)
        except AmiNotConnected:
            self._publish(self._tracker.originate_rejected(attempt_id, "not connected"))
            return
        except (AmiDisconnected, TimeoutError) as exc:
            # Maybe queued, maybe not: never sent again. Reconciliation or the attempt's
            # deadline settles it.
            log.warning("originate_unconfirmed", attempt_id=attempt_id, error=repr(exc))
            return
        if reply.response != "Success":
            message = reply.get("Message")
            log.error("originate_refused", attempt_id=attempt_id, message=message)
            if "shutting down" in message.lower():
                # A graceful shutdown (core stop/restart gracefully) waits for the calls
                # up to end and refuses new ones, with no event: hold dialling a while.
                self._pbx_down(_SHUTDOWN_HOLD_SECONDS)
            self._publish(self._tracker.originate_rejected(attempt_id, message))

    async def connect(self, attempt_id: str, *, agent_channel: str) -> None:
        channel = f"rb-{attempt_id}-1"
        steps = [
            (
                "Setvar",
                [("Channel", channel), ("Variable", AGENT_VARIABLE), ("Value", agent_channel)],
            ),
            (
                "Redirect",
                [
                    ("Channel", channel),
                    ("Context", self._agent_context),
                    ("Exten", self._agent_exten),
                    ("Priority", "1"),
                ],
            ),
        ]
        for action, fields in steps:
            reply = await self._client.send_action(action, fields)
            if reply.response != "Success":
                raise AmiActionError(f"{action} {attempt_id}: {reply.get('Message')}")
        log.info("call_connected", attempt_id=attempt_id, agent_channel=agent_channel)

    async def hangup(self, attempt_id: str) -> None:
        keys = self._tracker.channel_keys(attempt_id) or (f"rb-{attempt_id}-1",)
        for channel in keys:
            try:
                reply = await self._client.send_action(
                    "Hangup", [("Channel", channel), ("Cause", "16")]
                )
            except (AmiError, TimeoutError) as exc:
                log.warning("hangup_failed", attempt_id=attempt_id, error=repr(exc))
                return
            if reply.response == "Success":
                log.info("hangup_sent", attempt_id=attempt_id, channel=channel)
                return
        log.info("hangup_no_channel", attempt_id=attempt_id)

    async def call_events(self) -> AsyncIterator[CallEvent]:
        loop = asyncio.get_running_loop()
        while True:
            read_at, event = await self._events.get()
            self._event_lag = loop.time() - read_at
            yield event

    @property
    def event_lag(self) -> float:
        return self._event_lag

    @property
    def available(self) -> bool:
        client = self._client
        return (
            client.state is ConnectionState.CONNECTED
            and self._open_session == client.sessions
            and self._booted_session == client.sessions
            and not self._shutting_down
        )

    @property
    def _shutting_down(self) -> bool:
        return self._down_session == self._client.sessions and time.monotonic() < self._down_until

    def _pbx_down(self, seconds: float) -> None:
        self._down_session = self._client.sessions
        self._down_until = time.monotonic() + seconds
        self._session_moved()

    async def wait_available(self) -> None:
        while not self.available:
            changed = self._session_changed
            with contextlib.suppress(TimeoutError):
                # A graceful shutdown's hold ends by itself: try again then.
                left = self._down_until - time.monotonic() if self._shutting_down else None
                async with asyncio.timeout(left):
                    await changed.wait()

    def _session_moved(self) -> None:
        self._session_changed.set()
        self._session_changed = asyncio.Event()

    async def live_attempt_ids(self) -> frozenset[str]:
        found = set()
        for channel in await self._live_channels():
            match = _OUR_CHANNEL.match(channel.uniqueid)
            if match:
                found.add(match.group(1))
        return frozenset(found)

    # ---- plumbing -----------------------------------------------------------------

    async def _live_channels(self) -> list[CoreShowChannel]:
        items = await self._client.send_list_action(
            "CoreShowChannels", complete_event="CoreShowChannelsComplete"
        )
        return [e for e in map(decode_event, items) if isinstance(e, CoreShowChannel)]

    async def _reconcile(self) -> None:
        pending = self._tracker.attempt_ids
        self._open_session = self._client.sessions
        self._session_moved()
        if not pending:
            return
        live = await self._live_channels()
        settled = self._tracker.reconcile(live, only=pending)
        log.info(
            "ami_reconciled",
            pending=len(pending),
            settled=sum(isinstance(e, CallOutcome) for e in settled),
            live_channels=len(live),
        )
        self._publish(settled)

    def _on_event(self, event: AmiEvent) -> None:
        if isinstance(event, Shutdown):
            log.warning("asterisk_shutting_down", restart=event.restart)
            self._pbx_down(math.inf)
        elif isinstance(event, FullyBooted):
            self._booted_session = self._client.sessions
            self._session_moved()
        result = self._tracker.handle(event)
        if result:
            self._publish(result)
        self._rearm()

    def _publish(self, events: list[CallEvent]) -> None:
        for event in events:
            if isinstance(event, CallOutcome):
                log.info(
                    "attempt_settled",
                    attempt_id=event.attempt_id,
                    outcome=event.outcome.value,
                    reason=event.reason,
                    cause=event.cause,
                    dial_status=event.dial_status,
                    amd=event.amd,
                    detail=event.detail,
                )
            elif isinstance(event, CallAnswered):
                log.info("call_answered", attempt_id=event.attempt_id, amd=event.amd)
            elif isinstance(event, AgentLeg):
                log.info(
                    "agent_leg_ended",
                    attempt_id=event.attempt_id,
                    answered=event.answered,
                    dial_status=event.status,
                )
            elif isinstance(event, CallEnded):
                log.info(
                    "call_ended",
                    attempt_id=event.attempt_id,
                    talk_seconds=round(event.talk_seconds, 1),
                    lost=event.lost,
                )
            self._events.put_nowait((asyncio.get_running_loop().time(), event))

    def _rearm(self) -> None:
        deadline = self._tracker.next_deadline()
        if deadline is not None and deadline < self._timer_target:
            self._wakeup.set()

    async def _expire_loop(self) -> None:
        while True:
            deadline = self._tracker.next_deadline()
            self._timer_target = math.inf if deadline is None else deadline
            self._wakeup.clear()
            delay = None if deadline is None else max(0.0, deadline - time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()
            self._publish(self._tracker.expire())
