"""``serve``: run an ASGI app under uvicorn on a host and port (``0`` = a free port)."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
import webbrowser
from typing import Any

import uvicorn

log = logging.getLogger("livetag.runners")


def ensure_log_handler(level: int = logging.INFO) -> None:
    """Show livetag's INFO logs on stderr when the application configured no logging."""
    root = logging.getLogger("livetag")
    if not root.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: chosen by the OS).

    Raises ``OSError`` (errno ``EADDRINUSE``) when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False,
          log_level: str = "info", sock: socket.socket | None = None, **uvicorn_options: Any) -> None:
    """Serve ``app`` until SIGINT/SIGTERM. Logs ``serving http://host:port/``."""
    ensure_log_handler()
    sock = sock or bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    url = f"http://{shown}:{bound_port}/"
    config = uvicorn.Config(app, log_level=log_level, **uvicorn_options)
    server = uvicorn.Server(config)
    log.info("serving %s", url)
    if open_browser:
        threading.Timer(0.5, _open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _open(url: str) -> None:
    try:
        webbrowser.open(url)
    except Exception:  # no browser on this machine: the URL is in the log
        log.debug("could not open a browser", exc_info=True)


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
