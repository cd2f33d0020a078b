"""What a web worker of the ``Runner`` answers by itself when a session's process cannot:
the session is gone (``bye``, then close 4410 / HTTP 410, or 4404 / 410 when it expired),
it moved (join again: close 1012, HTTP 503), nothing can serve it right now (retry:
close 1013, HTTP 503), or the server stops (HTTP 503 with an ``err``).

Each answer takes the form the connection still allows (``bridge.RelayState``: a
WebSocket accepted or not, an HTTP response started or not) and ``edit``, the worker's
hook on ``http.response.start`` / ``websocket.accept`` (its debug header), or ``None``.
A browser that went away meanwhile is not an error.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from ...errors import ServerStopping, SessionEnded, SessionExpired
from ...protocol.closing import close_code_for, http_status_for
from ...protocol.server_messages import Bye, Error
from . import bridge

Edit = Callable[[dict[str, Any]], None]


def stopping_response(message: str) -> Response:
    """What an HTTP transport of a page gets when its session's process stops under it
    (the server stops, or the session moved to another machine): ``ServerStopping``'s
    status with an ``err`` saying ``message``; the page joins again after a second."""
    refusal = ServerStopping()
    body = b"[" + Error(refusal.code, message).encode() + b"]"
    return Response(body, status_code=http_status_for(refusal), media_type="application/json",
                    headers={"Retry-After": "1", "Cache-Control": "no-store"})


async def send_response(response: Response, scope: Scope, receive: Receive, send: Send, edit: Edit | None) -> None:
    """Send ``response``, its start message passed through ``edit`` first."""
    if edit is None:
        await response(scope, receive, send)
        return

    async def patched(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            edit(message)  # type: ignore[arg-type]
        await send(message)

    await response(scope, receive, patched)


async def gone(scope: Scope, receive: Receive, send: Send, state: bridge.RelayState, code: str, msg: str,
               edit: Edit | None) -> None:
    """Tell a transport that its session is gone (``code``: ``ended`` or ``expired``)."""
    bye = Bye(code, msg).encode()
    ending = SessionEnded(msg) if code == SessionEnded.code else SessionExpired(msg)
    try:
        if scope["type"] == "websocket":
            if state.closed:
                return
            if not state.accepted:
                if not state.relayed:
                    await receive()  # websocket.connect (else the relay consumed it)
                accept: dict[str, Any] = {"type": "websocket.accept"}
                if edit is not None:
                    edit(accept)
                await send(accept)
            await send({"type": "websocket.send", "text": bye.decode()})
            close, _ = close_code_for(ending)
            reason = msg.encode()[:120].decode(errors="ignore") or code
            await send({"type": "websocket.close", "code": close, "reason": reason})
        elif not state.started:
            response = Response(b"[" + bye + b"]", status_code=http_status_for(ending), media_type="application/json",
                                headers={"Cache-Control": "no-store"})
            await send_response(response, scope, receive, send, edit)
        elif not state.closed:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except (OSError, RuntimeError):
        pass  # the browser went away too


async def moved(scope: Scope, receive: Receive, send: Send, state: bridge.RelayState, edit: Edit | None) -> None:
    """Tell a transport to join again (in a cluster, its session moved to another
    machine, or this one stops): a WebSocket closed as "service restart" (1012), an
    HTTP request answered 503 as when the server stops; the page keeps its
    unacknowledged events and re-sends them after joining."""
    try:
        if scope["type"] == "websocket":
            if not state.closed:
                await send({"type": "websocket.close", "code": 1012 if state.accepted else 1013, "reason": "moved"})
        elif not state.started:
            await send_response(stopping_response("this session moved; join again"), scope, receive, send, edit)
        elif not state.closed:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except (OSError, RuntimeError):
        pass  # the browser went away too


async def unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    """Nothing can serve this session right now (no supervisor, or in a cluster its
    owner cannot be reached or Redis cannot say who it is): retry later."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1013, "reason": "try again later"})
        return
    response = HTMLResponse("<!DOCTYPE html><title>Unavailable</title><p>The server cannot start sessions "
                            "right now; please retry.</p>", status_code=503, headers={"Retry-After": "5"})
    await response(scope, receive, send)
