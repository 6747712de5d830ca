"""The HTTP agent API. ``create_app`` is handed its collaborators by the composition root;
nothing here is a module-level singleton."""

from __future__ import annotations

import json
import re
from typing import Any

import structlog
from fastapi import FastAPI, HTTPException
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_api import errors
from agent_api.config import ApiOptions
from agent_api.hub import AgentHub
from agent_api.routers import (
    callbacks,
    campaigns,
    cases,
    dnc,
    events,
    floor,
    followups,
    forecast,
    interactions,
    preview,
    users,
    wrapup,
)
from agent_api.schemas import Health
from agent_api.web import pages
from campaigns.imports.files import DEFAULT_MAX_BYTES
from campaigns.services import Services

log = structlog.get_logger()

MAX_BODY_BYTES = 64 * 1024


def create_app(
    services: Services,
    settings: ApiOptions,
    hub: AgentHub,
    *,
    publisher: Any = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    sse_keepalive_seconds: float = 15.0,
) -> FastAPI:
    """The API over ``services``; ``hub`` feeds /agents/me/events, ``publisher`` (MQTT) is
    only read for /health."""
    # Swagger UI and ReDoc from the package's own copies: a PBX network is often offline.
    app = FastAPIOffline(
        title="Ringback agent API",
        version="0.1.0",
        description="Agents, wrap-up, end reasons, callbacks, cases and campaigns.",
    )
    app.state.services = services
    app.state.hub = hub
    app.state.sse_keepalive = sse_keepalive_seconds
    app.state.settings = settings
    routers = (
        users,
        floor,
        interactions,
        wrapup,
        followups,
        callbacks,
        cases,
        campaigns,
        dnc,
        forecast,
    )
    for module in (*routers, events, preview):
        app.include_router(module.router)

    @app.get("/health", response_model=Health, tags=["health"])
    async def health() -> Health:
        return Health(
            status="ok",
            mqtt_connected=getattr(publisher, "connected", None),
            mqtt_dropped=getattr(publisher, "dropped", 0),
            mqtt_buffered=getattr(publisher, "buffered", 0),
            event_subscribers=hub.subscribers,
        )

    pages.install(app)
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(Guard)
    return app


class Guard:
    """The outermost check of every request, and the last word on every failure.

    A NUL in the path or the query string is refused (no database stores one). An
    exception no handler took becomes a JSON 500 ``{code, message}`` and is logged; it is
    not passed on to the server, which would answer in plain text and then drop the
    keep-alive connection without saying ``Connection: close``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The path comes decoded, the query string as sent.
        nul = "path" if "\x00" in scope["path"] else None
        if b"%00" in scope.get("query_string", b""):
            nul = "query"
        if nul is not None:
            await _json(send, 422, "invalid", f"{nul}: contains a NUL character", nul)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("request_failed", path=scope["path"], method=scope.get("method"))
            if started:
                raise  # half an answer sent: the connection cannot be saved
            await _json(send, 500, "internal", "internal error; it has been logged", None)


async def _json(send: Send, status: int, code: str, message: str, field: str | None) -> None:
    body = json.dumps({"code": code, "message": message, "field": field}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Contact lists are uploaded whole: they get the importer's own size limit.
LARGE_BODIES: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^/campaigns/[^/]+/contacts$"), DEFAULT_MAX_BYTES),
)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, by header or while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.default = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next(
            (size for path, size in LARGE_BODIES if path.match(scope["path"])), self.default
        )
        await self._limited(limit, scope, receive, send)

    async def _limited(self, max_bytes: int, scope: Scope, receive: Receive, send: Send) -> None:
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit():
                if int(value) > max_bytes:
                    await _too_large(send, max_bytes)
                    return
                # The HTTP server reads no more than the length declared: nothing to watch.
                await self.app(scope, receive, send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise _BodyTooLarge(max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, max_bytes)


class _BodyTooLarge(HTTPException):
    # An HTTPException so that FastAPI's body parsing passes it on as it is.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body: larger than {limit} bytes")


async def _too_large(send: Send, limit: int) -> None:
    body = (
        b'{"code":"too_large","message":"body: larger than '
        + str(limit).encode()
        + b' bytes","field":"body"}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
