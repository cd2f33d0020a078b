"""The supervisor: one process per ``Runner`` server that owns every session process.

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
(multiprocessing ``forkserver``), started from a thread so that the supervisor's loop
never waits for one. ``spare_processes`` of them (default 1) are started ahead of need:
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
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import multiprocessing
import multiprocessing.process
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson

from ..limits import AddressBudget
from . import bridge, paths
from .appref import ROLE_ENV, AppRef
from .preload import EXPECTED_ENV, LOG_LEVEL_ENV, PRELOAD_ENV, SYS_PATH_ENV
from .process import ProcessConfig, SharedField, SpareConfig, StopReason, spare_main
from .process import main as process_main

log = logging.getLogger("livetag.server.processes.supervisor")

#: Seconds a process asked to close cleanly (SIGTERM) gets before SIGKILL.
TERM_GRACE_SECONDS = 5.0
#: How many ended sessions are remembered (to tell their pages why), and for how long.
MAX_TOMBSTONES = 10_000
TOMBSTONE_SECONDS = 24 * 3600.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
#: How much the fork server (and the supervisor's thread while it asks for a spare)
#: lower their priority (nice increment), when that can be undone.
SPARE_NICE = 10
#: Seconds between a handoff and the start of the next spare: the new session's first
#: page goes first (a spare's start is mostly a fork and the interpreter's bootstrap).
SPARE_DELAY_SECONDS = 0.02
#: A spare that dies younger than this counts as a failed start: the next one waits
#: 0.5 s, 1 s, 2 s... up to ``SPARE_MAX_BACKOFF_SECONDS``.
SPARE_MIN_LIFE_SECONDS = 5.0
SPARE_MAX_BACKOFF_SECONDS = 30.0
#: Longest interval between two heartbeats of a session process's event loop.
HEARTBEAT_SECONDS = 5.0
#: How often the supervisor checks that its files are in place (see ``_repair_files``).
FILES_CHECK_SECONDS = 1.0


class ProcessState(enum.Enum):
    """Life cycle of a session process, as the supervisor sees it."""

    STARTING = enum.auto()  # handed to the fork server
    LIVE = enum.auto()      # running (its socket accepts connections)
    CLOSING = enum.auto()   # asked to stop (SIGTERM or SIGKILL sent), not dead yet
    ENDED = enum.auto()     # dead and reaped


class SpareState(enum.Enum):
    """Life cycle of a spare process, as the supervisor sees it."""

    WAITING = enum.auto()   # forked: finishing its start (``SharedField.BUSY_SINCE`` set), then waiting
    CLOSING = enum.auto()   # killed (too slow to start, server stopping), not dead yet
    TAKEN = enum.auto()     # handed a session: from now on a ``SessionRecord``
    ENDED = enum.auto()     # dead and reaped without having been taken


class EndReason(enum.Enum):
    """Why a session process ended. ``code`` is what its pages are told: ``"ended"``
    (show the message, do not reconnect) or ``"expired"`` (reload into a new session)."""

    TIMEOUT = ("ended", "This session was stopped: an action took longer than {timeout:g} s. "
                        "Reload the page to start again.")
    MEMORY = ("ended", "This session was stopped: it used more than {memory} MB of memory. "
                       "Reload the page to start again.")
    INACTIVITY = ("ended", "This session ended after {inactivity:g} s without activity. "
                           "Reload the page to start a new one.")
    CRASHED = ("ended", "This session ended unexpectedly. Reload the page to start again.")
    REPLACED = ("ended", "This session was opened again in another page with other parameters.")
    DISCARDED = ("expired", "the session ended")
    EXPIRED = ("expired", "the session expired")
    SHUTDOWN = ("expired", "the server stopped")

    @property
    def code(self) -> str:
        return self.value[0]


_STOP_REASONS = {EndReason.INACTIVITY: StopReason.INACTIVITY, EndReason.REPLACED: StopReason.REPLACED,
                 EndReason.DISCARDED: StopReason.DISCARDED, EndReason.SHUTDOWN: StopReason.SHUTDOWN}


class ServerFull(Exception):
    pass


@dataclass(eq=False)
class SessionRecord:
    """One session process. ``name`` is the HMAC of (mount path, session id): the
    supervisor never keys anything by a raw session id."""

    name: str
    base: str
    query: tuple[tuple[str, str], ...]
    app: AppRef
    options: tuple[bool, bool, bool]  # debug, parano, http_only
    shared: Any
    state: ProcessState = ProcessState.STARTING
    reason: EndReason | None = None
    process: Any = None
    pid: int = 0
    socket_ino: int = 0
    started: float = field(default_factory=time.monotonic)
    term_deadline: float = 0.0

    @property
    def log_id(self) -> str:
        return self.name[:8]


@dataclass(eq=False)
class Spare:
    """A spare process: ``control`` is the supervisor's end of its socket pair."""

    expected: ProcessConfig
    shared: Any
    control: socket.socket
    niced: bool  # it must be given the normal priority at the handoff
    state: SpareState = SpareState.WAITING
    process: Any = None
    pid: int = 0
    started: float = field(default_factory=time.monotonic)


