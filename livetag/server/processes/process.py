"""The session process: one ``WebApp`` bound to one session, serving ASGI over IPC.

Started by the supervisor through livetag's fork server (``zygote``, which imported livetag
and the app once). It runs a real ``WebApp`` whose registry is bound to one session id
(issued by the web workers, never by this process): every transport, defence, parano
mode and ``request.session`` of ``WebApp`` works unchanged. The session itself is made
by the first page request relayed here, so the app's ``init`` sees that request (query
parameters, ``request.session``).

Two entry points: ``main`` (a process started for a given session) and ``spare_main`` (a
*spare*: started ahead of need, at low priority when that can be undone; its event loop
runs and it waits for its assignment: the session's ``ProcessConfig`` and listening
socket, passed over a socket pair with ``SCM_RIGHTS``, see ``receive_assignment``; then
it is a session process like any other). Synchronous handlers and the app's ``init`` run
inline on the event loop (``livetag.threads``, ``inline``): the process is the
isolation, the supervisor enforces the timeouts, and a thread would cost memory and a
hop per event.

Shared with the supervisor (a few doubles in shared memory, see ``SharedField``): since when an
interaction (event or ``init``) is running, when the last one happened, why the
supervisor asks this process to stop (SIGTERM), whether a page ever joined, and a
heartbeat its event loop writes every ``ProcessConfig.heartbeat`` seconds. The
supervisor enforces the timeouts; this process only reports. In a cluster the supervisor
also writes there the epoch of its claim on the session and this machine's lease window:
the process saves under that claim and sends nothing once it lost it
(``livetag.server.cluster.fence``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import hmac
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from ...errors import StoreUnavailable
from ...pubsub import Broker
from ...session import Session
from ...threads import HANDLER_THREADS
from ..registry import SessionRegistry
from ..store import SessionStore
from ..webapp import WebApp
from . import direct
from .appref import AppRef
from .files import control_of
from .listener import Listener
from .pubsub import RelayBroker
from .store_link import SupervisorStore

if TYPE_CHECKING:  # the cluster's modules need redis-py (the ``cluster`` extra): imported when used
    from ..cluster.fence import SessionFence

log = logging.getLogger("livetag.server.processes.process")

#: A process whose session was never created (no page request came) ends after this.
UNUSED_PROCESS_SECONDS = 60.0
#: Time given to the last messages (``bye``) and ``on_destroy`` coroutines before exiting.
CLOSE_GRACE_SECONDS = 2.0
#: Pages of a built-in app a spare loads while it waits (see ``_touch_page_path``).
SPARE_WARM_UP_PAGES = 1
#: Largest assignment message a spare accepts (bytes; one ``SOCK_SEQPACKET`` datagram).
MAX_ASSIGNMENT_BYTES = 64 << 10


class SharedField(enum.IntEnum):
    """Indexes of the shared doubles (``forkserver.SharedDoubles(len(SharedField))``)."""

    BUSY_SINCE = 0     # time.monotonic() when the running interaction started; 0: none
    LAST_ACTIVE = 1    # time.monotonic() of the last interaction or page load
    STOP_REASON = 2    # a StopReason value, written by the supervisor before SIGTERM
    JOINED = 3         # 1.0 once a page joined the session (0.0: only page loads so far)
    HEARTBEAT = 4      # time.monotonic() of the event loop's last tick (0.0: not started)
    # In a cluster (``livetag.server.cluster.fence``), written by the supervisor:
    EPOCH = 5          # the epoch of the supervisor's claim on this session (0: none)
    CLAIMED_AT = 6     # time.monotonic() when that claim was sent
    LEASE_SINCE = 7    # this machine's lease is surely held from then...
    LEASE_UNTIL = 8    # ...until then (0.0: not held)


class StopReason(enum.IntEnum):
    """Why the supervisor asks a process to close cleanly (SIGTERM)."""

    SHUTDOWN = 0       # the server stops: pages reload into a session of the next one
    INACTIVITY = 1     # timeout_inactivity passed
    REPLACED = 2       # the page was opened again with other query parameters
    DISCARDED = 3      # ``?n``: the user asked for a new session
    FENCED = 4         # another machine owns the session now (set by the process itself)


@dataclass(frozen=True)
class ProcessConfig:
    """Everything a session process needs: sent as JSON (``to_json``) to the fork server
    (``main``) or to a spare. ``session_id`` is empty in the configuration
    a spare is started with (what it expects to be assigned, to build its ``WebApp``
    ahead)."""

    session_id: str
    app: AppRef
    debug: bool = False
    parano: bool = False
    http_only: bool = False
    allowed_origins: tuple[str, ...] = ()
    #: ``None``: ``WebApp``'s default (``$LIVETAG_ALLOWED_HOSTS``, else the loopback names).
    allowed_hosts: tuple[str, ...] | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    timeout_inactivity: float = 0.0
    #: Seconds between two writes of ``SharedField.HEARTBEAT`` by the event loop.
    heartbeat: float = 5.0
    #: Where the supervisor put this session's listening socket (put back if deleted).
    socket_path: str = ""
    #: The SQLite file sessions are snapshotted to (``""``: not persisted; see
    #: ``livetag.server.persistence``) and the snapshots' lifetime in seconds.
    store: str = ""
    snapshot_ttl: float = 3600.0
    #: In a cluster: Redis (snapshots go there instead of ``store``), this machine's id
    #: and incarnation, the session's store key and how long ownership records live
    #: (``livetag.server.cluster``). ``""``: not in a cluster.
    redis_url: str = field(default="", repr=False)
    redis_prefix: str = ""
    machine: str = ""
    incarnation: str = ""
    claim_key: str = ""
    claim_ttl: float = 24 * 3600.0

    def to_json(self) -> bytes:
        return orjson.dumps({**dataclasses.asdict(self), "app": self.app.to_json()})

    @classmethod
    def from_json(cls, data: bytes) -> ProcessConfig:
        """Raises ``ValueError`` (``orjson.JSONDecodeError`` included), ``KeyError`` or
        ``TypeError`` for a message that is not a configuration."""
        fields = orjson.loads(data)
        return cls(str(fields["session_id"]), AppRef.from_json(fields["app"]), debug=bool(fields["debug"]),
                   parano=bool(fields["parano"]), http_only=bool(fields["http_only"]),
                   allowed_origins=tuple(str(o) for o in fields["allowed_origins"]),
                   allowed_hosts=None if fields.get("allowed_hosts") is None
                   else tuple(str(h) for h in fields["allowed_hosts"]),
                   limits=dict(fields["limits"]), timeout_inactivity=float(fields["timeout_inactivity"]),
                   heartbeat=float(fields.get("heartbeat", 5.0)), socket_path=str(fields.get("socket_path", "")),
                   store=str(fields.get("store") or ""), snapshot_ttl=float(fields.get("snapshot_ttl", 3600.0)),
                   redis_url=str(fields.get("redis_url") or ""), redis_prefix=str(fields.get("redis_prefix") or ""),
                   machine=str(fields.get("machine") or ""), incarnation=str(fields.get("incarnation") or ""),
                   claim_key=str(fields.get("claim_key") or ""),
                   claim_ttl=float(fields.get("claim_ttl", 24 * 3600.0)))

    def same_webapp(self, other: ProcessConfig) -> bool:
        """True when both build the same ``WebApp`` (everything but the session)."""
        ignored: dict[str, Any] = {"session_id": "", "timeout_inactivity": 0.0, "heartbeat": 0.0, "socket_path": "",
                                   "claim_key": ""}
        return dataclasses.replace(self, **ignored) == dataclasses.replace(other, **ignored)


@dataclass(frozen=True)
class SpareConfig:
    """What a spare is started with. ``expected``: the configuration it will most
    likely be assigned (its ``WebApp`` is built ahead for it); ``priority``: when not
    ``None``, the spare waits as ``SCHED_IDLE`` and takes this nice value (and the normal
    policy) when assigned; ``None``: it keeps the priority it was born with."""

    expected: ProcessConfig
    priority: int | None = None


class BoundRegistry(SessionRegistry):
    """A ``SessionRegistry`` bound to one session id: ``create`` makes (once) the
    session under that id, ``get`` knows only that id; when the session is discarded
    (expired, closed) the process ends."""

    issues_cookies = False

    def __init__(self, source: Any, *, debug: bool, session_id: str, host: SessionHost,
                 join_grace: float = 30.0, broker: Broker | None = None) -> None:
        super().__init__(source, debug=debug, max_sessions=1, join_grace=join_grace, broker=broker)
        self.session_id = session_id
        self._host = host
        self._create_lock = threading.Lock()

    def get(self, session_id: str | None) -> Session | None:
        if not session_id or not hmac.compare_digest(session_id.encode(), self.session_id.encode()):
            return None
        return self._sessions.get(self.session_id)

    def create(self, request: Any = None) -> tuple[str, Session]:
        with self._create_lock:  # two first page loads at once: one session
            session = self._sessions.get(self.session_id)
            if session is not None and not session.closed:
                return self.session_id, session
            self._host.mark_busy(True)  # init is an interaction: it has the same timeout
            try:
                session = Session(self.source, debug=self.debug, request=request, broker=self.broker)
            finally:
                self._host.mark_busy(False)
            self._sessions[self.session_id] = session
            log.info("session %s created in process %d", session.log_id, os.getpid())
            return self.session_id, session

    def adopt(self, session_id: str, request: Any = None) -> Session:
        """The session of this process, made to resume from its snapshot (``create``);
        any other id raises ``KeyError``."""
        if not hmac.compare_digest(session_id.encode(), self.session_id.encode()):
            raise KeyError("expected the session id this process was started for, got another")
        return self.create(request)[1]

    def discard(self, session_id: str) -> None:
        super().discard(session_id)
        if not self._sessions:
            self._host.stop_soon()

    def make_room(self) -> None:
        """Nothing to reserve: the one session of this process is made once (``create``)."""

    def joined(self, session: Session) -> None:
        super().joined(session)
        self._host.shared[SharedField.JOINED] = 1.0  # the supervisor never ends it to make room


class SessionHost:
    """The event loop side of a session process."""

    def __init__(self, config: ProcessConfig, listener: socket.socket, shared: Any, lifeline: socket.socket,
                 webapp: WebApp | None = None) -> None:
        self.config = config
        self.listener = listener
        self.shared = shared
        self.lifeline = lifeline
        self.webapp: WebApp | None = webapp  # built ahead by a spare, else in ``run``
        self.registry: BoundRegistry | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heartbeat: asyncio.TimerHandle | None = None
        self._servers: list[Listener] = []
        self._fence: SessionFence | None = None
        self._claim_check: asyncio.Task[bool] | None = None
        self._claimed_once = False  # the shared epoch was seen non-zero (see ``_check_claim``)
        self._store_link: asyncio.Task[None] | None = None  # held: the loop keeps tasks weakly

    def _beat(self) -> None:
        # The supervisor kills a process whose loop stops ticking for timeout_interaction:
        # frozen (SIGSTOP), descheduled, or blocked, with or without an event in flight.
        self.shared[SharedField.HEARTBEAT] = time.monotonic()
        self._heartbeat = self._loop.call_later(self.config.heartbeat, self._beat)  # type: ignore[union-attr]
        self._check_socket()
        self._check_claim()

    def _check_claim(self) -> None:
        """In a cluster, when the shared window no longer vouches for this session's
        claim (a pause, a lapsed lease), ask Redis now rather than at the next update or
        connection: a fenced process ends without waiting for traffic. A session that
        started unclaimed starts saving once its supervisor claimed it."""
        fence = self._fence
        if fence is None or fence.fenced:
            return
        window = fence.window()
        if window.epoch and not self._claimed_once:
            # Started while Redis was down, claimed by the supervisor since: saved from now on.
            self._claimed_once = True
            persistence = self.webapp.persistence if self.webapp is not None else None
            if persistence is not None:
                persistence.claim_again()
        if self._claim_check is not None and not self._claim_check.done():
            return
        if window.epoch and not window.holds(time.monotonic()):
            self._claim_check = self._loop.create_task(fence.verify())  # type: ignore[union-attr]

    def _check_socket(self) -> None:
        """Put this session's socket back when its file was deleted (a cleaned runtime
        directory that the supervisor made again): a new listening socket at the same
        path, served like the first. A path now held by another socket (a process that
        replaced this one) is left alone."""
        path = self.config.socket_path
        if not path:
            return
        try:
            os.stat(path)
            return
        except FileNotFoundError:
            pass
        except OSError:
            return
        if not os.path.isdir(os.path.dirname(path)):
            return  # the supervisor has not made the directory again yet
        tmp = os.path.join(os.path.dirname(path), f".r{os.getpid()}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            sock.bind(tmp)
            sock.listen(512)
            os.replace(tmp, path)
        except OSError as exc:
            sock.close()
            log.warning("process %d could not put its socket back (%s)", os.getpid(), exc)
            return
        log.warning("process %d put its socket back (the runtime directory was deleted)", os.getpid())
        self._servers.append(Listener(sock, self.webapp.app, self._on_scope))  # type: ignore[union-attr]

    def mark_busy(self, busy: bool, activity: bool = True) -> None:
        """``Session.busy_hook``: an interaction starts (``busy``) or ends; one that was not
        the user's (``activity`` false: a published message) keeps the session inactive."""
        now = time.monotonic()
        if busy:
            self.shared[SharedField.BUSY_SINCE] = now
        else:
            self.shared[SharedField.BUSY_SINCE] = 0.0
            if activity:
                self.shared[SharedField.LAST_ACTIVE] = now

    def stop_soon(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)

    async def run(self) -> None:
        config = self.config
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self.webapp is None:
            self.webapp = build_webapp(config)
        webapp = self.webapp
        # Publish/subscribe goes through the supervisor, the hub of every session process.
        relay = RelayBroker(control_of(config.socket_path)) if config.socket_path else None
        if relay is not None:
            webapp.broker = relay
        self._link_store(webapp)
        self.registry = BoundRegistry(webapp.registry.source, debug=config.debug, session_id=config.session_id,
                                      host=self, join_grace=webapp.limits.join_grace, broker=webapp.broker)
        webapp.registry = self.registry
        fence = self._fence_for(webapp)
        self._fence = fence
        if fence is not None:  # every request and socket checks the claim first
            starlette = webapp.app
            starlette.middleware_stack = _Admit(fence, starlette.middleware_stack or starlette.build_middleware_stack())
        Session.busy_hook = self.mark_busy  # this process hosts one session: a class-wide hook
        async with webapp.lifespan():
            server = Listener(self.listener, webapp.app, self._on_scope)
            self._loop.add_reader(self.lifeline.fileno(), self._supervisor_gone)
            self._loop.add_signal_handler(signal.SIGTERM, self._stop.set)
            self.shared[SharedField.BUSY_SINCE] = 0.0  # started: what follows is the app's time
            self.shared[SharedField.LAST_ACTIVE] = time.monotonic()
            self._beat()
            unused = self._loop.call_later(UNUSED_PROCESS_SECONDS, self._stop_if_unused)
            await self._stop.wait()
            unused.cancel()
            if self._heartbeat is not None:
                self._heartbeat.cancel()
            server.close()
            for extra in self._servers:
                extra.close()
            if self._session_goes_on():
                await self._settle_events()
            await self._persist_on_stop(webapp)
            before = asyncio.all_tasks()
            self._close_session()
            await self._drain(asyncio.all_tasks() - before)  # the on_destroy coroutines
            direct.shutdown()  # the WebSockets still open (a session that ended: after its bye)
            if relay is not None:
                relay.close()
            if fence is not None:
                await fence.close()

    def _link_store(self, webapp: WebApp) -> None:
        """Open the store link now, in the background (the first call waits for it): a
        supervisor that shuts down accepts no connection, and this session's last
        snapshot goes through it then. (A ``WebApp`` built ahead, in the fork server,
        learns its supervisor here.)"""
        store = webapp.persistence.store if webapp.persistence is not None else None
        if not isinstance(store, SupervisorStore) or not self.config.socket_path:
            return
        store.control_path = control_of(self.config.socket_path)

        async def connect() -> None:
            try:
                await store.connect()
            except StoreUnavailable as exc:  # the first call tries again
                log.warning("process %d: no store link yet (%s)", os.getpid(), exc)

        self._store_link = asyncio.get_running_loop().create_task(connect())

    def _fence_for(self, webapp: WebApp) -> SessionFence | None:
        """In a cluster: save under the supervisor's claim, and send nothing once another
        machine owns the session (``livetag.server.cluster.fence``)."""
        config, persistence = self.config, webapp.persistence
        if not config.redis_url or persistence is None:
            return None
        from ..cluster.fence import ClaimedStore, SessionFence, window_of

        store = persistence.store
        if not isinstance(store, ClaimedStore):
            return None
        window = window_of(self.shared, (SharedField.EPOCH, SharedField.CLAIMED_AT, SharedField.LEASE_SINCE,
                                         SharedField.LEASE_UNTIL))
        store.current = lambda: window().epoch
        fence = SessionFence(store.store.redis, prefix=config.redis_prefix, machine=config.machine,
                             incarnation=config.incarnation, key=config.claim_key, window=window,
                             flush=self._flush_session, on_fenced=self._fenced)
        Session.send_gate = fence.gate  # this process hosts one session: a class-wide hook
        persistence.on_fenced = lambda session, exc: self._fenced(exc.current)
        return fence

    def _flush_session(self) -> None:
        session = self._session()
        if session is not None and not session.closed:
            session.flush()

    def _fenced(self, epoch: int) -> None:
        """Another machine claimed this session (epoch ``epoch``): end without saving or
        sending anything more; the pages join again (through the load balancer)."""
        if self.shared[SharedField.STOP_REASON] == StopReason.FENCED:
            return
        log.warning("session process %d: its session is owned elsewhere now (epoch %d): ending", os.getpid(), epoch)
        self.shared[SharedField.STOP_REASON] = StopReason.FENCED
        self._stop.set()  # type: ignore[union-attr]

    async def _persist_on_stop(self, webapp: WebApp) -> None:
        """The server stops (or lost its supervisor): save the session for the next one.
        Ended on purpose (inactivity, ``?n``, other parameters): save nothing more and
        forget the snapshot."""
        persistence = webapp.persistence
        if persistence is None:
            return
        reason = StopReason(int(self.shared[SharedField.STOP_REASON]))
        if reason is StopReason.SHUTDOWN:
            await persistence.save_all()
            return
        if reason is StopReason.FENCED:  # the snapshot is the new owner's: neither saved nor deleted
            persistence.stopping = True
            for session in list(self.registry._sessions.values()) if self.registry is not None else []:
                persistence.discarded(session)
            return
        # Inactivity: this process forgets the snapshot itself. ``?n`` or other parameters:
        # the supervisor deletes it before the successor starts (no race with it here).
        persistence.stopping = reason is not StopReason.INACTIVITY
        for session in list(self.registry._sessions.values()) if self.registry is not None else []:
            persistence.discarded(session)
        persistence.stopping = True

    def _stop_if_unused(self) -> None:
        if self.registry is not None and not len(self.registry):
            log.info("no page came for process %d: ending it", os.getpid())
            self._stop.set()  # type: ignore[union-attr]

    def _supervisor_gone(self) -> None:
        # EOF on the lifeline: the supervisor died (its end of the socket pair closed).
        self._loop.remove_reader(self.lifeline.fileno())  # type: ignore[union-attr]
        log.warning("the supervisor is gone: process %d ends its session", os.getpid())
        self.shared[SharedField.STOP_REASON] = StopReason.SHUTDOWN
        self._stop.set()  # type: ignore[union-attr]

    def _session_goes_on(self) -> bool:
        """Whether this stop hands the session on (a snapshot restores it elsewhere or
        later) rather than ending it."""
        reason = StopReason(int(self.shared[SharedField.STOP_REASON]))
        saved = self.webapp is not None and self.webapp.persistence is not None
        return reason is StopReason.FENCED or (reason is StopReason.SHUTDOWN and bool(self.config.redis_url or saved))

    async def _settle_events(self) -> None:
        """Before the snapshot of a session that goes on, no event may be applied after it
        (its page would see it acknowledged, then lost) nor be half-applied in it. So the
        WebSockets this process serves itself close first (1012: a stopping uvicorn
        closes its own before its lifespan saves; relayed connections ended with their
        web worker, or with the cluster relay, already), then the events already read
        finish, for at most ``CLOSE_GRACE_SECONDS``: a stuck handler is saved as it
        stands."""
        direct.shutdown()
        session = self._session()

        async def settled() -> None:
            running = direct.running()
            if running:
                await asyncio.wait(running)
            if session is not None:
                await session.drain_events()

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(settled(), CLOSE_GRACE_SECONDS)

    def _session(self) -> Session | None:
        registry = self.registry
        return registry._sessions.get(registry.session_id) if registry is not None else None

    def _close_session(self) -> None:
        registry, session = self.registry, self._session()
        if registry is None or session is None or session.closed:
            return
        reason = StopReason(int(self.shared[SharedField.STOP_REASON]))
        if self._session_goes_on():
            # The session goes on: the next server restores it from the snapshot just
            # saved (in a cluster, another machine owns it or will restore it): its pages
            # are not told it ended, and its app is not destroyed. Their connections drop
            # with this process (a WebSocket this process served itself, ``direct``, too);
            # they join again, through the load balancer, with their unacknowledged events.
            for client in session.connected_clients:
                session.leave(client)
            registry._sessions.clear()
            return
        if reason is StopReason.INACTIVITY:
            seconds = self.config.timeout_inactivity
            session.close("ended", f"This session ended after {seconds:g} s without activity. "
                                   "Reload the page to start a new one.")
        elif reason is StopReason.REPLACED:
            session.close("ended", "This session was opened again in another page with other parameters. "
                                   "Reload the page to continue here.")
        else:  # the server stops, or a new session was asked for: pages reload into a new one
            session.close("expired", "the session ended")
        registry._sessions.clear()

    async def _drain(self, destroying: set[asyncio.Task[Any]]) -> None:
        """Let the ``bye`` messages reach the pages and ``on_destroy`` coroutines finish
        (at most ``CLOSE_GRACE_SECONDS``)."""
        await asyncio.sleep(0.05)
        pending = {t for t in destroying if not t.done()}
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_GRACE_SECONDS)

    def _on_scope(self, scope: dict[str, Any]) -> None:
        # A page load counts as activity (``tag.update()`` from the app does not).
        if scope["type"] == "http" and scope.get("method") == "GET" and "/_lt/" not in scope["path"]:
            self.shared[SharedField.LAST_ACTIVE] = time.monotonic()


