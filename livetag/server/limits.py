"""Bounds on what clients may send: message size and event rate."""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request

from ..errors import MessageTooLarge


@dataclass(frozen=True)  # no slots: the class attributes stay readable defaults
class Limits:
    """Every bound a ``WebApp`` enforces; each one configurable.

    ``max_message_bytes``: one WebSocket frame or HTTP body (close 1009 / HTTP 413).
    ``events_per_second`` and ``event_burst``: a token bucket per session (close 1008 /
    HTTP 429). ``max_queued_updates``: messages waiting for one client before it is
    dropped as too slow. ``max_sessions``: live sessions (HTTP 503 with ``Retry-After``).
    ``session_timeout``: seconds a session may stay without any connected client.
    """

    max_message_bytes: int = 1 << 20
    events_per_second: float = 50.0
    event_burst: int = 100
    max_queued_updates: int = 256
    max_sessions: int = 10_000
    session_timeout: float = 3600.0


class TokenBucket:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` saved up."""

    __slots__ = ("rate", "burst", "_tokens", "_stamp")

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
