"""``Session``: one app instance and the discipline around it.

A session owns one tag tree. It is the only place that runs user callbacks: events run
one at a time, in the order each client sent them, each at most once, on the loop or in
a worker thread as ``livetag.execution`` places them (so that a slow handler never
delays another session). After each handler, and after each ``yield`` of a generator
handler, the changes are collected into one update and sent to every client (browser
tab) of the session. Messages published on topics its tags subscribe to
(``livetag.pubsub``) are handled under the same discipline, between events.

Transports (WebSocket, SSE, HTTP, the test client) talk to a session through ``join``,
``dispatch``, ``resync`` and ``leave``; what a session sends goes through each client's
*sink*, a non-blocking callable taking one encoded message (built by
``livetag.protocol.server_messages``). A transport that must act when the session ends
its client (a WebSocket closes) passes ``on_bye`` to ``join``: the ``Bye`` comes there
too, after its bytes went through the sink.

Its clients and their life cycle are ``livetag.clients``'s; the asyncio tasks its user
code starts are watched by ``livetag.background``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from .background import running_session, watch_tasks
from .clients import ByeHook, Client, ClientState, Sink
from .dom.events import Event
from .dom.forms import apply_live_values, is_disabled
from .dom.render import render_html
from .dom.tag import Tag, current_request, handler_of
from .dom.tree import LiveTree
from .errors import ForbiddenEvent, StalePage
from .execution import run_user_code
from .protocol import PROTOCOL_VERSION, EventMessage, Join
from .protocol.patch import Morph, PatchOp
from .protocol.server_messages import Bye, ByeCode, Error, ErrorCode, Joined, encode_ack, encode_extras, encode_update
from .pubsub import Broker, LocalBroker, SessionTopics
from .tracebacks import format_user_trace

log = logging.getLogger("livetag.session")

AppSource = type[Tag] | Tag | Callable[[], Tag]

#: At most this many clients (tabs) are remembered per session, connected or not.
MAX_CLIENTS = 32
#: Minimum seconds between two updates caused by background changes.
BACKGROUND_THROTTLE = 0.05
_NONE: frozenset[str] = frozenset()
#: Published messages handled under one turn of the session's lock (then its events go).
MESSAGE_BATCH = 50


class BusyHook(Protocol):
    """``Session.busy_hook``: ``busy`` true when user code starts, false when it ends;
    ``activity`` false when that code was not the user's doing (a published message):
    it then does not count against an inactivity timeout."""

    def __call__(self, busy: bool, activity: bool = True) -> None: ...



def static_digest(html: str) -> str:
    """A short digest of a static's markup (hex, 64 bits of sha256): how a snapshot names
    the statics its pages hold."""
    return hashlib.sha256(html.encode()).hexdigest()[:16]


def _handler_what(msg: EventMessage, target: Tag) -> str:
    """How a report names the handler of event ``msg`` on ``target``."""
    return f"handler of {msg.name!r} on <{target.tag_name}>"


class Session:
    """One app instance, its clients and its update stream.

    ``app`` is a ``Tag`` subclass (instantiated here, with ``request`` visible to its
    ``init`` through ``Tag.request``), a factory, or an existing instance. Construction
    raises whatever the app's ``init`` raises.
    """

    #: Called with ``True`` when an event (or a batch of published messages) starts
    #: running and ``False`` when it ends, with ``activity=False`` after messages (the
    #: process-per-session ``Runner`` marks "interaction in progress" with it, so that a
    #: supervisor can enforce ``timeout_interaction`` from outside). ``None``: nothing.
    busy_hook: BusyHook | None = None
    #: Asked before an update goes out (``flush``): ``False`` holds it back, the changes
    #: kept for the next flush. A cluster's session process sets it (class-wide: it hosts
    #: one session) so that an owner that lost its claim sends nothing (fencing, see
    #: ``livetag.server.cluster.ownership``). ``None``: always send.
    send_gate: Callable[[], bool] | None = None

    def __init__(self, app: AppSource, *, debug: bool = False, request: Any = None,
                 broker: Broker | None = None) -> None:
        self.debug = debug
        self._delivery: asyncio.Task[None] | None = None
        token = current_request.set(request)
        try:
            self.app: Tag = app if isinstance(app, Tag) else app()
        finally:
            current_request.reset(token)
        if not isinstance(self.app, Tag):
            raise TypeError(f"expected the app factory to return a Tag, got {type(self.app).__name__}")
        # Before the tree: an instance built earlier may hold changes (a pending call_js)
        # that the tree reports as soon as it adopts it, and a message may come.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._busy = False
        self.closed = False
        # Publish/subscribe (``Tag.subscribe``) through ``broker``, made on first use (see
        # ``topics``): most sessions never subscribe nor publish.
        self._broker = broker
        self._topics: SessionTopics | None = None
        self.tree = LiveTree(self.app, on_change=self._changed, topics=self._topic_host)
        self.csrf_token = secrets.token_urlsafe(32)
        #: sha256 of the CSRF tokens of the pages a restored session was snapshotted with
        #: (see ``livetag.server.persistence``): those open pages join with them.
        self.restored_token_hashes: tuple[bytes, ...] = ()
        #: For a restored session: the app's id in the pages of before the restart, and the
        #: revision it resumed at. Those pages (at an older revision) get their full render
        #: aimed at that id: the new process numbered its tags afresh.
        self.restored_root: tuple[str, int] | None = None
        #: For a restored session: ``static_digests()`` of the session it resumes. Those
        #: pages already hold these statics: their first join does not send them again.
        self.restored_statics: frozenset[str] = _NONE
        #: For a restored session: the revision its snapshot was taken at. A page that
        #: joins from a later one saw changes the snapshot lacks: it is told (``restored``).
        self.restored_revision: int | None = None
        #: Told after every ``flush`` (an event ran, background changes went out): the
        #: persistence layer snapshots the session from there, debounced. ``None``: nothing.
        self.on_flush: Callable[[], None] | None = None
        self.revision = 0
        self.last_active = time.monotonic()
        # Oldest joined first (a dict keeps insertion order; an OrderedDict costs more).
        self._clients: dict[str, Client] = {}
        # Clients whose ack a closed ``send_gate`` held back (keys only: see ``_tasks``).
        self._held_acks: dict[str, None] = {}
        self._lock = asyncio.Lock()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        # Keys only (a dict: 64 bytes empty where a set costs 216, in every idle session).
        self._tasks: dict[asyncio.Task[None], None] = {}
        self._request: Any = None  # the request lifecycle hooks see: the last join's
        self._statics: dict[str, int] = {}  # static html -> revision that first carried it
        self._unreported: list[tuple[str, BaseException]] = []  # render failures of a page load
        #: The cookie session (``request.session``) as a WebSocket handler left it, until
        #: the page fetches it over HTTP (a WebSocket cannot set cookies).
        self.pending_cookie: dict[str, Any] | None = None

    @property
    def topics(self) -> SessionTopics:
        """The session's side of publish/subscribe, through the broker it was made with
        (a session made without one hears only itself); made on first use, and closed
        at once when the session is."""
        topics = self._topics
        if topics is None:
            topics = SessionTopics(self._broker if self._broker is not None else LocalBroker(),
                                   self._messages_came, name=self.log_id)
            if self.closed:
                topics.close()
            self._topics = topics
        return topics

    def _topic_host(self) -> SessionTopics:
        return self.topics

    # -- clients ------------------------------------------------------------------------

    @property
    def connected_clients(self) -> list[Client]:
        return [c for c in self._clients.values() if c.sink is not None]

    def check_token(self, token: str) -> bool:
        """Constant-time comparison of ``token`` with the session's CSRF token (or, for a
        restored session, with the tokens its snapshot's pages hold: the one that matched
        moves first, so that the next snapshot keeps it however many restores a page that
        never reloads goes through)."""
        if hmac.compare_digest(token.encode(), self.csrf_token.encode()):
            return True
        if not self.restored_token_hashes:
            return False
        digest = hashlib.sha256(token.encode()).digest()
        matched = [h for h in self.restored_token_hashes if hmac.compare_digest(digest, h)]  # all compared
        if not matched:
            return False
        if self.restored_token_hashes[0] != matched[0]:
            self.restored_token_hashes = (matched[0], *(h for h in self.restored_token_hashes if h != matched[0]))
        return True

    def join(self, msg: Join, sink: Sink, request: Any = None, *, on_bye: ByeHook | None = None) -> Client:
        """Connect a client. Sends it ``joined`` (with a full re-render when its revision
        is stale) through ``sink`` before anything else.

        Raises ``StalePage`` (code ``"version"`` or ``"csrf"``) when the client runs
        another protocol version or does not hold the session's CSRF token. ``request``
        (the WebSocket or HTTP request of the join) is what lifecycle hooks see as
        ``self.request``. ``on_bye`` is told when the session ends this client.
        """
        if msg.version != PROTOCOL_VERSION:
            raise StalePage(f"expected protocol version {PROTOCOL_VERSION}, got {msg.version}", ErrorCode.VERSION)
        if not self.check_token(msg.token):
            raise StalePage("expected the session's CSRF token, got another value", ErrorCode.CSRF)
        self._loop = asyncio.get_running_loop()
        self._request = request
        if self._topics is not None and self._topics.pending:  # messages that came before the session knew its loop
            self._start_delivery()
        self.flush()  # others first, so this client's revision check is against the present
        client = self._clients.get(msg.client_id) if msg.client_id else None
        if client is None:
            client = Client(secrets.token_urlsafe(12))
            self._clients[client.cid] = client
        else:
            self._clients[client.cid] = self._clients.pop(client.cid)  # now the newest
        sink(self._joined(client, msg.revision).encode())
        client.connect(sink, on_bye)
        root, saved = self.restored_root, self.restored_revision
        if root is not None and saved is not None and msg.revision is not None and saved < msg.revision < root[1]:
            self._send_error(client, ErrorCode.RESTORED, "This session was resumed after its server stopped: its "
                             "last changes before that could not be restored. Please check what you did last.")
        with self.tree.lock:  # what failed in the page's render (load, or the join's)
            unreported, self._unreported = self._unreported + self.tree.take_failures(), []
        for what, exc in unreported:
            self._report_failure([client], what, exc, ErrorCode.RENDER_ERROR)
        self._forget_old_clients()
        self.last_active = time.monotonic()
        self._run_lifecycle()  # mount work waits for a connected client
        return client

    def leave(self, client: Client, sink: Sink | None = None) -> None:
        """Disconnect ``client`` (only if ``sink`` is still its sink, when given). Its
        sequence number is kept so that a reconnecting page resumes exactly."""
        # ==, not is: a bound method is a new object at every attribute access.
        if client.state is ClientState.CONNECTED and (sink is None or client.sink == sink):
            client.disconnect()
        if not any(c.sink is not None for c in self._clients.values()):
            self._request = None  # do not keep a dead connection's request alive
        self.last_active = time.monotonic()

    def acknowledged(self) -> dict[str, int]:
        """The last event sequence number applied for each client id (what a snapshot
        keeps, so that events a page re-sends after a failover apply once)."""
        return {cid: c.last_seq for cid, c in self._clients.items() if c.last_seq}

    def resume_clients(self, acknowledged: dict[str, int]) -> None:
        """Know the clients of a restored session (``acknowledged()`` of the session it
        resumes): a page joining with one of these ids is told which of its events were
        applied already; those it re-sends are acknowledged, not applied again."""
        for cid, seq in list(acknowledged.items())[-MAX_CLIENTS:]:
            client = self._clients.get(cid)
            if client is None:
                client = self._clients[cid] = Client(cid)
            client.last_seq = max(client.last_seq, seq)

    def _forget_old_clients(self) -> None:
        """Keep at most ``MAX_CLIENTS``: forget disconnected ones first, oldest first;
        then end the oldest connected pages, telling them why."""
        excess = len(self._clients) - MAX_CLIENTS
        if excess <= 0:
            return
        ordered = list(self._clients.values())[:-1]  # never the page that just joined
        victims = [c for c in ordered if c.sink is None] + [c for c in ordered if c.sink is not None]
        for client in victims[:excess]:
            client.end(Bye(ByeCode.EVICTED,
                           f"more than {MAX_CLIENTS} pages of this session are open: this one stopped"))
            del self._clients[client.cid]

    def _joined(self, client: Client, revision: int | None) -> Joined:
        """The ``joined`` message for a client whose page is at ``revision`` (``None``:
        unknown, send everything)."""
        root = self.restored_root
        before_restore = root is not None and revision is not None and revision < root[1]
        target = root[0] if before_restore and root is not None else None
        ops: list[PatchOp] = [] if revision == self.revision else self.full_render(target)
        missed = [html for html, rev in self._statics.items() if (revision is None or rev > revision)
                  and not (before_restore and static_digest(html) in self.restored_statics)]
        return Joined(client.cid, client.last_seq, self.revision, ops, missed)

    def static_digests(self) -> list[str]:
        """``static_digest`` of every static this session's pages were sent."""
        return [static_digest(html) for html in self._statics]

    def resync(self, client: Client) -> None:
        """Send ``client`` the whole tree (it reported that its DOM lost track)."""
        self.flush()
        if client.sink is not None:
            client.sink(self._joined(client, None).encode())
            with self.tree.lock:
                failures = self.tree.take_failures()
            for what, exc in failures:
                self._report_failure([client], what, exc, ErrorCode.RENDER_ERROR)

    def full_render(self, target: str | None = None) -> list[PatchOp]:
        """The whole app as one ``Morph`` of ``target`` (default: the app's id)."""
        with self.tree.lock:
            return [Morph(target or self.app.id, render_html(self.app))]

    def render_document(self) -> tuple[str, list[str]]:
        """The app's HTML and every static it needs, for a page load at ``revision``.

        Pending changes are first sent to the other clients, so the page and they agree."""
        self.flush()
        with self.tree.lock:
            html = render_html(self.app)
            for static in self.tree.take_statics():
                self._statics[static] = self.revision
            # Told to the page once it joins: it has no connection yet.
            self._unreported.extend(self.tree.take_failures())
        return html, list(self._statics)

    # -- events -------------------------------------------------------------------------

    async def dispatch(self, client: Client, msg: EventMessage, request: Any = None) -> None:
        """Apply one event of ``client``: at most once (a sequence number already applied
        is only acknowledged), after the previous one finished.

        A forbidden event (unknown or detached tag, no handler, disabled element) or a
        handler that raises is reported to this client only, as an ``err`` message; the
        session carries on. The update that follows acknowledges the event.
        """
        async with self._lock:
            if self.closed:  # discarded while the event waited: nothing may run any more
                client.end(Bye(ByeCode.EXPIRED, "the session ended"))
                return
            self._busy = True
            if self.busy_hook is not None:
                self.busy_hook(True)
            self.last_active = time.monotonic()
            synced: list[PatchOp] = []
            try:
                if msg.seq > client.last_seq:
                    client.last_seq = msg.seq  # before running: at most once, even if it fails
                    if msg.sync:
                        synced = apply_live_values(self.tree, msg.sync)
                    await self._apply(client, msg, request)
            finally:
                self._busy = False
                if self.busy_hook is not None:
                    self.busy_hook(False)
                self.flush(ack_to=client, synced=synced)

    async def _apply(self, client: Client, msg: EventMessage, request: Any) -> None:
        try:
            target, handler = self._resolve(msg)
        except ForbiddenEvent as exc:
            log.warning("session %s: rejected event: %s", self.log_id, exc)
            self._send_error(client, exc.code, str(exc))
            return
        event = Event(target, msg.name, msg.data)
        started = time.perf_counter()
        try:
            result = await self.run_callback(handler.func, (event,) if handler.accepts_event else (), request)
        except Exception as exc:
            self._report_failure([client], _handler_what(msg, target), exc)
        else:
            if result is not None and self.debug and getattr(handler.func, "__name__", "") != "<lambda>":
                # htag ignores it too; a value a def returns is most often a mistake
                # (``return self.render()``), so development says so. A lambda returns
                # its expression's value whether meant or not (``lambda: s.set(1)``).
                log.warning("session %s: the %s returned %s, which is ignored (a handler changes the "
                            "tree; to send updates along the way, make it a generator and yield)",
                            self.log_id, _handler_what(msg, target), type(result).__name__)
        finally:
            if msg.data:  # a click carries no data, so no upload
                event.release_files()  # an upload's temporary files go, whatever the handler did
            if log.isEnabledFor(logging.DEBUG):
                log.debug("session %s: %s on %s took %.1f ms", self.log_id, msg.name, target.id,
                          (time.perf_counter() - started) * 1000)

    def _resolve(self, msg: EventMessage) -> tuple[Tag, Any]:
        target = self.tree.lookup(msg.target_id)
        if target is None:
            raise ForbiddenEvent(f"expected the id of a tag in the live tree, got {msg.target_id!r}")
        handler = handler_of(target, msg.name)
        if handler is None:
            raise ForbiddenEvent(f"expected an event <{target.tag_name}> #{target.id} handles, got {msg.name!r}")
        if is_disabled(target):
            raise ForbiddenEvent(f"expected an enabled element, got disabled <{target.tag_name}> #{target.id}")
        return target, handler

    async def run_callback(self, func: Callable[..., Any], args: tuple[Any, ...], request: Any = None) -> Any:
        """Run user code (see ``livetag.execution.run_user_code``) with ``request`` as
        ``Tag.request``; an update is sent after each ``yield``. Returns what a plain or
        ``async`` function returned. Exceptions propagate."""
        if self._loop is not None:
            watch_tasks(self._loop)
        token = current_request.set(request)
        session_token = running_session.set(self)
        try:
            return await run_user_code(func, args, self.flush)
        finally:
            running_session.reset(session_token)
            current_request.reset(token)

    def _report_failure(self, clients: list[Client], what: str, exc: BaseException,
                        code: ErrorCode = ErrorCode.HANDLER_ERROR) -> None:
        """User code raised ``exc`` (a handler, a hook: ``HANDLER_ERROR``; a reactive source
        while rendering: ``RENDER_ERROR``, the page keeps its last content): the log gets
        the traceback and an error id; each of ``clients`` an ``err`` (with the app's
        frames first when ``debug``, else only the id). The session carries on."""
        error_id = secrets.token_hex(4)
        log.error("session %s: %s raised (error id %s)", self.log_id, what, error_id,
                  exc_info=(type(exc), exc, exc.__traceback__))
        trace = format_user_trace(exc) if self.debug else None
        for client in clients:
            if self.debug:
                self._send_error(client, code, f"{what} raised {type(exc).__name__}: {exc}", error_id, trace)
            else:
                self._send_error(client, code, "an internal error occurred", error_id)

    def background_failed(self, task: asyncio.Task[Any]) -> None:
        """``task``, created by this session's user code, ended with an exception nobody
        retrieved (awaited, gathered): report it like a failing handler, to every page."""
        if self.closed or task.cancelled():
            return
        exc = task.exception()  # retrieves it: asyncio does not log it a second time
        if exc is not None:
            name = getattr(task.get_coro(), "__qualname__", None) or task.get_name()
            self._report_failure(self.connected_clients, f"background task {name}", exc)

    def _send_error(self, client: Client, code: ErrorCode | str, message: str, error_id: str | None = None,
                    trace: str | None = None) -> None:
        if client.sink is not None:
            client.sink(Error(code, message, error_id, trace).encode())

    # -- published messages (livetag.pubsub) ------------------------------------------

    def _messages_came(self) -> None:
        # From the publisher's thread, when the inbox stops being empty.
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # join() starts the delivery
        try:
            loop.call_soon_threadsafe(self._start_delivery)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _start_delivery(self) -> None:
        if self._delivery is None and not self.closed:
            self._delivery = self._loop.create_task(self._deliver())  # type: ignore[union-attr]
            self._keep(self._delivery)

    async def _deliver(self) -> None:
        """Run the handlers of the messages received, in order, one at a time with the
        session's events (the lock), a batch at a time; an update follows each batch."""
        try:
            while not self.closed:
                batch = self.topics.take(MESSAGE_BATCH)  # started once messages came: the topics exist
                if not batch:
                    return
                async with self._lock:
                    if self.closed:
                        return
                    self._busy = True
                    if self.busy_hook is not None:
                        self.busy_hook(True)
                    try:
                        for topic, data, handlers in batch:
                            for tag, handler in handlers:
                                if tag._tree is not self.tree:
                                    continue  # left the tree since
                                try:
                                    await self.run_callback(handler, (orjson.loads(data),), self._request)
                                except Exception as exc:
                                    self._report_failure(self.connected_clients,
                                                         f"handler of topic {topic!r} on {tag!r}", exc)
                    finally:
                        self._busy = False
                        if self.busy_hook is not None:
                            self.busy_hook(False, False)
                        self.flush()
        finally:
            self._delivery = None
            if self._topics is not None and self._topics.pending and not self.closed:
                self._start_delivery()

    async def settle(self, rounds: int = 100) -> None:
        """Wait until the messages received so far are handled (at most ``rounds`` batches
        of messages that handlers publish to this session in turn). For tests."""
        for _ in range(rounds):
            await asyncio.sleep(0)  # messages from threads arrive through the loop
            if self._delivery is None:
                if self._topics is None or not self._topics.pending or self.closed:
                    return
                self._start_delivery()
            if self._delivery is not None:
                await asyncio.wait({self._delivery})

    async def drain_events(self) -> None:
        """Wait until the event being applied and those already waiting behind it are
        done (events run one at a time, in arrival order). A server that stops calls it
        once no more events can arrive, before the session is snapshotted."""
        async with self._lock:
            pass

    # -- updates ------------------------------------------------------------------------

    def flush(self, ack_to: Client | None = None, synced: list[PatchOp] | None = None) -> None:
        """Collect the changes and send one update to every connected client; ``synced``
        (values typed in ``ack_to``'s page) goes first, to the other clients only. With
        nothing to send, ``ack_to`` gets an ``ack`` for its events."""
        gate = type(self).send_gate  # through the class: a plain function is not bound
        if gate is not None and not gate():
            if ack_to is not None:  # its acknowledgement goes out with the next flush
                self._held_acks[ack_to.cid] = None
            return  # held back: the changes stay in the tree, the gate flushes again
        held = self._held_acks
        if held:
            self._held_acks = {}
        with self.tree.lock:
            ops, js, statics, failures, lifecycle = self.tree.take_update()
        self._last_flush = self._loop.time() if self._loop is not None else 0.0
        if synced and not any(c.sink is not None and c is not ack_to for c in self._clients.values()):
            synced = None  # typed in the only page: nobody else to show it to
        if ops or js or statics or synced:
            self.revision += 1
            for html in statics:
                self._statics[html] = self.revision
            ops_json = orjson.dumps(ops)
            others_json = orjson.dumps(synced + ops) if synced else ops_json
            extras = encode_extras(statics, js) if statics or js else b""
            for client in list(self._clients.values()):
                if client.sink is not None:
                    patch = ops_json if client is ack_to else others_json
                    client.sink(encode_update(self.revision, client.last_seq, patch, extras))
        else:
            for cid in [*held, ack_to.cid] if ack_to is not None and ack_to.cid not in held else held:
                acked = self._clients.get(cid)
                if acked is not None and acked.sink is not None:
                    acked.sink(encode_ack(acked.last_seq))
        for what, exc in failures:
            self._report_failure(self.connected_clients, what, exc, ErrorCode.RENDER_ERROR)
        if lifecycle:
            self._run_lifecycle()
        if self.on_flush is not None:
            self.on_flush()

    # -- lifecycle ----------------------------------------------------------------------

    def _run_lifecycle(self) -> None:
        """Start pending ``on_unmount``/``on_mount`` hooks (once a client is connected)."""
        if (not self.tree.has_lifecycle or self._loop is None
                or not any(c.sink is not None for c in self._clients.values())):
            return
        unmounted, mounted = self.tree.take_lifecycle()
        if unmounted or mounted:
            self._spawn(self._run_hooks(unmounted, mounted))

    def _spawn(self, coroutine: Any) -> None:
        self._keep(self._loop.create_task(coroutine))  # type: ignore[union-attr]

    def _keep(self, task: asyncio.Task[None]) -> None:
        """Hold ``task`` until it is done (the loop keeps only weak references to tasks),
        so that ``close`` can cancel it."""
        self._tasks[task] = None
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def _run_hooks(self, unmounted: list[Tag], mounted: list[Tag]) -> None:
        # What leaves finishes leaving before what replaces it arrives; on_mount hooks
        # may run for ever (a clock), so each gets its own task.
        for tag in unmounted:
            await self._run_hook(tag.on_unmount, f"on_unmount of {tag!r}")
        for tag in mounted:
            self._spawn(self._run_hook(tag.on_mount, f"on_mount of {tag!r}"))

    async def _run_hook(self, func: Callable[..., Any], what: str) -> None:
        try:
            await self.run_callback(func, (), self._request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._report_failure(self.connected_clients, what, exc)
            self.flush()

    def reload(self) -> None:
        """A page reload of this session: the app unmounts and mounts again."""
        with self.tree.lock:
            self.tree.remount()

    def _changed(self) -> None:
        # Called on the first change after a flush, from whichever thread made it.
        # While an event runs, its own flush will carry the change.
        loop = self._loop
        if self._busy or loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._schedule_flush)

    def _schedule_flush(self) -> None:
        loop = self._loop
        if self._busy or loop is None:
            return
        throttle = self.tree.take_throttle()
        interval = BACKGROUND_THROTTLE if throttle is None else throttle
        now = loop.time()
        delay = max(0.0, self._last_flush + interval - now)
        handle = self._flush_handle
        if handle is not None:
            if handle.when() <= now + delay:
                return
            handle.cancel()  # update(throttle=...) asked for sooner
        self._flush_handle = loop.call_later(delay, self._background_flush)

    def _background_flush(self) -> None:
        self._flush_handle = None
        if not self._busy:  # a running event flushes when it ends
            self.flush()

    @property
    def log_id(self) -> str:
        """A short tag for logs that does not reveal the session id or token."""
        return f"{id(self) & 0xFFFFFF:06x}"

    def close(self, code: ByeCode | str = ByeCode.EXPIRED, message: str = "the session ended") -> None:
        """End the session: cancel its background hooks, run ``on_destroy`` of every tag
        that has one (once; coroutines are scheduled on the loop), tell every connected
        client that the session is gone and forget them."""
        if self.closed:
            return
        self.closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for task in list(self._tasks):
            task.cancel()
        if self._topics is not None:
            self._topics.close()
        for tag in self.tree.destroyable():
            try:
                result = tag.on_destroy()
                if inspect.isawaitable(result) and self._loop is not None and not self._loop.is_closed():
                    self._loop.create_task(result)  # type: ignore[arg-type]
                elif inspect.iscoroutine(result):
                    result.close()
            except Exception as exc:
                self._report_failure([], f"on_destroy of {tag!r}", exc)
        bye = Bye(code, message)
        for client in self._clients.values():
            client.end(bye)
        self._clients.clear()