class _Admit:
    """ASGI: in a cluster, a request or socket reaches the session only while this process
    surely owns it (``SessionFence.verify``); otherwise (fenced, or Redis unreachable past
    the lease) it is told to retry (HTTP 503, WebSocket closed with 1012), and its page
    joins again, here or elsewhere."""

    def __init__(self, fence: SessionFence, app: ASGIApp) -> None:
        self.fence, self.app = fence, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not await self.fence.verify():
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1012, "reason": "moved"})
            else:
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"retry-after", b"1"), (b"cache-control", b"no-store"),
                                        (b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"This session is not served here now; retry."})
            return
        await self.app(scope, receive, send)


#: A ``WebApp`` the fork server built (``preload``) for the configuration sessions most
#: likely have: each process inherits it (its pages shared until touched) and uses it
#: once, instead of building its own.
_prebuilt: tuple[ProcessConfig, WebApp] | None = None


def prebuild_webapp(config: ProcessConfig) -> WebApp:
    """Build the ``WebApp`` of ``config`` for the processes forked from here on (the
    fork server calls it)."""
    global _prebuilt
    webapp = build_webapp(config)
    _prebuilt = (config, webapp)
    return webapp


def build_webapp(config: ProcessConfig) -> WebApp:
    """The ``WebApp`` of ``config`` (its registry is replaced by a ``BoundRegistry``): the
    one inherited from the fork server when it matches, else a new one. Raises
    ``AppNotImportable``."""
    global _prebuilt
    if _prebuilt is not None:
        expected, webapp = _prebuilt
        _prebuilt = None
        if expected.same_webapp(config):
            return webapp
    store: SessionStore | None = None
    if config.redis_url:  # a cluster: Redis, under the supervisor's claims
        from ..cluster.config import DEFAULT_PREFIX
        from ..cluster.fence import ClaimedStore
        from ..cluster.store import RedisStore

        store = ClaimedStore(RedisStore(config.redis_url, prefix=config.redis_prefix or DEFAULT_PREFIX,
                                        claim_ttl=config.claim_ttl))
    elif config.store:  # through the supervisor, which holds the file; linked by ``SessionHost._link_store``
        store = SupervisorStore()
    return WebApp(config.app.resolve(), debug=config.debug, parano=config.parano, http_only=config.http_only,
                  allowed_origins=config.allowed_origins, allowed_hosts=config.allowed_hosts,
                  store=store, persist=store is not None, snapshot_ttl=config.snapshot_ttl,
                  **config.limits)


