"""``serve``: run an ASGI app under uvicorn on a host and port (``0`` = a free port), with
what belongs to runners on top of ``livetag.server.serve``: reload (a supervisor
restarting a server process on changes), opening a browser, and doing nothing inside a
reload server process. ``bind_socket``, ``url_of`` and ``uvicorn_config`` are
``livetag.server.serve``'s, re-exported."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from ..server.logs import configure_logging
from ..server.serve import bind_socket, serve_on, url_of, uvicorn_config
from .processes import open_in_browser_soon

log = logging.getLogger("livetag.runners")

__all__ = ["BackgroundServer", "bind_socket", "ensure_log_handler", "serve", "url_of", "uvicorn_config"]


def ensure_log_handler(level: int = logging.INFO) -> None:
    """Show livetag's INFO logs on stderr when the application configured no logging
    (kept for existing callers; ``logs.configure_logging`` is the same, with level names)."""
    configure_logging(level)


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False,
          log_level: str = "info", sock: socket.socket | None = None, reload: bool = False,
          reload_dirs: list[str] | None = None, **uvicorn_options: Any) -> None:
    """Serve ``app`` until SIGINT/SIGTERM, then return. Logs ``serving http://host:port/``.

    ``reload=True`` (development): a supervisor restarts the server in a fresh process
    whenever a ``.py`` file under the app's directory (and ``reload_dirs``) changes; ``app``
    must then be importable by that process (a ``WebApp`` bound to a module-level name, or
    one made from a module-level ``Tag.App`` subclass). See ``livetag.runners.reload``.

    Raises ``PortInUse`` when the port is taken; ``SystemExit`` when reloading and the app
    cannot be loaded at start. Called again inside a reload server process (a script
    that calls ``.run()`` without an ``if __name__ == "__main__":`` guard), it returns at once.
    """
    from .worker import running_in_worker

    if running_in_worker():
        log.debug("run() called while a reload server process imports the app: ignored")
        return
    configure_logging(log_level)
    if reload:
        from .reload import reference_for, serve_with_reload

        target, options = reference_for(app)
        status = serve_with_reload(target, host=host, port=port, sock=sock, webapp_options=options,
                                   open_browser=open_browser, log_level=log_level,
                                   reload_dirs=reload_dirs, uvicorn_options=uvicorn_options)
        if status:
            raise SystemExit(status)
        return
    sock = sock or bind_socket(host, port)
    url = url_of(sock)
    log.info("serving %s", url)
    if open_browser:
        open_in_browser_soon(url)
    serve_on(app, sock, log_level=log_level, **uvicorn_options)


class BackgroundServer:
    """A real uvicorn serving ``app`` in a background thread, for tests and tools.

    ``with BackgroundServer(app) as server: server.url`` -> ``"http://127.0.0.1:PORT"``.
    Binds ``host`` on a free port; stops the server and joins the thread on exit.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any) -> None:
        uvicorn_options.setdefault("log_level", "warning")
        self.sock = bind_socket(host, port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options))
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"expected uvicorn to start on {self.url} within 10 s, it did not")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self.sock.close()
