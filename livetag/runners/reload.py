"""Hot reload: a supervisor process that restarts the server process when code changes.

The supervisor binds the listening socket once and hands it to each server process
(``livetag.runners.worker``), so the port never changes, even when the OS chose it
(``port=0``), and connections that arrive between two processes wait in the socket's
backlog instead of being refused. It watches ``.py`` files with ``watchfiles`` and, on a
change, stops the server process (SIGTERM, then SIGKILL after ``STOP_TIMEOUT``) and starts
a new one.

How the open page follows: the old process closes its WebSockets (uvicorn sends 1012,
"service restart"); the page reconnects within a few hundred milliseconds; the new
process does not know its session and answers ``bye``/``4404``; the page reloads itself
(client/livetag.js ``reloadIntoNewSession``, which runs once for the pair). About a
second from save to new content. When the new code does not load, the page reloads into
the error page of ``errorpage``, which reloads again once a later save works.
"""

from __future__ import annotations

import base64
import enum
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .loader import ImportString, import_string_for, webapp_options_of
from .processes import open_in_browser_soon, stop_process
from .worker import WORKER_ENV, WorkerSpec

log = logging.getLogger("livetag.runners.reload")

#: Seconds a server process gets to stop gracefully before it is killed.
STOP_TIMEOUT = 5.0
#: Milliseconds between two checks of the stop conditions while no file changes.
TICK_MS = 300
#: Seconds a failed first server process waits for the watcher to report a save that
#: came while it imported, before the supervisor exits with its status.
FIRST_FAILURE_GRACE = 1.5


class SupervisorState(enum.Enum):
    """Life cycle of the supervisor."""

    STARTING = enum.auto()
    SERVING = enum.auto()      # a server process runs (the app, or its error page)
    WAITING = enum.auto()      # the server process died on its own: waiting for a change
    STOPPING = enum.auto()
    STOPPED = enum.auto()


