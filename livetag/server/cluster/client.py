"""The Redis side shared by the store, the directory and the broker: connections made
the same way, key names, and redis-py's errors turned into livetag's.

Connections: redis-py's asyncio client (``redis.asyncio.Redis``), bytes in and out,
RESP2, a socket timeout so that an unreachable Redis fails a call instead of hanging it,
and one retry on a dropped connection (a pooled connection that Redis closed when it
restarted); every livetag write is safe to repeat (a repeated claim only skips an epoch).

Key names, under a configurable prefix ``P`` (several apps on one Redis):

================== ===================================================================
``P epoch``        the epoch counter (string, integer): never expires
``P s:<key>``      a session's ownership (hash ``e`` epoch, ``o`` machine, ``i`` its
                   incarnation), expires ``claim_ttl`` after the last claim or save
``P d:<key>``      a session's snapshot (hash ``d`` data, ``e`` epoch, ``t`` saved at,
                   ``v`` layout version), expires ``ttl`` after the last save
``P m:<machine>``  a live machine (hash ``i`` incarnation, ``r`` relay, ``s`` started),
                   expires one lease after its last heartbeat
``P machines``     the set of machine ids (pruned of expired ones when listed)
``P t:<topic>``    the pub/sub channel of a topic
================== ===================================================================

Layout version 1; scripts work on single keys or on keys of one session, so nothing here
needs a Redis Cluster (one Redis, with a replica or Sentinel for availability).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

from ...errors import StoreCorrupt, StoreUnavailable

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
    from redis.backoff import ExponentialBackoff, NoBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - the cluster extra is missing
    raise ImportError("livetag's cluster needs redis-py (redis>=5): pip install 'livetag[cluster]'") from exc

__all__ = ["LAYOUT", "TIMEOUT", "Keys", "aioredis", "as_int", "as_text", "check_key", "connect", "mapped",
           "redis_errors", "short", "stop_task"]

log = logging.getLogger("livetag.server.cluster")

#: Layout version of the records (``v`` of a snapshot).
LAYOUT = 1
#: Seconds a call waits for Redis (connect, then each reply) before it fails.
TIMEOUT = 5.0
#: Connections one client may hold at once. redis-py 8 lowered its default to 100 and
#: then refuses a call (``MaxConnectionsError``): a supervisor claiming or releasing more
#: sessions at once (a burst of pages, a drain) would fail those. As before redis-py 8: no
#: practical limit (Redis's ``maxclients`` still applies).
MAX_CONNECTIONS = 1 << 16


def _driver() -> dict[str, Any]:
    """redis-py's name and version for ``CLIENT SETINFO``, given rather than looked up:
    without them redis-py 7+ reads its version from the installed packages' metadata
    (``importlib.metadata``: every ``sys.path`` entry scanned, a METADATA file parsed) for
    each client, about 1.4 MB of private memory in each session process of a cluster
    (``bench/cluster_failover.py``). redis-py 5 and 6 read it once, at import."""
    try:
        from redis import __version__
        from redis.driver_info import DriverInfo
    except ImportError:  # pragma: no cover - redis-py before 7
        return {}
    return {"driver_info": DriverInfo(lib_version=__version__)}


_DRIVER = _driver()
_KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
#: Replies of Redis that mean a key holds something livetag did not write.
_CORRUPT = ("WRONGTYPE", "not an integer", "not a valid float", "livetag-corrupt")


def connect(url: str, *, timeout: float = TIMEOUT, retries: int = 1, name: str | None = None) -> aioredis.Redis:
    """A client for ``url`` (no I/O until the first call). ``retries``: how many times a
    call is repeated after a connection error (0 for the pub/sub link, which reconnects
    itself); ``name``: ``CLIENT SETNAME``, to tell livetag's connections apart."""
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries) if retries else Retry(NoBackoff(), 0)
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry": retry,
                               "health_check_interval": 0, "decode_responses": False, "protocol": 2,
                               "max_connections": MAX_CONNECTIONS}
    if name:
        options["client_name"] = name
    options.update(_DRIVER)
    client: aioredis.Redis = aioredis.Redis.from_url(url, **options)
    return client


def check_key(key: object) -> str:
    """``key`` if it is a store key (1 to 128 letters, digits or ``_.:-``, as
    the session layer's keys, hex SHA-256, are); raises ``TypeError`` or ``ValueError``."""
    if not isinstance(key, str):
        raise TypeError(f"expected the session key as a str, got {type(key).__name__}")
    if not _KEY.fullmatch(key):
        raise ValueError(f"expected a session key of 1 to 128 letters, digits or _.:-, got {key[:40]!r}")
    return key


def short(key: str) -> str:
    """A session key as messages show it: never in full."""
    return f"{key[:8]}..."


class Keys:
    """Key and channel names under ``prefix`` (module docstring)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @property
    def epochs(self) -> str:
        return f"{self.prefix}epoch"

    @property
    def machines(self) -> str:
        return f"{self.prefix}machines"

    @property
    def machine_prefix(self) -> str:
        return f"{self.prefix}m:"

    def machine(self, machine_id: str) -> str:
        return f"{self.prefix}m:{machine_id}"

    def owner(self, key: str) -> str:
        return f"{self.prefix}s:{key}"

    def snapshot(self, key: str) -> str:
        return f"{self.prefix}d:{key}"

    def topic(self, topic: str) -> str:
        return f"{self.prefix}t:{topic}"


@contextlib.contextmanager
def mapped(action: str, where: str) -> Iterator[None]:
    """Run a Redis call, turning redis-py's errors into ``StoreUnavailable`` (Redis cannot
    be reached, refuses writes, times out) or ``StoreCorrupt`` (``where`` holds what
    livetag did not write). ``action``: what was being done, for the message."""
    try:
        yield
    except redis_errors.ResponseError as exc:
        text = str(exc)
        if any(mark in text for mark in _CORRUPT):
            raise StoreCorrupt(where, "a record written by livetag", text.split(" script:")[0][:200]) from None
        raise StoreUnavailable(f"expected Redis to {action}, got the error: {text[:200]}") from None
    except (redis_errors.RedisError, OSError) as exc:
        raise StoreUnavailable(f"expected Redis to {action}, got {type(exc).__name__}: {exc}") from None


def as_int(value: Any, where: str, what: str) -> int:
    """``value`` (a reply: bytes or int) as an int; ``StoreCorrupt`` otherwise."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StoreCorrupt(where, what, repr(value)[:60]) from None


def as_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


async def stop_task(task: asyncio.Future[Any], timeout: float = TIMEOUT * 2) -> None:
    """Cancel ``task`` and wait for its end, cancelling again every 0.1 s: a cancellation
    that arrives inside some redis-py calls can be absorbed there, and the task would run
    on (its next ``await`` then takes the next one). Gives up, logged, after ``timeout``.
    What the task raised is left in it (``task.result()``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
        if not task.done() and loop.time() > deadline:
            log.error("a task did not stop within %g s: %r", timeout, task)
            return
