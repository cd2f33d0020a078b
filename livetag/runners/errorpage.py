"""The page a reload server process serves while the app's code does not load.

Every HTTP path answers ``503`` with the escaped traceback (``debug=True``) or a generic
message, and a few lines of inline script that poll ``/_lt/livetag.js`` (which only a
working livetag app serves) and reload the page as soon as it answers. The WebSocket
endpoint answers like a ``WebApp`` that does not know the session (``bye`` + close
``4404``), so an open page reloads itself into this error page.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ..dom.html import escape_text
from ..errors import SessionExpired
from ..protocol.closing import close_code_for
from ..protocol.server_messages import Bye, ByeCode

#: Milliseconds between two checks of the error page for a working server.
POLL_INTERVAL_MS = 300

_POLL_SCRIPT = (
    "<script>(function poll(){setTimeout(function(){"
    'fetch("/_lt/livetag.js",{method:"HEAD",cache:"no-store"})'
    ".then(function(r){if(r.ok)location.reload();else poll();},poll);"
    f"}},{POLL_INTERVAL_MS});}})();</script>"
)

_STYLE = ("<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
          "pre{background:#fff0f0;color:#600;border:1px solid #c00;padding:1em;white-space:pre-wrap;"
          "font:12px monospace;overflow:auto}</style>")


def error_page_app(title: str, details: str, *, debug: bool) -> Starlette:
    """A Starlette app answering every request with the error page.

    ``title``: one line (``"importing app.py failed: SyntaxError: ..."``); ``details``: the
    traceback, shown only with ``debug=True``. Both are HTML-escaped."""
    shown = f"<pre>{escape_text(details)}</pre>" if debug else (
        "<p>The details are in the terminal that runs the server.</p>")
    body = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error - livetag</title>"
        f"{_STYLE}</head><body><h1>The app could not be loaded</h1><p id=\"lt-load-error\">{escape_text(title)}</p>"
        f"{shown}<p>Fix the code and save: this page reloads by itself.</p>{_POLL_SCRIPT}</body></html>"
    )

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(body, status_code=503, headers={"Cache-Control": "no-store", "Retry-After": "1"})

    async def websocket(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(Bye(ByeCode.EXPIRED, "the server is reloading").encode().decode())
        code, reason = close_code_for(SessionExpired("the server is reloading"))
        await ws.close(code, reason)

    methods: Any = ["GET", "HEAD", "POST"]
    return Starlette(routes=[
        WebSocketRoute("/_lt/ws", websocket),
        Route("/", page, methods=methods),
        Route("/{path:path}", page, methods=methods),
    ])
