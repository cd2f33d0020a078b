"""The HTTP transports: Server-Sent Events down + POST up, and plain HTTP (POST up,
updates in the response, server-initiated ones by long-polling).

Endpoints, relative to the app's mount point; each checks ``Origin`` (unless absent) and,
except the SSE and poll streams which only read, the ``X-Livetag-Token`` header against
the session's CSRF token in constant time:

- ``POST /_lt/join``            body: one ``join`` message -> JSON array of messages
- ``GET  /_lt/sse?cid=``        ``text/event-stream`` (WHATWG HTML, "Server-sent events"):
                                one ``data:`` line per message
- ``GET  /_lt/poll?cid=``       waits up to ``POLL_SECONDS`` -> JSON array of messages
- ``POST /_lt/event?cid=&mode=`` body: JSON array of ``ev``/``sync`` messages; with
                                ``mode=http`` the response is the array of messages for
                                the client, with ``mode=sse`` it is empty (they go down
                                the stream)
- ``POST /_lt/cookie``          stores the cookie session a WebSocket handler changed

Errors: 400 malformed, 403 foreign origin or wrong token, 409 unknown client (rejoin),
410 unknown session (reload), 413 too large, 429 too many messages (``Retry-After``),
503 the server is stopping (``Retry-After``: the page reconnects to the next one). Each
is an exception of ``livetag.errors`` answered through ``livetag.protocol.closing``'s
table; the body is a JSON array of one ``err`` message (``bye`` for 409 and 410).

``HttpTransport`` gets what it needs from its host (``WebApp``) injected, as
``WebSocketConnection`` does: the session registry, the limits, and how to find a
request's session cookie, check its origin, and get a session's codec and token bucket.

When the server stops (``stop``), every SSE stream ends and every long-poll is answered
503 at once, so that the ASGI server's graceful shutdown does not wait for them.

Every message costs the session's token bucket one token: each event and ``sync`` of an
event POST, and each join (a join creates a client and may render the whole page). A
session keeps at most ``MAX_CLIENTS`` HTTP clients; a new one beyond that drops the one
heard from least recently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response, StreamingResponse

from ..errors import (
    ClientTooSlow,
    LivetagError,
    MessageTooLarge,
    OriginNotAllowed,
    ProtocolError,
    RateLimited,
    ServerStopping,
    SessionExpired,
    StalePage,
    UnknownClient,
)
from ..protocol import EventMessage, Join, Ping, Resync, decode, validate
from ..protocol.closing import BYE_STATUSES, http_status_for
from ..protocol.server_messages import Bye, Error, ErrorCode
from ..session import MAX_CLIENTS, Session
from .channel import Mailbox, json_array
from .limits import Limits, TokenBucket, read_body
from .parano import Codec
from .registry import SessionRegistry

log = logging.getLogger("livetag.server.http")

POLL_SECONDS = 25.0
SSE_HEARTBEAT_SECONDS = 15.0
#: An HTTP client not seen (no poll, no stream, no event) for this long is disconnected.
HTTP_CLIENT_TIMEOUT = 60.0
TOKEN_HEADER = "x-livetag-token"


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store", **(headers or {})})


def refusal(exc: LivetagError, headers: dict[str, str] | None = None) -> Response:
    """The response to a request refused for ``exc`` (``ProtocolError`` or ``Refused``,
    ``SessionExpired``...: see ``livetag.protocol.closing``): its status, and a JSON array
    of one message carrying ``exc.code`` and ``str(exc)``: a ``bye`` when the status means
    the client must rejoin or reload (409, 410), else an ``err``."""
    status = http_status_for(exc)
    code: str = getattr(exc, "code", "error")  # every error of the table carries one
    message = Bye(code, str(exc)) if status in BYE_STATUSES else Error(code, str(exc))
    return _json(b"[" + message.encode() + b"]", status, headers)


def _stopping() -> Response:
    return refusal(ServerStopping(), {"Retry-After": "1"})


class HttpTransport:
    """The HTTP endpoints of one app, and the mailboxes of its HTTP clients.

    ``registry`` holds the sessions (``registry.joined`` is told each join);
    ``cookie_name(conn)`` names the session cookie of the app a request reaches;
    ``origin_allowed(conn)`` checks its ``Origin``; ``codec(session)`` and
    ``bucket(session)`` give a session's payload codec and token bucket; ``resume(conn,
    session_id)`` brings back a session this process does not hold (after a restart:
    see ``livetag.server.persistence``), or gives ``None``."""

    def __init__(self, *, registry: SessionRegistry, limits: Limits, cookie_name: Callable[[HTTPConnection], str],
                 origin_allowed: Callable[[HTTPConnection], bool], codec: Callable[[Session], Codec],
                 bucket: Callable[[Session], TokenBucket],
                 resume: Callable[[HTTPConnection, str | None], Awaitable[Session | None]] | None = None) -> None:
        self.registry = registry
        self.resume = resume
        self.limits = limits
        self.cookie_name = cookie_name
        self.origin_allowed = origin_allowed
        self.codec = codec
        self.bucket = bucket
        self.mailboxes: dict[str, Mailbox] = {}
        #: The server is stopping: streams end, long-polls are answered 503.
        self.stopping = False

    def stop(self) -> None:
        """End every SSE stream and long-poll now (the server is stopping); later ones
        are refused with 503 at once."""
        self.stopping = True
        for mailbox in list(self.mailboxes.values()):
            mailbox.wake()

    # -- shared checks --------------------------------------------------------------------

    async def _session(self, request: Request) -> Session | None:
        session_id = request.cookies.get(self.cookie_name(request))
        session = self.registry.get(session_id)
        if session is None and session_id and self.resume is not None:
            session = await self.resume(request, session_id)
        return session

    def _refuse(self, request: Request, session: Session | None, *, token: bool = True) -> Response | None:
        if not self.origin_allowed(request):
            log.warning("%s %s from a foreign origin refused", request.method, request.url.path)
            return refusal(OriginNotAllowed())
        if session is None:
            return refusal(SessionExpired())
        if token and not session.check_token(request.headers.get(TOKEN_HEADER, "")):
            log.warning("session %s: %s without the CSRF token refused", session.log_id, request.url.path)
            return refusal(StalePage("expected the session's CSRF token in X-Livetag-Token", ErrorCode.CSRF))
        return None

    def _mailbox(self, request: Request, session: Session) -> Mailbox | None:
        mailbox = self.mailboxes.get(request.query_params.get("cid", ""))
        if mailbox is None or mailbox.session is not session or mailbox.dropped:
            return None
        return mailbox

    def _rejoin(self, request: Request) -> Response:
        """The 409 for a request whose client the server dropped or never knew."""
        mailbox = self.mailboxes.get(request.query_params.get("cid", ""))
        if mailbox is not None and mailbox.dropped:
            return refusal(ClientTooSlow("client too slow: join again"))
        return refusal(UnknownClient("unknown client: join again"))

    async def _body(self, request: Request) -> bytes:
        return await read_body(request, self.limits.max_message_bytes)

    def _rate_limited(self, session: Session, cost: int) -> Response | None:
        """A 429 when ``session`` cannot spend ``cost`` tokens, else ``None`` (spent)."""
        bucket = self.bucket(session)
        if cost <= 0 or bucket.take(cost):
            return None
        limited = RateLimited("too many events: slow down", max(1, round(bucket.retry_after(cost))))
        log.warning("session %s: event rate limit hit", session.log_id)
        return refusal(limited, {"Retry-After": str(limited.retry_after)})

    def _make_room(self, session: Session, join: Join) -> None:
        """Before a join that adds a client: drop the HTTP clients of ``session`` heard
        from least recently, so that at most ``MAX_CLIENTS`` remain with the new one.
        Each is a mailbox the session writes every update to; disconnected first, they
        are the ones the session forgets (it keeps ``MAX_CLIENTS`` clients)."""
        mine = sorted((m for m in self.mailboxes.values() if m.session is session), key=lambda m: m.last_seen)
        if any(m.client is not None and m.client.cid == join.client_id for m in mine):
            return  # a resumed client, not a new one
        for mailbox in mine[: max(0, len(mine) - MAX_CLIENTS + 1)]:
            mailbox.close()
            if mailbox.client is not None:
                del self.mailboxes[mailbox.client.cid]

    # -- endpoints ------------------------------------------------------------------------

    async def join(self, request: Request) -> Response:
        session = await self._session(request)
        refused = self._refuse(request, session, token=False)  # the token is in the body
        if refused is not None:
            return refused
        assert session is not None
        limited = self._rate_limited(session, 1)
        if limited is not None:
            return limited
        try:
            codec = self.codec(session)
            message = decode(codec.open(await self._body(request)), self.limits.max_message_bytes)
            if not isinstance(message, Join):
                raise ProtocolError(f"expected a join message, got {type(message).__name__}", ErrorCode.NOT_JOINED)
            if session.check_token(message.token):  # else session.join refuses it
                self._make_room(session, message)
            mailbox = Mailbox(session, self.limits.max_queued_updates, self.limits.max_queued_bytes)
            mailbox.attach(session.join(message, mailbox.sink, request))
            self.registry.joined(session)
        except ProtocolError as exc:
            if not isinstance(exc, MessageTooLarge):
                log.warning("session %s: join refused: %s", session.log_id, exc)
            return refusal(exc)
        assert mailbox.client is not None
        old = self.mailboxes.get(mailbox.client.cid)
        if old is not None:
            old.close()  # a stream or long-poll still attached to the old one ends
        self.mailboxes[mailbox.client.cid] = mailbox
        log.info("session %s: http client joined (%d http clients)", session.log_id, len(self.mailboxes))
        return _json(codec.seal(json_array(mailbox.take())))

    async def _attached(self, request: Request, *, token: bool) -> Mailbox | Response:
        """The mailbox of the joined client the request names, or the refusal to send."""
        session = await self._session(request)
        refused = self._refuse(request, session, token=token)
        if refused is not None:
            return refused
        assert session is not None
        mailbox = self._mailbox(request, session)
        if mailbox is None or mailbox.client is None:
            return self._rejoin(request)
        return mailbox

    async def events(self, request: Request) -> Response:
        mailbox = await self._attached(request, token=True)
        if isinstance(mailbox, Response):
            return mailbox
        session = mailbox.session
        try:
            raw = self.codec(session).open(await self._body(request))
            try:
                items = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ProtocolError(f"expected a JSON array of messages, got invalid JSON ({exc})") from None
            if not isinstance(items, list):
                raise ProtocolError(f"expected a JSON array of messages, got {type(items).__name__}")
            messages = [validate(item) for item in items]  # the body's size was checked whole
        except ProtocolError as exc:
            if not isinstance(exc, MessageTooLarge):
                log.warning("session %s: protocol error: %s", session.log_id, exc)
            return refusal(exc)
        # Not only events: a sync re-renders the whole page, a stray join costs an error.
        limited = self._rate_limited(session, len(messages))
        if limited is not None:
            return limited
        client = mailbox.client
        assert client is not None
        for message in messages:
            if isinstance(message, EventMessage):
                await session.dispatch(client, message, request)
            elif isinstance(message, Resync):
                session.resync(client)
            elif isinstance(message, Ping):
                pass  # this response is the answer
            else:
                mailbox.put(Error(ErrorCode.ALREADY_JOINED, "expected events, got a join").encode())
        if request.query_params.get("mode") == "sse":
            return Response(status_code=204, headers={"Cache-Control": "no-store"})
        return _json(self.codec(session).seal(json_array(mailbox.take())))

    async def poll(self, request: Request) -> Response:
        mailbox = await self._attached(request, token=False)  # reads only: no token needed
        if isinstance(mailbox, Response):
            return mailbox
        if self.stopping:
            return _stopping()
        messages = await mailbox.wait(POLL_SECONDS, self)
        if mailbox.dropped:
            return refusal(ClientTooSlow("client too slow: join again"))
        if not messages and self.stopping:
            return _stopping()
        return _json(self.codec(mailbox.session).seal(json_array([m for m in messages if m])))

    async def sse(self, request: Request) -> Response:
        mailbox = await self._attached(request, token=False)  # reads only: no token needed
        if isinstance(mailbox, Response):
            return mailbox
        if self.stopping:
            return _stopping()
        return StreamingResponse(self._stream(request, mailbox), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _stream(self, request: Request, mailbox: Mailbox) -> AsyncIterator[bytes]:
        seal = self.codec(mailbox.session).seal
        yield b": livetag\n\n"  # flushes proxies and tells the client the stream is open
        try:
            while not mailbox.dropped and not self.stopping:
                messages = await mailbox.wait(SSE_HEARTBEAT_SECONDS, self)
                if mailbox.dropped:
                    break
                if messages:
                    yield b"".join(b"data: " + seal(m) + b"\n\n" for m in messages if m)
                    continue
                if self.stopping:
                    break
                yield b": keep-alive\n\n"
        finally:
            if mailbox.client is not None:
                mailbox.session.leave(mailbox.client, mailbox.sink)
            if self.mailboxes.get(mailbox.client.cid if mailbox.client else "") is mailbox:
                del self.mailboxes[mailbox.client.cid]  # type: ignore[union-attr]

    async def cookie(self, request: Request) -> Response:
        session = await self._session(request)
        refused = self._refuse(request, session)
        if refused is not None:
            return refused
        assert session is not None
        pending = session.pending_cookie
        if pending is not None and "session" in request.scope:
            request.session.clear()
            request.session.update(pending)
            session.pending_cookie = None
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    # -- housekeeping ---------------------------------------------------------------------

    def sweep(self) -> None:
        """Disconnect HTTP clients that stopped polling."""
        now = time.monotonic()
        for cid, mailbox in list(self.mailboxes.items()):
            if now - mailbox.last_seen > HTTP_CLIENT_TIMEOUT or mailbox.session.closed:
                mailbox.close()
                del self.mailboxes[cid]
