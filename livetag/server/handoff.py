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
own ``receive`` and ``send``. The slot the endpoint hands over to is found by the task
that runs the handshake, neither in the scope nor in a context variable: uvicorn keeps
the scope as long as the connection lives, and one key more takes Starlette's scope
past the size at which a dict doubles its table (768 bytes per open page); setting a
context variable leaves the task a context of its own (184 bytes). Phoenix does the
same: a LiveView socket is served by the endpoint, outside the router's pipelines.

What a middleware added to the app (``add_middleware``) sees of a livetag WebSocket is
therefore its handshake and ``websocket.accept``; it returns when the connection is
handed over. Middleware around the app sees the whole connection. An endpoint that is
not under a ``HandoffStarlette``, or runs in a task of its own, runs its connection in
place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

Runner = Callable[[Receive, Send], Awaitable[None]]

#: The handoff slots of the WebSocket handshakes running, by the task that runs each: a
#: list that takes at most one runner. An entry lasts as long as its stack.
SLOTS: dict[asyncio.Task[object], list[Runner]] = {}


class HandoffStarlette(Starlette):
    """A ``Starlette`` application whose WebSocket endpoints may ``hand_off`` the rest
    of a connection, to be run once the middleware stack returned."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        task = asyncio.current_task()
        if task is None or task in SLOTS:  # no task to key it by, or nested: the outer one hands off
            await super().__call__(scope, receive, send)
            return
        slot: list[Runner] = []
        SLOTS[task] = slot
        try:
            await super().__call__(scope, receive, send)
        finally:
            del SLOTS[task]
        if slot:
            await slot[0](receive, send)


def hand_off(run: Runner) -> bool:
    """Have ``run(receive, send)`` serve the rest of the WebSocket connection whose
    endpoint calls this, with the server's own channels, after the stack returned.
    ``False`` when it cannot (no slot: not under a ``HandoffStarlette``, or handed over
    already): the caller then runs it in place."""
    task = asyncio.current_task()
    slot = SLOTS.get(task) if task is not None else None
    if slot is None or slot:
        return False
    slot.append(run)
    return True
