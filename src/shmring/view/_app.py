"""The web server: the page, the ring list, saving a frame, the WebSocket; and who may use them.

Security: the server binds to 127.0.0.1 unless told otherwise. With a token
every request and WebSocket must carry it (``?token=``, an
``Authorization: Bearer`` header, or the cookie the page gets on its first
load). A WebSocket opened from a page of another origin is refused, so a web
site open in the same browser cannot read frames through the user's viewer.
"""

from __future__ import annotations

import hmac
import re
from http.cookies import SimpleCookie
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ._catalog import catalog
from ._image import Stretch, fits_bytes, png_bytes
from ._session import Session, ViewConfig

COOKIE = "shmring_token"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def create_app(config: ViewConfig) -> Starlette:
    """The ASGI application serving ``config``'s rings (run it with uvicorn, or :func:`shmring.view.serve`)."""
    sessions: dict[str, Session] = {}
    static = resources.files(__package__).joinpath("static")

    def rows() -> list[dict[str, Any]]:
        return catalog(config.directory, config.legacy_dir, config.names)

    def resolve(name: str) -> Path | None:
        for row in rows():
            if name in (row["name"], row["path"]) and row["kind"] in ("native", "legacy"):
                return Path(row["path"])
        return None

    async def index(request: Request) -> Response:
        page = static.joinpath("index.html").read_text("utf-8")
        response = HTMLResponse(page, headers={"Cache-Control": "no-store"})
        if config.token:
            response.set_cookie(COOKIE, config.token, httponly=True, samesite="strict")
        return response

    async def rings(request: Request) -> Response:
        return JSONResponse({"rings": rows(), "directory": str(config.directory),
                             "legacy_dir": None if config.legacy_dir is None else str(config.legacy_dir),
                             "max_fps": config.max_fps, "max_side": config.max_side})

    async def save(request: Request) -> Response:
        return _save(request, sessions)

    async def stream(ws: WebSocket) -> None:
        await ws.accept()
        session = Session(ws, config, resolve)
        sessions[session.id] = session
        try:
            await session.run()
        finally:
            del sessions[session.id]

    routes = [
        Route("/", index), Route("/api/rings", rings), Route("/api/save", save),
        WebSocketRoute("/ws", stream),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(Guard, token=config.token)
    return app


def _save(request: Request, sessions: dict[str, Session]) -> Response:
    """The frame a page shows now, at full resolution, as FITS or as the PNG the page shows."""
    query = request.query_params
    session = sessions.get(query.get("session", ""))
    seq = query.get("seq")
    snap = None if session is None else session.shown(int(seq) if seq and seq.isdigit() else None)
    if session is None or snap is None:
        return PlainTextResponse(f"frame {seq} is no longer held for that page: save again", status_code=404)
    ring = session.ring or "frame"
    fmt = query.get("format", "fits")
    stem = f"{_SAFE_NAME.sub('_', Path(ring).name)}-{snap.seq}"
    try:
        if fmt == "fits":
            body, kind = fits_bytes(snap, ring), "application/fits"
        elif fmt == "png":
            stretch = Stretch.from_request(dict(query))
            low, high = _float_or_none(query.get("low")), _float_or_none(query.get("high"))
            body, kind = png_bytes(snap, stretch, low, high), "image/png"
        else:
            raise ValueError(f"format must be fits or png, got {fmt!r}")
    except ValueError as err:
        return PlainTextResponse(str(err), status_code=400)
    return Response(body, media_type=kind,
                    headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'})


def _float_or_none(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"low/high must be numbers, got {text!r}") from None


class Guard:
    """ASGI middleware: the token on every request and WebSocket, and WebSockets from our own pages only."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        why = self._refusal(scope, headers)
        if why is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": why})
        else:
            await PlainTextResponse(why, status_code=403)(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> str | None:
        if scope["type"] == "websocket" and not _same_origin(headers):
            return "WebSocket from another origin refused"
        if self.token is None:
            return None
        offered = _offered_token(scope, headers)
        if offered is None or not hmac.compare_digest(offered.encode(), self.token.encode()):
            return "this viewer needs its token: open the URL shmring view printed (it ends in ?token=...)"
        return None


def _same_origin(headers: dict[str, str]) -> bool:
    origin = headers.get("origin")
    return origin is None or urlsplit(origin).netloc == headers.get("host")


def _offered_token(scope: Scope, headers: dict[str, str]) -> str | None:
    raw: bytes = scope.get("query_string", b"")
    query = parse_qs(raw.decode("latin-1"))
    if "token" in query:
        return query["token"][0]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    cookie: SimpleCookie = SimpleCookie(headers.get("cookie", ""))
    return str(cookie[COOKIE].value) if COOKIE in cookie else None
