"""The WebSocket transport (RFC 6455): one connection = one client of one session.

Life cycle (``ConnectionState``, transitions checked)::

    CONNECTING --join--> JOINED --bye, or dropped as too slow--> CLOSING --frame--> CLOSED
    CONNECTING or JOINED --refused, timed out, peer gone--> CLOSED     (CONNECTING may close too)
    CLOSED --close frame not taken within CLOSE_WAIT--> ABANDONED

``CONNECTING``: accepted, waiting for ``join``, at most ``JOIN_TIMEOUT`` seconds
(anything else closes it); ``JOINED``: events flow; ``CLOSING``: what is queued goes
out, then the close frame; ``CLOSED``: the close frame was handed to the socket (or the
peer went away). Close codes and reasons come from ``livetag.protocol.closing``. Updates
go through a bounded outbox drained by a writer task, so a session never waits for a
slow socket. A client that does not read is dropped (close 1008 ``update queue
overflow: client too slow``) rather than buffered without bound, as soon as what waits
for it passes ``max_queued_updates`` messages or ``max_queued_bytes`` bytes, or an
update has waited ``WRITE_TIMEOUT`` seconds behind a send the socket does not take.
What livetag holds for such a client is thus bounded in bytes: the outbox, one message
being sent and the ASGI server's write buffer (uvicorn pauses sends above 64 KiB); the
kernel's socket buffers come on top. The close frame goes out once the socket takes it
again; a client that never reads again is abandoned after ``CLOSE_WAIT`` seconds (the
ASGI app returns, the server closes the connection). A ``bye`` from the session is
sent, then the socket closes (4404 when the session expired).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import Any

from starlette.types import Message, Receive, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..clients import Client
from ..errors import ClientTooSlow, MessageTooLarge, ProtocolError, RateLimited, StalePage
from ..lifecycle import Transitions
from ..protocol import EventMessage, Join, Ping, Resync, decode
from ..protocol.closing import CloseCode, close_code_for, close_code_for_bye
from ..protocol.server_messages import PONG_BYTES, Bye, CookieSync, Error, ErrorCode
from ..session import Session
from .limits import TokenBucket
from .parano import CLEAR, Codec

log = logging.getLogger("livetag.server.websocket")

#: Close codes, kept under their former names for importers (``livetag.runners``);
#: the table lives in ``livetag.protocol.closing``.
CLOSE_NORMAL = CloseCode.NORMAL
CLOSE_POLICY = CloseCode.POLICY
CLOSE_TOO_LARGE = CloseCode.TOO_LARGE
CLOSE_SESSION_EXPIRED = CloseCode.SESSION_EXPIRED

JOIN_TIMEOUT = 10.0
#: Seconds an update may wait behind a send the client's socket does not take.
WRITE_TIMEOUT = 10.0
#: Seconds a close frame for a client dropped as too slow may wait for its socket.
CLOSE_WAIT = 30.0

class ConnectionState(enum.Enum):
    """Where a WebSocket connection is in its life cycle (module docstring)."""

    CONNECTING = enum.auto()
    JOINED = enum.auto()
    CLOSING = enum.auto()
    CLOSED = enum.auto()
    ABANDONED = enum.auto()


CONNECTION_LIFECYCLE: Transitions[ConnectionState] = Transitions("a WebSocket connection", {
    ConnectionState.CONNECTING: {ConnectionState.JOINED, ConnectionState.CLOSING, ConnectionState.CLOSED},
    ConnectionState.JOINED: {ConnectionState.CLOSING, ConnectionState.CLOSED},
    ConnectionState.CLOSING: {ConnectionState.CLOSED},
    ConnectionState.CLOSED: {ConnectionState.ABANDONED},
})
# Module constants: the sink runs for every message and an enum attribute costs a lookup.
_CONNECTING, _JOINED, _CLOSING = ConnectionState.CONNECTING, ConnectionState.JOINED, ConnectionState.CLOSING


class WebSocketConnection:
    """Drives ``session`` from one accepted ``websocket`` until either side ends.

    The reader runs in ``run()`` itself and awaits each event to its end (a dropped
    socket is only noticed at the next receive, so an acknowledged event never stops
    half-way); a writer task, started when there is something to send, drains a
    bounded outbox.
    """

    def __init__(self, websocket: WebSocket, session: Session, *, max_message_bytes: int,
                 max_queued_updates: int, max_queued_bytes: int = 4 << 20, bucket: TokenBucket | None = None,
                 codec: Codec = CLEAR, on_join: Callable[[Session], None] | None = None) -> None:
        #: The request user code sees (headers, cookies, ``session``); the connection's
        #: messages go through ``_receive`` and ``_send``.
        self.websocket = websocket
        self._receive: Receive = websocket.receive
        self._send: Send = websocket.send
        self.session = session
        self.bucket = bucket
        self.codec = codec
        self.max_message_bytes = max_message_bytes
        self.state = ConnectionState.CONNECTING
        self.client: Client | None = None
        self.sink = self._sink  # one bound method for the session to recognise
        # A list, not a deque: it holds 0 or 1 message nearly always (at most
        # max_queued_updates), and an empty deque costs 600 bytes more per connection.
        self._outbox: list[bytes] = []
        self._limit = max_queued_updates
        self._byte_limit = max_queued_bytes
        self._queued_bytes = 0
        #: loop.time() when the send in progress started; 0.0: none in progress.
        self._sending_since = 0.0
        #: The close frame (code, reason) the writer sends once in ``CLOSING``.
        self._close_frame: tuple[int, str] = (CloseCode.NORMAL, "ended")
        self._writer: asyncio.Task[None] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._on_join = on_join

    def _to(self, state: ConnectionState) -> None:
        self.state = CONNECTION_LIFECYCLE.check(self.state, state)

    def _begin_closing(self, code: int, reason: str) -> None:
        """Send what is queued, then the close frame ``code``/``reason``; nothing more."""
        self._to(ConnectionState.CLOSING)
        self._close_frame = (code, reason)

    def _sink(self, message: bytes) -> None:
        state = self.state
        if state is not _JOINED and state is not _CONNECTING:  # closing: nothing more goes out
            return
        sealed = self.codec.seal(message)
        outbox = self._outbox
        if outbox and (len(outbox) >= self._limit or self._queued_bytes + len(sealed) > self._byte_limit
                       or (self._sending_since
                           and asyncio.get_running_loop().time() - self._sending_since > WRITE_TIMEOUT)):
            self._drop_slow()
            return
        outbox.append(sealed)
        self._queued_bytes += len(sealed)
        self._wake_writer()

    def _wake_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def _ended(self, bye: Bye) -> None:
        """The session ended this client (its ``bye`` is queued): close after it."""
        if self.state is _JOINED:
            self._begin_closing(*close_code_for_bye(bye.code))
            self._wake_writer()

    def _drop_slow(self) -> None:
        """The client is not reading: forget what waits for it, stop writing to it and
        close it with 1008 as soon as its socket takes a frame (see the module docstring)."""
        log.warning("session %s: client not reading (%d updates, %d bytes waiting): dropping it",
                    self.session.log_id, len(self._outbox), self._queued_bytes)
        self._outbox.clear()
        self._queued_bytes = 0
        self._begin_closing(*close_code_for(ClientTooSlow("client too slow")))
        if self.client is not None:
            self.session.leave(self.client, self.sink)  # the session stops rendering for it
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()  # blocked in a send the socket does not take (nothing written yet)
        self._closer = asyncio.get_running_loop().create_task(self._close_slow())

    async def _close_slow(self) -> None:
        try:
            await asyncio.wait_for(self._close(*self._close_frame), CLOSE_WAIT)
        except TimeoutError:
            # It never read again: end the ASGI connection; the server closes the socket.
            self._to(ConnectionState.ABANDONED)
            if self._task is not None and not self._task.done():
                self._task.cancel()

    async def run(self, receive: Receive | None = None, send: Send | None = None) -> None:
        """Serve the connection until it ends. ``receive``/``send``: the server's own
        channels, when the connection was handed off out of the middleware stack
        (``livetag.server.handoff``); else the websocket's."""
        if receive is not None and send is not None:
            self._receive, self._send = receive, send
        self._task = asyncio.current_task()
        try:
            # The reader loop runs here, not in a coroutine of its own: an idle page holds
            # one suspended frame less, and nothing of its last message.
            receive = self._receive
            loop = asyncio.get_running_loop()
            join_deadline = loop.time() + JOIN_TIMEOUT
            while True:
                if self.state is _CONNECTING:
                    try:
                        raw = await asyncio.wait_for(receive(), max(0.0, join_deadline - loop.time()))
                    except TimeoutError:
                        timeout = ProtocolError(f"expected a join message within {JOIN_TIMEOUT:g} s",
                                                ErrorCode.NOT_JOINED)
                        await self._close(close_code_for(timeout)[0], str(timeout))
                        break
                else:
                    raw = await receive()
                if not await self._on_message(raw):
                    break
                del raw
            if self._closer is not None:
                await self._closer  # returning first would close the socket without the close frame
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the peer went away
        except asyncio.CancelledError:
            if self.state is not ConnectionState.ABANDONED:
                raise
            assert self._task is not None
            self._task.uncancel()
        finally:
            if self._writer is not None:
                self._writer.cancel()
            if self.client is not None:
                self.session.leave(self.client, self.sink)
            if self.state is not ConnectionState.CLOSED and self.state is not ConnectionState.ABANDONED:
                self._to(ConnectionState.CLOSED)  # the peer went away

    async def _write(self) -> None:
        """Send what the outbox holds, then the close frame once ``CLOSING``, and end: a
        writer task lives only while there is something to write (``_wake_writer``
        starts one), so an idle connection holds none."""
        outbox, send = self._outbox, self._send
        loop = asyncio.get_running_loop()
        try:
            while outbox:
                self._sending_since = loop.time()
                # No local keeps the message: this frame waits for the next one with
                # nothing of the last one alive (an idle page held its join reply).
                await send({"type": "websocket.send", "text": self._take_next()})
                self._sending_since = 0.0
            if self.state is _CLOSING:
                await self._close(*self._close_frame)
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the reader sees the disconnect too
        finally:
            self._writer = None

    def _take_next(self) -> str:
        message = self._outbox.pop(0)
        self._queued_bytes -= len(message)
        return message.decode()

    async def _on_message(self, raw: Message) -> bool:
        """Act on one ASGI message of the connection; ``False``: the connection ends."""
        if raw["type"] == "websocket.disconnect" or self.state is ConnectionState.CLOSED:
            return False
        # Every message costs a token, not only events: syncs and garbage cost work too.
        if self.state is not _CONNECTING and self.bucket is not None and not self.bucket.take():
            log.warning("session %s: message rate limit hit", self.session.log_id)
            await self._close(*close_code_for(RateLimited("too many messages")))
            return False
        text = raw.get("text")
        try:
            if text is None:
                raise ProtocolError("expected a text frame with a JSON message, got a binary frame")
            message = decode(self.codec.open(text), self.max_message_bytes)
            if self.state is _CONNECTING:
                if not isinstance(message, Join):
                    raise ProtocolError(f"expected a join message first, got {type(message).__name__}",
                                        ErrorCode.NOT_JOINED)
                self.client = self.session.join(message, self.sink, self.websocket, on_bye=self._ended)
                self._to(ConnectionState.JOINED)
                if self._on_join is not None:
                    self._on_join(self.session)
            elif isinstance(message, EventMessage):
                await self._dispatch(message)
            elif isinstance(message, Resync):
                self.session.resync(self.client)  # type: ignore[arg-type]
            elif isinstance(message, Ping):
                self._sink(PONG_BYTES)
            else:
                raise ProtocolError("expected an event or sync message, got a second join",
                                    ErrorCode.ALREADY_JOINED)
        except MessageTooLarge as exc:
            log.warning("session %s: %s", self.session.log_id, exc)
            await self._close(*close_code_for(exc))
            return False
        except ProtocolError as exc:
            log.warning("session %s: protocol error: %s", self.session.log_id, exc)
            # Before the join nothing is trusted; a stale page must reload, not retry.
            if self.state is _CONNECTING or isinstance(exc, StalePage):
                await self._close(*close_code_for(exc))
                return False
            self._sink(Error(exc.code, str(exc)).encode())
        return True

    async def _dispatch(self, message: EventMessage) -> None:
        cookie = self.websocket.scope.get("session")
        before = dict(cookie) if cookie is not None else None
        await self.session.dispatch(self.client, message, self.websocket)  # type: ignore[arg-type]
        if cookie is not None and cookie != before:
            # A WebSocket cannot set a cookie: the page fetches it over HTTP.
            self.session.pending_cookie = dict(cookie)
            self._sink(CookieSync().encode())

    async def _close(self, code: int, reason: str) -> None:
        """Send the close frame (once: a connection closed or closing elsewhere is left as it is)."""
        if self.state is ConnectionState.CLOSED or self.state is ConnectionState.ABANDONED:
            return
        self._to(ConnectionState.CLOSED)
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except (RuntimeError, OSError):
            pass
