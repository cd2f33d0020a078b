"""``WebApp``: serve a livetag app as a Starlette ASGI application, sessions in-process.

Routes, relative to wherever the app is mounted:

- ``GET /``                   the server-rendered page; issues the session cookie
- ``GET /_lt/livetag.js``     the client script (immutable when fetched with ``?v=<hash>``)
- ``WS  /_lt/ws``             the WebSocket transport
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from importlib import resources
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ..dom.render import escape_text
from ..protocol import DEFAULT_MAX_MESSAGE_BYTES, encode
from ..session import AppSource
from .page import render_page
from .registry import SessionRegistry
from .websocket import CLOSE_POLICY, CLOSE_SESSION_EXPIRED, WebSocketConnection

log = logging.getLogger("livetag.server.webapp")

CLIENT_SCRIPT = resources.files("livetag.client").joinpath("livetag.js").read_bytes()
CLIENT_SCRIPT_HASH = hashlib.sha256(CLIENT_SCRIPT).hexdigest()[:16]
COOKIE_NAME = "lt_sid"


class WebApp:
    """Host ``app`` (a ``Tag`` subclass: one private instance per browser session; or an
    instance: shared by everyone) behind ``.app``, a Starlette ASGI application.

    ``debug=True`` shows escaped tracebacks of failing handlers in the page; with
    ``debug=False`` the page gets a generic message and an error id that matches the
    server log line. ``allowed_origins`` lists extra origins (``"https://example.com"``)
    whose pages may open the WebSocket, besides the app's own host.
    """

    def __init__(self, app: AppSource, *, debug: bool = False, allowed_origins: tuple[str, ...] = (),
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, max_queued_updates: int = 256) -> None:
        self.debug = debug
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        self.max_message_bytes = max_message_bytes
        self.max_queued_updates = max_queued_updates
        self.registry = SessionRegistry(app, debug=debug)
        self.app = Starlette(
            routes=[
                Route("/", self._page, methods=["GET", "HEAD"]),
                Route("/_lt/livetag.js", self._script, methods=["GET", "HEAD"]),
                WebSocketRoute("/_lt/ws", self._websocket),
            ],
            lifespan=self._lifespan,
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # -- lifespan -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        self.registry.close_all()

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def base_path(conn: HTTPConnection) -> str:
        """The mount path of this app, without trailing slash (``""`` at the root)."""
        return conn.scope.get("root_path", "").rstrip("/")

    def cookie_name(self, conn: HTTPConnection) -> str:
        # One cookie per mount point, so two apps on one host never read each other's.
        base = self.base_path(conn)
        return COOKIE_NAME if not base else f"{COOKIE_NAME}_{hashlib.sha256(base.encode()).hexdigest()[:8]}"

    def origin_allowed(self, conn: HTTPConnection) -> bool:
        """The ``Origin`` header matches the request's host or ``allowed_origins``.

        A request without ``Origin`` comes from a non-browser client, which cannot carry
        a victim's cookies, and is allowed (RFC 6455 section 10.2)."""
        origin = conn.headers.get("origin")
        if origin is None:
            return True
        origin = origin.rstrip("/").lower()
        if origin in self.allowed_origins:
            return True
        host = conn.headers.get("host", "").lower()
        return bool(host) and urlsplit(origin).netloc == host

    # -- endpoints ------------------------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        name = self.cookie_name(request)
        session = self.registry.get(request.cookies.get(name))
        session_id = None
        if session is not None:
            session.reload()  # F5: the same app instance unmounts and mounts again
        else:
            try:
                session_id, session = await asyncio.to_thread(self.registry.create, request)
            except Exception:
                log.exception("creating the app failed")
                return self._error_page(request)
        base = self.base_path(request)
        html = render_page(session, base=base, script_url=f"{base}/_lt/livetag.js?v={CLIENT_SCRIPT_HASH}",
                           debug=self.debug)
        response = HTMLResponse(html, headers={"Cache-Control": "no-store"})
        if session_id is not None:
            response.set_cookie(name, session_id, path=base or "/", httponly=True, samesite="lax",
                                secure=request.url.scheme == "https")
        return response

    def _error_page(self, request: Request) -> Response:
        if self.debug:
            import traceback

            body = f"<!DOCTYPE html><title>Error</title><pre>{escape_text(traceback.format_exc())}</pre>"
        else:
            body = "<!DOCTYPE html><title>Error</title><p>The application failed to start.</p>"
        return HTMLResponse(body, status_code=500)

    async def _script(self, request: Request) -> Response:
        immutable = request.query_params.get("v") == CLIENT_SCRIPT_HASH
        return Response(
            CLIENT_SCRIPT,
            media_type="text/javascript",
            headers={
                "Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache",
                "ETag": f'"{CLIENT_SCRIPT_HASH}"',
            },
        )

    async def _websocket(self, websocket: WebSocket) -> None:
        if not self.origin_allowed(websocket):
            log.warning("websocket from a foreign origin refused")
            await websocket.close(CLOSE_POLICY, "origin not allowed")
            return
        session = self.registry.get(websocket.cookies.get(self.cookie_name(websocket)))
        await websocket.accept()
        if session is None:
            await websocket.send_text(encode({"t": "bye", "code": "expired", "msg": "session expired"}).decode())
            await websocket.close(CLOSE_SESSION_EXPIRED, "session expired")
            return
        connection = WebSocketConnection(websocket, session, max_message_bytes=self.max_message_bytes,
                                         max_queued_updates=self.max_queued_updates)
        await connection.run()

    # -- running --------------------------------------------------------------------------

    def run(self, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True, **uvicorn_options: Any) -> None:
        """Serve until stopped (Ctrl-C / SIGTERM). ``port=0`` takes a free port from the OS;
        the URL served is logged either way. Clients disconnecting never stop the server."""
        from ..runners.serve import serve

        serve(self, host=host, port=port, open_browser=open_browser, **uvicorn_options)
