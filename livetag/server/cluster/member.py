"""``ClusterMember``: what one machine holds of the cluster, made from its
``ClusterConfig``: the directory (its lease and its claims), the snapshot store (one
Redis client shared by both) and the broker (its own two connections). The supervisor of
a machine is meant to hold one (see ``docs/cluster.md``)."""

from __future__ import annotations

import contextlib
import logging

from ...errors import StoreUnavailable
from .broker import RedisBroker
from .client import connect
from .config import ClusterConfig
from .directory import Directory
from .store import RedisStore, aclose

log = logging.getLogger("livetag.server.cluster")


class ClusterMember:
    """One machine in the cluster. ``start`` never waits for Redis (a machine may boot
    while Redis is down: its own sessions work; what needs Redis fails with
    ``StoreUnavailable`` until it answers); ``close(leave=True)`` ends the lease at once
    (a drain), ``leave=False`` lets it run out (as a crash would)."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.redis = connect(config.redis_url, name=f"livetag-{config.machine_id}")
        self.store = RedisStore(self.redis, prefix=config.prefix, claim_ttl=config.claim_ttl)
        self.directory = Directory(self.redis, machine_id=config.machine_id, relay=config.relay,
                                   prefix=config.prefix, lease=config.lease, claim_ttl=config.claim_ttl)
        self.broker = RedisBroker(config.redis_url, prefix=config.prefix)

    async def start(self) -> None:
        """Start the heartbeats and the broker's link (both keep trying while Redis is
        down)."""
        await self.broker.start()
        self.directory.start()

    async def close(self, *, leave: bool = True) -> None:
        """Stop everything. Idempotent."""
        if leave:
            try:
                await self.directory.leave()
            except StoreUnavailable as exc:
                log.warning("could not end this machine's lease (it runs out by itself): %s", exc)
        await self.directory.close()
        await self.broker.close()
        await self.store.close()
        with contextlib.suppress(Exception):
            await aclose(self.redis)