async def receive_assignment(control: socket.socket,
                             lifeline: socket.socket) -> tuple[ProcessConfig, socket.socket] | None:
    """Wait (in the running loop) for the spare's assignment on ``control``: one
    datagram, a ``ProcessConfig`` as JSON with the session's listening socket attached
    (``SCM_RIGHTS``). ``None`` when the spare is to end instead: SIGTERM, the supervisor
    closed ``control`` or died (``lifeline``), or sent something that is not an
    assignment."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[ProcessConfig, socket.socket] | None] = loop.create_future()

    def finish(result: tuple[ProcessConfig, socket.socket] | None) -> None:
        if not done.done():
            done.set_result(result)

    def readable() -> None:
        try:
            data, fds, flags, _ = socket.recv_fds(control, MAX_ASSIGNMENT_BYTES, 1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, fds, flags = b"", [], 0
        try:
            if not data or len(fds) != 1 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise ValueError(f"expected a configuration and one socket, got {len(data)} bytes, {len(fds)} fds")
            config = ProcessConfig.from_json(data)
        except (ValueError, KeyError, TypeError) as exc:
            for fd in fds:
                os.close(fd)
            if data:
                log.error("spare process %d: not an assignment (%s)", os.getpid(), exc)
            finish(None)
            return
        finish((config, socket.socket(fileno=fds[0])))

    control.setblocking(False)
    loop.add_reader(control.fileno(), readable)
    loop.add_reader(lifeline.fileno(), finish, None)
    loop.add_signal_handler(signal.SIGTERM, finish, None)
    try:
        return await done
    finally:
        loop.remove_reader(control.fileno())
        loop.remove_reader(lifeline.fileno())
        loop.remove_signal_handler(signal.SIGTERM)


async def _spare(spare: SpareConfig, control: socket.socket, shared: Any, lifeline: socket.socket) -> None:
    try:
        webapp: WebApp | None = build_webapp(spare.expected)
    except Exception:  # reported, if it matters, when the assigned session needs it
        webapp = None
    shared[SharedField.BUSY_SINCE] = 0.0  # ready: waiting is not an interaction (started by the supervisor)
    if webapp is not None and SPARE_WARM_UP_PAGES:
        # Ready already: an assignment that comes meanwhile waits in the socket for a
        # few milliseconds (at the normal priority the handoff gives), never for a timeout.
        await _touch_page_path(webapp)
    assignment = await receive_assignment(control, lifeline)
    control.close()
    if assignment is None:
        return
    config, listener = assignment
    shared[SharedField.BUSY_SINCE] = time.monotonic()  # the session's start counts as an interaction
    if spare.priority is not None:
        # The supervisor did it from outside at the handoff (the spare may be starved);
        # this covers a handoff that came before the spare went idle.
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, 0, spare.priority)
    if webapp is not None and not config.same_webapp(spare.expected):
        webapp = None  # built for other options: ``SessionHost`` builds the right one
    await SessionHost(config, listener, shared, lifeline, webapp).run()


async def _touch_page_path(webapp: WebApp) -> None:
    """Load ``SPARE_WARM_UP_PAGES`` pages of a built-in app (``warmup``) through ``webapp`` (the one
    the session will use, its registry swapped for the time) while the spare waits: the
    pages of the fork server that a session's first page load writes to (reference
    counts of the code and objects of the page path) are copied now, at the spare's low
    priority, instead of while a user waits for that page; what the warm-up allocates is
    freed for the session to reuse."""
    from .warmup import get_page, warm_up_app

    app = warm_up_app()
    before = asyncio.all_tasks()
    registry, persistence = webapp.registry, webapp.persistence
    webapp.persistence = None  # a warm-up page is nobody's session: never snapshotted (nor claimed)
    disabled = logging.root.manager.disable
    logging.disable(max(disabled, logging.INFO))  # "session created": not a session anyone opened
    host = SessionHost(ProcessConfig("", AppRef("", "")), None, [0.0] * len(SharedField), None,  # type: ignore[arg-type]
                       webapp)
    try:
        for n in range(SPARE_WARM_UP_PAGES):
            webapp.registry = BoundRegistry(app, debug=webapp.debug, session_id=f"warm-up-{n}", host=host)
            try:
                await get_page(webapp, "/")
            finally:
                webapp.registry.close_all()
    except Exception as exc:  # an optimisation only
        log.info("spare process %d: warm-up failed (%s)", os.getpid(), exc)
    finally:
        webapp.registry, webapp.persistence = registry, persistence
        logging.disable(disabled)
    for task in asyncio.all_tasks() - before - {asyncio.current_task()}:
        task.cancel()


def spare_main(spare: SpareConfig, control: socket.socket, shared: Any, lifeline: socket.socket) -> None:
    """Entry point of a spare process (the target given to the fork server)."""
    if spare.priority is not None:
        # Until its assignment a spare yields the CPU to any other process at once (born
        # from the fork server at its lower priority, it has only bootstrapped so far).
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    _run(_spare(spare, control, shared, lifeline))


def main(config: ProcessConfig, listener: socket.socket, shared: Any, lifeline: socket.socket) -> None:
    """Entry point of a session process started for ``config`` (the target given to the
    fork server when no spare was at hand)."""
    _run(SessionHost(config, listener, shared, lifeline).run())


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the server
    HANDLER_THREADS.inline = True  # one session per process: see the module docstring
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    code = 0
    try:
        loop.run_until_complete(coroutine)
    except BaseException:
        log.exception("session process %d failed", os.getpid())
        code = 1
    finally:
        with contextlib.suppress(Exception):
            logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # Not a normal interpreter exit: handler threads stuck in user code must not keep
        # the process alive, and nothing of the fork server's state needs tearing down.
        os._exit(code)
