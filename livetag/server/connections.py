"""Connection bounds for uvicorn, as livetag's runners (``WebApp.run``, ``Runner.run``,
the ``livetag`` command) configure it, and what to pass when you run uvicorn yourself.

uvicorn bounds a connection once a request is in (``timeout_keep_alive`` between
requests, ``limit_concurrency`` for new requests, ``ws_max_size`` for WebSocket frames)
but not while the request's header is being read: a client that opens a connection and
sends its header a byte at a time (slowloris) holds a descriptor for ever, and counts
towards ``limit_concurrency``, so enough of them shut everyone else out. The HTTP
protocols here are uvicorn's own (httptools, h11) with one addition: the header of
each request must be complete within ``header_timeout`` seconds of its first byte (of
the connection, for the first request), else the connection is closed.

``uvicorn_settings`` gives the whole set; ``quiet_transport_access_log`` keeps uvicorn's
access log to page loads: one line per event POST or long-poll costs CPU, and when the
log's reader is slow (a pipe, a busy terminal, a log shipper) every write stalls the
event loop, and with it every session.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("livetag.server.connections")

#: Seconds a client has to send a request's header (uvicorn has no such bound).
HEADER_TIMEOUT = 10.0
#: Seconds an idle keep-alive connection is kept (uvicorn's default).
KEEP_ALIVE_SECONDS = 5
#: Descriptors kept free of connections for the process itself (sockets to session
#: processes, files, logs) when ``limit_concurrency`` is derived from ``RLIMIT_NOFILE``.
RESERVED_DESCRIPTORS = 128
#: Path part of livetag's transport endpoints (``<mount>/_lt/...``).
TRANSPORT_MARK = "/_lt/"


def default_limit_concurrency() -> int:
    """Connections (and tasks) uvicorn serves before answering 503: the process's
    descriptor limit (``RLIMIT_NOFILE``, soft) less ``RESERVED_DESCRIPTORS``, at least 64.
    Past the descriptor limit ``accept`` would fail for everyone; a 503 is an answer."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(64, soft - RESERVED_DESCRIPTORS)


def uvicorn_settings(max_message_bytes: int | None = None, *, header_timeout: float = HEADER_TIMEOUT,
                     http: str = "auto") -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that bound every connection:
    ``ws_max_size`` (``max_message_bytes``: a frame is refused while read, before it is
    buffered), ``limit_concurrency`` (see ``default_limit_concurrency``),
    ``timeout_keep_alive`` and ``http``: uvicorn's protocol (``"auto"``, ``"httptools"``
    or ``"h11"``) with the header deadline; apply it with ``configure`` once the
    ``Config`` exists (uvicorn has no keyword for it)."""
    settings: dict[str, Any] = {"limit_concurrency": default_limit_concurrency(),
                                "timeout_keep_alive": KEEP_ALIVE_SECONDS,
                                "http": protocol_class(http)}
    if max_message_bytes is not None:
        settings["ws_max_size"] = max_message_bytes
    return settings


def configure(config: Any, header_timeout: float = HEADER_TIMEOUT) -> Any:
    """Set the header deadline on a ``uvicorn.Config`` (read by the protocols here)."""
    config.livetag_header_timeout = header_timeout
    return config


def protocol_class(http: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol ``http`` (``"auto"``: httptools when installed, as
    uvicorn picks) with the header deadline."""
    if http == "h11":
        return H11WithHeaderDeadline
    if http in ("auto", "httptools"):
        try:
            import httptools  # noqa: F401
        except ImportError:  # pragma: no cover - uvicorn[standard] brings it
            if http == "httptools":
                raise
            return H11WithHeaderDeadline
        return HttpToolsWithHeaderDeadline
    raise ValueError(f"expected http to be 'auto', 'httptools' or 'h11', got {http!r}")


class _HeaderDeadline:
    """The deadline shared by both protocols: armed when a request's header is awaited,
    disarmed once it is complete (or the connection became a WebSocket)."""

    transport: asyncio.Transport
    _deadline: asyncio.TimerHandle | None = None

    def _header_timeout(self) -> float:
        return float(getattr(self.config, "livetag_header_timeout", HEADER_TIMEOUT))  # type: ignore[attr-defined]

    def _arm(self) -> None:
        if self._deadline is None:
            loop = asyncio.get_running_loop()
            self._deadline = loop.call_later(self._header_timeout(), self._header_too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _header_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.info("closed a connection that did not send a request header within %g s", self._header_timeout())
            self.transport.close()


class HttpToolsWithHeaderDeadline(_HeaderDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol; a request header must arrive within the deadline."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class H11WithHeaderDeadline(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol; a request header must arrive within the deadline."""

    _upgraded = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self._upgraded:
            return
        if self.cycle is None or self.cycle.response_complete:
            self._arm()  # between requests: the next header is awaited
        else:
            self._disarm()

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._upgraded = True
        self._disarm()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class _TransportAccessFilter(logging.Filter):
    """Drops uvicorn access-log records of livetag's transport endpoints."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            return TRANSPORT_MARK not in args[2]
        return True


_ACCESS_FILTER = _TransportAccessFilter()


def quiet_transport_access_log() -> None:
    """Keep uvicorn's access log (``uvicorn.access``) to page loads and your routes: no
    line per event POST, long-poll, join or stream (see the module docstring)."""
    logger = logging.getLogger("uvicorn.access")
    if _ACCESS_FILTER not in logger.filters:
        logger.addFilter(_ACCESS_FILTER)
