"""MQTT publishing with aiomqtt: a bounded buffer in front of one connection.

``publish`` never blocks and never fails: while the broker is away events wait in the buffer
(oldest dropped when full, and counted); the connection is retried with capped backoff.
Delivery is at least once (QoS 1; an event is removed from the buffer only once sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import aiomqtt
import structlog

from agent_api.config import MqttOptions

log = structlog.get_logger()


class MqttPublisher:
    """Async context manager: publishing runs in a task that lives inside ``async with``."""

    STALE_SECONDS = 2.0
    KEEPALIVE_SECONDS = 10

    def __init__(
        self,
        settings: MqttOptions,
        *,
        client_id: str | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        connect_timeout: float = 5.0,
        close_timeout: float = 2.0,
    ) -> None:
        self._settings = settings
        self._client_id = client_id
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._buffer: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._session = False
        self._waiting_since: float | None = None
        self.sent = 0
        self.dropped = 0
        self.connects = 0

    @property
    def connected(self) -> bool:
        """Up, as far as the last exchange tells: a session is open and no event has waited
        for the broker's acknowledgement longer than ``STALE_SECONDS`` (a frozen broker
        keeps its TCP connection open)."""
        if not self._session:
            return False
        waiting = self._waiting_since
        return waiting is None or time.monotonic() - waiting < self.STALE_SECONDS

    def _is_closing(self) -> bool:
        # A call, not an attribute: mypy would narrow the attribute across awaits.
        return self._closing

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def publish(self, topic: str, payload: Mapping[str, Any]) -> None:
        if len(self._buffer) >= self._settings.buffer_size:
            self._buffer.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("mqtt_events_dropped", dropped=self.dropped)
        self._buffer.append((topic, json.dumps(payload, default=str).encode()))
        self._wake.set()

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="mqtt-publisher")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Flush what is buffered (briefly), then close; never hangs on a vanished broker."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        self._wake.set()
        _, pending = await asyncio.wait({task}, timeout=self._close_timeout)
        # aiomqtt waits for the broker's goodbye without a deadline: a second cancel ends
        # that wait when the connection died under it.
        while pending:
            task.cancel()
            _, pending = await asyncio.wait({task}, timeout=1.0)
        if not task.cancelled() and task.exception() is not None:
            log.error("mqtt_publisher_failed", error=str(task.exception()))
        if self._buffer:
            log.warning("mqtt_closed_with_buffered_events", buffered=len(self._buffer))

    async def _run(self) -> None:
        backoff = self._backoff_initial
        s = self._settings
        while not self._is_closing():
            try:
                async with aiomqtt.Client(
                    s.host,
                    s.port,
                    username=s.username,
                    password=s.password.get_secret_value() if s.password else None,
                    identifier=self._client_id,
                    timeout=self._connect_timeout,
                    keepalive=self.KEEPALIVE_SECONDS,
                ) as client:
                    self._session = True
                    self._waiting_since = None
                    self.connects += 1
                    backoff = self._backoff_initial
                    log.info("mqtt_connected", host=s.host, port=s.port, buffered=self.buffered)
                    await self._drain(client)
            except aiomqtt.MqttError as exc:
                if self._session:
                    log.warning("mqtt_disconnected", error=str(exc), buffered=self.buffered)
                else:
                    log.info("mqtt_connect_failed", error=str(exc), retry_in=backoff)
            finally:
                self._session = False
            if self._is_closing():
                return
            await self._sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max)

    async def _drain(self, client: aiomqtt.Client) -> None:
        while True:
            while self._buffer:
                topic, payload = self._buffer[0]
                self._waiting_since = time.monotonic()
                await client.publish(topic, payload, qos=1)
                self._waiting_since = None
                # The buffer may have dropped its head meanwhile: remove what was sent.
                if self._buffer and self._buffer[0] == (topic, payload):
                    self._buffer.popleft()
                self.sent += 1
            if self._is_closing():
                return
            self._wake.clear()
            await self._wake.wait()

    async def _sleep(self, seconds: float) -> None:
        # Backoff that a close cuts short.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while not self._closing:
                    self._wake.clear()
                    await self._wake.wait()


class NullPublisher:
    """Used when MQTT is disabled."""

    connected = None
    dropped = 0
    buffered = 0

    def publish(self, topic: str, payload: Mapping[str, Any]) -> None:
        return None
