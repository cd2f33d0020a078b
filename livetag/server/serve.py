"""uvicorn glue: a listening socket, the uvicorn configuration every livetag server uses
(livetag's limits and connection bounds, logging that never writes on the event loop),
and serving an ASGI app on a socket until stopped.

What ``livetag.server.worker`` is for gunicorn, this is for plain uvicorn: it belongs to
``server/`` (limits, connections, logs) and knows nothing of processes, browsers or
reload. ``livetag.runners.serve`` builds ``serve(..., reload=True, open_browser=True)``
on top of it (``WebApp.run``, ``Runner.run``, the ``livetag`` command, ``ChromeApp``,
reload workers) and re-exports these names.
"""

from __future__ import annotations

import errno
import socket
import sys
from typing import Any

import uvicorn

from ..errors import PortInUse
from .connections import HEADER_TIMEOUT, configure, quiet_transport_access_log, uvicorn_settings
from .logs import TransportLog, redact_uvicorn_logs, write_logs_off_the_loop

_ADDR_IN_USE = {errno.EADDRINUSE, 10048}  # 10048: WSAEADDRINUSE (Windows)


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
    config: uvicorn.Config = configure(uvicorn.Config(TransportLog(app), log_level=log_level, **options),
                                       header_timeout)
    redact_uvicorn_logs()  # DEBUG handshake lines would show the session cookie
    quiet_transport_access_log()  # a line per event POST: CPU for nothing
    write_logs_off_the_loop()  # a slow log reader must not stall every session
    return config


def serve_on(app: Any, sock: socket.socket, *, log_level: str = "info", **uvicorn_options: Any) -> None:
    """Serve ``app`` on the listening socket ``sock`` (``uvicorn_config``) until SIGINT or
    SIGTERM, then close ``sock`` and return."""
    server = uvicorn.Server(uvicorn_config(app, log_level=log_level, **uvicorn_options))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled: the server has stopped cleanly
    finally:
        sock.close()
