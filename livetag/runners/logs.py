"""Logging of the runners: where livetag's log lines go, and transport connect/disconnect.

Loggers (all under ``livetag``): ``livetag.runners`` (serving, URLs), ``livetag.runners.reload``
(restarts), ``livetag.runners.chrome`` (the window), ``livetag.runners.transport`` (INFO:
a WebSocket transport connected / disconnected). ``livetag.server.registry`` logs sessions
created and discarded, ``livetag.session`` each event dispatched with its duration (DEBUG).
uvicorn's own loggers (``uvicorn.error``, ``uvicorn.access``) are left to uvicorn.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("livetag.runners.transport")

#: ``--log-level`` names, as uvicorn spells them (``trace`` is uvicorn's level 5).
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

_FORMAT = "%(levelname)-9s %(name)s: %(message)s"


def level_number(name: str) -> int:
    """``"info"`` -> ``logging.INFO``; ``"trace"`` -> 5. Raises ``ValueError`` for another name."""
    if name.lower() == "trace":
        return 5
    number = logging.getLevelName(name.upper())
    if not isinstance(number, int):
        raise ValueError(f"expected a log level among {', '.join(LOG_LEVELS)}, got {name!r}")
    return number


def configure_logging(level: str | int = "info") -> None:
    """Show livetag's log lines at ``level`` and above on stderr, unless the application
    configured logging itself (a handler on the root or ``livetag`` logger): then its
    configuration wins, except for a ``livetag`` logger level it left unset."""
    number = level_number(level) if isinstance(level, str) else level
    root = logging.getLogger("livetag")
    if not root.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
        root.setLevel(number)
    elif root.level == logging.NOTSET:
        root.setLevel(number)


class TransportLog:
    """ASGI middleware: an INFO line when a WebSocket transport opens and when it closes.

    ``websocket connected from 127.0.0.1 (1 open)`` / ``websocket disconnected from
    127.0.0.1: closed by the server, code 4404 session expired (0 open)``. Client addresses
    and close codes are logged; cookies, session ids and tokens never are. HTTP requests
    and lifespan messages pass through untouched.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.open = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        peer = client[0] if client else "unknown peer"
        closed: dict[str, Any] = {}
        accepted = False

        async def logged_send(message: Any) -> None:
            nonlocal accepted
            kind = message["type"]
            if kind == "websocket.accept" and not accepted:
                accepted = True
                self.open += 1
                log.info("websocket connected from %s (%d open)", peer, self.open)
            elif kind == "websocket.close" and not closed:
                closed.update(by="the server", code=message.get("code", 1000), reason=message.get("reason") or "")
            await send(message)

        async def logged_receive() -> Any:
            message = await receive()
            if message["type"] == "websocket.disconnect" and not closed:
                closed.update(by="the client", code=message.get("code", 1005), reason=message.get("reason") or "")
            return message

        try:
            await self.app(scope, logged_receive, logged_send)
        finally:
            if accepted:
                self.open -= 1
                how = f"closed by {closed['by']}, code {closed['code']}" if closed else "connection lost"
                if closed.get("reason"):
                    how += f" {closed['reason']}"
                log.info("websocket disconnected from %s: %s (%d open)", peer, how, self.open)