class ServerProcess:
    """One worker process serving ``sock``; ``strict``: exit instead of serving an error page."""

    def __init__(self, spec: WorkerSpec, sock: socket.socket) -> None:
        self.spec = spec
        self.sock = sock
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped_by_us = False

    def start(self) -> None:
        env = {**os.environ, WORKER_ENV: "1"}
        args = [sys.executable, "-m", "livetag.runners.worker"]
        if sys.platform == "win32":
            spec = WorkerSpec(**{**self.spec.__dict__, "fd": None})
            self.process = subprocess.Popen([*args, spec.to_json()], stdin=subprocess.PIPE, env=env,
                                            creationflags=subprocess.CREATE_NEW_PROCESS_GROUP)  # type: ignore[attr-defined]
            shared = self.sock.share(self.process.pid)  # type: ignore[attr-defined]
            assert self.process.stdin is not None
            self.process.stdin.write(base64.b64encode(shared) + b"\n")
            self.process.stdin.flush()
        else:
            spec = WorkerSpec(**{**self.spec.__dict__, "fd": self.sock.fileno()})
            # Own session: a Ctrl-C in the terminal reaches the supervisor only, which
            # then stops this process in order.
            self.process = subprocess.Popen([*args, spec.to_json()], stdin=subprocess.PIPE, env=env,
                                            pass_fds=(self.sock.fileno(),), start_new_session=True)
        log.debug("server process %d started", self.process.pid)

    def exited(self) -> int | None:
        """The exit status when the process ended, else ``None``."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (``TerminateProcess`` on Windows), then SIGKILL after ``timeout`` seconds."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        self.stopped_by_us = True
        try:
            stop_process(process, timeout, "the server process")
        finally:
            if process.stdin is not None:
                try:
                    process.stdin.close()
                except OSError:
                    pass


class Supervisor:
    """Keeps one server process serving ``target`` on ``sock`` and replaces it when a
    watched ``.py`` file changes.

    ``target``: import string (``"app.py:App"``, ``"package.module:webapp"``);
    ``watch_dirs``: directories watched recursively (``.py`` files only; ``.venv``,
    ``.git``, ``__pycache__``... are ignored); ``webapp_options``: JSON-ready ``WebApp``
    keyword arguments for a target that is not a ``WebApp`` itself.
    """

    def __init__(self, target: str, sock: socket.socket, *, watch_dirs: Iterable[str | Path],
                 webapp_options: dict[str, Any] | None = None, log_level: str = "info",
                 uvicorn_options: dict[str, Any] | None = None) -> None:
        self.target = target
        self.sock = sock
        self.watch_dirs = sorted({str(Path(d).resolve()) for d in watch_dirs})
        self.spec = WorkerSpec(target=target, webapp_options=dict(webapp_options or {}),
                               log_level=log_level, uvicorn_options=dict(uvicorn_options or {}))
        self.state = SupervisorState.STARTING
        self.stop_event = threading.Event()
        self.server: ServerProcess | None = None
        self.restarts = 0

    def stop(self) -> None:
        """Ask ``run`` to stop (thread-safe; also what SIGINT and SIGTERM do)."""
        self.stop_event.set()

    def _start_server(self, strict: bool, error: str | None = None) -> None:
        spec = WorkerSpec(**{**self.spec.__dict__, "strict": strict, "error": error})
        self.server = ServerProcess(spec, self.sock)
        self.server.start()
        self.state = SupervisorState.SERVING

    def run(self, stop_when: Callable[[], bool] | None = None) -> int:
        """Supervise until SIGINT/SIGTERM, ``stop()``, or ``stop_when()`` returns true
        (checked every ``TICK_MS``). Returns the exit status: ``0``, or the status of the
        first server process when it could not load the app (it printed why)."""
        import watchfiles

        restore = self._install_signal_handlers()
        try:
            self._start_server(strict=True)
            changes_seen = announced = False
            failed_at: float | None = None  # when the first (strict) server process failed
            for changes in watchfiles.watch(*self.watch_dirs, watch_filter=watchfiles.PythonFilter(),
                                            stop_event=self.stop_event, rust_timeout=TICK_MS,
                                            yield_on_timeout=True, raise_interrupt=False):
                if not announced:  # said once the watcher runs, so a change from now on counts
                    log.info("watching %s for changes", ", ".join(self.watch_dirs))
                    announced = True
                if stop_when is not None and stop_when():
                    break
                status = self.server.exited() if self.server is not None else None
                if changes:
                    changes_seen = True
                    failed_at = None
                    self._restart(sorted({path for _, path in changes}))
                elif status is not None and self.state is SupervisorState.SERVING:
                    if self.server is not None and self.server.spec.strict and not changes_seen:
                        # A wrong command fails as a plain run would; but a file saved while
                        # the first process was still importing made that process fail too,
                        # and the watcher reports the save a moment later: wait for it.
                        failed_at = failed_at or time.monotonic()
                        if time.monotonic() - failed_at < FIRST_FAILURE_GRACE:
                            continue
                        return status
                    message = f"the server process exited with status {status}"
                    if self.server is not None and self.server.spec.error is None:
                        log.warning("%s; serving an error page until the next change", message)
                        self._start_server(strict=False, error=message)  # keeps the port answering
                    else:
                        log.warning("%s; waiting for a change", message)
                        self.state = SupervisorState.WAITING
            return 0
        finally:
            self.state = SupervisorState.STOPPING
            if self.server is not None:
                self.server.stop()
            self.state = SupervisorState.STOPPED
            restore()

    def _restart(self, paths: list[str]) -> None:
        shown = ", ".join(_relative(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        log.info("%s changed; restarting the server", shown)
        if self.server is not None:
            self.server.stop()
        self.restarts += 1
        self._start_server(strict=False)

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        handled = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
        previous = {sig: signal.signal(sig, lambda signum, frame: self.stop_event.set()) for sig in handled}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


def _relative(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path


def reference_for(app: Any) -> tuple[str, dict[str, Any]]:
    """The import string and ``WebApp`` options under which a fresh process rebuilds
    ``app`` (a ``WebApp``, a ``Tag`` subclass, a factory or a module-level ``Tag`` instance).

    A ``WebApp`` bound to a module-level name is imported as is; otherwise it is rebuilt
    from its app class and options. Raises ``SystemExit`` with a one-line reason when
    neither works (``reload=True`` needs code that lives in a file)."""
    from ..server.webapp import WebApp

    try:
        if isinstance(app, WebApp):
            source = app.registry.source
            module = sys.modules.get(getattr(source, "__module__", "") or "")
            try:
                return import_string_for(app, search=[module] if module else []), {}
            except ValueError:
                return import_string_for(source, search=[module] if module else []), webapp_options_of(app)
        return import_string_for(app), {}
    except ValueError as exc:
        raise SystemExit(f"livetag: error: reload=True: {exc}") from None


def default_watch_dirs(target: str) -> list[str]:
    """The directory of the target's file, or the directory holding its top-level
    package (found without importing it), else the current directory."""
    import importlib.util

    ref = ImportString.parse(target)
    if ref.is_path:
        return [str(ref.path.parent)]
    try:
        spec = importlib.util.find_spec(ref.location.split(".")[0])
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin and spec.origin not in ("built-in", "frozen"):
        origin = Path(spec.origin).resolve()
        # a package: .../pkg/__init__.py -> ...; a module: .../mod.py -> ...
        return [str(origin.parent.parent if spec.submodule_search_locations else origin.parent)]
    return [os.getcwd()]


def serve_with_reload(target: str, *, host: str = "127.0.0.1", port: int = 8000,
                      sock: socket.socket | None = None, webapp_options: dict[str, Any] | None = None,
                      open_browser: bool = False, log_level: str = "info",
                      reload_dirs: Iterable[str] | None = None, uvicorn_options: dict[str, Any] | None = None,
                      stop_when: Callable[[], bool] | None = None,
                      on_listening: Callable[[str], None] | None = None) -> int:
    """Serve ``target`` with hot reload until stopped; returns the exit status (see
    ``Supervisor.run``). Binds ``host:port`` unless ``sock`` is given (``PortInUse``).

    ``on_listening(url)`` runs once the socket is bound, before the first server process
    has loaded the app (connections wait in the backlog meanwhile): ChromeApp opens its
    window there."""
    from ..server.serve import bind_socket, url_of

    sock = sock or bind_socket(host, port)
    try:
        url = url_of(sock)
        dirs = [*default_watch_dirs(target), *(reload_dirs or [])]
        supervisor = Supervisor(target, sock, watch_dirs=dirs, webapp_options=webapp_options,
                                log_level=log_level, uvicorn_options=uvicorn_options)
        logging.getLogger("livetag.runners").info("serving %s", url)
        if on_listening is not None:
            on_listening(url)
        if open_browser:
            open_in_browser_soon(url)
        return supervisor.run(stop_when=stop_when)
    finally:
        sock.close()
