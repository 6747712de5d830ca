"""The AMI connection: login, keepalive, reconnect, ActionID correlation.

Nothing is ever re-sent. An action in flight when the connection drops fails with
:class:`AmiDisconnected`; whoever sent it decides what that means (for an Originate:
reconcile, never dial again).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import random
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import structlog

from ami_bridge.errors import (
    AmiActionError,
    AmiAuthError,
    AmiDisconnected,
    AmiError,
    AmiNotConnected,
)
from ami_bridge.events import AmiEvent, Shutdown, decode_event
from ami_bridge.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    AmiParser,
    Banner,
    MalformedMessage,
    Message,
    encode_action,
)

log = structlog.get_logger()

EventCallback = Callable[[AmiEvent], None]
SessionHook = Callable[[], Awaitable[None]]


class _SessionLost(Exception):
    pass


class ConnectionState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


@dataclass(slots=True)
class _ListCall:
    complete_event: str
    items: list[Message] = field(default_factory=list)
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class AmiClient:
    """One logical AMI connection that survives Asterisk restarts.

    ``async with AmiClient(...)`` returns once logged in; it retries unreachable hosts
    with backoff but raises :class:`AmiAuthError` at once on a wrong secret (wrap it in
    ``asyncio.timeout`` for a start-up deadline).
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        ping_interval: float = 10.0,
        ping_timeout: float | None = None,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
        reconnect_initial: float = 0.5,
        reconnect_max: float = 30.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        rng: random.Random | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._secret = secret
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout if ping_timeout is not None else min(5.0, ping_interval)
        self._connect_timeout = connect_timeout
        self._action_timeout = action_timeout
        self._reconnect_initial = reconnect_initial
        self._reconnect_max = reconnect_max
        self._max_message_bytes = max_message_bytes
        self._rng = rng or random.Random()
        # Unique per client: OriginateResponse is broadcast to every AMI session, so
        # ActionIDs must not collide with another dialer's.
        self._id_prefix = f"rb{secrets.token_hex(4)}"
        self._ids = itertools.count(1)
        self._subscribers: list[EventCallback] = []
        self._session_hooks: list[SessionHook] = []
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._lists: dict[str, _ListCall] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._state = ConnectionState.DISCONNECTED
        self._ready: asyncio.Future[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._not_connected = asyncio.Event()
        self._not_connected.set()
        self._closing = False
        self._sessions = 0

    # ---- lifecycle ----------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._ready = asyncio.get_running_loop().create_future()
        self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")
        try:
            await asyncio.shield(self._ready)
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True  # the Goodbye closes the socket: do not reconnect
        if self._writer is not None:
            with contextlib.suppress(AmiError, TimeoutError, OSError):
                await self.send_action("Logoff", timeout=1.0)
        await self._stop()

    async def _stop(self) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        self._fail_pending("client closed")
        self._set_state(ConnectionState.CLOSED)

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def sessions(self) -> int:
        """Logins so far: each reconnect starts a new session."""
        return self._sessions

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def wait_disconnected(self) -> None:
        await self._not_connected.wait()

    def subscribe(self, callback: EventCallback) -> None:
        """Call ``callback`` for every typed event; an exception in it is only logged."""
        self._subscribers.append(callback)

    def on_session(self, hook: SessionHook) -> None:
        """Run ``hook`` after every successful login (the first one and each reconnect)."""
        self._session_hooks.append(hook)

    # ---- actions ------------------------------------------------------------------

    def next_action_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    async def send_action(
        self,
        action: str,
        fields: Iterable[tuple[str, str]] = (),
        *,
        action_id: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per-action reply deadline
    ) -> Message:
        """Send once and wait for the reply (``Response:`` with our ActionID)."""
        action_id = action_id or self.next_action_id()
        data = encode_action(action, action_id, fields)
        writer = self._writer
        if writer is None:
            raise AmiNotConnected(f"{action}: not connected to Asterisk")
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        try:
            writer.write(data)
            async with asyncio.timeout(timeout or self._action_timeout):
                return await future
        finally:
            self._pending.pop(action_id, None)

    async def send_list_action(
        self,
        action: str,
        fields: Iterable[tuple[str, str]] = (),
        *,
        complete_event: str,
        timeout: float | None = None,  # noqa: ASYNC109 - per-action reply deadline
    ) -> list[Message]:
        """An action answered by ``EventList: start``, item events, then ``complete_event``."""
        action_id = self.next_action_id()
        call = _ListCall(complete_event)
        self._lists[action_id] = call
        try:
            async with asyncio.timeout(timeout or self._action_timeout):
                reply = await self.send_action(action, fields, action_id=action_id)
                if reply.response != "Success":
                    raise AmiActionError(f"{action}: {reply.get('Message')}")
                await call.done
            return call.items
        finally:
            self._lists.pop(action_id, None)

    # ---- connection ---------------------------------------------------------------

    def _set_state(self, state: ConnectionState, **info: object) -> None:
        if state is self._state:
            return
        log.info(
            "ami_state_changed",
            state=state.value,
            previous=self._state.value,
            host=self._host,
            port=self._port,
            **info,
        )
        self._state = state
        if state is ConnectionState.CONNECTED:
            self._connected.set()
            self._not_connected.clear()
        else:
            self._connected.clear()
            self._not_connected.set()

    async def _supervise(self) -> None:
        failures = 0
        while True:
            self._set_state(ConnectionState.CONNECTING)
            logged_in = False
            try:
                logged_in = await self._session()
            except AmiAuthError as exc:
                log.error("ami_auth_failed", host=self._host, user=self._username, error=str(exc))
                self._set_state(ConnectionState.CLOSED)
                if self._ready is not None and not self._ready.done():
                    self._ready.set_exception(exc)
                return
            except _SessionLost as exc:
                logged_in = exc.args[1] if len(exc.args) > 1 else False
                self._set_state(ConnectionState.DISCONNECTED, reason=str(exc.args[0]))
            if self._closing:
                # Our cancellation may have been absorbed into a TaskGroup's error group.
                return
            failures = 0 if logged_in else failures + 1
            # Exponential backoff with jitter, so dialers do not reconnect in lockstep.
            delay = min(self._reconnect_max, self._reconnect_initial * 2 ** max(failures - 1, 0))
            delay *= 0.5 + self._rng.random() / 2
            log.info("ami_reconnect_scheduled", delay_seconds=round(delay, 3), failures=failures)
            await asyncio.sleep(delay)

    async def _session(self) -> bool:
        """One TCP session; returns or raises _SessionLost when it ends."""
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(self._host, self._port)
        except (OSError, TimeoutError) as exc:
            raise _SessionLost(f"connect failed: {exc!r}") from exc
        parser = AmiParser(max_message_bytes=self._max_message_bytes)
        logged_in = False
        try:
            # Counted before the login: its FullyBooted event belongs to the new session.
            self._sessions += 1
            await self._login(reader, writer, parser)
            self._writer = writer
            logged_in = True
            self._set_state(ConnectionState.CONNECTED)
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._ping_loop())
                for hook in self._session_hooks:
                    tg.create_task(self._run_hook(hook))
                await self._read_loop(reader, parser)
        except BaseExceptionGroup as group:
            errors = _leaves(group)
            for error in errors:
                if not isinstance(error, _SessionLost | OSError | TimeoutError | AmiError):
                    log.error("ami_session_crashed", exc_info=error)
            raise _SessionLost(str(errors[0]), logged_in) from None
        except (OSError, TimeoutError) as exc:
            raise _SessionLost(repr(exc), logged_in) from exc
        finally:
            self._writer = None
            self._fail_pending("connection to Asterisk lost")
            writer.close()
        raise _SessionLost("session ended", logged_in)

    async def _login(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: AmiParser
    ) -> None:
        """Log in before anything else runs, reading the reply here.

        Asterisk closes the socket right after a refused login; reading the reply in this
        one task means the refusal is never mistaken for a dropped connection.
        """
        action_id = self.next_action_id()
        fields = [("Username", self._username), ("Secret", self._secret), ("Events", "on")]
        writer.write(encode_action("Login", action_id, fields))
        # Asterisk answers a wrong secret after a deliberate 1 s delay.
        async with asyncio.timeout(self._connect_timeout + 2.0):
            done = False
            while not done:
                data = await reader.read(65536)
                if not data:
                    raise _SessionLost("connection closed during login")
                for item in parser.feed(data):
                    if isinstance(item, Message) and item.action_id == action_id:
                        if "shutting down" in item.get("Message").lower():
                            # Not our secret: Asterisk refuses logins while it shuts
                            # down gracefully. Try again later like any lost session.
                            raise _SessionLost("Asterisk is shutting down")
                        if item.response != "Success":
                            raise AmiAuthError(
                                f"login as {self._username!r} refused: {item.get('Message')}"
                            )
                        done = True
                    else:
                        self._handle_item(item)

    async def _read_loop(self, reader: asyncio.StreamReader, parser: AmiParser) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                raise _SessionLost("connection closed by Asterisk")
            for item in parser.feed(data):
                self._handle_item(item)

    def _handle_item(self, item: Banner | Message | MalformedMessage) -> None:
        if isinstance(item, Message):
            self._dispatch(item)
        elif isinstance(item, MalformedMessage):
            log.warning("ami_malformed_message", reason=item.reason, excerpt=item.excerpt)
        else:
            log.debug("ami_banner", version=item.version)

    def _dispatch(self, message: Message) -> None:
        if message.event is None:
            future = self._pending.get(message.action_id or "")
            if future is not None and not future.done():
                future.set_result(message)
            return
        call = self._lists.get(message.action_id or "")
        if call is not None:
            if message.event == call.complete_event:
                if not call.done.done():
                    call.done.set_result(None)
            else:
                call.items.append(message)
            return
        event = decode_event(message)
        if event is None:
            return
        if isinstance(event, Shutdown):
            log.warning("ami_asterisk_shutdown", restart=event.restart)
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("ami_subscriber_failed", event_type=type(event).__name__)

    async def _ping_loop(self) -> None:
        # A keepalive must read its reply: a peer that stops answering with the TCP
        # connection still up is only detected this way.
        while True:
            await asyncio.sleep(self._ping_interval)
            try:
                await self.send_action("Ping", timeout=self._ping_timeout)
            except TimeoutError:
                log.warning("ami_ping_timeout", timeout_seconds=self._ping_timeout)
                raise _SessionLost("no reply to Ping") from None

    async def _run_hook(self, hook: SessionHook) -> None:
        try:
            await hook()
        except AmiDisconnected:
            pass
        except Exception:
            log.exception("ami_session_hook_failed")

    def _fail_pending(self, why: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(AmiDisconnected(why))
        for call in self._lists.values():
            if not call.done.done():
                call.done.set_exception(AmiDisconnected(why))
                call.done.exception()  # retrieved: the awaiting side gets it from the reply


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out += _leaves(exc)
        else:
            out.append(exc)
    return out
