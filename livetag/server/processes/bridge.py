"""ASGI over IPC: an ASGI connection (HTTP request or WebSocket) relayed, message by
message, over one unix stream socket between a web worker and a session process.

Frames: ``!II`` (JSON length, raw length), then the JSON object, then the raw bytes. The
JSON object is an ASGI message whose one ``bytes`` field (``body`` or ``bytes``), if any,
travels raw and is named by ``"_raw"``; header names and values travel as latin-1
strings (exact for any byte). A WebSocket message (``websocket.receive`` /
``websocket.send``, the hot path: every event and every update) has no JSON: its JSON
length is one of the ``_WS_KINDS`` markers and its text (UTF-8) or bytes travel raw.
The first frame of a connection is the scope. The session process ends its side with
``{"type": "livetag.end"}``; a connection that ends without it means the process died.

Worker side: ``relay(scope, receive, send, ...)``. Process side: ``Served``, one per
connection (accepted by ``listener``). Both stream: SSE, long-polls and WebSockets flow
as they come. (A WebSocket is handed to the session process instead where it can be:
``direct``.)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import struct
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import orjson
from starlette.types import Receive, Send

from ..compat import CookieSession

log = logging.getLogger("livetag.server.processes.bridge")

#: A frame's head: the sizes of its JSON part and of its raw part (bytes, big-endian).
HEAD = struct.Struct("!II")
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


#: JSON lengths that mark a WebSocket message sent without JSON (no JSON frame is that
#: long: ``MAX_FRAME`` is far below): (type, payload field) of each.
_WS_KINDS: dict[int, tuple[str, str]] = {
    0xFFFFFFF0: ("websocket.receive", "text"), 0xFFFFFFF1: ("websocket.receive", "bytes"),
    0xFFFFFFF2: ("websocket.send", "text"), 0xFFFFFFF3: ("websocket.send", "bytes"),
}
_WS_MARKS = {kind: mark for mark, kind in _WS_KINDS.items()}


class FrameError(ConnectionError):
    """A frame that is not one of ours (too large, malformed)."""


def encode(message: MutableMapping[str, Any]) -> bytes:
    """One frame for an ASGI message (or a scope)."""
    kind = message.get("type")  # control requests (``control``) have none
    if kind == "websocket.send" or kind == "websocket.receive":
        text = message.get("text")
        if text is not None:
            data: bytes = text.encode()
            return HEAD.pack(_WS_MARKS[kind, "text"], len(data)) + data
        value = message.get("bytes")
        if value is not None:
            return HEAD.pack(_WS_MARKS[kind, "bytes"], len(value)) + bytes(value)
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
    return HEAD.pack(len(data), len(raw)) + data + raw


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
    head = await reader.readexactly(HEAD.size)
    size, raw_size = HEAD.unpack(head)
    ws = _WS_KINDS.get(size)
    if ws is not None:
        if raw_size > MAX_FRAME:
            raise FrameError(f"expected a frame of at most {MAX_FRAME} bytes, got {raw_size}")
        data = await reader.readexactly(raw_size)
        if ws[1] == "bytes":
            return {"type": ws[0], "bytes": data, "text": None}
        try:
            return {"type": ws[0], "text": data.decode(), "bytes": None}
        except UnicodeDecodeError as exc:
            raise FrameError(f"expected UTF-8 text, got {exc}") from None
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


def encode_scope(scope: Mapping[str, Any]) -> bytes:
    """The first frame: ``scope_message(scope)``."""
    return frame(scope_message(scope))


def frame(message: dict[str, Any]) -> bytes:
    """The frame of a JSON message without raw bytes."""
    data = orjson.dumps(message)
    return HEAD.pack(len(data), 0) + data


def scope_message(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-able part of ``scope``; bytes as latin-1 strings; the cookie session
    (``scope["session"]``) as a plain dict."""
    out: dict[str, Any] = {k: scope[k] for k in _SCOPE_KEYS if k in scope}
    out["raw_path"] = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    out["query_string"] = scope.get("query_string", b"").decode("latin-1")
    out["headers"] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope.get("headers", ())]
    session = scope.get("session")
    if session is not None:
        out["session"] = dict(session)
    return out


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


#: The tasks of the connections being served (a task nobody references may be collected).
SERVING: set[asyncio.Task[None]] = set()


