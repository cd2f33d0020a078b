"""Where livetag's log lines go, and transport connect/disconnect lines: the logging every
server process sets up (``WebApp`` and ``Runner`` servers, the Runner's supervisor and
fork server, reload workers). Lives in ``server/`` because server processes need it and
nothing in ``server/`` may import ``runners/``; ``livetag.runners.logs`` re-exports it.

Loggers (all under ``livetag``): ``livetag.runners`` (serving, URLs), ``livetag.runners.reload``
(restarts), ``livetag.runners.chrome`` (the window), ``livetag.runners.transport`` (INFO:
a WebSocket transport connected / disconnected; the name is kept from when this module
lived in ``runners/``, as ``docs/desktop.md`` documents it). ``livetag.server.registry``
logs sessions created and discarded, ``livetag.session`` each event dispatched with its
duration (DEBUG). uvicorn's own loggers (``uvicorn.error``, ``uvicorn.access``) are left
to uvicorn.

Nothing here writes on the event loop once ``write_logs_off_the_loop`` ran: a writer
thread does, behind a bounded queue.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import re
import signal
import sys
import threading
import time
from typing import Any

log = logging.getLogger("livetag.runners.transport")

#: ``--log-level`` names, as uvicorn spells them (``trace`` is uvicorn's level 5).
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")



#: RFC 6455 section 7.4.1 close codes worth a word in the log (1012: uvicorn restarting).
_CLOSE_CODES = {1000: "normal", 1001: "going away", 1005: "no status", 1006: "abnormal", 1012: "service restart"}


class _Formatter(logging.Formatter):
    """``INFO:     livetag.x: message``: aligned like uvicorn's own lines."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname + ':':<10}{record.name}: {super().format(record)}"


def level_number(name: str) -> int:
    """``"info"`` -> ``logging.INFO``; ``"trace"`` -> 5. Raises ``ValueError`` for another name."""
    if name.lower() == "trace":
        return 5
    number = logging.getLevelName(name.upper())
    if not isinstance(number, int):
        raise ValueError(f"expected a log level among {', '.join(LOG_LEVELS)}, got {name!r}")
    return number


def configure_logging(level: str | int = "info") -> None:
    """Show livetag's log lines at ``level`` and above on stderr, unless the application
    configured logging itself (a handler on the root or ``livetag`` logger): then its
    configuration wins, except for a ``livetag`` logger level it left unset."""
    number = level_number(level) if isinstance(level, str) else level
    root = logging.getLogger("livetag")
    if not root.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Formatter())
        root.addHandler(handler)
        root.setLevel(number)
    elif root.level == logging.NOTSET:
        root.setLevel(number)


_SECRET_HEADER = re.compile(r"^([<>] (?:cookie|set-cookie|authorization|x-[\w-]*token)): .*$", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"""((?:\\?["']token\\?["']\s*:\s*\\?["'])|(?:lt_sid\w*=))[^"'\\;,\s]*""")


