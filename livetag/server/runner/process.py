"""The session process: one ``WebApp`` bound to one session, serving ASGI over IPC.

Started by the supervisor through multiprocessing's fork server (which imported livetag
and the app once). It runs a real ``WebApp`` whose registry is bound to one session id
(issued by the web workers, never by this process): every transport, defence, parano
mode and ``request.session`` of ``WebApp`` works unchanged. The session itself is made
by the first page request relayed here, so the app's ``init`` sees that request (query
parameters, ``request.session``).

Shared with the supervisor (a few doubles in shared memory, see ``Slot``): since when an
interaction (event or ``init``) is running, when the last one happened, and why the
supervisor asks this process to stop (SIGTERM). The supervisor enforces the timeouts;
this process only reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hmac
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ...session import Session
from ..registry import SessionRegistry
from ..webapp import WebApp
from . import bridge
from .appref import AppRef

log = logging.getLogger("livetag.server.runner.process")

#: A process whose session was never created (no page request came) ends after this.
UNUSED_PROCESS_SECONDS = 60.0
#: Time given to the last messages (``bye``) and ``on_destroy`` coroutines before exiting.
CLOSE_GRACE_SECONDS = 2.0


class Slot(enum.IntEnum):
    """Indexes of the shared doubles (``multiprocessing.RawArray("d", len(Slot))``)."""

    BUSY_SINCE = 0     # time.monotonic() when the running interaction started; 0: none
    LAST_ACTIVE = 1    # time.monotonic() of the last interaction or page load
    STOP_REASON = 2    # a StopReason value, written by the supervisor before SIGTERM


class StopReason(enum.IntEnum):
    """Why the supervisor asks a process to close cleanly (SIGTERM)."""

    SHUTDOWN = 0       # the server stops: pages reload into a session of the next one
    INACTIVITY = 1     # timeout_inactivity passed
    REPLACED = 2       # the page was opened again with other query parameters
    DISCARDED = 3      # ``?n``: the user asked for a new session


@dataclass(frozen=True)
class ProcessConfig:
    """Everything a session process needs; pickled to it by the fork server."""

    session_id: str
    app: AppRef
    debug: bool = False
    parano: bool = False
    http_only: bool = False
    allowed_origins: tuple[str, ...] = ()
    limits: dict[str, Any] = field(default_factory=dict)
    timeout_inactivity: float = 0.0


class BoundRegistry(SessionRegistry):
    """A ``SessionRegistry`` bound to one session id: ``create`` makes (once) the
    session under that id, ``get`` knows only that id; when the session is discarded
    (expired, closed) the process ends."""

    issues_cookies = False

    def __init__(self, source: Any, *, debug: bool, session_id: str, host: SessionHost) -> None:
        super().__init__(source, debug=debug, max_sessions=1)
        self.session_id = session_id
        self._host = host
        self._create_lock = threading.Lock()

    def get(self, session_id: str | None) -> Session | None:
        if not session_id or not hmac.compare_digest(session_id.encode(), self.session_id.encode()):
            return None
        return self._sessions.get(self.session_id)

    def create(self, request: Any = None) -> tuple[str, Session]:
        from ._prof import mark
        mark('C.create')
        with self._create_lock:  # two first page loads at once: one session
            session = self._sessions.get(self.session_id)
            if session is not None and not session.closed:
                return self.session_id, session
            self._host.mark_busy(True)  # init is an interaction: it has the same timeout
            try:
                session = Session(self.source, debug=self.debug, request=request)
            finally:
                self._host.mark_busy(False)
            mark('C.created')
            self._sessions[self.session_id] = session
            log.info("session %s created in process %d", session.log_id, os.getpid())
            return self.session_id, session

    def discard(self, session_id: str) -> None:
        super().discard(session_id)
        if not self._sessions:
            self._host.stop_soon()


class SessionHost:
    """The event loop side of a session process."""

    def __init__(self, config: ProcessConfig, listener: socket.socket, shared: Any, lifeline: socket.socket) -> None:
        self.config = config
        self.listener = listener
        self.shared = shared
        self.lifeline = lifeline
        self.webapp: WebApp | None = None
        self.registry: BoundRegistry | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def mark_busy(self, busy: bool) -> None:
        now = time.monotonic()
        if busy:
            self.shared[Slot.BUSY_SINCE] = now
        else:
            self.shared[Slot.BUSY_SINCE] = 0.0
            self.shared[Slot.LAST_ACTIVE] = now

    def stop_soon(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)

    async def run(self) -> None:
        config = self.config
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        from ._prof import mark
        mark('C.run')
        app = config.app.resolve()
        mark('C.resolved')
        self.webapp = webapp = WebApp(app, debug=config.debug, parano=config.parano, http_only=config.http_only,
                                      allowed_origins=config.allowed_origins, **config.limits)
        self.registry = BoundRegistry(app, debug=config.debug, session_id=config.session_id, host=self)
        webapp.registry = self.registry
        mark('C.webapp')
        Session.busy_hook = self.mark_busy  # this process hosts one session: a class-wide hook
        async with webapp.lifespan():
            server = await asyncio.start_unix_server(self._accept, sock=self.listener)
            mark('C.listening')
            self._loop.add_reader(self.lifeline.fileno(), self._supervisor_gone)
            self._loop.add_signal_handler(signal.SIGTERM, self._stop.set)
            self.shared[Slot.BUSY_SINCE] = 0.0  # started: what follows is the app's time
            self.shared[Slot.LAST_ACTIVE] = time.monotonic()
            unused = self._loop.call_later(UNUSED_PROCESS_SECONDS, self._stop_if_unused)
            await self._stop.wait()
            unused.cancel()
            server.close()
            before = asyncio.all_tasks()
            self._close_session()
            await self._drain(asyncio.all_tasks() - before)  # the on_destroy coroutines

    def _stop_if_unused(self) -> None:
        if self.registry is not None and not len(self.registry):
            log.info("no page came for process %d: ending it", os.getpid())
            self._stop.set()  # type: ignore[union-attr]

    def _supervisor_gone(self) -> None:
        # EOF on the lifeline: the supervisor died (its end of the socket pair closed).
        self._loop.remove_reader(self.lifeline.fileno())  # type: ignore[union-attr]
        log.warning("the supervisor is gone: process %d ends its session", os.getpid())
        self.shared[Slot.STOP_REASON] = StopReason.SHUTDOWN
        self._stop.set()  # type: ignore[union-attr]

    def _close_session(self) -> None:
        registry = self.registry
        if registry is None:
            return
        session = registry._sessions.get(registry.session_id)
        if session is None or session.closed:
            return
        reason = StopReason(int(self.shared[Slot.STOP_REASON]))
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

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from ._prof import mark
        mark('C.accept')
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await bridge.serve(reader, writer, self.webapp.app, on_scope=self._on_scope)  # type: ignore[union-attr]
        finally:
            if task is not None:
                self._connections.discard(task)
            mark('C.served')
            from ._prof import new_modules
            new_modules()

    def _on_scope(self, scope: dict[str, Any]) -> None:
        # A page load counts as activity (``tag.update()`` from the app does not).
        if scope["type"] == "http" and scope.get("method") == "GET" and "/_lt/" not in scope["path"]:
            self.shared[Slot.LAST_ACTIVE] = time.monotonic()


def main(config: ProcessConfig, listener: socket.socket, shared: Any, lifeline: socket.socket) -> None:
    """Entry point of a session process (the target given to the fork server)."""
    from ._prof import mark
    mark('C.main')
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the server
    try:
        import uvloop

        mark('C.sig')
        loop = uvloop.new_event_loop()
        mark('C.loop')
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    code = 0
    try:
        loop.run_until_complete(SessionHost(config, listener, shared, lifeline).run())
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
