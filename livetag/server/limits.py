"""Bounds on what clients may send: message size and event rate."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request

from ..errors import MessageTooLarge

log = logging.getLogger("livetag.server.limits")


@dataclass(frozen=True)  # no slots: the class attributes stay readable defaults
class Limits:
    """Every bound a ``WebApp`` enforces; each one configurable.

    ``max_message_bytes``: one WebSocket frame or HTTP body (close 1009 / HTTP 413).
    ``events_per_second`` and ``event_burst``: a token bucket per session (close 1008 /
    HTTP 429). ``max_queued_updates``: messages waiting for one client before it is
    dropped as too slow. ``max_sessions``: live sessions (HTTP 503 with ``Retry-After``).
    ``session_timeout``: seconds a session may stay without any connected client.
    ``max_upload_bytes``: one uploaded file; ``max_session_upload_bytes``: every upload a
    session holds at once (received or being received, not yet handled) (HTTP 413).
    ``download_seconds``: how long the URL of a ``Tag.download`` stays valid.
    ``heartbeat``: seconds of silence from the server after which a page asks whether it
    is still there (``ping``); after twice that without any answer the page takes the
    connection for dead and reconnects (a machine that died or froze sends no TCP reset:
    without this its pages would wait forever). ``0``: never.
    """

    max_message_bytes: int = 1 << 20
    events_per_second: float = 50.0
    event_burst: int = 100
    max_queued_updates: int = 256
    max_sessions: int = 10_000
    session_timeout: float = 3600.0
    max_queued_bytes: int = 4 << 20
    join_grace: float = 30.0
    new_sessions_per_second: float = 10.0
    new_session_burst: int = 100
    max_upload_bytes: int = 64 << 20
    max_session_upload_bytes: int = 256 << 20
    download_seconds: float = 300.0
    heartbeat: float = 30.0


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` saved up."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self, n: int = 1) -> bool:
        """Spend ``n`` tokens; False (nothing spent) when there are not enough."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def retry_after(self, n: int = 1) -> float:
        """Seconds until ``n`` tokens are available."""
        return max(0.0, (n - self._tokens) / self.rate)


class AddressBudget:
    """A token bucket per client address (new sessions per second, ``burst`` saved up),
    remembering at most ``max_addresses`` addresses (the least recently seen is
    forgotten: a forgotten address starts with a full bucket, which only ever favours
    a client). ``rate <= 0`` turns the budget off."""

    def __init__(self, rate: float, burst: int, max_addresses: int = 65_536) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._logged: dict[str, float] = {}  # address -> when its refusals were last logged

    def refuse(self, address: str) -> int | None:
        """Spend one token of ``address``: ``None`` when there was one, else the seconds
        to wait (``Retry-After``, at least 1)."""
        if self.rate <= 0:
            return None
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self.rate, self.burst)
            if len(self._buckets) > self.max_addresses:
                forgotten, _ = self._buckets.popitem(last=False)
                self._logged.pop(forgotten, None)
        else:
            self._buckets.move_to_end(address)
        if bucket.take():
            return None
        now = time.monotonic()
        if now - self._logged.get(address, -60.0) >= 60.0:  # a flood is one line a minute, not one per request
            self._logged[address] = now
            log.warning("new sessions from %s refused: more than %d at once or %g per second", address,
                        self.burst, self.rate)
        return max(1, round(bucket.retry_after() + 0.5))


def client_address(conn: HTTPConnection) -> str:
    """The client's address as the ASGI server reports it (``scope["client"]``: behind
    a proxy, the forwarded one when the server trusts that proxy); ``"unknown"`` if none."""
    client = conn.scope.get("client")
    return str(client[0]) if client else "unknown"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with ``MessageTooLarge`` as soon as it passes ``limit``
    bytes (checked against ``Content-Length`` first, then while reading)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise MessageTooLarge(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise MessageTooLarge(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)
