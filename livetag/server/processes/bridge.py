"""ASGI over IPC: an ASGI connection (HTTP request or WebSocket) relayed, message by
message, over one unix stream socket between a web worker and a session process.

Frames: ``!II`` (JSON length, raw length), then the JSON object, then the raw bytes. The
JSON object is an ASGI message whose one ``bytes`` field (``body`` or ``bytes``), if any,
travels raw and is named by ``"_raw"``; header names and values travel as latin-1
strings (exact for any byte). The first frame of a connection is the scope. The session
process ends its side with ``{"type": "livetag.end"}``; a connection that ends without it
means the process died.

Worker side: ``relay(scope, receive, send, path)``. Process side: ``serve(reader,
writer, app)``. Both stream: SSE, long-polls and WebSockets flow as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.types import Receive, Send

from ..compat import CookieSession

log = logging.getLogger("livetag.server.processes.bridge")

_HEAD = struct.Struct("!II")
#: Frames larger than this are refused (a WebSocket frame or body chunk is far smaller:
#: the web worker's own limits apply before the relay).
MAX_FRAME = 64 << 20
END = "livetag.end"
#: The cookie session (``request.session``) as changed by the session process, sent just
#: before ``http.response.start`` so the web worker's session middleware writes it.
SESSION = "livetag.session"
_WRITE_HIGH_WATER = 256 << 10

#: Scope keys that cross the bridge; the rest (the worker's app, routing state,
#: lifespan state, server extensions) stays in the worker.
_SCOPE_KEYS = ("type", "asgi", "http_version", "method", "scheme", "path", "root_path", "client", "server",
               "subprotocols")


class FrameError(ConnectionError):
    """A frame that is not one of ours (too large, malformed)."""


def encode(message: MutableMapping[str, Any]) -> bytes:
    """One frame for an ASGI message (or a scope)."""
    raw = b""
    out = message
    if "body" in message or "bytes" in message or "headers" in message:
        out = dict(message)
        for field in ("body", "bytes"):
            value = out.get(field)
            if isinstance(value, (bytes, bytearray, memoryview)):
                raw = bytes(value)
                out[field] = None
                out["_raw"] = field
                break
        headers = out.get("headers")
        if headers:
            out["headers"] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers]
    data = orjson.dumps(out)
    return _HEAD.pack(len(data), len(raw)) + data + raw


def decode(data: bytes, raw: bytes) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(data)
    field = message.pop("_raw", None)
    if field is not None:
        message[field] = raw
    headers = message.get("headers")
    if headers:
        message["headers"] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return message


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The next message. Raises ``asyncio.IncompleteReadError`` at end of stream,
    ``FrameError`` for a frame that is not ours."""
    head = await reader.readexactly(8)
    size, raw_size = _HEAD.unpack(head)
    if size + raw_size > MAX_FRAME:
        raise FrameError(f"expected a frame of at most {MAX_FRAME} bytes, got {size + raw_size}")
    payload = await reader.readexactly(size + raw_size)
    try:
        return decode(payload[:size], payload[size:])
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise FrameError(f"expected a JSON ASGI message, got {exc}") from None


async def write(writer: asyncio.StreamWriter, frame: bytes) -> None:
    writer.write(frame)
    if writer.transport.get_write_buffer_size() > _WRITE_HIGH_WATER:
        await writer.drain()


def encode_scope(scope: dict[str, Any]) -> bytes:
    """The first frame: the JSON-able part of ``scope``; bytes as latin-1 strings; the
    cookie session (``scope["session"]``) as a plain dict."""
    out: dict[str, Any] = {k: scope[k] for k in _SCOPE_KEYS if k in scope}
    out["raw_path"] = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    out["query_string"] = scope.get("query_string", b"").decode("latin-1")
    out["headers"] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope.get("headers", ())]
    session = scope.get("session")
    if session is not None:
        out["session"] = dict(session)
    data = orjson.dumps(out)
    return _HEAD.pack(len(data), 0) + data


def decode_scope(message: dict[str, Any]) -> dict[str, Any]:
    scope = dict(message)
    scope["raw_path"] = scope["raw_path"].encode("latin-1")
    scope["query_string"] = scope["query_string"].encode("latin-1")
    scope.setdefault("headers", [])  # already bytes pairs (``decode``)
    for key in ("client", "server"):
        if scope.get(key) is not None:
            scope[key] = tuple(scope[key])
    if "session" in scope:
        scope["session"] = CookieSession(scope["session"])
    scope["extensions"] = {}
    scope["state"] = {}
    return scope


