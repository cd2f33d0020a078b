"""The supervisor: one process per ``Runner`` server that owns every session process.

This module is the orchestration (``Supervisor``: start, find-or-create a session's
process, shut down); each concept is a module of its own: ``config`` (the typed
configuration), ``bootstrap`` (entry point) and ``anchor`` (its tie to the server),
``files`` (its private files and their repair), ``control`` (the RPC web workers use),
``sessions`` (the session table, end reasons, tombstones), ``spares`` (the spare pool),
``watchdog`` (timeouts, heartbeats, memory) and ``priority`` (OS priorities).

Started by the first web worker (a fresh interpreter, in its own session: the web
worker's sockets are never inherited and terminal signals do not reach it), it lives as
long as the server's *anchor* process (the gunicorn master, the uvicorn process) and
then ends every session cleanly and removes its directory.

It answers web workers on a control socket (length-prefixed JSON frames, see
``bridge``): ``page`` (find or create the process of a session for a page load),
``status`` (why a session is gone), ``hello``, ``list`` and ``shutdown``. Web workers
reach session processes directly through their sockets; the supervisor is not on the
path of events.

Session processes are forks of a fork server that preloaded livetag and the app
(livetag's own, ``forkserver``/``zygote``), asked from a thread so that the supervisor's
loop never waits for one. ``spare_processes`` of them (default 1) are started ahead of need:
a *spare* is forked, runs its event loop and waits; a new session is handed to it (its
configuration and listening socket over a socket pair, ``SCM_RIGHTS``), so that it costs
a message rather than a fork, and the next spare starts in the background. When a
lowered priority can be raised back (see ``priority_restorable``), a spare's start is
background work from end to end: the supervisor's thread that asks for it and the fork
server run at a lower priority (nice), the spare itself as ``SCHED_IDLE`` (it yields the
CPU to any other process at once); it gets the normal priority at the handoff, and a
process forked for a session gets it as soon as it is forked.

The supervisor enforces from outside what a process cannot enforce on itself:
``timeout_interaction`` (SIGKILL; a spare's start too), ``max_memory_mb`` (RSS,
SIGKILL), ``timeout_inactivity`` (SIGTERM: a clean close with ``on_destroy``); it
notices a death at once (the process's sentinel in its event loop) and remembers why,
so that the pages of that session are told in plain words. A spare that dies is
replaced (after a growing pause if spares keep dying young).

In a cluster (``SupervisorConfig.cluster``), the supervisor is this machine's
``ClusterMember``: it claims each session in the directory before its process starts
(the epoch and the machine's lease window go to the process in the shared doubles,
``cluster.fence``), snapshots live in Redis, its hub publishes through Redis, and a
session this machine does not hold is located (``owner``), refused (``elsewhere``: the
relay's case) or claimed here and restored (``revive``): see ``cluster.ownership`` and
``docs/cluster.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ...errors import StoreCorrupt, StoreUnavailable
from ..cluster.config import ClusterConfig, parse_relay
from ..cluster.relay import RelayServer
from ..limits import AddressBudget
from ..persistence import key as store_key
from ..store.sqlite import SQLiteStore
from . import bridge, paths, store_link
from .anchor import watch_anchor
from .appref import AppRef
from .config import EXPECTED_ENV, SupervisorConfig
from .control import ControlServer
from .files import InstanceFiles
from .forkserver import ForkedProcess, ForkServer, SharedDoubles
from .priority import SPARE_NICE, priority_restorable, start_fork_server, start_process
from .process import ProcessConfig, SharedField, StopReason
from .pubsub import PubSubHub, peer_pid
from .sessions import EndReason, ProcessState, SessionRecord, SessionTable, normalised_query
from .spares import SparePool
from .watchdog import Watchdog, heartbeat_for

if TYPE_CHECKING:  # the cluster's modules need redis-py (the ``cluster`` extra): imported when used
    from ..cluster.directory import Claim
    from ..cluster.member import ClusterMember
    from ..cluster.ownership import Ownership
    from ..store import SessionStore

log = logging.getLogger("livetag.server.processes.supervisor")

#: Ends after which a cluster's session does not resume anywhere (its snapshot is deleted).
FINAL_ENDS = (EndReason.TIMEOUT, EndReason.MEMORY, EndReason.CRASHED, EndReason.EXPIRED)
#: Seconds a link from a process being started waits for the supervisor to record it.
START_WAIT = 10.0


class Supervisor:
    """See the module docstring. ``config``: what the starting web worker sent."""

    def __init__(self, config: SupervisorConfig) -> None:
        self.config = config
        self.base = Path(config.base)
        self.anchor = config.anchor
        self.instance = secrets.token_hex(4)
        self.files = InstanceFiles(self.base, self.instance, self.anchor, secrets.token_bytes(32),
                                   config.session_secret or secrets.token_urlsafe(32))
        self.dir = self.files.dir
        self.timeout_interaction = float(config.timeout_interaction)
        self.heartbeat = heartbeat_for(self.timeout_interaction)
        self.timeout_inactivity = float(config.timeout_inactivity)
        self.max_memory_mb = config.max_memory_mb
        self.max_sessions = config.max_sessions
        #: New sessions per client address, for every web worker at once.
        self.new_sessions = AddressBudget(*config.new_sessions)
        self.table = SessionTable(self.files.sockets)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livetag-spawn")
        self._counter = itertools.count()
        self._stopping = False
        #: Page loads and revivals in progress per session (``(base, sid)`` -> [lock, users]): two
        #: of them at once find or make one process, even across the awaits in between.
        self._session_locks: dict[tuple[str, str], tuple[asyncio.Lock, list[int]]] = {}
        self._done: asyncio.Event | None = None
        self._base_priority = os.getpriority(os.PRIO_PROCESS, 0)
        #: The fork server's (so spares') nice value when it can be undone, else None.
        self._low_priority: int | None = None
        # Each session process holds the other end: EOF there = this supervisor died.
        self._lifeline, self._lifeline_child = socket.socketpair()
        #: Forks every session and spare process (``forkserver``).
        self.forks = ForkServer(self._lifeline_child)
        #: The cluster this machine belongs to (``None``: none): its member (directory,
        #: store, broker) and the claims of its sessions (``cluster.ownership``).
        self.cluster = ClusterConfig.from_dict(config.cluster) if config.cluster else None
        self.member: ClusterMember | None = None
        self.ownership: Ownership | None = None
        self._claimed: dict[int, tuple[SessionRecord, str, int]] = {}  # pid -> (record, store key, epoch)
        self._unclaimed: dict[int, tuple[SessionRecord, str]] = {}  # started while Redis was down
        if self.cluster is not None:
            from ..cluster.member import ClusterMember
            from ..cluster.ownership import Ownership

            self.member = ClusterMember(self.cluster)
            self.ownership = Ownership(self.member.directory)
            self.ownership.on_change = self._claim_changed
        #: What the next spare builds its ``WebApp`` for: the last session's configuration.
        expected = self._config("", AppRef.from_json(config.preload[0]), config.options) if config.preload else None
        self.spares = SparePool(self.forks, self.executor, config.spare_processes,
                                self._base_priority, lambda: len(self.table) < self.max_sessions, expected)
        self.control = ControlServer(self)
        #: Publish/subscribe between the session processes (``processes.pubsub``), and
        #: across machines in a cluster (the member's ``RedisBroker``).
        self.hub = PubSubHub(self.member.broker if self.member is not None else None)
        self.watchdog = Watchdog(self.table, self.spares, timeout_interaction=self.timeout_interaction,
                                 heartbeat=self.heartbeat, timeout_inactivity=self.timeout_inactivity,
                                 max_memory_mb=self.max_memory_mb, check_files=self._check_files,
                                 files_paused=lambda: self._stopping or self._repairing)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._repairing = False
        #: Where sessions are snapshotted (``None``: not persisted). The supervisor looks
        #: snapshots up (to revive a session after a restart), deletes them (a session
        #: replaced or discarded on purpose) and, on one machine, does its session
        #: processes' reads and writes (``store_link``); in a cluster they write to Redis.
        self.store: SessionStore | None = (self.member.store if self.member is not None
                                           else SQLiteStore(config.store) if config.store else None)
        #: Session processes linked to ``store`` now (``store_link``).
        self.store_links = 0
        #: The relay other machines reach this machine's sessions through (``cluster.relay``),
        #: when the cluster configuration names an address; here so that it outlives web workers.
        self.relay = None if self.cluster is None or self.cluster.relay is None else RelayServer(
            parse_relay(self.cluster.relay), self.cluster.secret, lambda: self.files.sockets,
            lambda base, sid: paths.session_name(self.files.path_key, base, sid))

    # -- life cycle -----------------------------------------------------------------------

    def messages(self, reason: EndReason) -> str:
        template: str = reason.value[1]
        return template.format(timeout=self.timeout_interaction, memory=self.max_memory_mb,
                                      inactivity=self.timeout_inactivity)

    async def run(self, ready_fd: int | None = None) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self.spares.loop = loop
        self._done = asyncio.Event()
        self.files.make()
        if self.spares.expected is not None:  # the fork server builds its WebApp ahead (see ``preload``)
            os.environ[EXPECTED_ENV] = self.spares.expected.to_json().decode()
        if self.spares.count and priority_restorable():
            self._low_priority = self.spares.low_priority = min(19, self._base_priority + SPARE_NICE)
        warm = loop.run_in_executor(self.executor, start_fork_server, self.forks, self._low_priority)
        await self.control.open(str(self.files.control))
        if self.relay is not None:
            try:
                await self.relay.start()
            except OSError as exc:  # sessions still work here; other machines cannot reach them
                log.error("the relay cannot listen on %s:%d: %s", *self.relay.listen, exc)
                self.relay = None
        loop.add_signal_handler(signal.SIGTERM, self.request_shutdown)
        watch_anchor(loop, self.anchor, self.request_shutdown)
        watchdog = loop.create_task(self.watchdog.run())
        cluster: asyncio.Task[None] | None = None
        if self.member is not None:
            await self.member.start()  # returns at once: it joins when Redis answers
            cluster = loop.create_task(self._cluster_loop())
        try:
            await warm
        except Exception:
            log.exception("the fork server did not start")
        if ready_fd is not None:
            os.write(ready_fd, orjson.dumps({"pid": os.getpid(), "instance": self.instance}) + b"\n")
            os.close(ready_fd)
        log.info("session supervisor %d ready (timeout_interaction=%gs, %d spare process(es)%s)", os.getpid(),
                 self.timeout_interaction, self.spares.count, " at low priority" if self._low_priority else "")
        self.spares.refill()
        await self._done.wait()
        watchdog.cancel()
        if cluster is not None:
            cluster.cancel()

    def _check_files(self) -> None:
        """The watchdog's hook: when the private files are gone or damaged, make them again."""
        if not self.files.intact(self.control.ino):
            self._repairing = True
            assert self._loop is not None
            self._loop.create_task(self._repair())

    async def _repair(self) -> None:
        try:
            log.warning("the private directory %s was deleted or damaged: making it again", self.dir)
            await asyncio.to_thread(self.files.repair_directories)
            await self.control.open(str(self.files.control))
            await asyncio.to_thread(self.files.repair_current)
        except Exception:
            log.exception("could not make the private directory %s again (retrying)", self.dir)
        finally:
            self._repairing = False

    def request_shutdown(self) -> None:
        if not self._stopping and self._loop is not None:
            self._loop.create_task(self.shutdown())

    async def shutdown(self) -> None:
        """End every session cleanly (SIGKILL after ``config.drain_timeout`` seconds: a
        process stuck in a handler does not hold the stop), remove this supervisor's
        files; the base directory too when nothing else is left in it."""
        if self._stopping:
            while not self._done.is_set():  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
            return
        self._stopping = True
        self.control.close()
        if self.relay is not None:
            await self.relay.close()
        with contextlib.suppress(OSError):
            os.unlink(self.files.control)
        self.spares.stop()
        if self.spares.starting is not None:  # its process is killed once started
            with contextlib.suppress(BaseException):
                await asyncio.shield(self.spares.starting)
        self.spares.kill_all()
        table = self.table
        for record in list(table.sessions.values()):
            table.terminate(record, EndReason.SHUTDOWN, self.config.drain_timeout)
        deadline = time.monotonic() + self.config.drain_timeout + 1
        while (table.closing or self.spares.spares) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for record in list(table.closing):
            table.kill(record, EndReason.SHUTDOWN)
        deadline = time.monotonic() + 2
        while (table.closing or self.spares.spares) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.files.remove()
        if self.member is not None:
            # Every process saved its session: release their claims, then end the lease
            # (its sessions are claimable elsewhere at once, from their snapshots).
            assert self.ownership is not None
            for key in list(self.ownership.claims):
                await self.ownership.release(key)
            await self.member.close(leave=True)
        elif self.store is not None:
            await self.store.close()
        await asyncio.get_running_loop().run_in_executor(self.executor, self.forks.close)
        log.info("session supervisor %d stopped", os.getpid())
        self._done.set()  # type: ignore[union-attr]

    # -- control requests (see ``control``) -----------------------------------------------

    def hello(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "anchor": self.anchor, "instance": self.instance}

    def listing(self) -> dict[str, Any]:
        return {"sessions": [{"name": r.log_id, "pid": r.pid, "state": r.state.name}
                             for r in self.table.sessions.values()],
                "spares": [{"pid": s.pid, "state": s.state.name, "ready": not s.shared[SharedField.BUSY_SINCE]}
                           for s in self.spares.spares],
                "pubsub": self.hub.listing(),
                "store_links": self.store_links,
                "relay": None if self.relay is None else {"connections": self.relay.connections,
                                                          "refused": self.relay.refused,
                                                          "spliced": self.relay.spliced}}

    async def stop_from(self, anchor: int) -> dict[str, Any]:
        if anchor != self.anchor:
            return {"error": "refused", "msg": "only the server process may stop the supervisor"}
        await self.shutdown()
        return {"ok": True}

    async def pubsub(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve a session process's publish/subscribe link (see ``processes.pubsub``):
        only for a live session process of this supervisor (its pid, ``SO_PEERCRED``)."""
        pid = peer_pid(writer.get_extra_info("socket"))
        record = await self._live_record(pid)
        if record is None:
            log.warning("pubsub link refused: process %s is not a live session process of this supervisor", pid)
            writer.write(bridge.encode({"error": "refused", "msg": "expected a session process of this supervisor"}))
            return
        writer.write(bridge.encode({"ok": True}))
        await self.hub.serve(reader, writer, record.log_id)

    async def _live_record(self, pid: int) -> SessionRecord | None:
        """The record of live session process ``pid``; a process connects as soon as it
        starts, maybe before ``_create`` recorded it: the sessions being created are
        awaited first."""
        table = self.table
        deadline = time.monotonic() + START_WAIT
        while True:
            record = next((r for r in table.sessions.values() if r.pid == pid and table.alive(r)), None)
            remaining = deadline - time.monotonic()
            if record is not None or not table.creating or remaining <= 0:
                return record
            await asyncio.wait(list(table.creating.values()), timeout=remaining,
                               return_when=asyncio.FIRST_COMPLETED)

    async def store_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve a session process's store link (see ``processes.store_link``): only for a
        live session process of this supervisor (``SO_PEERCRED``), on one machine (a
        cluster's processes write to Redis themselves)."""
        pid = peer_pid(writer.get_extra_info("socket"))
        record = await self._live_record(pid)
        if record is None or self.store is None or self.member is not None:
            why = ("expected a session process of this supervisor" if record is None
                   else "expected a Runner that persists sessions on this machine")
            log.warning("store link refused for process %s: %s", pid, why)
            writer.write(bridge.encode({"error": "refused", "msg": why}))
            return
        writer.write(bridge.encode({"ok": True}))
        self.store_links += 1
        try:
            await store_link.serve(reader, writer, self.store, record.log_id)
        finally:
            self.store_links -= 1

    def _name(self, base: str, session_id: str) -> str:
        return paths.session_name(self.files.path_key, base, session_id)

    async def page(self, request: dict[str, Any]) -> dict[str, Any]:
        """Find or create the process of a page load's session. Request: ``base``,
        ``sid`` (the cookie, or null), ``query``, ``new`` (``?n``), ``app``,
        ``options`` ([debug, parano, http_only]). Reply: ``sid`` (to set as cookie when
        ``issued``), ``pid``.

        A cookie this supervisor does not know is only kept when a snapshot exists under
        its hash (the server restarted: the session resumes, see ``revive``); else a new
        id is issued. A session recreated on purpose (``?n``, other parameters, its
        process ended) loses its snapshot: it starts afresh, as before persistence."""
        if self._stopping:
            raise ConnectionError("the supervisor is stopping")
        base, sid = str(request.get("base", "")), request.get("sid") or None
        if not isinstance(sid, str):
            return await self._page(request)
        async with self._one_at_a_time(base, sid):
            return await self._page(request)

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, base: str, sid: str) -> AsyncIterator[None]:
        """Page loads and revivals of one session, one after the other: each looks, then
        claims and creates, with awaits in between; two at once (a reload and a page's
        transports rejoining after a failover) would claim twice and start two processes."""
        lock, users = self._session_locks.setdefault((base, sid), (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._session_locks[(base, sid)]

    async def _page(self, request: dict[str, Any]) -> dict[str, Any]:
        table = self.table
        base = str(request.get("base", ""))
        sid = request.get("sid") or None
        query = normalised_query(str(request.get("query", "")))
        app = AppRef.from_json(request["app"])
        options = tuple(bool(x) for x in request.get("options", (False, False, False)))
        if sid is not None and not isinstance(sid, str):
            sid = None
        issued = False
        while True:
            if sid is not None:
                name = self._name(base, sid)
                pending = table.creating.get(name)
                if pending is not None:
                    record = await pending
                    return {"sid": sid, "issued": issued, "pid": record.pid}
                existing = table.sessions.get(name)
                if existing is not None and table.alive(existing):
                    if request.get("new"):
                        table.terminate(existing, EndReason.DISCARDED)
                        await self._forget_snapshot(base, sid)
                        sid = None
                        continue
                    if existing.query == query and existing.app == app and existing.options == options:
                        return {"sid": sid, "issued": issued, "pid": existing.pid}
                    table.terminate(existing, EndReason.REPLACED)  # the app is recreated for them
                    await self._forget_snapshot(base, sid)
                elif existing is None and name not in table.tombstones:
                    if not request.get("new"):
                        elsewhere = await self._elsewhere(base, sid)
                        if elsewhere is not None:
                            return elsewhere  # the web worker relays it (or says why it cannot)
                    if request.get("new") or not await self._has_snapshot(base, sid):
                        sid = None  # not one of ours (or long gone): never adopt a client's id
                        continue
                    # else: issued before a restart, snapshotted: it resumes in a new process
                else:  # its process ended (killed, crashed, expired): a fresh one, same id
                    tomb = table.tombstones.get(name)
                    if not request.get("new") and self.cluster is not None:
                        elsewhere = await self._elsewhere(base, sid)
                        if elsewhere is not None:
                            return elsewhere  # its process here was fenced: the session lives there
                    if not request.get("new") and tomb is not None and self._moves(tomb[0]) \
                            and await self._has_snapshot(base, sid):
                        del table.tombstones[name]  # it resumes here, from its snapshot
                        continue
                    await self._forget_snapshot(base, sid)
            else:
                wait = self.new_sessions.refuse(str(request.get("client") or "unknown"))
                if wait is not None:
                    return {"error": "budget", "retry": wait}
                sid = secrets.token_urlsafe(32)  # 256 bits
                issued = True
                name = self._name(base, sid)
            claimed = await self._claim(base, sid, fresh=issued)
            if isinstance(claimed, dict):
                return claimed
            record = await self._create(name, sid, base, query, app, options, claimed)
            return {"sid": sid, "issued": issued, "pid": record.pid}

    async def revive(self, request: dict[str, Any]) -> dict[str, Any]:
        """A transport request (a WebSocket join, an HTTP poll...) for session ``sid`` at
        ``base`` that has no process: start one for it when the session was snapshotted
        (the server restarted under an open page). Request: ``base``, ``sid``, ``app``,
        ``options``. Reply: ``pid``, or ``error`` ``"unknown"`` (nothing to revive)."""
        if self._stopping:
            raise ConnectionError("the supervisor is stopping")
        base, sid = str(request.get("base", "")), request.get("sid")
        if not isinstance(sid, str) or not sid:
            return {"error": "unknown", "msg": "expected a session id"}
        async with self._one_at_a_time(base, sid):
            return await self._revive(request, base, sid)

    async def _revive(self, request: dict[str, Any], base: str, sid: str) -> dict[str, Any]:
        name = self._name(base, sid)
        pending = self.table.creating.get(name)
        if pending is not None:
            return {"pid": (await pending).pid}
        existing = self.table.sessions.get(name)
        if existing is not None and self.table.alive(existing):
            return {"pid": existing.pid}
        tomb = self.table.tombstones.get(name)
        if existing is not None or (tomb is not None and not self._moves(tomb[0])):
            return {"error": "unknown", "msg": "no snapshot to resume"}
        elsewhere = await self._elsewhere(base, sid, strict=True)
        if elsewhere is not None:
            return elsewhere
        if not await self._has_snapshot(base, sid):
            return {"error": "unknown", "msg": "no snapshot to resume"}
        claimed = await self._claim(base, sid, fresh=False)
        if isinstance(claimed, dict):
            return claimed
        app = AppRef.from_json(request["app"])
        options = tuple(bool(x) for x in request.get("options", (False, False, False)))
        record = await self._create(name, sid, base, (), app, options, claimed)
        log.info("session %s revived from its snapshot", record.log_id)
        return {"pid": record.pid}

    # -- the cluster (``livetag.server.cluster.ownership``) ----------------------------------

    async def owner(self, request: dict[str, Any]) -> dict[str, Any]:
        """Who owns session ``sid`` at ``base``: ``{"where": "here" | "elsewhere" |
        "nobody", "machine", "relay", "epoch"}``; ``{"where": "unknown", "msg"}`` when
        Redis cannot be reached; ``{"error": "unknown"}`` outside a cluster. Does not
        claim (``revive`` does: "claim it here and restore it")."""
        base, sid = str(request.get("base", "")), request.get("sid")
        if self.ownership is None:
            return {"error": "unknown", "msg": "this server is not in a cluster"}
        if not isinstance(sid, str) or not 0 < len(sid) <= 128:
            return {"error": "unknown", "msg": "expected a session id"}
        try:
            location = await self.ownership.locate(store_key(base, sid))
        except StoreUnavailable as exc:
            return {"where": "unknown", "msg": str(exc)}
        return location.to_dict()

    async def _elsewhere(self, base: str, sid: str, *, strict: bool = False) -> dict[str, Any] | None:
        """The reply for a session a live other machine owns, else ``None``. When Redis
        cannot tell: an ``unavailable`` reply with ``strict`` (an open page's transport:
        it retries, keeping its state), else ``None`` (a page load gets a new session)."""
        if self.ownership is None or len(sid) > 128:
            return None
        from ..cluster.ownership import Where

        try:
            location = await self.ownership.locate(store_key(base, sid))
        except StoreUnavailable as exc:
            log.warning("cannot look up a session's owner: %s", exc)
            return {"error": "unavailable", "msg": "the cluster's store cannot be reached; retry in a moment"} \
                if strict else None
        if location.where is not Where.ELSEWHERE:
            return None
        return {"error": "elsewhere", **location.to_dict()}

    async def _claim(self, base: str, sid: str, *, fresh: bool) -> Claim | dict[str, Any] | None:
        """Claim session ``sid`` for this machine before its process starts (``None``
        outside a cluster). A new session (``fresh``) starts unclaimed when Redis cannot
        be reached (it works here, without snapshots: logged); a session to restore
        gets an error reply then, as when another live machine owns it."""
        if self.ownership is None or self.member is None:
            return None
        from ..cluster.ownership import OwnedElsewhere

        try:
            return await self.ownership.claim(store_key(base, sid))
        except OwnedElsewhere as exc:
            return {"error": "elsewhere", **exc.location.to_dict()}
        except StoreUnavailable as exc:
            if fresh:
                log.warning("a new session starts unclaimed, without snapshots (%s)", exc)
                return None
            log.warning("cannot claim a session to restore it: %s", exc)
            return {"error": "unavailable", "msg": "the cluster's store cannot be reached; retry in a moment"}

    async def _release(self, key: str, epoch: int, *, forget: bool) -> None:
        """Release this machine's claim at ``epoch`` on ``key`` (its process ended); with
        ``forget``, delete the session's snapshot first, while the claim is still ours."""
        assert self.ownership is not None
        held = self.ownership.claims.get(key)
        if forget and self.store is not None and held is not None and held.epoch == epoch:
            try:
                await self.store.delete(key)
            except StoreUnavailable as exc:  # it expires on its own
                log.warning("the snapshot of a session that ended was not deleted: %s", exc)
        await self.ownership.release(key, epoch)

    def _moves(self, reason: EndReason) -> bool:
        """In a cluster, whether a session whose process ended for ``reason`` goes on
        (on another machine, or here from its snapshot) rather than ending."""
        return self.cluster is not None and reason in (EndReason.MOVED, EndReason.SHUTDOWN)

    def _share_claim(self, record: SessionRecord, claim: Claim | None) -> None:
        shared = record.shared
        shared[SharedField.EPOCH] = float(claim.epoch) if claim is not None else 0.0
        shared[SharedField.CLAIMED_AT] = claim.sent_at if claim is not None else 0.0
        self._share_lease(record)

    def _share_lease(self, record: SessionRecord) -> None:
        if self.member is None:
            return
        since, until = self.member.directory.lease_window()
        record.shared[SharedField.LEASE_SINCE] = since
        record.shared[SharedField.LEASE_UNTIL] = until

    def _claim_changed(self, key: str, claim: Claim) -> None:
        for pid, (record, claimed, _) in list(self._claimed.items()):
            if claimed == key:
                self._claimed[pid] = (record, key, claim.epoch)
                self._share_claim(record, claim)

    async def _cluster_loop(self) -> None:
        """Share this machine's lease with the session processes, check the claims again
        after a gap in it (``Ownership.reassert``), and claim the sessions that started
        while Redis was down once it answers (``_claim_unclaimed``)."""
        assert self.member is not None and self.ownership is not None
        directory = self.member.directory
        interval = max(0.05, min(0.5, directory.lease / 8))
        vouched = 0.0  # the lease's start that the claims were last checked against
        while True:
            await asyncio.sleep(interval)
            try:
                for record in list(self.table.sessions.values()):
                    self._share_lease(record)
                since, _ = directory.lease_window()
                if since and since != vouched and self.ownership.claims:
                    await self.ownership.reassert()
                    vouched = since
                elif since:
                    vouched = since
                if since and self._unclaimed:
                    await self._claim_unclaimed()
            except StoreUnavailable as exc:
                log.warning("cannot check this machine's claims: %s", exc)
            except Exception:  # a bug must not end the loop for good
                log.exception("the cluster loop failed")

    async def _claim_unclaimed(self) -> None:
        """Claim the sessions that started unclaimed: their processes see the epoch in
        their shared window and save from then on. One that another machine claimed
        meanwhile (it cannot resume it: there is no snapshot; a bug, or a forged
        record) is ended here: two owners must never send."""
        assert self.ownership is not None
        from ..cluster.ownership import OwnedElsewhere

        for pid, (record, key) in list(self._unclaimed.items()):
            try:
                claim = await self.ownership.claim(key)
            except OwnedElsewhere as exc:
                del self._unclaimed[pid]
                log.warning("session %s: %s; ending it here", record.log_id, exc)
                self.table.kill(record, EndReason.MOVED)
                continue
            if self._unclaimed.pop(pid, None) is None or record.state is not ProcessState.LIVE:
                await self.ownership.release(key, claim.epoch)  # it ended meanwhile
                continue
            self._claimed[pid] = (record, key, claim.epoch)
            self._share_claim(record, claim)
            log.info("session %s: claimed now that Redis answers (epoch %d)", record.log_id, claim.epoch)

    async def _has_snapshot(self, base: str, sid: str) -> bool:
        if self.store is None or len(sid) > 128:
            return False
        try:
            return await self.store.load(store_key(base, sid)) is not None
        except (StoreUnavailable, StoreCorrupt) as exc:
            log.warning("cannot look for a session snapshot: %s", exc)
            return False

    async def _forget_snapshot(self, base: str, sid: str) -> None:
        if self.store is None:
            return
        if self.ownership is not None:  # never another machine's session
            from ..cluster.ownership import Where

            try:
                if (await self.ownership.locate(store_key(base, sid))).where is Where.ELSEWHERE:
                    return
            except StoreUnavailable as exc:
                log.warning("a replaced session's snapshot was not deleted (it expires on its own): %s", exc)
                return
        try:
            await self.store.delete(store_key(base, sid))
        except StoreUnavailable as exc:
            log.warning("a replaced session's snapshot was not deleted (it expires on its own): %s", exc)

    def status(self, name: str) -> dict[str, Any]:
        record = self.table.sessions.get(name)
        if record is not None:
            if self.table.alive(record):
                return {"state": "live"}
            self._on_exit(record)
        tomb = self.table.tombstones.get(name)
        if tomb is not None:
            reason = tomb[0]
            reply: dict[str, Any] = {"state": "ended", "code": reason.code, "msg": self.messages(reason)}
            if self._moves(reason):
                reply["moved"] = True  # its pages join again (elsewhere): the web worker says "retry"
            return reply
        return {"state": "unknown", "code": "expired", "msg": "session expired"}

    # -- processes ------------------------------------------------------------------------

    def _config(self, sid: str, app: AppRef, options: tuple[bool, ...]) -> ProcessConfig:
        debug, parano, http_only = options
        fields: dict[str, Any] = {"store": self.config.store or "", "snapshot_ttl": self.config.snapshot_ttl,
                                  **self._cluster_fields()}
        return ProcessConfig(sid, app, debug=debug, parano=parano, http_only=http_only,
                             allowed_origins=self.config.allowed_origins, allowed_hosts=self.config.allowed_hosts,
                             limits=dict(self.config.limits), timeout_inactivity=self.timeout_inactivity,
                             heartbeat=self.heartbeat, **fields)

    def _cluster_fields(self) -> dict[str, Any]:
        cluster, member = self.cluster, self.member
        if cluster is None or member is None:
            return {}
        return {"store": "", "redis_url": cluster.redis_url, "redis_prefix": cluster.prefix,
                "machine": cluster.machine_id, "incarnation": member.directory.incarnation,
                "claim_ttl": cluster.claim_ttl, "snapshot_ttl": cluster.snapshot_ttl}

    async def _create(self, name: str, sid: str, base: str, query: tuple[tuple[str, str], ...], app: AppRef,
                      options: tuple[bool, ...], claim: Claim | None = None) -> SessionRecord:
        assert self._loop is not None
        table = self.table
        future: asyncio.Future[SessionRecord] = self._loop.create_future()
        table.creating[name] = future
        try:
            if len(table) >= self.max_sessions:
                table.make_room()
            config = replace(self._config(sid, app, options), socket_path=str(self.files.sockets / name),
                             claim_key=store_key(base, sid) if self.cluster is not None else "")
            self.spares.expected = self._config("", app, options)
            listener = self._listen(name)
            try:
                started = await self.spares.hand(config, listener)
                if started is None:
                    started = await self._start_session(config, listener, name)
            finally:
                listener.close()  # the process has its own copy now
            process, shared = started
            record = SessionRecord(name, base, query, app, options, shared)  # type: ignore[arg-type]
            record.process, record.pid = process, process.pid
            record.socket_ino = os.stat(self.files.sockets / name).st_ino
            record.state = ProcessState.LIVE
            if self.cluster is not None:
                self._share_claim(record, claim)  # before any request reaches the process
                if claim is not None:
                    self._claimed[record.pid] = (record, claim.key, claim.epoch)
                else:
                    self._unclaimed[record.pid] = (record, config.claim_key)
            table.add(record)
            self._loop.add_reader(process.sentinel, self._on_exit, record)
            log.info("session process %d started for %s (%d live)", record.pid, record.log_id, len(table))
            future.set_result(record)
            return record
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # awaited by the waiters, if any; not an unhandled error
            raise
        finally:
            del table.creating[name]

    def _listen(self, name: str) -> socket.socket:
        """A listening socket at ``s/<name>``, swapped in atomically (a replaced
        session's process keeps its own socket, unreachable by path)."""
        final = self.files.sockets / name
        tmp = self.files.sockets / f".{next(self._counter)}"
        paths.check_socket_path(final)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(tmp))
            sock.listen(512)
            os.replace(tmp, final)
        except BaseException:
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return sock

    async def _start_session(self, config: ProcessConfig, listener: socket.socket, name: str) -> tuple[Any, Any]:
        """Fork a process for ``config`` (no spare at hand). Returns (process, shared)."""
        assert self._loop is not None
        shared = SharedDoubles(len(SharedField))
        now = time.monotonic()
        shared[SharedField.BUSY_SINCE] = now  # starting counts as an interaction: same timeout
        shared[SharedField.LAST_ACTIVE] = now
        process = ForkedProcess(self.forks, "session", config.to_json(), listener, shared)
        await self._loop.run_in_executor(self.executor, start_process, process,
                                         None if self._low_priority is None else self._base_priority, None)
        return process, shared

    def _on_exit(self, record: SessionRecord) -> None:
        """The process of ``record`` is dead (its sentinel became readable)."""
        if record.state is ProcessState.ENDED:
            return
        assert self._loop is not None
        self._loop.remove_reader(record.process.sentinel)
        if record.reason is None and record.shared[SharedField.STOP_REASON] == StopReason.FENCED:
            record.reason = EndReason.MOVED
        self.table.ended(record)
        self._unclaimed.pop(record.pid, None)
        claimed = self._claimed.pop(record.pid, None)
        if claimed is not None and self.ownership is not None:
            # Its snapshot is what the session is now: claimable at once, here or elsewhere
            # (unless a newer process of this machine claimed it since: that claim stays).
            # A session that ended for good (killed for its time or memory, crashed,
            # expired) loses its snapshot first: no machine resumes it (a page relayed from
            # another machine joins again there, and is told it expired).
            self._loop.create_task(self._release(claimed[1], claimed[2], forget=record.reason in FINAL_ENDS))
        self.spares.refill()  # none is started while the server is full
