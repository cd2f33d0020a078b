"""``WebApp``: serve a livetag app as a Starlette ASGI application, sessions in-process.

Routes, relative to wherever the app is mounted:

- ``GET /``                   the server-rendered page; issues the session cookie
                              (``/?n`` discards the current session and starts a new one)
- ``GET /<any path>``         the same page, when the app has a ``PathRouter`` (which shows
                              the page of that path; 404 when none matches); else 404
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
import os
import secrets
import weakref
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ..dom import files as dom_files
from ..dom import tag as tag_module
from ..dom.router import PathRouter, path_routers, request_location
from ..dom.tag import Tag, current_request
from ..errors import OriginNotAllowed, RateLimited, SessionExpired, TooManySessions
from ..execution import to_thread
from ..protocol.closing import close_code_for, http_status_for
from ..protocol.server_messages import Bye, ByeCode
from ..pubsub import Broker, LocalBroker
from ..session import AppSource, Session
from .assets import CLIENT_FILES, CLIENT_SCRIPT_HASH, client_file_response
from .compat import get_route_path
from .cookies import OptionalSessionMiddleware, cookie_value, session_cookie_name
from .downloads import Downloads, SessionFiles
from .errorpage import app_error_page
from .handoff import HandoffStarlette, hand_off
from .hosts import AllowedHosts, HostCheck, default_hosts, hosts_for_bind
from .http import HttpTransport
from .limits import AddressBudget, Limits, TokenBucket, client_address
from .page import render_page
from .parano import CLEAR, AesGcmCodec, Codec
from .persistence import Persistence, default_store_path
from .persistence import key as store_key
from .registry import SessionRegistry
from .shutdown import on_stop_signal
from .store import SessionStore
from .store.sqlite import SQLiteStore
from .uploads import Uploads, UploadStore
from .websocket import SendWatch, WebSocketConnection

log = logging.getLogger("livetag.server.webapp")
#: Response header of a page whose app has a path router (the Runner learns from it
#: that every path under the mount is the app's).
PATHS_HEADER = "x-livetag-paths"


class WebApp:
    """Host ``app`` (a ``Tag`` subclass: one private instance per browser session; or an
    instance: shared by everyone) behind ``.app``, an ASGI application (Starlette).

    ``debug=True`` shows escaped tracebacks of failing user code in the page (the app's
    frames first); with ``debug=False`` the page gets a generic message and an error id
    that matches the server log line. Not given (``None``): off, except that ``.run()``
    on a loopback host, ``livetag run`` on one and ``ChromeApp`` turn it on (development).
    ``allowed_hosts`` lists the host names the app answers to (see
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
    counts. ``broker``: where sessions publish and subscribe (``Tag.publish``; default a
    ``livetag.pubsub.LocalBroker`` of this ``WebApp``). ``upload_dir``: where uploaded
    files bigger than 1 MiB are spooled (default: the system's temporary directory; see
    ``livetag.server.uploads``). The remaining keywords are the ``Limits`` (see
    ``livetag.server.limits``).

    ``store``: where sessions are snapshotted so that they resume after a restart (see
    ``livetag.server.persistence``): a ``SessionStore``, or the path of an SQLite file
    (``SQLiteStore``). ``persist``: ``None`` (default) persists when a ``store`` is given,
    and ``run()`` gives one (``default_store_path``); ``False`` never persists.
    ``snapshot_ttl``: seconds a snapshot outlives its last save (default:
    ``session_timeout``). Not with an app instance (one shared session) nor ``parano``.

    Mounted inside another Starlette app, the host's lifespan does not reach this one:
    add ``lifespan=webapp.lifespan`` to the host so that shutdown runs ``on_destroy``.
    """

    def __init__(self, app: AppSource, *, debug: bool | None = None, allowed_origins: tuple[str, ...] = (),
                 allowed_hosts: Iterable[str] | None = None,
                 session_secret: str | None = None, parano: bool = False,
                 max_message_bytes: int = Limits.max_message_bytes,
                 events_per_second: float = Limits.events_per_second, event_burst: int = Limits.event_burst,
                 max_queued_updates: int = Limits.max_queued_updates, max_sessions: int = Limits.max_sessions,
                 session_timeout: float = Limits.session_timeout, http_only: bool = False,
                 max_queued_bytes: int = Limits.max_queued_bytes, join_grace: float = Limits.join_grace,
                 new_sessions_per_second: float = Limits.new_sessions_per_second,
                 new_session_burst: int = Limits.new_session_burst,
                 trusted_proxies: Iterable[str] | None = None, broker: Broker | None = None,
                 store: SessionStore | str | os.PathLike[str] | None = None, persist: bool | None = None,
                 snapshot_ttl: float | None = None,
                 max_upload_bytes: int = Limits.max_upload_bytes,
                 max_session_upload_bytes: int = Limits.max_session_upload_bytes,
                 download_seconds: float = Limits.download_seconds, upload_dir: str | None = None,
                 heartbeat: float = Limits.heartbeat) -> None:
        self.debug = bool(debug)
        #: ``debug`` was not given: a development runner may turn it on (``set_debug``).
        self.debug_default = debug is None
        self.parano = parano
        self.http_only = http_only
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        #: Whether ``allowed_hosts`` came from the caller (else ``.run`` may add its host).
        self.hosts_configured = allowed_hosts is not None
        self.allowed_hosts = AllowedHosts(default_hosts() if allowed_hosts is None else allowed_hosts)
        self.limits = Limits(max_message_bytes, events_per_second, event_burst, max_queued_updates,
                             max_sessions, session_timeout, max_queued_bytes, join_grace, new_sessions_per_second,
                             new_session_burst, max_upload_bytes, max_session_upload_bytes, download_seconds,
                             heartbeat)
        #: Where sessions publish (``Tag.publish``) and subscribe: one ``LocalBroker`` per
        #: ``WebApp`` unless given (see ``livetag.pubsub``).
        self.broker: Broker = broker if broker is not None else LocalBroker()
        self._registry = SessionRegistry(app, debug=self.debug, max_sessions=max_sessions, join_grace=join_grace,
                                         broker=self.broker)
        self.new_sessions = AddressBudget(new_sessions_per_second, new_session_burst)
        self.http = HttpTransport(registry=self.registry, limits=self.limits, cookie_name=self.cookie_name,
                                  origin_allowed=self.origin_allowed, codec=self.codec, bucket=self.bucket,
                                  resume=self.resume)
        self._buckets: weakref.WeakKeyDictionary[Session, TokenBucket] = weakref.WeakKeyDictionary()
        self._codecs: weakref.WeakKeyDictionary[Session, Codec] = weakref.WeakKeyDictionary()
        self._sweeper: asyncio.Task[None] | None = None
        self._send_watch = SendWatch()
        #: Whether the app has a ``PathRouter`` (``None``: no instance seen yet). With one,
        #: every GET of a path no route of ``.app`` serves is the app's page.
        self.path_routing: bool | None = None
        #: ``None``: sessions end with the process (see ``store``).
        self.persistence: Persistence | None = None
        self._store_path: str | os.PathLike[str] | None = None
        self.persist = persist
        self.snapshot_ttl = session_timeout if snapshot_ttl is None else float(snapshot_ttl)
        if store is not None and persist is not False:
            self.use_store(store)
        self._upload_stores: weakref.WeakSet[UploadStore] = weakref.WeakSet()  # swept for stale uploads
        self.uploads = Uploads(limits=self.limits, directory=upload_dir, session=self._session_of,
                               origin_allowed=self.origin_allowed, bucket=self.bucket, store=self._uploads_of)
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
        self.app = self.starlette = HandoffStarlette(routes=routes, lifespan=self.lifespan, middleware=middleware)
        # The pages of a path router: after every route, the user's added ones included.
        self.app.router.default = self._other_paths

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

    def use_store(self, store: SessionStore | str | os.PathLike[str]) -> None:
        """Snapshot sessions to ``store`` from now on (a ``SessionStore`` or an SQLite file
        path); ignored for an app instance (one shared session) and with ``parano`` (the
        page's key is not kept)."""
        if self.registry.shared or self.parano:
            log.info("sessions are not persisted %s", "for an app instance" if self.registry.shared
                     else "with parano=True")
            return
        self._store_path = store if isinstance(store, (str, os.PathLike)) else None
        if isinstance(store, (str, os.PathLike)):
            store = SQLiteStore(store)
        self.persistence = Persistence(store, ttl=self.snapshot_ttl, debug=self.debug)
        self.registry.on_discard = self.persistence.discarded

    def persist_by_default(self) -> None:
        """Persist to ``default_store_path`` unless the app chose (``persist`` or ``store``
        given): what ``run()`` and ``livetag run`` do."""
        if self.persist is None and self.persistence is None:
            self.use_store(default_store_path(self.registry.source))

    async def resume(self, conn: HTTPConnection, session_id: str | None) -> Session | None:
        """The session of ``session_id`` resumed from its snapshot (this process does not
        hold it: the server restarted), or ``None``: no persistence, no snapshot under the
        id's hash (never issued, or expired), or no room."""
        persistence = self.persistence
        if persistence is None or not session_id or len(session_id) > 128:
            return None

        async def build() -> Session | None:
            session = self.registry.get(session_id)
            if session is not None:  # made meanwhile by another request
                return session
            try:
                self.registry.make_room()
                if self.registry.creates_on_loop:
                    session = self.registry.adopt(session_id, conn)
                else:
                    session = await to_thread(self.registry.adopt, session_id, conn)
            except TooManySessions as exc:
                log.warning("cannot resume a session: %s", exc)
                return None
            except Exception:
                log.exception("creating the app to resume a session failed")
                return None
            self.registry.await_join(session_id, session)
            self.files(session).base = self.base_path(conn)  # no page load sets it: downloads work at once
            return session

        def drop(session: Session) -> None:
            self.registry.discard(session_id)

        return await persistence.restore(store_key(self.base_path(conn), session_id), build, drop)

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
        if self.persistence is not None and self.persistence.stopping and self._store_path is not None:
            self.use_store(self._store_path)  # served again after a shutdown closed the store
        try:
            yield
        finally:
            if self._sweeper is not None:
                self._sweeper.cancel()
                self._sweeper = None
            if self.persistence is not None:
                await self.persistence.save_all()  # before on_destroy runs
            self.registry.close_all()
            if self.persistence is not None:
                await self.persistence.close()

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
                for uploads in list(self._upload_stores):
                    uploads.sweep()
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
        files = session.tree.files
        if not isinstance(files, SessionFiles):
            files = SessionFiles(self.limits.download_seconds)
            dom_files.attach(session.tree, files)
        return files

    def _uploads_of(self, session: Session) -> UploadStore:
        files = self.files(session)
        if files.uploads is None:
            files.uploads = UploadStore()
            self._upload_stores.add(files.uploads)
            weakref.finalize(session, files.uploads.close)  # its temporary files go with it
        return files.uploads

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

    async def _other_paths(self, scope: Any, receive: Any, send: Any) -> None:
        """What no route serves: a GET or HEAD is the app's page at that path (a path
        router's; ``_page`` answers 404 for an app without one), anything else 404."""
        if (scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") and self.path_routing is not False
                and not get_route_path(scope).startswith("/_lt/")):  # livetag's own: never a page
            response = await self._page(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app.router.not_found(scope, receive, send)

    async def _page(self, request: Request) -> Response:
        self._start_sweeper()  # mounted apps get no lifespan of their own
        deep = get_route_path(request.scope) not in ("", "/")  # only a path router serves those
        # A browser's fetch of a subresource (the favicon, an image) is never a page: it
        # must not move the session's router (Fetch Metadata, Sec-Fetch-Dest).
        subresource = request.headers.get("sec-fetch-dest", "document") not in ("document", "iframe", "frame")
        if deep and (self.path_routing is False or subresource):
            return PlainTextResponse("Not Found", status_code=404)
        name = self.cookie_name(request)
        session_id = request.cookies.get(name)
        session = self.registry.get(session_id)
        if session is not None and deep and not path_routers(session.tree.index.values()):
            return PlainTextResponse("Not Found", status_code=404)  # and no reload of the app
        # ?n discards the session; never on a cross-site navigation, which anyone could link.
        cross_site = request.headers.get("sec-fetch-site") == "cross-site"
        if session is None and session_id and self.persistence is not None:
            if "n" not in request.query_params or cross_site:
                session = await self.resume(request, session_id)
            elif len(session_id) <= 128:  # a new session asked for: the old one is not resumed later
                self.persistence.forget(store_key(self.base_path(request), session_id))
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
                if self.persistence is not None and not self.registry.shared:
                    self.persistence.attach(session, store_key(self.base_path(request), new_id))
            except TooManySessions as exc:
                log.warning("%s", exc)
                return HTMLResponse("<!DOCTYPE html><title>Busy</title><p>The server is full; please retry.</p>",
                                    status_code=http_status_for(exc), headers={"Retry-After": "30"})
            except Exception as exc:
                error_id = secrets.token_hex(4)
                log.exception("creating the app failed (error id %s)", error_id)
                return app_error_page(exc, error_id, debug=self.debug)
        base = self.base_path(request)
        routers = path_routers(session.tree.index.values())
        self.path_routing = bool(routers)
        if deep and not routers:  # a new session for a path this app does not have
            if new_id is not None:
                self.registry.discard(new_id)
            return PlainTextResponse("Not Found", status_code=404)
        status = 200
        if routers:
            try:
                if not await self._open_location(session, request, routers, base):
                    status = 404
            except Exception as exc:
                error_id = secrets.token_hex(4)
                log.exception("showing the page of a path failed (error id %s)", error_id)
                return app_error_page(exc, error_id, debug=self.debug)
        self.files(session).base = base
        html = render_page(session, base=base, script_url=f"{base}/_lt/livetag.js?v={CLIENT_SCRIPT_HASH}",
                           debug=self.debug, parano_key=self.codec(session).key_b64,
                           heartbeat=self.limits.heartbeat)
        if self.http_only:  # the client then uses POST + long-poll only
            html = html.replace("<html ", '<html data-lt-mode="http" ', 1)
        response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
        if routers:
            response.headers[PATHS_HEADER] = "1"
        if new_id is not None and self.registry.issues_cookies:
            response.set_cookie(name, new_id, path=base or "/", httponly=True, samesite="lax",
                                secure=request.url.scheme == "https")
        return response

    async def _open_location(self, session: Session, request: Request, routers: list[PathRouter], base: str) -> bool:
        """Show, in each path router of ``session``, the page of ``request``'s path
        (page ``init`` is user code: it sees ``request`` and runs where ``create`` runs);
        ``False`` when one of them matched no route."""
        location = request_location(request) or ("/", "")

        def open_all() -> bool:
            token = current_request.set(request)
            try:
                with session.tree.lock:
                    return all([router.open(*location, base=base) for router in routers])
            finally:
                current_request.reset(token)

        if self.registry.creates_on_loop:
            return open_all()
        found: bool = await to_thread(open_all)
        return found

    def set_debug(self, on: bool) -> None:
        """Turn debug on or off for the sessions created from now on."""
        self.debug = on
        self.registry.debug = on

    async def _script(self, request: Request) -> Response:
        # gzip when accepted; see livetag.server.assets
        return client_file_response(request, request.url.path.rpartition("/")[2])

    async def _websocket(self, websocket: WebSocket) -> None:
        if not self.origin_allowed(websocket):
            log.warning("websocket from a foreign origin refused")
            await websocket.close(*close_code_for(OriginNotAllowed()))
            return
        session_id = cookie_value(websocket.scope, self.cookie_name(websocket))
        session = self.registry.get(session_id)
        if session is None and session_id:
            session = await self.resume(websocket, session_id)
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
                                         bucket=self.bucket(session), codec=self.codec(session),
                                         watch=self._send_watch)
        if not hand_off(connection.run):
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