# -- worker side --------------------------------------------------------------------------


class Outcome(enum.Enum):
    """How a relayed connection ended, as seen by the web worker."""

    COMPLETE = enum.auto()      # the session process finished the response
    CLIENT_GONE = enum.auto()   # the browser went away first
    PROCESS_GONE = enum.auto()  # the session process closed the connection without finishing


class RelayState:
    """What the browser has been sent so far, so that a dead process is reported in the
    form the transport still allows (a response not started yet, an accepted WebSocket)."""

    __slots__ = ("accepted", "closed", "relayed", "started")

    def __init__(self) -> None:
        self.relayed = False   # the connection reached a session process (its first messages went there)
        self.started = False   # http.response.start sent
        self.accepted = False  # websocket.accept sent
        self.closed = False    # websocket.close sent, or the response body finished


async def relay(scope: dict[str, Any], receive: Receive, send: Send, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter, state: RelayState,
                on_start: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
    """Relay one ASGI connection to a session process over an open stream pair.

    ``on_start`` may edit ``http.response.start`` / ``websocket.accept`` (extra headers)
    before they reach ``send``. Returns how it ended; never raises for a peer going away.
    """
    writer.write(encode_scope(scope))
    state.relayed = True
    session = scope.get("session")
    client_gone = asyncio.Event()

    async def upstream() -> None:
        try:
            while True:
                message = await receive()
                await write(writer, encode(message))
                if message["type"] in ("http.disconnect", "websocket.disconnect"):
                    client_gone.set()
                    return
        except (ConnectionError, OSError, RuntimeError):
            return

    up = asyncio.ensure_future(upstream())
    try:
        while True:
            try:
                message = await read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                return Outcome.CLIENT_GONE if client_gone.is_set() and state.closed else Outcome.PROCESS_GONE
            kind = message["type"]
            if kind == END:
                return Outcome.COMPLETE
            if kind == SESSION:
                if session is not None:
                    session.clear()
                    session.update(message["data"])
                continue
            if kind in ("http.response.start", "websocket.accept"):
                if on_start is not None:
                    on_start(message)
                if kind == "http.response.start":
                    state.started = True
                else:
                    state.accepted = True
            elif (kind == "http.response.body" and not message.get("more_body", False)) or kind == "websocket.close":
                state.closed = True
            try:
                await send(message)
            except (OSError, RuntimeError):
                return Outcome.CLIENT_GONE
    finally:
        up.cancel()
        with contextlib.suppress(BaseException):
            await up
        writer.close()


# -- session process side -----------------------------------------------------------------


class ClientDisconnected(OSError):
    """``send`` after the web worker (or the browser behind it) went away (ASGI 2.4:
    servers raise ``OSError`` then)."""


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                app: Callable[..., Awaitable[None]],
                on_scope: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Run ``app`` for the one ASGI connection that arrives on this stream pair."""
    try:
        scope = decode_scope(await read_frame(reader))
    except (asyncio.IncompleteReadError, ConnectionError, OSError, KeyError, AttributeError, TypeError):
        log.warning("a connection without a valid scope was refused")
        writer.close()
        return
    if on_scope is not None:
        on_scope(scope)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    gone = False
    disconnect = {"type": "websocket.disconnect", "code": 1006} if scope["type"] == "websocket" \
        else {"type": "http.disconnect"}

    async def pump() -> None:
        nonlocal gone
        try:
            while True:
                message = await read_frame(reader)
                if message["type"] in ("http.disconnect", "websocket.disconnect"):
                    gone = True
                inbox.put_nowait(message)
                if gone:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            gone = True
            inbox.put_nowait(disconnect)

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    cookie = scope.get("session")

    async def send(message: dict[str, Any]) -> None:
        if gone:
            raise ClientDisconnected("the client went away")
        if message["type"] == "http.response.start" and cookie is not None and cookie.modified:
            writer.write(encode({"type": SESSION, "data": dict(cookie)}))
        await write(writer, encode(message))

    reading = asyncio.ensure_future(pump())
    try:
        await app(scope, receive, send)
    except ClientDisconnected:
        pass
    except Exception:
        log.exception("the app failed on %s %s", scope.get("method", "WS"), scope.get("path"))
    finally:
        reading.cancel()
        with contextlib.suppress(Exception):
            writer.write(encode({"type": END}))
            await writer.drain()
        writer.close()