class Served(asyncio.Protocol):
    """The session process's side of one relayed connection: runs ``app`` for the ASGI
    connection whose scope is the first frame. Frames are parsed as they arrive, in the
    event loop's own callback (``data_received``): a message reaches the app's
    ``receive`` without a reader task in between (one task switch less per message than
    a stream reader and a queue). ``on_scope`` sees the scope before the app runs."""

    def __init__(self, app: Callable[..., Awaitable[None]],
                 on_scope: Callable[[dict[str, Any]], None] | None = None, initial: bytes = b"") -> None:
        self.app = app
        self._initial = initial  # what was read before the transport existed (``listener``)
        self.on_scope = on_scope
        self.transport: asyncio.Transport | None = None
        self.scope: dict[str, Any] | None = None
        self.gone = False  # the web worker went away, or the app was told of a disconnect
        self._buffer = bytearray()
        self._inbox: collections.deque[dict[str, Any]] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._drained: asyncio.Future[None] | None = None
        self._disconnect: dict[str, Any] = {"type": "http.disconnect"}
        #: Done once the connection is closed.
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- transport callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self._initial:
            initial, self._initial = self._initial, b""
            self.data_received(initial)

    def data_received(self, data: bytes) -> None:
        if self.gone:
            return  # nothing after a disconnect is read
        buffer, head = self._buffer, HEAD.size
        buffer += data
        while len(buffer) >= head and not self.gone:
            size, raw_size = HEAD.unpack_from(buffer)
            ws = _WS_KINDS.get(size)
            total = raw_size if ws is not None else size + raw_size
            if total > MAX_FRAME:
                self._refuse(f"expected a frame of at most {MAX_FRAME} bytes, got {total}")
                return
            if len(buffer) < head + total:
                return
            payload = bytes(buffer[head:head + total])
            del buffer[:head + total]
            try:
                if ws is not None:
                    message = {"type": ws[0], "bytes": payload, "text": None} if ws[1] == "bytes" \
                        else {"type": ws[0], "text": payload.decode(), "bytes": None}
                else:
                    message = decode(payload[:size], payload[size:])
            except (UnicodeDecodeError, orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
                self._refuse(f"expected an ASGI message, got {exc}")
                return
            self._arrived(message)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.gone:
            self.gone = True
            self._inbox.append(self._disconnect)
            self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- frames

    def _refuse(self, why: str) -> None:
        log.warning("a relayed connection sent a frame that is not one of ours: %s", why)
        self._buffer.clear()
        assert self.transport is not None
        self.transport.close()  # connection_lost: the app, if running, sees a disconnect

    def _arrived(self, message: dict[str, Any]) -> None:
        if self.scope is None:
            try:
                scope = decode_scope(message)
            except (KeyError, AttributeError, TypeError, ValueError):
                self.gone = True
                log.warning("a connection without a valid scope was refused")
                assert self.transport is not None
                self.transport.close()
                return
            self.scope = scope
            if scope["type"] == "websocket":
                self._disconnect = {"type": "websocket.disconnect", "code": 1006}
            task = asyncio.get_running_loop().create_task(self._run(scope))
            SERVING.add(task)
            task.add_done_callback(SERVING.discard)
            return
        if message["type"] in ("http.disconnect", "websocket.disconnect"):
            self.gone = True  # nothing after it is read
        self._inbox.append(message)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the app's side

    async def receive(self) -> dict[str, Any]:
        while not self._inbox:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._inbox.popleft()

    async def send(self, message: dict[str, Any]) -> None:
        transport = self.transport
        if self.gone or transport is None or transport.is_closing():
            raise ClientDisconnected("the client went away")
        if message["type"] == "http.response.start":
            cookie = self.scope.get("session") if self.scope is not None else None
            if cookie is not None and cookie.modified:
                transport.write(encode({"type": SESSION, "data": dict(cookie)}))
        transport.write(encode(message))
        if self._paused:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    async def _run(self, scope: dict[str, Any]) -> None:
        if self.on_scope is not None:
            self.on_scope(scope)
        try:
            await self.app(scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except Exception:
            log.exception("the app failed on %s %s", scope.get("method", "WS"), scope.get("path"))
        finally:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(encode({"type": END}))
                if transport.can_write_eof():
                    # Half-close; the web worker closes once it has read END. Closing here
                    # while frames of the request still arrive (an answer given before the
                    # body was read: a refused upload) resets the connection, and the
                    # worker's stream reader then raises before handing over the frames
                    # it had already received: the answer would be lost.
                    transport.write_eof()
                else:
                    transport.close()  # after what is buffered is written


async def serve_one(sock: Any, app: Callable[..., Awaitable[None]]) -> None:
    """Serve the one connection of the connected socket ``sock`` until it ends."""
    loop = asyncio.get_running_loop()
    _, served = await loop.connect_accepted_socket(lambda: Served(app), sock=sock)
    await served.closed