def normalised_query(query: str) -> tuple[tuple[str, str], ...]:
    """The page's query parameters in a canonical order, without ``n`` (new session)."""
    return tuple(sorted((k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "n"))


class Supervisor:
    """See the module docstring. ``config`` is what the starting web worker sent
    (``client.supervisor_config``)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.base = Path(config["base"])
        self.anchor = int(config["anchor"])
        self.instance = secrets.token_hex(4)
        self.dir = self.base / self.instance
        self.path_key = secrets.token_bytes(32)
        self.cookie_secret = config.get("session_secret") or secrets.token_urlsafe(32)
        self.timeout_interaction = float(config["timeout_interaction"])
        #: How often session processes' loops tick (``SharedField.HEARTBEAT``): a loop silent for
        #: ``timeout_interaction`` (plus one tick) is frozen or blocked, and killed.
        self.heartbeat = max(0.05, min(HEARTBEAT_SECONDS, self.timeout_interaction / 4))
        self.timeout_inactivity = float(config["timeout_inactivity"])
        self.max_memory_mb = config.get("max_memory_mb")
        self.max_sessions = int(config["max_sessions"])
        self.spare_processes = max(0, int(config.get("spare_processes", 1)))
        self.limits = dict(config.get("limits", {}))
        self.allowed_origins = tuple(config.get("allowed_origins", ()))
        self.allowed_hosts = tuple(config["allowed_hosts"]) if config.get("allowed_hosts") is not None else None
        rate, burst = config.get("new_sessions") or (0.0, 1)
        #: New sessions per client address, for every web worker at once.
        self.new_sessions = AddressBudget(float(rate), int(burst))
        self.sessions: dict[str, SessionRecord] = {}
        self.closing: set[SessionRecord] = set()
        self.creating: dict[str, asyncio.Future[SessionRecord]] = {}
        self.tombstones: OrderedDict[str, tuple[EndReason, float]] = OrderedDict()
        self.ctx = multiprocessing.get_context("forkserver")
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livetag-spawn")
        self._counter = itertools.count()
        self._stopping = False
        self._done: asyncio.Event | None = None
        self.spares: list[Spare] = []
        self._spare_starting: asyncio.Task[None] | None = None
        self._spare_timer: asyncio.TimerHandle | None = None
        self._spare_failures = 0
        self._base_priority = os.getpriority(os.PRIO_PROCESS, 0)
        #: The fork server's (so spares') nice value when it can be undone, else None.
        self._low_priority: int | None = None
        preload = config.get("preload") or []
        options = [bool(x) for x in config.get("options", (False, False, False))]
        #: What the next spare builds its ``WebApp`` for: the last session's configuration.
        self._expected = self._config("", AppRef.from_json(preload[0]), tuple(options)) if preload else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ctl_ino = 0
        self._repairing = False
        # Each session process holds the other end: EOF there = this supervisor died.
        self._lifeline, self._lifeline_child = socket.socketpair()

    # -- life cycle -----------------------------------------------------------------------

    def messages(self, reason: EndReason) -> str:
        return reason.value[1].format(timeout=self.timeout_interaction, memory=self.max_memory_mb,
                                      inactivity=self.timeout_inactivity)

    async def run(self, ready_fd: int | None = None) -> None:
        self._loop = loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        os.umask(0o077)
        os.mkdir(self.dir, 0o700)
        os.mkdir(self.dir / "s", 0o700)
        self._write_keys()
        self.ctx.set_forkserver_preload(["livetag.server.processes.preload"])
        if self._expected is not None:  # the fork server builds its WebApp ahead (see ``preload``)
            os.environ[EXPECTED_ENV] = self._expected.to_json().decode()
        if self.spare_processes and priority_restorable():
            self._low_priority = min(19, self._base_priority + SPARE_NICE)
        warm = loop.run_in_executor(self.executor, _start_fork_server, self._low_priority)
        await self._serve_control()
        loop.add_signal_handler(signal.SIGTERM, self.request_shutdown)
        self._watch_anchor()
        watchdog = loop.create_task(self._watchdog())
        try:
            await warm
        except Exception:
            log.exception("the fork server did not start")
        if ready_fd is not None:
            os.write(ready_fd, orjson.dumps({"pid": os.getpid(), "instance": self.instance}) + b"\n")
            os.close(ready_fd)
        log.info("session supervisor %d ready (timeout_interaction=%gs, %d spare process(es)%s)", os.getpid(),
                 self.timeout_interaction, self.spare_processes, " at low priority" if self._low_priority else "")
        self._refill_spares()
        await self._done.wait()
        watchdog.cancel()

    def _write_keys(self) -> None:
        paths.write_json(self.dir / "keys.json", {"path_key": self.path_key.hex(), "cookie_secret": self.cookie_secret,
                                                  "pid": os.getpid(), "anchor": self.anchor})

    async def _serve_control(self) -> None:
        """(Re)open the control socket ``ctl``; remember its inode to notice it replaced or gone."""
        if self._server is not None:
            self._server.close()
        path = self.dir / "ctl"
        self._server = await asyncio.start_unix_server(self._control, path=str(path))
        self._ctl_ino = os.stat(path).st_ino

    def _files_intact(self) -> bool:
        """Everything web workers need to reach this supervisor is in place: the control
        socket (the same one), the keys, the sockets' directory, ``current.json`` naming us."""
        try:
            if os.stat(self.dir / "ctl").st_ino != self._ctl_ino or not (self.dir / "s").is_dir():
                return False
            if not (self.dir / "keys.json").is_file():
                return False
        except OSError:
            return False
        current = paths.read_json(self.base / "current.json")
        return current is not None and current.get("instance") == self.instance

    async def _repair_files(self) -> None:
        """The private directory was deleted or damaged (someone cleaned ``/tmp``, a
        wrong ``rm``): make it again, so that web workers reach this supervisor and its
        sessions again. Session processes put their own sockets back (see
        ``process.SessionHost``) once ``s/`` exists. Never takes over from another live
        supervisor that a web worker started meanwhile."""
        log.warning("the private directory %s was deleted or damaged: making it again", self.dir)
        await asyncio.to_thread(self._repair_directories)
        await self._serve_control()
        await asyncio.to_thread(self._repair_current)

    def _repair_directories(self) -> None:
        os.makedirs(self.base.parent, 0o700, exist_ok=True)
        paths.ensure_private_dir(self.base)
        for directory in (self.dir, self.dir / "s"):
            paths.ensure_private_dir(directory)
        self._write_keys()

    def _repair_current(self) -> None:
        with paths.locked(self.base):
            current = paths.read_json(self.base / "current.json")
            if current is not None and current.get("instance") not in (None, self.instance) \
                    and current.get("anchor") == self.anchor \
                    and paths.socket_alive(self.base / str(current.get("instance")) / "ctl"):
                log.warning("another supervisor (%s) serves this server now: this one keeps only its own sessions",
                            current.get("instance"))
                return
            paths.write_json(self.base / "current.json", {"pid": os.getpid(), "anchor": self.anchor,
                                                          "instance": self.instance})

    def _watch_anchor(self) -> None:
        assert self._loop is not None
        try:
            fd = os.pidfd_open(self.anchor)
        except (OSError, AttributeError):
            if not _pid_alive(self.anchor):
                self.request_shutdown()
                return
            self._loop.create_task(self._poll_anchor())
            return
        self._loop.add_reader(fd, self._anchor_gone, fd)

    def _anchor_gone(self, fd: int) -> None:
        assert self._loop is not None
        self._loop.remove_reader(fd)
        os.close(fd)
        log.info("the server process %d ended: closing every session", self.anchor)
        self.request_shutdown()

    async def _poll_anchor(self) -> None:  # pragma: no cover - kernels without pidfd
        while _pid_alive(self.anchor):
            await asyncio.sleep(1.0)
        self.request_shutdown()

    def request_shutdown(self) -> None:
        if not self._stopping and self._loop is not None:
            self._loop.create_task(self.shutdown())

    async def shutdown(self) -> None:
        """End every session cleanly (SIGKILL after ``TERM_GRACE_SECONDS``), remove this
        supervisor's files; the base directory too when nothing else is left in it."""
        if self._stopping:
            while not self._done.is_set():  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
            return
        self._stopping = True
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(OSError):
            os.unlink(self.dir / "ctl")
        if self._spare_timer is not None:
            self._spare_timer.cancel()
        if self._spare_starting is not None:  # its process is killed once started
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._spare_starting)
        for spare in list(self.spares):
            self._kill_spare(spare)  # a spare holds no session: nothing to close cleanly
        for record in list(self.sessions.values()):
            self._terminate(record, EndReason.SHUTDOWN)
        deadline = time.monotonic() + TERM_GRACE_SECONDS + 1
        while (self.closing or self.spares) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for record in list(self.closing):
            self._kill(record, EndReason.SHUTDOWN)
        deadline = time.monotonic() + 2
        while (self.closing or self.spares) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        paths.remove_instance(self.base, self.instance, os.getpid())
        log.info("session supervisor %d stopped", os.getpid())
        self._done.set()  # type: ignore[union-attr]

    # -- control socket -------------------------------------------------------------------

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await bridge.read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                try:
                    reply = await self._answer(request)
                except ServerFull:
                    reply = {"error": "full"}
                except Exception as exc:
                    log.exception("control request %r failed", request.get("op"))
                    reply = {"error": "failed", "msg": f"{type(exc).__name__}: {exc}"}
                writer.write(bridge.encode(reply))
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "page":
            return await self._page(request)
        if op == "status":
            return self._status(str(request["name"]))
        if op == "hello":
            return {"pid": os.getpid(), "anchor": self.anchor, "instance": self.instance}
        if op == "list":
            return {"sessions": [{"name": r.log_id, "pid": r.pid, "state": r.state.name}
                                 for r in self.sessions.values()],
                    "spares": [{"pid": s.pid, "state": s.state.name, "ready": not s.shared[SharedField.BUSY_SINCE]}
                               for s in self.spares]}
        if op == "shutdown":
            if int(request.get("anchor", -1)) != self.anchor:
                return {"error": "refused", "msg": "only the server process may stop the supervisor"}
            await self.shutdown()
            return {"ok": True}
        return {"error": "unknown", "msg": f"expected a known op, got {op!r}"}

    def _name(self, base: str, session_id: str) -> str:
        return paths.session_name(self.path_key, base, session_id)

    async def _page(self, request: dict[str, Any]) -> dict[str, Any]:
        """Find or create the process of a page load's session. Request: ``base``,
        ``sid`` (the cookie, or null), ``query``, ``new`` (``?n``), ``app``,
        ``options`` ([debug, parano, http_only]). Reply: ``sid`` (to set as cookie when
        ``issued``), ``pid``."""
        if self._stopping:
            raise ConnectionError("the supervisor is stopping")
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
                pending = self.creating.get(name)
                if pending is not None:
                    record = await pending
                    return {"sid": sid, "issued": issued, "pid": record.pid}
                record = self.sessions.get(name)
                if record is not None and self._alive(record):
                    if request.get("new"):
                        self._terminate(record, EndReason.DISCARDED)
                        sid = None
                        continue
                    if record.query == query and record.app == app and record.options == options:
                        return {"sid": sid, "issued": issued, "pid": record.pid}
                    self._terminate(record, EndReason.REPLACED)  # the app is recreated for them
                elif record is None and name not in self.tombstones:
                    sid = None  # not one of ours (or long gone): never adopt a client's id
                    continue
                # else: its process ended (killed, crashed, expired): a fresh one, same id
            else:
                wait = self.new_sessions.refuse(str(request.get("client") or "unknown"))
                if wait is not None:
                    return {"error": "budget", "retry": wait}
                sid = secrets.token_urlsafe(32)  # 256 bits
                issued = True
                name = self._name(base, sid)
            record = await self._create(name, sid, base, query, app, options)
            return {"sid": sid, "issued": issued, "pid": record.pid}

    def _status(self, name: str) -> dict[str, Any]:
        record = self.sessions.get(name)
        if record is not None:
            if self._alive(record):
                return {"state": "live"}
            self._on_exit(record)
        tomb = self.tombstones.get(name)
        if tomb is not None:
            reason = tomb[0]
            return {"state": "ended", "code": reason.code, "msg": self.messages(reason)}
        return {"state": "unknown", "code": "expired", "msg": "session expired"}

    # -- processes ------------------------------------------------------------------------

    def _config(self, sid: str, app: AppRef, options: tuple[bool, ...]) -> ProcessConfig:
        debug, parano, http_only = options
        return ProcessConfig(sid, app, debug=debug, parano=parano, http_only=http_only,
                             allowed_origins=self.allowed_origins, allowed_hosts=self.allowed_hosts,
                             limits=self.limits, timeout_inactivity=self.timeout_inactivity,
                             heartbeat=self.heartbeat)

    async def _create(self, name: str, sid: str, base: str, query: tuple[tuple[str, str], ...], app: AppRef,
                      options: tuple[bool, ...]) -> SessionRecord:
        assert self._loop is not None
        future: asyncio.Future[SessionRecord] = self._loop.create_future()
        self.creating[name] = future
        try:
            if len(self.sessions) >= self.max_sessions:
                self._make_room()
            config = replace(self._config(sid, app, options), socket_path=str(self.dir / "s" / name))
            self._expected = self._config("", app, options)
            listener = self._listen(name)
            try:
                started = await self._hand_to_spare(config, listener)
                if started is None:
                    started = await self._start_session(config, listener, name)
            finally:
                listener.close()  # the process has its own copy now
            process, shared = started
            record = SessionRecord(name, base, query, app, options, shared)  # type: ignore[arg-type]
            record.process, record.pid = process, process.pid
            record.socket_ino = os.stat(self.dir / "s" / name).st_ino
            record.state = ProcessState.LIVE
            old = self.sessions.get(name)
            if old is not None and old is not record:
                self.closing.add(old)
            self.sessions[name] = record
            self.tombstones.pop(name, None)
            self._loop.add_reader(process.sentinel, self._on_exit, record)
            log.info("session process %d started for %s (%d live)", record.pid, record.log_id, len(self.sessions))
            future.set_result(record)
            return record
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # awaited by the waiters, if any; not an unhandled error
            raise
        finally:
            del self.creating[name]

    def _make_room(self) -> None:
        """The server is full: end the oldest session process no page ever joined (a page
        load that went no further, see ``SharedField.JOINED``), else raise ``ServerFull``."""
        unjoined = [r for r in self.sessions.values() if r.state is ProcessState.LIVE and not r.shared[SharedField.JOINED]]
        if not unjoined:
            raise ServerFull()
        oldest = min(unjoined, key=lambda r: r.started)
        log.info("server full: ending session process %d of %s, which no page joined", oldest.pid, oldest.log_id)
        self._terminate(oldest, EndReason.DISCARDED)  # out of ``sessions`` at once: its successor takes the place

    async def _start_session(self, config: ProcessConfig, listener: socket.socket, name: str) -> tuple[Any, Any]:
        """Fork a process for ``config`` (no spare at hand). Returns (process, shared)."""
        assert self._loop is not None
        shared = self.ctx.RawArray("d", len(SharedField))
        now = time.monotonic()
        shared[SharedField.BUSY_SINCE] = now  # starting counts as an interaction: same timeout
        shared[SharedField.LAST_ACTIVE] = now
        process = self.ctx.Process(target=process_main, args=(config, listener, shared, self._lifeline_child),
                                   name=f"livetag-session-{name[:8]}", daemon=False)
        await self._loop.run_in_executor(self.executor, _start, process,
                                         None if self._low_priority is None else self._base_priority, None)
        return process, shared

    # -- spares ---------------------------------------------------------------------------

    async def _hand_to_spare(self, config: ProcessConfig, listener: socket.socket) -> tuple[Any, Any] | None:
        """Give ``config`` and ``listener`` to a live spare. Returns (process, shared) of
        the spare, now a session process; ``None`` when no spare could take it."""
        assert self._loop is not None
        if not self._waiting_spares() and self._spare_starting is not None:
            # A spare is being forked right now: nearer than a fork of our own (the
            # fork server's thread takes one start at a time anyway).
            with contextlib.suppress(Exception):
                await asyncio.shield(self._spare_starting)
        for spare in self._waiting_spares():
            if spare.process.exitcode is not None:
                continue  # dead: its sentinel callback replaces it
            now = time.monotonic()
            spare.shared[SharedField.BUSY_SINCE] = now  # from now on the session's start: same timeout
            spare.shared[SharedField.LAST_ACTIVE] = now
            spare.shared[SharedField.STOP_REASON] = StopReason.SHUTDOWN
            if spare.niced:
                # It serves a user now: normal priority, before it wakes up (raised while
                # it runs, it would take this CPU from the supervisor at once).
                try:
                    os.sched_setscheduler(spare.pid, os.SCHED_OTHER, os.sched_param(0))
                    os.setpriority(os.PRIO_PROCESS, spare.pid, self._base_priority)
                except OSError as exc:  # never a user's session at low priority
                    log.warning("spare process %d could not get its priority back (%s): not used", spare.pid, exc)
                    self._kill_spare(spare)
                    continue
            try:
                socket.send_fds(spare.control, [config.to_json()], [listener.fileno()])
            except OSError as exc:
                log.info("spare process %d could not take a session (%s): another one is used", spare.pid, exc)
                self._kill_spare(spare)
                continue
            spare.state = SpareState.TAKEN
            self.spares.remove(spare)
            self._loop.remove_reader(spare.process.sentinel)  # the session's record watches it now
            spare.control.close()
            self._refill_spares(SPARE_DELAY_SECONDS)
            return spare.process, spare.shared
        return None

    def _waiting_spares(self) -> list[Spare]:
        return [s for s in self.spares if s.state is SpareState.WAITING]

    def _refill_spares(self, delay: float = 0.0) -> None:
        """Start a spare (after ``delay`` s) if fewer than ``spare_processes`` wait, no
        start is under way and a session could still take one (not full)."""
        if (self._stopping or self._loop is None or self._spare_starting is not None or self._spare_timer is not None
                or len(self._waiting_spares()) >= self.spare_processes or self._expected is None
                or len(self.sessions) >= self.max_sessions):
            return
        if delay > 0:
            self._spare_timer = self._loop.call_later(delay, self._refill_now)
        else:
            self._spare_starting = self._loop.create_task(self._start_spare())

    def _refill_now(self) -> None:
        self._spare_timer = None
        self._refill_spares()

    async def _start_spare(self) -> None:
        assert self._loop is not None and self._expected is not None
        try:
            shared = self.ctx.RawArray("d", len(SharedField))
            shared[SharedField.BUSY_SINCE] = time.monotonic()  # its start has the interaction timeout too
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            ours.setblocking(False)
            spare = Spare(self._expected, shared, ours, niced=self._low_priority is not None)
            try:
                process = self.ctx.Process(target=spare_main, name="livetag-spare", daemon=False,
                                           args=(SpareConfig(spare.expected,
                                                             self._base_priority if spare.niced else None),
                                                 theirs, shared, self._lifeline_child))
                await self._loop.run_in_executor(self.executor, _start, process, None, self._low_priority)
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()
            spare.process, spare.pid = process, process.pid
            self.spares.append(spare)
            self._loop.add_reader(process.sentinel, self._spare_exit, spare)
            log.debug("spare process %d started", spare.pid)
            if self._stopping:
                self._kill_spare(spare)
        except Exception:
            log.exception("could not start a spare process")
            self._spare_failures += 1
        finally:
            self._spare_starting = None
        self._refill_spares(self._spare_backoff())

    def _spare_backoff(self) -> float:
        if not self._spare_failures:
            return 0.0
        return min(SPARE_MAX_BACKOFF_SECONDS, 0.5 * 2 ** (self._spare_failures - 1))

    def _kill_spare(self, spare: Spare) -> None:
        if spare.state is SpareState.WAITING:
            spare.state = SpareState.CLOSING
            if spare.process is not None and spare.process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):  # ours, not seen dead: not a reused pid
                    os.kill(spare.pid, signal.SIGKILL)

    def _spare_exit(self, spare: Spare) -> None:
        """The spare process ``spare`` is dead (its sentinel became readable)."""
        assert self._loop is not None
        self._loop.remove_reader(spare.process.sentinel)
        expected = spare.state is SpareState.CLOSING
        spare.state = SpareState.ENDED
        if spare in self.spares:
            self.spares.remove(spare)
        spare.control.close()
        code = spare.process.exitcode
        with contextlib.suppress(Exception):
            spare.process.close()
        if self._stopping:
            return
        if time.monotonic() - spare.started < SPARE_MIN_LIFE_SECONDS:
            self._spare_failures += 1
        else:
            self._spare_failures = 0
        log.log(logging.INFO if expected else logging.WARNING, "spare process %d ended (exit code %s): "
                "starting another%s", spare.pid, code,
                f" in {self._spare_backoff():g} s" if self._spare_backoff() else "")
        self._refill_spares(self._spare_backoff())

    # -- session processes ----------------------------------------------------------------

    def _listen(self, name: str) -> socket.socket:
        """A listening socket at ``s/<name>``, swapped in atomically (a replaced
        session's process keeps its own socket, unreachable by path)."""
        final = self.dir / "s" / name
        tmp = self.dir / "s" / f".{next(self._counter)}"
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

    @staticmethod
    def _alive(record: SessionRecord) -> bool:
        return record.state in (ProcessState.STARTING, ProcessState.LIVE) and record.process is not None \
            and record.process.exitcode is None

    def _on_exit(self, record: SessionRecord) -> None:
        """The process of ``record`` is dead (its sentinel became readable)."""
        if record.state is ProcessState.ENDED:
            return
        assert self._loop is not None
        self._loop.remove_reader(record.process.sentinel)
        code = record.process.exitcode
        if record.reason is None:
            record.reason = EndReason.EXPIRED if code == 0 else EndReason.CRASHED
        record.state = ProcessState.ENDED
        self.closing.discard(record)
        with contextlib.suppress(Exception):
            record.process.close()
        if self.sessions.get(record.name) is record:
            del self.sessions[record.name]
            self.tombstones[record.name] = (record.reason, time.monotonic())
            self._trim_tombstones()
            with contextlib.suppress(OSError):
                path = self.dir / "s" / record.name
                if os.stat(path).st_ino == record.socket_ino:
                    os.unlink(path)
        level = logging.INFO if record.reason in (EndReason.EXPIRED, EndReason.SHUTDOWN, EndReason.DISCARDED,
                                                  EndReason.REPLACED, EndReason.INACTIVITY) else logging.WARNING
        log.log(level, "session process %d of %s ended (%s, exit code %s)", record.pid, record.log_id,
                record.reason.name.lower(), code)
        self._refill_spares()  # none is started while the server is full

    def _trim_tombstones(self) -> None:
        now = time.monotonic()
        while self.tombstones:
            name, (_, when) = next(iter(self.tombstones.items()))
            if len(self.tombstones) <= MAX_TOMBSTONES and now - when < TOMBSTONE_SECONDS:
                break
            del self.tombstones[name]

    def _signal(self, record: SessionRecord, sig: int) -> None:
        # Only a process we started and have not seen die: its pid cannot have been reused.
        if record.process is not None and record.process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, sig)

    def _kill(self, record: SessionRecord, reason: EndReason) -> None:
        if record.state is not ProcessState.CLOSING:  # else the first reason stands
            record.reason = reason
        record.state = ProcessState.CLOSING
        self.closing.add(record)
        self._signal(record, signal.SIGKILL)

    def _terminate(self, record: SessionRecord, reason: EndReason) -> None:
        """Ask the process to close its session cleanly (``on_destroy`` runs)."""
        if record.state is ProcessState.CLOSING:
            return
        record.reason = reason
        record.state = ProcessState.CLOSING
        record.term_deadline = time.monotonic() + TERM_GRACE_SECONDS
        record.shared[SharedField.STOP_REASON] = _STOP_REASONS.get(reason, StopReason.SHUTDOWN)
        self.closing.add(record)
        if reason in (EndReason.REPLACED, EndReason.DISCARDED) and self.sessions.get(record.name) is record:
            del self.sessions[record.name]  # its successor takes the name
        self._signal(record, signal.SIGTERM)

    async def _repair(self) -> None:
        try:
            await self._repair_files()
        except Exception:
            log.exception("could not make the private directory %s again (retrying)", self.dir)
        finally:
            self._repairing = False

    async def _watchdog(self) -> None:
        """Timeouts and budgets, checked from outside the session processes."""
        tick = max(0.02, min(0.25, self.timeout_interaction / 8))
        next_memory = 0.0
        next_files = 0.0
        while True:
            await asyncio.sleep(tick)
            try:
                now = time.monotonic()
                if now >= next_files and not self._stopping and not self._repairing:
                    next_files = now + FILES_CHECK_SECONDS
                    if not self._files_intact():
                        self._repairing = True
                        self._loop.create_task(self._repair())  # type: ignore[union-attr]
                check_memory = self.max_memory_mb is not None and now >= next_memory
                if check_memory:
                    next_memory = now + 0.5
                for record in list(self.sessions.values()):
                    if record.state is not ProcessState.LIVE:
                        continue
                    busy = record.shared[SharedField.BUSY_SINCE]
                    beat = record.shared[SharedField.HEARTBEAT]
                    if busy and now - busy > self.timeout_interaction:
                        log.warning("session process %d of %s: an interaction passed %gs: killing it", record.pid,
                                    record.log_id, self.timeout_interaction)
                        self._kill(record, EndReason.TIMEOUT)
                    elif beat and now - beat > self.timeout_interaction + self.heartbeat:
                        # Wall time: a stopped (SIGSTOP) or starved process, an event in flight
                        # or not, is as unresponsive as one spinning in a handler.
                        log.warning("session process %d of %s: its event loop has not run for %gs (frozen or "
                                    "blocked): killing it", record.pid, record.log_id, now - beat)
                        self._kill(record, EndReason.TIMEOUT)
                    elif (self.timeout_inactivity and not busy
                          and now - record.shared[SharedField.LAST_ACTIVE] > self.timeout_inactivity):
                        self._terminate(record, EndReason.INACTIVITY)
                    elif check_memory and _rss_mb(record.pid) > self.max_memory_mb:  # type: ignore[operator]
                        log.warning("session process %d of %s: over %s MB: killing it", record.pid, record.log_id,
                                    self.max_memory_mb)
                        self._kill(record, EndReason.MEMORY)
                for record in list(self.closing):
                    if record.term_deadline and now > record.term_deadline and record.state is ProcessState.CLOSING:
                        record.term_deadline = 0.0
                        self._signal(record, signal.SIGKILL)
                for spare in self._waiting_spares():
                    busy = spare.shared[SharedField.BUSY_SINCE]
                    if busy and now - busy > self.timeout_interaction:
                        log.warning("spare process %d did not start within %gs: killing it", spare.pid,
                                    self.timeout_interaction)
                        self._kill_spare(spare)
            except Exception:
                log.exception("supervisor watchdog failed")


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_SIZE / (1 << 20)
    except (OSError, IndexError, ValueError):
        return 0.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: an existence check, nothing is delivered
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def priority_restorable() -> bool:
    """True when a lowered priority (a higher nice value, ``SCHED_IDLE``) can be raised
    back by this user (``CAP_SYS_NICE``, or an ``RLIMIT_NICE`` that allows it): then
    spares start at low priority and get the normal one back at the handoff. On Linux
    both are per thread, so the probe (in a thread of its own) leaves this process as
    it was."""
    if not sys.platform.startswith("linux"):
        return False
    result: list[bool] = []

    def probe() -> None:
        tid = threading.get_native_id()
        try:
            base = os.getpriority(os.PRIO_PROCESS, tid)
            if base >= 19 or os.sched_getscheduler(tid) != os.SCHED_OTHER:
                result.append(False)
                return
            os.setpriority(os.PRIO_PROCESS, tid, base + 1)
            os.setpriority(os.PRIO_PROCESS, tid, base)
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="livetag-priority-probe")
    thread.start()
    thread.join()
    return bool(result and result[0])


