"""Serve an ASGI app the way every server of the benchmark is served, in whichever
virtual environment runs it (livetag's or a peer's): this module imports nothing but
the standard library and uvicorn.

uvicorn with uvloop, httptools and the ``websockets`` sans-I/O protocol, chosen
explicitly (not "auto") so that every framework gets the same; permessage-deflate off
unless ``LIVETAG_BENCH_DEFLATE=1``; bound to 127.0.0.1 on a port the OS chooses, with
``RLIMIT_NOFILE`` raised to its hard limit (the idle-sessions run holds thousands of
sockets). Prints ``PORT <n>`` on stdout once uvicorn accepts connections.
"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
from typing import Any

HOST = "127.0.0.1"
UVICORN_SETTINGS: dict[str, Any] = {"loop": "uvloop", "http": "httptools", "ws": "websockets-sansio"}


def raise_nofile() -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit; returns the new
    soft limit. (Raising the hard limit needs privileges this benchmark does not assume.)"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def serve(app: Any) -> None:
    """Serve ``app`` on 127.0.0.1:<free port> until SIGTERM; print ``PORT <n>`` once started."""
    import uvicorn

    raise_nofile()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(4096)
    port = sock.getsockname()[1]
    deflate = os.environ.get("LIVETAG_BENCH_DEFLATE") == "1"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2,
                                           ws_per_message_deflate=deflate,
                                           **UVICORN_SETTINGS))

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        print(f"PORT {port}", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
