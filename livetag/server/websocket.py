"""The WebSocket transport (RFC 6455): one connection = one client of one session.

Life cycle: ``CONNECTING`` (accepted, waiting for ``join``, at most ``JOIN_TIMEOUT``
seconds; anything else closes it) -> ``JOINED`` (events flow) -> ``CLOSED``. Updates
go through a bounded outbox drained by a writer task, so a session never waits for a
slow socket; a client whose outbox overflows is dropped (close 1008) rather than
buffered without bound. A ``bye`` from the session is sent, then the socket closes
(4404 when the session expired).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import MessageTooLarge, ProtocolError
from ..protocol import EventMessage, Join, Resync, decode, encode
from ..session import Client, Session
from .limits import TokenBucket
from .parano import CLEAR, Codec

log = logging.getLogger("livetag.server.websocket")

#: Close codes (RFC 6455 section 7.4; 4000-4999 are the application's).
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_TOO_LARGE = 1009
CLOSE_SESSION_EXPIRED = 4404

JOIN_TIMEOUT = 10.0

class ConnectionState(enum.Enum):
    CONNECTING = enum.auto()
    JOINED = enum.auto()
    CLOSED = enum.auto()


class WebSocketConnection:
    """Drives ``session`` from one accepted ``websocket`` until either side ends.

    The reader runs in ``run()`` itself and awaits each event to its end (a dropped
    socket is only noticed at the next receive, so an acknowledged event never stops
    half-way); one writer task drains a bounded outbox.
    """

    def __init__(self, websocket: WebSocket, session: Session, *, max_message_bytes: int,
                 max_queued_updates: int, bucket: TokenBucket | None = None, codec: Codec = CLEAR) -> None:
        self.websocket = websocket
        self.session = session
        self.bucket = bucket
        self.codec = codec
        self.max_message_bytes = max_message_bytes
        self.state = ConnectionState.CONNECTING
        self.client: Client | None = None
        self.sink = self._sink  # one bound method for the session to recognise
        self._outbox: deque[bytes] = deque()
        self._limit = max_queued_updates
        self._waiter: asyncio.Future[None] | None = None
        self._closing: tuple[int, str] | None = None

    def _sink(self, message: bytes) -> None:
        if self._closing is not None:
            return
        if len(self._outbox) >= self._limit:
            log.warning("session %s: client not reading, dropping it", self.session.log_id)
            self._outbox.clear()
            self._closing = (CLOSE_POLICY, "update queue overflow: client too slow")
        else:
            self._outbox.append(self.codec.seal(message))
            if message.startswith(b'{"t":"bye"'):  # the session ended this client
                expired = b'"code":"expired"' in message
                self._closing = (CLOSE_SESSION_EXPIRED, "session expired") if expired else (CLOSE_NORMAL, "ended")
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        try:
            await self._read()
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the peer went away
        finally:
            writer.cancel()
            if self.client is not None:
                self.session.leave(self.client, self.sink)
            self.state = ConnectionState.CLOSED

    async def _write(self) -> None:
        outbox, send = self._outbox, self.websocket.send
        loop = asyncio.get_running_loop()
        try:
            while True:
                while outbox:
                    await send({"type": "websocket.send", "text": outbox.popleft().decode()})
                if self._closing is not None:
                    await self._close(*self._closing)
                    return
                self._waiter = loop.create_future()
                await self._waiter
                self._waiter = None
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the reader sees the disconnect too

    async def _read(self) -> None:
        receive = self.websocket.receive
        loop = asyncio.get_running_loop()
        join_deadline = loop.time() + JOIN_TIMEOUT
        while True:
            if self.state is ConnectionState.CONNECTING:
                try:
                    raw = await asyncio.wait_for(receive(), max(0.0, join_deadline - loop.time()))
                except asyncio.TimeoutError:
                    await self._close(CLOSE_POLICY, f"expected a join message within {JOIN_TIMEOUT:g} s")
                    return
            else:
                raw = await receive()
            if raw["type"] == "websocket.disconnect" or self.state is ConnectionState.CLOSED:
                return
            # Every message costs a token, not only events: syncs and garbage cost work too.
            if self.state is ConnectionState.JOINED and self.bucket is not None and not self.bucket.take():
                log.warning("session %s: message rate limit hit", self.session.log_id)
                await self._close(CLOSE_POLICY, "rate limit: too many messages")
                return
            text = raw.get("text")
            try:
                if text is None:
                    raise ProtocolError("expected a text frame with a JSON message, got a binary frame")
                message = decode(self.codec.open(text), self.max_message_bytes)
                if self.state is ConnectionState.CONNECTING:
                    if not isinstance(message, Join):
                        raise ProtocolError(f"expected a join message first, got {type(message).__name__}", "not_joined")
                    self.client = self.session.join(message, self.sink, self.websocket)
                    self.state = ConnectionState.JOINED
                elif isinstance(message, EventMessage):
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
                if self.state is ConnectionState.CONNECTING or exc.code in ("csrf", "version"):
                    await self._close(CLOSE_POLICY, exc.code)
                    return
                self._sink(encode({"t": "err", "code": exc.code, "msg": str(exc)}))

    async def _dispatch(self, message: EventMessage) -> None:
        cookie = self.websocket.scope.get("session")
        before = dict(cookie) if cookie is not None else None
        await self.session.dispatch(self.client, message, self.websocket)  # type: ignore[arg-type]
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
