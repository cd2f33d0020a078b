"""The WebSocket transport (RFC 6455): one connection = one client of one session.

Life cycle: ``CONNECTING`` (accepted, waiting for ``join``) -> ``JOINED`` (events flow)
-> ``CLOSED``. Updates go through a bounded queue drained by a writer task, so a
session never waits for a slow socket; a client whose queue overflows is dropped
(close 1008) rather than buffered without bound.
"""

from __future__ import annotations

import asyncio
import enum
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import MessageTooLarge, ProtocolError
from ..protocol import EventMessage, Join, Resync, decode, encode
from ..session import Client, Session
from .limits import TokenBucket
from .parano import CLEAR, Codec

log = logging.getLogger("livetag.server.websocket")

#: Close codes (RFC 6455 section 7.4; 4000-4999 are the application's).
CLOSE_POLICY = 1008
CLOSE_TOO_LARGE = 1009
CLOSE_SESSION_EXPIRED = 4404

JOIN_TIMEOUT = 10.0

#: Events still running after their connection went away (strong references).
_running: set[asyncio.Future[None]] = set()


class ConnectionState(enum.Enum):
    CONNECTING = enum.auto()
    JOINED = enum.auto()
    CLOSED = enum.auto()


class WebSocketConnection:
    """Drives ``session`` from one accepted ``websocket`` until either side ends."""

    def __init__(self, websocket: WebSocket, session: Session, *, max_message_bytes: int,
                 max_queued_updates: int, bucket: TokenBucket | None = None, codec: Codec = CLEAR) -> None:
        self.websocket = websocket
        self.session = session
        self.bucket = bucket
        self.codec = codec
        self.max_message_bytes = max_message_bytes
        self.state = ConnectionState.CONNECTING
        self.client: Client | None = None
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(max_queued_updates)
        self._overflowed = asyncio.Event()

    def _sink(self, message: bytes) -> None:
        try:
            self._queue.put_nowait(self.codec.seal(message))
        except asyncio.QueueFull:
            if not self._overflowed.is_set():
                log.warning("session %s: client not reading, dropping it", self.session.log_id)
                self._overflowed.set()

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        reader = asyncio.create_task(self._read())
        overflow = asyncio.create_task(self._overflowed.wait())
        try:
            done, _ = await asyncio.wait({writer, reader, overflow}, return_when=asyncio.FIRST_COMPLETED)
            if overflow in done:
                await self._close(CLOSE_POLICY, "update queue overflow: client too slow")
            for task in done:
                if task is not overflow and not task.cancelled() and task.exception() is not None:
                    exc = task.exception()
                    if not isinstance(exc, (WebSocketDisconnect, OSError, RuntimeError)):
                        log.error("session %s: websocket task failed", self.session.log_id, exc_info=exc)
        finally:
            for task in (writer, reader, overflow):
                task.cancel()
            if self.client is not None:
                self.session.leave(self.client, self._sink)
            self.state = ConnectionState.CLOSED

    async def _write(self) -> None:
        queue, send = self._queue, self.websocket.send
        while True:
            message = await queue.get()
            await send({"type": "websocket.send", "text": message.decode()})

    async def _read(self) -> None:
        receive = self.websocket.receive
        try:
            first = await asyncio.wait_for(receive(), JOIN_TIMEOUT)
        except asyncio.TimeoutError:
            await self._close(CLOSE_POLICY, "expected a join message within 10 s")
            return
        raw = first
        while True:
            if raw["type"] == "websocket.disconnect":
                return
            text = raw.get("text")
            try:
                if text is None:
                    raise ProtocolError("expected a text frame with a JSON message, got a binary frame")
                message = decode(self.codec.open(text), self.max_message_bytes)
                if self.state is ConnectionState.CONNECTING:
                    if not isinstance(message, Join):
                        raise ProtocolError(f"expected a join message first, got {type(message).__name__}", "not_joined")
                    self.client = self.session.join(message, self._sink, self.websocket)
                    self.state = ConnectionState.JOINED
                elif isinstance(message, EventMessage):
                    if self.bucket is not None and not self.bucket.take():
                        log.warning("session %s: event rate limit hit", self.session.log_id)
                        await self._close(CLOSE_POLICY, "rate limit: too many events")
                        return
                    await self._dispatch(message)
                elif isinstance(message, Resync):
                    self.session.resync(self.client)  # type: ignore[arg-type]
                else:
                    raise ProtocolError("expected an event or sync message, got a second join", "already_joined")
            except MessageTooLarge as exc:
                log.warning("session %s: %s", self.session.log_id, exc)
                await self._close(CLOSE_TOO_LARGE, "message too large")
                return
            except ProtocolError as exc:
                log.warning("session %s: protocol error: %s", self.session.log_id, exc)
                if exc.code in ("csrf", "version", "not_joined"):
                    await self._close(CLOSE_POLICY, exc.code)
                    return
                self._sink(encode({"t": "err", "code": exc.code, "msg": str(exc)}))
            raw = await receive()

    async def _dispatch(self, message: EventMessage) -> None:
        # Shielded: the socket dropping cancels this reader, but an event already
        # acknowledged by sequence number must still run to its end (the page gets
        # the result when it rejoins), never stop half-way.
        cookie = self.websocket.scope.get("session")
        before = dict(cookie) if cookie is not None else None
        task = asyncio.ensure_future(self.session.dispatch(self.client, message, self.websocket))  # type: ignore[arg-type]
        _running.add(task)
        task.add_done_callback(_running.discard)
        await asyncio.shield(task)
        if cookie is not None and cookie != before:
            # A WebSocket cannot set a cookie: the page fetches it over HTTP.
            self.session.pending_cookie = dict(cookie)
            self._sink(encode({"t": "cookie"}))

    async def _close(self, code: int, reason: str) -> None:
        if self.state is ConnectionState.CLOSED:
            return
        self.state = ConnectionState.CLOSED
        try:
            await self.websocket.close(code, reason)
        except (RuntimeError, OSError):
            pass
