"""``ChromeApp``: a livetag app as a desktop window (Chromium, Chrome, Edge or Brave in
app mode), served on the loopback interface, gone when the window closes.

Smart exit, both ways:

- the window closes (the browser process exits with status 0) -> the server stops and
  ``run()`` returns, so the script ends with status 0;
- Ctrl-C / SIGTERM to the Python process -> the server stops and the window closes;
- either way the temporary browser profile is removed.
"""

from __future__ import annotations

import enum
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ..errors import BrowserNotFound
from ..session import AppSource
from .browser import BrowserWindow, find_browser

log = logging.getLogger("livetag.runners.chrome")

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ExitReason(enum.Enum):
    """Why ``ChromeApp.run`` ended."""

    WINDOW_CLOSED = enum.auto()   # the user closed the window: exit status 0
    SIGNAL = enum.auto()          # SIGINT / SIGTERM / SIGHUP: the window was closed by us
    BROWSER_FAILED = enum.auto()  # the browser exited with an error status
    SERVER_STOPPED = enum.auto()  # the server ended first (a startup failure)


class ChromeApp:
    """Run ``app`` in its own browser window of ``width`` x ``height`` pixels.

    ``app``: a ``Tag.App`` subclass (one session per window load), a factory, a shared
    ``Tag`` instance, or a ready ``WebApp``. ``debug=True`` (the default for a desktop app)
    shows escaped tracebacks in the window. ``browser``: the browser's path or name
    (default: ``$LIVETAG_BROWSER``, then the usual places; see ``browser.find_browser``).
    ``browser_args``: extra command-line flags for the browser (after
    ``$LIVETAG_BROWSER_ARGS``), e.g. ``["--remote-debugging-port=9222"]``.
    Other keyword arguments go to ``WebApp``.
    """

    def __init__(self, app: AppSource | Any, width: int = 600, height: int = 800, debug: bool = True,
                 browser: str | None = None, browser_args: Sequence[str] = (), **webapp_options: Any) -> None:
        self.source = app
        self.width = width
        self.height = height
        self.debug = debug
        self.browser = browser
        self.browser_args = list(browser_args)
        self.webapp_options = webapp_options
        self.target: str | None = None  # set by from_import_string
        self._webapp: Any = None
        self.exit_reason: ExitReason | None = None

    @classmethod
    def from_import_string(cls, target: str, **options: Any) -> ChromeApp:
        """A ChromeApp for the app named by ``target`` (``"app.py:App"``, see
        ``livetag.runners.loader``), imported only when needed: with ``reload=True`` this
        process never imports it, the server processes do."""
        chrome = cls(None, **options)
        chrome.target = target
        return chrome

    @property
    def webapp(self) -> Any:
        """The ``WebApp`` serving the app (built on first use; imports ``target`` if set).
        Raises ``AppLoadError`` subclasses when ``target`` does not load."""
        if self._webapp is None:
            from .loader import ImportString, servable

            source = ImportString.parse(self.target).load() if self.target is not None else self.source
            self._webapp = servable(source, {"debug": self.debug, **self.webapp_options})
        return self._webapp

    @property
    def app(self) -> Any:
        """The Starlette ASGI application (mountable like ``WebApp(...).app``)."""
        return getattr(self.webapp, "app", self.webapp)

    def run(self, host: str = "127.0.0.1", port: int = 0, reload: bool = False, log_level: str = "info") -> None:
        """Open the window and serve until it closes or the process is told to stop.

        ``port=0`` takes a free port. ``reload=True``: a supervisor restarts the server on
        code changes and the window refreshes itself (see ``livetag.runners.reload``); the
        app must then live in a file (a module-level class, or a ``WebApp`` bound to a
        module-level name). ``host`` must be a loopback address.

        Raises ``ValueError`` for a non-loopback host, ``PortInUse``; exits with a
        one-line message (``SystemExit``, status 1) when no browser is found (offering the
        plain web runner on a terminal) or the browser fails.
        """
        from ..server.logs import configure_logging
        from .worker import running_in_worker

        if running_in_worker():
            return  # imported by a reload server process: the supervisor owns the window
        if host not in _LOOPBACK:
            raise ValueError(f"expected a loopback host for a desktop window (127.0.0.1, ::1), got {host!r}")
        configure_logging(log_level)
        try:
            executable = find_browser(self.browser)
        except BrowserNotFound as exc:
            self._offer_web_runner(exc, host, port, reload, log_level)
            return
        if reload:
            self._run_with_reload(executable, host, port, log_level)
        else:
            self._run_in_process(executable, host, port, log_level)
        if self.exit_reason is ExitReason.BROWSER_FAILED:
            raise SystemExit(1)

    # -- without reload: uvicorn in this process, a thread waits for the browser ------------

    def _run_in_process(self, executable: str, host: str, port: int, log_level: str) -> None:
        import uvicorn

        from ..server.serve import bind_socket, url_of, uvicorn_config

        sock = bind_socket(host, port)
        window = BrowserWindow(executable, url_of(sock), width=self.width, height=self.height,
                               extra_args=self.browser_args)
        server = uvicorn.Server(uvicorn_config(self.webapp, log_level=log_level))

        def on_signal(signum: int, frame: Any) -> None:
            self.exit_reason = self.exit_reason or ExitReason.SIGNAL
            server.should_exit = True

        def wait_for_window() -> None:
            code = window.wait()
            if self.exit_reason is None:
                self._window_ended(window, code)
            server.should_exit = True

        # Ours, so that uvicorn's re-raising of the signal it handled lands here after the
        # shutdown instead of killing the process before the window is closed.
        restore = _install_signal_handlers(on_signal)
        try:
            log.info("serving %s", url_of(sock))
            window.open()
            threading.Thread(target=wait_for_window, name="livetag-window-watch", daemon=True).start()
            try:
                server.run(sockets=[sock])
            except KeyboardInterrupt:
                self.exit_reason = self.exit_reason or ExitReason.SIGNAL
            if self.exit_reason is None:
                self.exit_reason = ExitReason.SERVER_STOPPED
        finally:
            window.close()
            sock.close()
            restore()
        self._log_exit()

    # -- with reload: a supervisor serves, this process owns the window ------------------------

    def _run_with_reload(self, executable: str, host: str, port: int, log_level: str) -> None:
        from .reload import reference_for, serve_with_reload

        if self.target is not None:
            target, options = self.target, {"debug": self.debug, **self.webapp_options}
        else:
            # The WebApp when it is bound to a module-level name, else its app and options.
            target, options = reference_for(self.webapp)
        window: BrowserWindow | None = None

        def open_window(url: str) -> None:
            nonlocal window
            window = BrowserWindow(executable, url, width=self.width, height=self.height, extra_args=self.browser_args)
            window.open()

        def window_gone() -> bool:
            if window is not None and window.exited():
                self._window_ended(window, window.returncode)
                return True
            return False

        try:
            status = serve_with_reload(target, host=host, port=port, webapp_options=options, log_level=log_level,
                                       stop_when=window_gone, on_listening=open_window)
        finally:
            if window is not None:
                window.close()
        if self.exit_reason is None:
            self.exit_reason = ExitReason.SIGNAL if status == 0 else ExitReason.SERVER_STOPPED
        self._log_exit()
        if status:
            raise SystemExit(status)

    # -- shared ---------------------------------------------------------------------------------

    def _window_ended(self, window: BrowserWindow, code: int | None) -> None:
        if code == 0:
            self.exit_reason = ExitReason.WINDOW_CLOSED
        else:
            self.exit_reason = ExitReason.BROWSER_FAILED
            log.error("%s", window.failure())

    def _log_exit(self) -> None:
        messages = {ExitReason.WINDOW_CLOSED: "window closed; server stopped",
                    ExitReason.SIGNAL: "stopped; window closed",
                    ExitReason.BROWSER_FAILED: "browser failed; server stopped",
                    ExitReason.SERVER_STOPPED: "server stopped; window closed"}
        if self.exit_reason is not None:
            log.info("%s", messages[self.exit_reason])

    def _offer_web_runner(self, exc: BrowserNotFound, host: str, port: int, reload: bool, log_level: str) -> None:
        message = f"livetag: error: {exc}"
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise SystemExit(message)
        sys.stderr.write(message + "\n")
        try:
            answer = input("Serve it in your default web browser instead? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            raise SystemExit(1)
        from .serve import serve

        serve(self.webapp, host=host, port=port, open_browser=True, log_level=log_level, reload=reload)


def _install_signal_handlers(handler: Any) -> Any:
    """Route SIGINT, SIGTERM and SIGHUP to ``handler``; returns a function that restores
    the previous handlers (a no-op outside the main thread, where Python cannot)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    handled = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {sig: signal.signal(sig, handler) for sig in handled}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
