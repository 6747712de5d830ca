"""The HTTP server's own limits, before any route or token check runs.

uvicorn's httptools protocol reads headers of any size and waits for a half-sent request
forever. :class:`BoundedHttpProtocol` refuses a request head over ``MAX_HEAD_BYTES`` with
431, and closes a connection whose request head is not complete ``HEAD_TIMEOUT`` seconds
after the connection opened or the previous answer ended (408), or whose body stalls for
``BODY_IDLE_TIMEOUT`` seconds. A production deployment still puts a reverse proxy in front
(see the README).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 32 * 1024
HEAD_TIMEOUT = 10.0
BODY_IDLE_TIMEOUT = 30.0


class BoundedHttpProtocol(HttpToolsProtocol):
    max_head_bytes = MAX_HEAD_BYTES
    head_timeout = HEAD_TIMEOUT
    body_idle_timeout = BODY_IDLE_TIMEOUT

    _phase = "head"  # head | body | app (the request is read; the app answers)
    _head_bytes = 0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase == "head":
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._phase == "head"
            and self._head_bytes > self.max_head_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(431, f"request head larger than {self.max_head_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "head"

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase, self._head_bytes = "body", 0
        self._arm(self.body_idle_timeout)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm(self.body_idle_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = "app"
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self._phase == "app":
            self._phase = "head"
        if self._phase == "head":
            self._arm(self.head_timeout)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self._phase == "app" or self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:
            # The app has not taken the body read so far: not the client's delay.
            self._arm(self.body_idle_timeout)
            return
        self._refuse(408, "request not received in time")

    def _refuse(self, status: int, message: str) -> None:
        self._disarm()
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
            body = b'{"code":"http_%d","message":"%s","field":null}' % (status, message.encode())
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, reason, len(body), body)
            )
        self.transport.close()


def server_config(
    app: Any,
    host: str,
    port: int,
    *,
    max_head_bytes: int = MAX_HEAD_BYTES,
    head_timeout: float = HEAD_TIMEOUT,
    body_idle_timeout: float = BODY_IDLE_TIMEOUT,
    **options: Any,
) -> uvicorn.Config:
    """uvicorn's configuration for the agent API, with the limits above."""
    protocol = type(
        "BoundedHttp",
        (BoundedHttpProtocol,),
        {
            "max_head_bytes": max_head_bytes,
            "head_timeout": head_timeout,
            "body_idle_timeout": body_idle_timeout,
        },
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        log_config=None,
        access_log=False,
        lifespan="off",
        **options,
    )