class RedactSecrets(logging.Filter):
    """Blanks cookies, authorization headers, CSRF tokens and session ids out of DEBUG lines.

    uvicorn's WebSocket implementation hands ``uvicorn.error`` to the websockets library,
    which at DEBUG logs every handshake header (the session cookie) and every frame (the
    ``join`` message carries the CSRF token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            return True
        message = record.getMessage()
        redacted = _SECRET_VALUE.sub(r"\1<redacted>", _SECRET_HEADER.sub(r"\1: <redacted>", message))
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_uvicorn_logs() -> None:
    """Install ``RedactSecrets`` on the loggers uvicorn and websockets log handshakes to
    (idempotent; call after ``uvicorn.Config`` configured its logging)."""
    for name in ("uvicorn.error", "uvicorn", "websockets.server", "websockets.protocol"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


class TransportLog:
    """ASGI middleware: an INFO line when a long-lived transport opens and when it closes:
    WebSocket connections and Server-Sent-Events streams (``GET .../_lt/sse``).

    ``websocket connected from 127.0.0.1 (1 open)`` / ``websocket disconnected from
    127.0.0.1: code 1001 going away (0 open)`` / ``... : the app closed it, code 4404
    session expired (0 open)`` / ``sse stream opened from 127.0.0.1 (1 open)``. Client
    addresses and close codes are logged; cookies, session ids and tokens never are.
    Other requests and lifespan messages pass through untouched.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.open = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "http" and scope.get("path", "").endswith("/_lt/sse"):
            await self._sse(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _peer(scope: Any) -> str:
        client = scope.get("client")
        return client[0] if client else "unknown peer"

    async def _websocket(self, scope: Any, receive: Any, send: Any) -> None:
        peer = self._peer(scope)
        closed: dict[str, Any] = {}
        accepted = False

        async def logged_send(message: Any) -> None:
            nonlocal accepted
            kind = message["type"]
            if kind == "websocket.accept" and not accepted:
                accepted = True
                self.open += 1
                log.info("websocket connected from %s (%d open)", peer, self.open)
            elif kind == "websocket.close" and not closed:
                closed.update(by_app=True, code=message.get("code", 1000), reason=message.get("reason") or "")
            await send(message)

        async def logged_receive() -> Any:
            message = await receive()
            if message["type"] == "websocket.disconnect" and not closed:
                code = message.get("code", 1005)
                closed.update(by_app=False, code=code, reason=message.get("reason") or _CLOSE_CODES.get(code, ""))
            return message

        try:
            await self.app(scope, logged_receive, logged_send)
        finally:
            if accepted:
                self.open -= 1
                how = f"code {closed['code']}" if closed else "connection lost"
                if closed.get("by_app"):
                    how = f"the app closed it, {how}"
                if closed.get("reason"):
                    how += f" {closed['reason']!r}"  # repr: a client's reason cannot forge log lines
                log.info("websocket disconnected from %s: %s (%d open)", peer, how, self.open)

    async def _sse(self, scope: Any, receive: Any, send: Any) -> None:
        peer = self._peer(scope)
        streaming = False

        async def logged_send(message: Any) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start" and message.get("status") == 200 and not streaming:
                streaming = True
                self.open += 1
                log.info("sse stream opened from %s (%d open)", peer, self.open)
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            if streaming:
                self.open -= 1
                log.info("sse stream closed from %s (%d open)", peer, self.open)


#: Log records waiting for their handlers; past this, new ones are dropped (and counted).
LOG_QUEUE_SIZE = 10_000
#: Loggers whose handlers ``write_logs_off_the_loop`` moves to the writer thread.
_OFF_LOOP_LOGGERS = ("livetag", "uvicorn", "uvicorn.access")


class _Enqueue(logging.Handler):
    """Stands in for a logger's handlers: puts each record on a bounded queue, which a
    writer thread hands to the real handlers. Never blocks; drops when the queue is full."""

    def __init__(self, records: queue.Queue[tuple[logging.Handler, ...] | logging.LogRecord | Any],
                 handlers: tuple[logging.Handler, ...]) -> None:
        super().__init__(logging.NOTSET)
        self.records = records
        self.handlers = handlers
        self.dropped = 0

    def handle(self, record: logging.LogRecord) -> bool:  # no lock, no filters: the real handlers have theirs
        try:
            self.records.put_nowait((self.handlers, record))
        except queue.Full:
            self.dropped += 1
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() does the work
        self.handle(record)


_records: queue.Queue[Any] = queue.Queue(LOG_QUEUE_SIZE)
_writer: threading.Thread | None = None


def _write_records() -> None:
    while True:
        handlers, record = _records.get()
        for handler in handlers:
            if record.levelno >= handler.level:
                try:
                    handler.handle(record)
                except Exception:  # a broken handler must not end the writer
                    pass
        _records.task_done()


def _flush_at_exit(seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while _records.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.01)


def write_logs_off_the_loop() -> None:
    """Move the handlers of livetag's and uvicorn's loggers to a writer thread, behind a
    bounded queue (``LOG_QUEUE_SIZE`` records; beyond it records are dropped).

    A log line is written from the event loop: when its reader is slow (a pipe whose
    reader fell behind, a paused terminal, a log shipper under pressure) the write
    blocks, and every session and connection of the server waits with it, the stop
    signal included. Off the loop, a slow reader delays only the log. Idempotent; call
    after uvicorn configured its logging. At exit, waits up to 2 s for queued lines."""
    global _writer
    for name in _OFF_LOOP_LOGGERS:
        logger = logging.getLogger(name)
        handlers = tuple(h for h in logger.handlers if not isinstance(h, _Enqueue))
        if not handlers:
            continue
        for handler in handlers:
            logger.removeHandler(handler)
        logger.addHandler(_Enqueue(_records, handlers))
    if _writer is None:
        _writer = threading.Thread(target=_write_records, name="livetag-log-writer", daemon=True)
        _writer.start()
        atexit.register(_flush_at_exit)
        _flush_before_default_sigterm()


def _flush_before_default_sigterm() -> None:
    """uvicorn re-raises the SIGTERM it handled once stopped, with the handler it found:
    the default one ends the process at once, queued lines included. Found this one
    instead, it writes them (2 s at most), then dies of SIGTERM as the default would."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return

    def flush_then_die(signum: int, frame: Any) -> None:
        _flush_at_exit()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, flush_then_die)
