"""``RedisStore``: the ``SessionStore`` of a cluster (``livetag.server.store``), on Redis.

Every operation is one round trip: ``claim`` and ``save`` are Lua scripts
(``scripts.CLAIM``, ``scripts.SAVE``), ``load`` one ``HMGET``, ``delete`` one ``DEL``.
``save`` compares the caller's epoch with the session's current one and writes only
when they are equal, in the same script: a former owner (a paused or partitioned
machine) gets ``Fenced`` and its write is not made. The ownership record and the
snapshot are two keys (``client`` module docstring), so a snapshot's TTL never shortens
how long ownership is remembered.

``RedisStore.claim`` takes a session unconditionally, as the one-machine store does; in a
cluster, machines claim through ``Directory.claim`` (refused while a live machine owns
the session). Both draw epochs from the same counter, and ``save`` is fenced by either.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from ...errors import Fenced, StoreCorrupt
from ..store import SessionStore, Snapshot
from . import scripts
from .client import LAYOUT, Keys, aioredis, as_int, check_key, connect, mapped, short
from .config import DEFAULT_PREFIX

log = logging.getLogger("livetag.server.cluster")

#: Largest snapshot accepted by ``save``, in bytes.
MAX_SNAPSHOT = 16 << 20


def milliseconds(seconds: float, name: str) -> int:
    """``seconds`` as whole milliseconds (at least 1); ``ValueError`` unless positive."""
    if not isinstance(seconds, int | float) or not seconds > 0 or math.isinf(seconds):
        raise ValueError(f"expected {name} as a positive number of seconds, got {seconds!r}")
    return max(1, round(seconds * 1000))


class RedisStore:
    """Snapshots and epochs on Redis (module docstring).

    ``redis``: a URL (the store makes and closes its client) or a
    ``redis.asyncio.Redis`` client that the caller owns (``decode_responses=False``).
    ``prefix``: of every key (several apps on one Redis). ``claim_ttl``: seconds an
    ownership record is kept after its last claim or save. Every method raises
    ``StoreUnavailable`` when Redis cannot be reached and ``StoreCorrupt`` when a key
    holds what livetag did not write; ``save`` raises ``Fenced``."""

    def __init__(self, redis: str | aioredis.Redis, *, prefix: str = DEFAULT_PREFIX,
                 claim_ttl: float = 24 * 3600.0) -> None:
        self._owned = isinstance(redis, str)
        self.redis: aioredis.Redis = connect(redis, name="livetag-store") if isinstance(redis, str) else redis
        self.keys = Keys(prefix)
        self._claim_ms = milliseconds(claim_ttl, "claim_ttl")
        self._claim = self.redis.register_script(scripts.CLAIM)
        self._save = self.redis.register_script(scripts.SAVE)
        self._closed = False

    async def claim(self, key: str) -> int:
        """A new epoch for ``key``, greater than every epoch issued before (by this Redis,
        for any session); the caller is the owner from now on."""
        owner = self.keys.owner(check_key(key))
        with mapped("claim a session", owner):
            epoch = await self._claim(keys=[owner, self.keys.epochs], args=[self._claim_ms])
        return as_int(epoch, self.keys.epochs, "an integer epoch")

    async def save(self, key: str, data: bytes, *, epoch: int, ttl: float) -> None:
        """Store ``data`` for ``key`` until ``ttl`` seconds from now, if ``epoch`` is the
        session's current one; else raise ``Fenced`` (with the current epoch, 0 when the
        session has no ownership record: it expired or was deleted). ``ValueError`` for
        data over ``MAX_SNAPSHOT`` bytes or a ttl that is not positive."""
        owner = self.keys.owner(check_key(key))
        if not isinstance(data, bytes):
            raise TypeError(f"expected the snapshot as bytes, got {type(data).__name__}")
        if len(data) > MAX_SNAPSHOT:
            raise ValueError(f"expected a snapshot of at most {MAX_SNAPSHOT} bytes, got {len(data)}")
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            raise TypeError(f"expected the epoch as an int, got {type(epoch).__name__}")
        ttl_ms = milliseconds(ttl, "ttl")
        with mapped("save a snapshot", owner):
            reply = await self._save(keys=[owner, self.keys.snapshot(key)],
                                     args=[str(epoch), data, ttl_ms, LAYOUT, self._claim_ms])
        if as_int(reply[0], owner, "a reply of the save script") != 1:
            current = as_int(reply[1], owner, "an integer epoch")
            log.info("a save for session %s was fenced: epoch %d, current %d", short(key), epoch, current)
            raise Fenced(key, epoch, current)

    async def load(self, key: str) -> Snapshot | None:
        """The snapshot of ``key``, or ``None`` (never saved, expired, deleted)."""
        where = self.keys.snapshot(check_key(key))
        with mapped("load a snapshot", where):
            reply: list[Any] = await self.redis.hmget(where, ["d", "e", "t", "v"])
        data, epoch, saved_at, layout = reply
        if data is None:
            return None
        if layout != str(LAYOUT).encode():
            got = "no version" if layout is None else f"version {layout[:16]!r}"
            raise StoreCorrupt(where, f"a snapshot of layout version {LAYOUT}", got)
        try:
            at = float(saved_at)
        except (TypeError, ValueError):
            raise StoreCorrupt(where, "a time of saving in seconds", repr(saved_at)[:60]) from None
        return Snapshot(data=data, epoch=as_int(epoch, where, "an integer epoch"), saved_at=at)

    async def delete(self, key: str) -> None:
        """Forget ``key``'s snapshot and ownership (the next claim still gets a greater
        epoch: the counter is shared). Idempotent."""
        owner = self.keys.owner(check_key(key))
        with mapped("delete a session", owner):
            await self.redis.delete(owner, self.keys.snapshot(key))

    async def close(self) -> None:
        """Close the client when the store made it. Idempotent."""
        if self._owned and not self._closed:
            self._closed = True
            await aclose(self.redis)


async def aclose(client: Any) -> None:
    """Close ``client`` (a ``Redis`` or a ``PubSub``) and its connections (redis-py
    5.0.1+ names it ``aclose``, 5.0.0 ``close``)."""
    close = getattr(client, "aclose", None) or client.close
    await close()


if TYPE_CHECKING:  # mypy checks that the class satisfies the protocol it implements

    def _is_a_session_store(store: RedisStore) -> SessionStore:
        return store
