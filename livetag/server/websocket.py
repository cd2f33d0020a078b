"""The WebSocket transport (RFC 6455): one connection = one client of one session.

Life cycle (``ConnectionState``, transitions checked)::

    CONNECTING --join--> JOINED --bye, or dropped as too slow--> CLOSING --frame--> CLOSED
    CONNECTING or JOINED --refused, timed out, peer gone--> CLOSED     (CONNECTING may close too)
    CLOSED --close frame not taken within CLOSE_WAIT--> ABANDONED

``CONNECTING``: accepted, waiting for ``join``, at most ``JOIN_TIMEOUT`` seconds
(anything else closes it); ``JOINED``: events flow; ``CLOSING``: what is queued goes
out, then the close frame; ``CLOSED``: the close frame was handed to the socket (or the
peer went away). Close codes and reasons come from ``livetag.protocol.closing``. Updates
go through a bounded outbox, so a session never waits for a slow socket. The reader
sends what a message queued once the message is done (an event's update costs no task
and no loop turn); what is queued outside a message, or while one waits (a handler's
``yield``), goes out through a writer task. A client that does not read is dropped
(close 1008 ``update queue overflow: client too slow``) rather than buffered without
bound, as soon as what waits for it passes ``max_queued_updates`` messages or
``max_queued_bytes`` bytes, or a send has not been taken for ``WRITE_TIMEOUT`` seconds
(``SendWatch`` looks every quarter of it: a reader blocked in a send reads nothing,
so the client's next events wait, and uvicorn stops reading its socket). What
livetag holds for such a client is thus bounded in bytes: the outbox, one message being
sent and the ASGI server's write buffer (uvicorn pauses sends above 64 KiB); the
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


class SendWatch:
    """Drops the connections whose send has not been taken for ``WRITE_TIMEOUT`` seconds.

    A connection registers each send (``begin``/``end``: two set operations); one task,
    alive while sends happen, looks every ``WRITE_TIMEOUT / 4`` seconds. A send the
    socket takes at once (nearly all of them) is over before the task ever looks.
    """

    def __init__(self) -> None:
        self._sending: set[WebSocketConnection] = set()
        self._task: asyncio.Task[None] | None = None

    def begin(self, connection: WebSocketConnection, loop: asyncio.AbstractEventLoop) -> None:
        """``connection`` starts a send on ``loop`` (the running loop)."""
        self._sending.add(connection)
        task = self._task
        if task is None or task.get_loop() is not loop:  # an app served on another loop before
            self._task = loop.create_task(self._watch())

    def end(self, connection: WebSocketConnection) -> None:
        self._sending.discard(connection)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        # Asked now: when a loop closes with this task pending, the coroutine is closed
        # outside any running loop, where asyncio.current_task() raises.
        me = asyncio.current_task()
        try:
            while True:
                await asyncio.sleep(WRITE_TIMEOUT / 4)
                if not self._sending:
                    return  # the next send starts another
                now = loop.time()
                for connection in [c for c in self._sending if now - c.sending_since > WRITE_TIMEOUT]:
                    self._sending.discard(connection)
                    if connection.state is _JOINED or connection.state is _CONNECTING:
                        connection.drop_slow()
        finally:
            if self._task is me:
                self._task = None


class WebSocketConnection:
    """Drives ``session`` from one accepted ``websocket`` until either side ends.

    The reader runs in ``run()`` itself and awaits each event to its end (a dropped
    socket is only noticed at the next receive, so an acknowledged event never stops
    half-way). Between two messages it drains the bounded outbox itself; a writer task
    drains it when something is queued while no message is being handled. A message
    that queued updates for other connections (another tab of the session, a
    subscriber) is followed by one loop turn before the next is read, so that a backlog
    of events applied back to back (handlers that never wait) lets their writers send:
    they would otherwise fill their bounded outboxes and be dropped as too slow.
    """

    #: Updates queued for a connection outside its own message, ever (see above).
    queued_elsewhere = 0

    def __init__(self, websocket: WebSocket, session: Session, *, max_message_bytes: int,
                 max_queued_updates: int, max_queued_bytes: int = 4 << 20, bucket: TokenBucket | None = None,
                 codec: Codec = CLEAR, on_join: Callable[[Session], None] | None = None,
                 watch: SendWatch | None = None) -> None:
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
        self.sending_since = 0.0
        #: Shared by the connections of one app (``WebApp``); a connection alone gets its own.
        self._watch = watch if watch is not None else SendWatch()
        #: The close frame (code, reason) the writer sends once in ``CLOSING``.
        self._close_frame: tuple[int, str] = (CloseCode.NORMAL, "ended")
        #: The task draining the outbox: a writer task, or the reader's (``_write_here``).
        self._writer: asyncio.Task[Any] | None = None
        #: Something was queued while a message is handled: the reader sends it after the
        #: message, or a writer task started on the next loop turn if the message waits.
        self._write_pending = False
        self._in_message = False
        #: ``drop_slow`` cancelled the reader's own send (``_write_here`` takes it back).
        self._send_dropped = False
        self._task: asyncio.Task[Any] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._on_join = on_join
        #: Made on the loop that serves it; kept, as asking asyncio costs a getpid() each time.
        self._loop = asyncio.get_running_loop()

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
        codec = self.codec
        sealed = message if codec is CLEAR else codec.seal(message)
        outbox = self._outbox
        if outbox and (len(outbox) >= self._limit or self._queued_bytes + len(sealed) > self._byte_limit
                       or (self.sending_since
                           and self._loop.time() - self.sending_since > WRITE_TIMEOUT)):
            self.drop_slow()
            return
        outbox.append(sealed)
        self._queued_bytes += len(sealed)
        if not self._in_message:
            WebSocketConnection.queued_elsewhere += 1
        self._wake_writer()

    def _wake_writer(self) -> None:
        if self._writer is not None or self._write_pending:
            return
        if self._in_message:
            # The reader sends it when the message is done; if the message waits on
            # something first (a handler's yield, an await), a writer task does.
            self._write_pending = True
            self._loop.call_soon(self._start_writer)
        else:
            self._writer = self._loop.create_task(self._write())

    def _start_writer(self) -> None:
        if self._write_pending and self._writer is None:
            self._writer = self._loop.create_task(self._write())

    async def _write_here(self) -> None:
        """Send what the last message queued from the reader's own task."""
        task = self._task
        assert task is not None
        self._writer = task
        try:
            await self._write()
        except asyncio.CancelledError:
            if not self._send_dropped:
                raise
            # drop_slow stopped a send the socket did not take; the reader goes on
            # reading while _close_slow waits to send the close frame.
            self._send_dropped = False
            if task.uncancel():
                raise  # cancelled from elsewhere too

    def _ended(self, bye: Bye) -> None:
        """The session ended this client (its ``bye`` is queued): close after it."""
        if self.state is _JOINED:
            self._begin_closing(*close_code_for_bye(bye.code))
            self._wake_writer()

    def drop_slow(self) -> None:
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
            # Blocked in a send the socket does not take (nothing written yet).
            self._send_dropped = writer is self._task
            writer.cancel()
        self._closer = self._loop.create_task(self._close_slow())

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
            loop = self._loop
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
                self._in_message = True
                elsewhere = WebSocketConnection.queued_elsewhere
                try:
                    going_on = await self._on_message(raw)
                finally:
                    self._in_message = False
                if not going_on:
                    self._write_pending = False  # closed: nothing more goes out
                    break
                del raw
                if self._write_pending and self._writer is None:
                    await self._write_here()
                if WebSocketConnection.queued_elsewhere != elsewhere:
                    await asyncio.sleep(0)  # their writers' turn (class docstring)
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
            self._write_pending = False
            if self._writer is not None:
                self._writer.cancel()
            if self.client is not None:
                self.session.leave(self.client, self.sink)
            if self.state is not ConnectionState.CLOSED and self.state is not ConnectionState.ABANDONED:
                self._to(ConnectionState.CLOSED)  # the peer went away

    async def _write(self) -> None:
        """Send what the outbox holds, then the close frame once ``CLOSING``, and end. It
        runs in the reader's task after a message (``_write_here``) or in a writer task
        that lives only while there is something to write (``_wake_writer``), so an idle
        connection holds none."""
        outbox, send, loop = self._outbox, self._send, self._loop
        self._write_pending = False
        watch = self._watch
        try:
            while outbox:
                self.sending_since = loop.time()
                watch.begin(self, loop)
                message = outbox.pop(0)
                self._queued_bytes -= len(message)
                await send({"type": "websocket.send", "text": message.decode()})
                watch.end(self)
                self.sending_since = 0.0
            if self.state is _CLOSING:
                await self._close(*self._close_frame)
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the reader sees the disconnect too
        finally:
            if self.sending_since:
                watch.end(self)
                self.sending_since = 0.0
            self._writer = None

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
                cookie = self.websocket.scope.get("session")
                before = dict(cookie) if cookie is not None else None
                await self.session.dispatch(self.client, message, self.websocket)  # type: ignore[arg-type]
                if cookie is not None and cookie != before:
                    # A WebSocket cannot set a cookie: the page fetches it over HTTP.
                    self.session.pending_cookie = dict(cookie)
                    self._sink(CookieSync().encode())
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

    async def _close(self, code: int, reason: str) -> None:
        """Send the close frame (once: a connection closed or closing elsewhere is left as it is)."""
        if self.state is ConnectionState.CLOSED or self.state is ConnectionState.ABANDONED:
            return
        self._to(ConnectionState.CLOSED)
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except (RuntimeError, OSError):
            pass
