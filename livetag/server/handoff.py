"""WebSocket handoff: a livetag WebSocket leaves the middleware stack once accepted.

A WebSocket lives as long as its page, mostly idle. Inside the stack, every open one
keeps a suspended frame in each middleware and routing layer (Starlette's error and
exception middleware, the host check, the cookie session, the router, the route), and
every message it sends goes through each layer's ``send`` wrapper. Both cost more than
the connection's own state.

So the ASGI app of a ``WebApp`` is a ``HandoffStarlette``: the handshake runs through
the whole stack as any request does (middleware may refuse it, ``scope["session"]`` is
loaded, the endpoint accepts); the endpoint then hands the rest of the connection over
(``hand_off``) and returns, the stack unwinds, and the connection runs on the server's
own ``receive`` and ``send``. Phoenix does the same: a LiveView socket is served by the
endpoint, outside the router's pipelines.

What a middleware added to the app (``add_middleware``) sees of a livetag WebSocket is
therefore its handshake and ``websocket.accept``; it returns when the connection is
handed over. Middleware around the app sees the whole connection. A connection whose
scope has no handoff slot (an app that is not a ``HandoffStarlette``) runs in place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

#: The scope key of a WebSocket's handoff slot: a list that takes at most one runner.
SLOT = "livetag.handoff"

Runner = Callable[[Receive, Send], Awaitable[None]]


class HandoffStarlette(Starlette):
    """A ``Starlette`` application whose WebSocket endpoints may ``hand_off`` the rest
    of a connection, to be run once the middleware stack returned."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        slot: list[Runner] = []
        scope[SLOT] = slot
        await super().__call__(scope, receive, send)
        if slot:
            await slot[0](receive, send)


def hand_off(scope: Scope | Any, run: Runner) -> bool:
    """Have ``run(receive, send)`` serve the rest of the WebSocket connection of
    ``scope`` with the server's own channels, after the stack returned. ``False`` when
    it cannot (no slot: not under a ``HandoffStarlette``, or handed over already): the
    caller then runs it in place."""
    slot = scope.get(SLOT)
    if slot is None or slot:
        return False
    slot.append(run)
    return True
