"""A reload server process: imports the app named by an import string and serves it on the
listening socket its supervisor (``livetag.runners.reload``) handed over.

Started as ``python -m livetag.runners.worker SPEC`` (``SPEC``: ``WorkerSpec`` as JSON)
with the socket passed as an inherited file descriptor (POSIX) or as ``socket.share()``
bytes, base64, on the first line of stdin (Windows). Its stdin stays open while the
supervisor lives: end of file means the supervisor is gone, and the worker stops too.

When the app does not load (a syntax error being typed, say), the worker logs the
traceback and serves ``errorpage`` instead, until the supervisor replaces it after the
next change. Only a *strict* worker (the first one) exits instead, with a one-line error
on stderr and the error's ``exit_status``, so that a wrong command fails at once.
"""

from __future__ import annotations

import base64
import enum
import json
import logging
import os
import socket
import sys
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger("livetag.runners.reload")

#: Set to ``"1"`` in the environment of every worker.
WORKER_ENV = "LIVETAG_RELOAD_WORKER"


class WorkerState(enum.Enum):
    """Life cycle of a worker process."""

    LOADING = enum.auto()        # importing the app
    SERVING = enum.auto()        # serving the app
    SERVING_ERROR = enum.auto()  # the app did not load: serving the error page
    STOPPED = enum.auto()


@dataclass
class WorkerSpec:
    """What a worker serves and how; travels as JSON on the command line (no secrets).

    ``target``: import string; ``webapp_options``: ``WebApp`` keyword arguments (JSON values);
    ``log_level``: a ``logs.LOG_LEVELS`` name; ``fd``: the inherited socket (POSIX) or
    ``None`` (Windows: the socket comes on stdin); ``uvicorn_options``: extra
    ``uvicorn.Config`` keyword arguments (JSON values); ``error``: when set, serve the
    error page with this one-line message instead of loading ``target``."""

    target: str
    webapp_options: dict[str, Any] = field(default_factory=dict)
    log_level: str = "info"
    strict: bool = False
    fd: int | None = None
    uvicorn_options: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))


def running_in_worker() -> bool:
    """``True`` inside a reload worker process (where ``.run()`` must not start another server)."""
    return os.environ.get(WORKER_ENV) == "1"


def _receive_socket(spec: WorkerSpec) -> socket.socket:
    if spec.fd is not None:
        return socket.socket(fileno=spec.fd)
    line = sys.stdin.buffer.readline()
    shared: socket.socket = socket.fromshare(base64.b64decode(line))  # type: ignore[attr-defined]  # Windows only
    return shared


def _stop_with_supervisor(server: Any) -> None:
    """Block on stdin; at end of file (the supervisor exited or closed it) stop serving."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    server.should_exit = True


def main(argv: list[str] | None = None) -> int:
    """Run one worker; returns its exit status (``0``, or a strict load failure's status)."""
    import uvicorn

    from ..errors import AppImportFailed, AppLoadError
    from ..server.logs import configure_logging
    from ..server.serve import uvicorn_config
    from .errorpage import error_page_app
    from .loader import ImportString, servable, summarize, user_traceback

    argv = sys.argv[1:] if argv is None else argv
    spec = WorkerSpec.from_json(argv[0])
    os.environ[WORKER_ENV] = "1"
    configure_logging(spec.log_level)
    sock = _receive_socket(spec)
    state = WorkerState.LOADING
    try:
        if spec.error is not None:
            raise AppLoadError(spec.error)
        try:
            app: Any = servable(ImportString.parse(spec.target).load(), spec.webapp_options)
        except AppLoadError:
            raise
        except Exception as exc:  # the app's constructor, a WebApp option...
            raise AppImportFailed(f"loading {spec.target} failed: {summarize(exc)}") from exc
        state = WorkerState.SERVING
    except AppLoadError as exc:
        if spec.strict:
            sys.stderr.write(f"livetag: error: {exc}\n")
            return exc.exit_status
        details = user_traceback(exc.__cause__) if exc.__cause__ is not None else str(exc)
        log.error("%s\n%s\nserving an error page until the next change", exc, details.rstrip())
        app = error_page_app(str(exc), details, debug=bool(spec.webapp_options.get("debug", False)))
        state = WorkerState.SERVING_ERROR
    server = uvicorn.Server(uvicorn_config(app, log_level=spec.log_level, **spec.uvicorn_options))
    threading.Thread(target=_stop_with_supervisor, args=(server,), name="livetag-supervisor-watch",
                     daemon=True).start()
    log.debug("worker %d: %s", os.getpid(), state.name.lower())
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
