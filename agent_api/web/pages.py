"""The pages: HTML shells rendered by Jinja2, filled and kept live by our own JavaScript
through the same HTTP API and event streams as any other client.

Every asset is served from this package (PBX networks are often offline). A page holds no
data of its own: it asks the API with the token the user typed, which lives in the tab's
``sessionStorage`` and travels only in the ``Authorization`` header, never in a URL. The
headers below keep pages from being framed, scripts to our own files, and URLs out of
referrers.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(request: Request, template: str, title: str) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"title": title}, headers=PAGE_HEADERS)


@router.get("/", response_class=HTMLResponse)
async def index() -> RedirectResponse:
    return RedirectResponse("/desk", status_code=307)


@router.get("/desk", response_class=HTMLResponse)
async def desk(request: Request) -> HTMLResponse:
    return _page(request, "desk.html", "Agent desk")


@router.get("/board", response_class=HTMLResponse)
async def board(request: Request) -> HTMLResponse:
    return _page(request, "board.html", "Supervisor board")


class _StaticHeaders:
    """nosniff on our own assets; they change with the package, so revalidate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message["headers"],
                    (b"x-content-type-options", b"nosniff"),
                    (b"cache-control", b"no-cache"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", _StaticHeaders(StaticFiles(directory=HERE / "static")), name="static")