def _start_fork_server(priority: int | None) -> None:
    """Start multiprocessing's fork server (from a thread of the executor), at nice value
    ``priority`` (None: this one), which every process forked from it inherits."""
    from multiprocessing import forkserver

    tid = threading.get_native_id()
    own = os.getpriority(os.PRIO_PROCESS, tid)
    if priority is not None:
        os.setpriority(os.PRIO_PROCESS, tid, priority)  # per thread: this one only, and what it starts
    try:
        forkserver.ensure_running()
    finally:
        if priority is not None:
            os.setpriority(os.PRIO_PROCESS, tid, own)


def _start(process: Any, priority: int | None, own_priority: int | None) -> None:
    """Start ``process`` through the fork server (this thread at nice value
    ``own_priority`` meanwhile: a spare's start is background work from end to end);
    then give it nice value ``priority`` (None: leave it as born)."""
    tid = threading.get_native_id()
    own = os.getpriority(os.PRIO_PROCESS, tid)
    if own_priority is not None:
        os.setpriority(os.PRIO_PROCESS, tid, own_priority)
    try:
        process.start()
    finally:
        if own_priority is not None:
            os.setpriority(os.PRIO_PROCESS, tid, own)
    if priority is not None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, process.pid, priority)
    # The supervisor watches its processes itself (sentinels in its loop); left in
    # multiprocessing's registry they would be polled from this thread too and joined at exit.
    multiprocessing.process._children.discard(process)  # type: ignore[attr-defined]


def main() -> None:
    """Entry point: ``python -c "from livetag.server.processes.supervisor import main; main()"``
    with the configuration as JSON on stdin (see ``client.supervisor_config``)."""
    config = orjson.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    os.environ[ROLE_ENV] = "supervisor"
    os.environ[PRELOAD_ENV] = orjson.dumps(config.get("preload", [])).decode()
    os.environ[SYS_PATH_ENV] = orjson.dumps(config["sys_path"]).decode()  # Python 3.11's fork server ignores it
    if config.get("log_level"):
        os.environ[LOG_LEVEL_ENV] = str(config["log_level"])
        from ..logs import configure_logging

        configure_logging(str(config["log_level"]))
    sys.path[:] = config["sys_path"]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    code = 0
    try:
        loop.run_until_complete(Supervisor(config).run(config.get("ready_fd")))
    except BaseException:
        log.exception("the session supervisor failed")
        code = 1
    finally:
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)
