"""``serve``: run an ASGI app under uvicorn on a host and port (``0`` = a free port)."""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
import time
from typing import Any

import uvicorn

from ..errors import PortInUse
from ..server.connections import HEADER_TIMEOUT, configure, quiet_transport_access_log, uvicorn_settings
from .logs import TransportLog, configure_logging, redact_uvicorn_logs, write_logs_off_the_loop
from .processes import open_in_browser_soon

log = logging.getLogger("livetag.runners")

_ADDR_IN_USE = {errno.EADDRINUSE, 10048}  # 10048: WSAEADDRINUSE (Windows)


def ensure_log_handler(level: int = logging.INFO) -> None:
    """Show livetag's INFO logs on stderr when the application configured no logging
    (kept for existing callers; ``logs.configure_logging`` is the same, with level names)."""
    configure_logging(level)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: chosen by the OS), inheritable
    so that a server process started later can serve it.

    Raises ``PortInUse`` (an ``OSError`` with errno ``EADDRINUSE``) when the port is taken,
    ``OSError`` for other failures (an address not on this machine, a privileged port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if sys.platform != "win32":  # on Windows SO_REUSEADDR would let us steal a bound port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in _ADDR_IN_USE:
            raise PortInUse(host, port, exc.errno) from None
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://host:port/`` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def uvicorn_config(app: Any, *, log_level: str = "info", header_timeout: float = HEADER_TIMEOUT,
                   **options: Any) -> uvicorn.Config:
    """The uvicorn configuration every runner uses for ``app``: transports logged
    (``logs.TransportLog``), WebSocket frames capped at the app's message limit (when it
    has ``limits``), connections bounded (``livetag.server.connections``: a request header
    within ``header_timeout`` s, ``limit_concurrency``, keep-alive), no access-log line
    per transport request, and a bounded graceful shutdown, so a stop never hangs on a
    client. ``options`` override any of them."""
    limits = getattr(app, "limits", None)
    max_message_bytes = getattr(limits, "max_message_bytes", None) if limits is not None else None
    http = options.pop("http", "auto")
    for key, value in uvicorn_settings(max_message_bytes, http=http if isinstance(http, str) else "auto").items():
        options.setdefault(key, value)
    if not isinstance(http, str):
        options["http"] = http  # a protocol class of the caller's own
    options.setdefault("timeout_graceful_shutdown", 3)
    # Patches are tens of bytes: permessage-deflate (RFC 7692) would cost CPU on every
    # message and ~40 KiB of zlib state per connection for nothing.
    options.setdefault("ws_per_message_deflate", False)
    config = configure(uvicorn.Config(TransportLog(app), log_level=log_level, **options), header_timeout)
    redact_uvicorn_logs()  # DEBUG handshake lines would show the session cookie
    quiet_transport_access_log()  # a line per event POST: CPU for nothing
    write_logs_off_the_loop()  # a slow log reader must not stall every session
    return config


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
    server = uvicorn.Server(uvicorn_config(app, log_level=log_level, **uvicorn_options))
    log.info("serving %s", url)
    if open_browser:
        open_in_browser_soon(url)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled: the server has stopped cleanly
    finally:
        sock.close()


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
