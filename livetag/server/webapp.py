"""``WebApp``: serve a livetag app as a Starlette ASGI application, sessions in-process.

Routes, relative to wherever the app is mounted:

- ``GET /``                   the server-rendered page; issues the session cookie
                              (``/?n`` discards the current session and starts a new one)
- ``GET /_lt/livetag.js``     the client script (immutable when fetched with ``?v=<hash>``),
                              ``/_lt/livetag.js.map`` its source map (``livetag.server.assets``)
- ``WS  /_lt/ws``             the WebSocket transport
- ``/_lt/join``, ``/_lt/event``, ``/_lt/sse``, ``/_lt/poll``, ``/_lt/cookie``: the HTTP
  transports (see ``livetag.server.http``)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import traceback
import weakref
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ..dom import files as dom_files
from ..dom import tag as tag_module
from ..dom.html import escape_text
from ..dom.tag import Tag
from ..errors import OriginNotAllowed, RateLimited, SessionExpired, TooManySessions
from ..execution import to_thread
from ..protocol.closing import close_code_for, http_status_for
from ..protocol.server_messages import Bye, ByeCode
from ..session import AppSource, Session
from .assets import CLIENT_FILES, CLIENT_SCRIPT_HASH, client_file_response
from .cookies import OptionalSessionMiddleware, session_cookie_name
from .downloads import Downloads, DownloadStore, SessionFiles
from .hosts import AllowedHosts, HostCheck, default_hosts, hosts_for_bind
from .http import HttpTransport
from .limits import AddressBudget, Limits, TokenBucket, client_address
from .page import render_page
from .parano import CLEAR, AesGcmCodec, Codec
from .registry import SessionRegistry
from .shutdown import on_stop_signal
from .uploads import Uploads, UploadStore
from .websocket import WebSocketConnection

log = logging.getLogger("livetag.server.webapp")



class WebApp:
    """Host ``app`` (a ``Tag`` subclass: one private instance per browser session; or an
    instance: shared by everyone) behind ``.app``, an ASGI application (Starlette).

    ``debug=True`` shows escaped tracebacks of failing handlers in the page; with
    ``debug=False`` the page gets a generic message and an error id that matches the
    server log line. ``allowed_hosts`` lists the host names the app answers to (see
    ``livetag.server.hosts``: ``"example.com"``, ``"*.example.com"``, ``"*"``); any other
    ``Host`` gets HTTP 400 on every request and WebSocket handshake. Default:
    ``$LIVETAG_ALLOWED_HOSTS`` (comma-separated), else the loopback names (``localhost``,
    ``*.localhost``); IP addresses are always served; ``.run(host="name")`` adds that
    name. ``allowed_origins`` lists extra origins (``"https://example.com"``) whose
    pages may drive sessions, besides pages served from an allowed host. ``session_secret`` signs
    the cookie behind ``request.session`` (default: ``$LIVETAG_SESSION_SECRET``, else a
    random secret per process). ``parano=True`` encrypts every payload on every
    transport with AES-GCM under a per-session key (see ``livetag.server.parano``; not
    a substitute for TLS). ``http_only=True`` makes the page use POST + long-poll only.
    ``trusted_proxies`` (addresses, or ``"*"``): apply the ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` headers of these peers (uvicorn's ``ProxyHeadersMiddleware``),
    for ASGI servers that do not; the client address is what the new-session budget
    counts. ``upload_dir``: where uploaded files bigger than 1 MiB are spooled (default: the
    system's temporary directory; see ``livetag.server.uploads``). The remaining keywords
    are the ``Limits`` (see ``livetag.server.limits``).

    Mounted inside another Starlette app, the host's lifespan does not reach this one:
    add ``lifespan=webapp.lifespan`` to the host so that shutdown runs ``on_destroy``.
    """

    def __init__(self, app: AppSource, *, debug: bool = False, allowed_origins: tuple[str, ...] = (),
                 allowed_hosts: Iterable[str] | None = None,
                 session_secret: str | None = None, parano: bool = False,
                 max_message_bytes: int = Limits.max_message_bytes,
                 events_per_second: float = Limits.events_per_second, event_burst: int = Limits.event_burst,
                 max_queued_updates: int = Limits.max_queued_updates, max_sessions: int = Limits.max_sessions,
                 session_timeout: float = Limits.session_timeout, http_only: bool = False,
                 max_queued_bytes: int = Limits.max_queued_bytes, join_grace: float = Limits.join_grace,
                 new_sessions_per_second: float = Limits.new_sessions_per_second,
                 new_session_burst: int = Limits.new_session_burst,
                 trusted_proxies: Iterable[str] | None = None,
                 max_upload_bytes: int = Limits.max_upload_bytes,
                 max_session_upload_bytes: int = Limits.max_session_upload_bytes,
                 download_seconds: float = Limits.download_seconds, upload_dir: str | None = None) -> None:
        self.debug = debug
        self.parano = parano
        self.http_only = http_only
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        #: Whether ``allowed_hosts`` came from the caller (else ``.run`` may add its host).
        self.hosts_configured = allowed_hosts is not None
        self.allowed_hosts = AllowedHosts(default_hosts() if allowed_hosts is None else allowed_hosts)
        self.limits = Limits(max_message_bytes, events_per_second, event_burst, max_queued_updates,
                             max_sessions, session_timeout, max_queued_bytes, join_grace, new_sessions_per_second,
                             new_session_burst, max_upload_bytes, max_session_upload_bytes, download_seconds)
        self._registry = SessionRegistry(app, debug=debug, max_sessions=max_sessions, join_grace=join_grace)
        self.new_sessions = AddressBudget(new_sessions_per_second, new_session_burst)
        self.http = HttpTransport(registry=self.registry, limits=self.limits, cookie_name=self.cookie_name,
                                  origin_allowed=self.origin_allowed, codec=self.codec, bucket=self.bucket)
        self._buckets: weakref.WeakKeyDictionary[Session, TokenBucket] = weakref.WeakKeyDictionary()
        self._codecs: weakref.WeakKeyDictionary[Session, Codec] = weakref.WeakKeyDictionary()
        self._sweeper: asyncio.Task[None] | None = None
        self._files: weakref.WeakKeyDictionary[Session, SessionFiles] = weakref.WeakKeyDictionary()
        self.uploads = Uploads(limits=self.limits, directory=upload_dir, session=self._session_of,
                               origin_allowed=self.origin_allowed, bucket=self.bucket,
                               store=lambda session: self.files(session).uploads)
        self.downloads = Downloads(session=self._session_of, store=lambda session: self.files(session).downloads)
        routes = [
            Route("/", self._page, methods=["GET", "HEAD"]),
            *(Route(f"/_lt/{name}", self._script, methods=["GET", "HEAD"]) for name in CLIENT_FILES),
            WebSocketRoute("/_lt/ws", self._websocket),
            Route("/_lt/join", self.http.join, methods=["POST"]),
            Route("/_lt/event", self.http.events, methods=["POST"]),
            Route("/_lt/poll", self.http.poll, methods=["GET"]),
            Route("/_lt/sse", self.http.sse, methods=["GET"]),
            Route("/_lt/cookie", self.http.cookie, methods=["POST"]),
            Route("/_lt/upload", self.uploads.endpoint, methods=["POST"]),
            Route("/_lt/download/{token}", self.downloads.endpoint, methods=["GET"]),
        ]
        middleware = [Middleware(HostCheck, hosts=lambda: self.allowed_hosts)]
        if trusted_proxies is not None:
            # The client address (for the new-session budget) and scheme as the proxy saw them.
            from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

            middleware.append(Middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted_proxies)))
        middleware.append(Middleware(OptionalSessionMiddleware, secret=session_secret))
        #: The ASGI application: a ``Starlette`` instance, as htag's ``.app`` is (users add
        #: routes to it: ``webapp.app.add_route("/health", health)``).
        self.app = self.starlette = Starlette(routes=routes, lifespan=self.lifespan, middleware=middleware)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    @property
    def registry(self) -> SessionRegistry:
        """The sessions this app serves."""
        return self._registry

    @registry.setter
    def registry(self, registry: SessionRegistry) -> None:
        # A Runner's session process binds the app to its one session after construction;
        # the HTTP transport was given the registry and must follow.
        self._registry = registry
        self.http.registry = registry

    @property
    def max_message_bytes(self) -> int:
        return self.limits.max_message_bytes

    # -- life cycle -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """Start housekeeping; on exit discard every session (``on_destroy`` runs). When
        the server stops (SIGTERM/SIGINT, see ``livetag.server.shutdown``), SSE streams
        and long-polls end at once instead of holding the graceful shutdown."""
        self._start_sweeper()
        on_stop_signal(self, asyncio.get_running_loop())
        try:
            yield
        finally:
            if self._sweeper is not None:
                self._sweeper.cancel()
                self._sweeper = None
            self.registry.close_all()

    def server_stopping(self) -> None:
        """The server is stopping: end the HTTP transports' streams and long-polls now."""
        self.http.stop()

    def _start_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        interval = max(0.05, min(30.0, self.limits.session_timeout / 4, self.limits.join_grace / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                self.http.sweep()
                for files in list(self._files.values()):
                    files.uploads.sweep()
                expired = self.registry.expire(self.limits.session_timeout)
                if expired:
                    log.info("%d idle session(s) expired", expired)
            except Exception:
                log.exception("session housekeeping failed")

    def bucket(self, session: Session) -> TokenBucket:
        """The event-rate token bucket of ``session``."""
        bucket = self._buckets.get(session)
        if bucket is None:
            bucket = self._buckets[session] = TokenBucket(self.limits.events_per_second, self.limits.event_burst)
        return bucket

    def files(self, session: Session) -> SessionFiles:
        """The uploads and downloads of ``session`` (attached to its tree: ``Event.files``
        and ``Tag.download`` reach them)."""
        files = self._files.get(session)
        if files is None:
            files = self._files[session] = SessionFiles(UploadStore(), DownloadStore(self.limits.download_seconds))
            weakref.finalize(session, files.uploads.close)  # its temporary files go with it
            dom_files.attach(session.tree, files)
        return files

    def _session_of(self, conn: HTTPConnection) -> Session | None:
        return self.registry.get(conn.cookies.get(self.cookie_name(conn)))

    def codec(self, session: Session) -> Codec:
        """How payloads of ``session`` travel: in clear, or sealed (``parano=True``)."""
        if not self.parano:
            return CLEAR
        codec = self._codecs.get(session)
        if codec is None:
            codec = self._codecs[session] = AesGcmCodec()
        return codec

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def base_path(conn: HTTPConnection) -> str:
        """The mount path of this app, without trailing slash (``""`` at the root)."""
        root: str = conn.scope.get("root_path", "")
        return root.rstrip("/")

    def cookie_name(self, conn: HTTPConnection) -> str:
        # One cookie per mount point, so two apps on one host never read each other's.
        return session_cookie_name(self.base_path(conn))

    def origin_allowed(self, conn: HTTPConnection) -> bool:
        """The ``Origin`` header names a page of an allowed host, or one of
        ``allowed_origins`` (see ``AllowedHosts.origin_allowed``: never compared with the
        ``Host`` header alone, which a DNS-rebinding page chooses).

        A request without ``Origin`` comes from a non-browser client, which cannot carry
        a victim's cookies, and is allowed (RFC 6455 section 10.2)."""
        origin = conn.headers.get("origin")
        if origin is None:
            return True
        return self.allowed_hosts.origin_allowed(origin, conn.headers.get("host"), self.allowed_origins)

    def set_allowed_hosts(self, hosts: AllowedHosts) -> None:
        """Serve ``hosts`` from now on (``.run`` adds the name it binds)."""
        self.allowed_hosts = hosts

    # -- endpoints ------------------------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        self._start_sweeper()  # mounted apps get no lifespan of their own
        name = self.cookie_name(request)
        session_id = request.cookies.get(name)
        session = self.registry.get(session_id)
        # ?n discards the session; never on a cross-site navigation, which anyone could link.
        cross_site = request.headers.get("sec-fetch-site") == "cross-site"
        if session is not None and "n" in request.query_params and not cross_site:
            self.registry.discard(session_id)  # type: ignore[arg-type]
            session = None
        new_id = None
        if session is not None:
            session.reload()  # F5: the same app instance unmounts and mounts again
            if self.registry.is_unjoined(session):
                self.registry.await_join(session_id, session)  # type: ignore[arg-type]
        else:
            wait = None if self.registry.shared else self.new_sessions.refuse(client_address(request))
            if wait is not None:
                return HTMLResponse("<!DOCTYPE html><title>Busy</title><p>Too many new sessions from your "
                                    "address; please retry in a moment.</p>",
                                    status_code=http_status_for(RateLimited("too many new sessions", wait)),
                                    headers={"Retry-After": str(wait), "Cache-Control": "no-store"})
            try:
                if not self.registry.shared:
                    self.registry.make_room()  # on the loop: may discard a session no page joined
                # init is user code: it runs where livetag.execution places it (inline in a
                # Runner's session process, see livetag.threads); create spends the reservation.
                if self.registry.creates_on_loop:
                    new_id, session = self.registry.create(request)
                else:
                    new_id, session = await to_thread(self.registry.create, request)
                self.registry.await_join(new_id, session)
            except TooManySessions as exc:
                log.warning("%s", exc)
                return HTMLResponse("<!DOCTYPE html><title>Busy</title><p>The server is full; please retry.</p>",
                                    status_code=http_status_for(exc), headers={"Retry-After": "30"})
            except Exception:
                error_id = secrets.token_hex(4)
                log.exception("creating the app failed (error id %s)", error_id)
                return self._error_page(error_id)
        base = self.base_path(request)
        self.files(session).base = base
        html = render_page(session, base=base, script_url=f"{base}/_lt/livetag.js?v={CLIENT_SCRIPT_HASH}",
                           debug=self.debug, parano_key=self.codec(session).key_b64)
        if self.http_only:  # the client then uses POST + long-poll only
            html = html.replace("<html ", '<html data-lt-mode="http" ', 1)
        response = HTMLResponse(html, headers={"Cache-Control": "no-store"})
        if new_id is not None and self.registry.issues_cookies:
            response.set_cookie(name, new_id, path=base or "/", httponly=True, samesite="lax",
                                secure=request.url.scheme == "https")
        return response

    def _error_page(self, error_id: str) -> Response:
        """The 500 page of an app whose ``init`` raised: the escaped traceback with
        ``debug``, else only an error id that matches the server log line."""
        if self.debug:
            body = f"<!DOCTYPE html><title>Error</title><pre>{escape_text(traceback.format_exc())}</pre>"
        else:
            body = ("<!DOCTYPE html><title>Error</title><p>The application failed to start "
                    f"(error id {error_id}).</p>")
        return HTMLResponse(body, status_code=500)

    async def _script(self, request: Request) -> Response:
        # gzip when accepted; see livetag.server.assets
        return client_file_response(request, request.url.path.rpartition("/")[2])

    async def _websocket(self, websocket: WebSocket) -> None:
        if not self.origin_allowed(websocket):
            log.warning("websocket from a foreign origin refused")
            await websocket.close(*close_code_for(OriginNotAllowed()))
            return
        session = self.registry.get(websocket.cookies.get(self.cookie_name(websocket)))
        await websocket.accept()
        if session is None:
            expired = SessionExpired()
            await websocket.send_text(Bye(ByeCode.EXPIRED, str(expired)).encode().decode())
            await websocket.close(*close_code_for(expired))
            return
        connection = WebSocketConnection(websocket, session, on_join=self.registry.joined,
                                         max_message_bytes=self.limits.max_message_bytes,
                                         max_queued_updates=self.limits.max_queued_updates,
                                         max_queued_bytes=self.limits.max_queued_bytes,
                                         bucket=self.bucket(session), codec=self.codec(session))
        await connection.run()

    # -- running --------------------------------------------------------------------------
    # ``run()`` is not here: serving with reload and a browser is the runners' business, and
    # ``server/`` never imports ``runners/``. ``livetag.WebApp`` is ``livetag.runners.apps.WebApp``,
    # this class plus ``run()``.

    def bind(self, host: str) -> None:
        """Adapt the default ``allowed_hosts`` to the address served (``hosts_for_bind``);
        configured ones stay as they are."""
        if not self.hosts_configured:
            self.set_allowed_hosts(hosts_for_bind(self.allowed_hosts, host))



def _host(app: Tag) -> Any:
    return WebApp(app).app


tag_module.host_factory = _host  # App.app: see livetag.dom.tag.host_factory
