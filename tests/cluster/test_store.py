"""``RedisStore`` against a real redis-server: epochs, fencing, TTL, garbage, Redis down."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from redis_server import RedisServer

from livetag.errors import Fenced, StoreCorrupt, StoreUnavailable
from livetag.server.cluster.store import RedisStore, aclose
from livetag.server.store import SessionStore

KEY = "a" * 64


async def wait_for(condition, what: str, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (value := await condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {what} within {timeout:g} s")
        await asyncio.sleep(0.02)
    return value


async def test_claim_save_load_delete(redis_server: RedisServer) -> None:
    store: SessionStore = RedisStore(redis_server.url)
    try:
        assert await store.load(KEY) is None
        epoch = await store.claim(KEY)
        await store.save(KEY, b'{"n": 1}', epoch=epoch, ttl=60)
        snap = await store.load(KEY)
        assert snap is not None and snap.data == b'{"n": 1}' and snap.epoch == epoch
        assert abs(snap.saved_at - time.time()) < 60  # Redis's clock, this machine's
        await store.delete(KEY)
        await store.delete(KEY)  # idempotent
        assert await store.load(KEY) is None
        assert await store.claim(KEY) > epoch  # the counter outlives the records
    finally:
        await store.close()
        await store.close()


async def test_epochs_strictly_increase_across_concurrent_claimers(redis_server: RedisServer) -> None:
    a, b = RedisStore(redis_server.url), RedisStore(redis_server.url)
    try:
        async def claims(store: RedisStore) -> list[int]:
            return [await store.claim(KEY) for _ in range(50)]

        mine, theirs = await asyncio.gather(claims(a), claims(b))
        assert mine == sorted(mine) and theirs == sorted(theirs)
        assert len(set(mine) | set(theirs)) == 100  # never the same epoch twice
        assert await a.claim(KEY) > max(mine + theirs)
    finally:
        await a.close()
        await b.close()


async def test_a_save_after_another_claim_is_fenced(redis_server: RedisServer) -> None:
    a, b = RedisStore(redis_server.url), RedisStore(redis_server.url)
    try:
        old = await a.claim(KEY)
        await a.save(KEY, b"old owner", epoch=old, ttl=60)
        new = await b.claim(KEY)
        with pytest.raises(Fenced) as err:
            await a.save(KEY, b"stale write", epoch=old, ttl=60)
        assert err.value.epoch == old and err.value.current == new
        snap = await b.load(KEY)
        assert snap is not None and snap.data == b"old owner"  # the stale write was not made
        await b.save(KEY, b"new owner", epoch=new, ttl=60)
        with pytest.raises(Fenced):  # a forged, future epoch is fenced too
            await a.save(KEY, b"x", epoch=new + 1, ttl=60)
        snap = await a.load(KEY)
        assert snap is not None and (snap.data, snap.epoch) == (b"new owner", new)
        with pytest.raises(Fenced) as err:  # no ownership record at all
            await a.save("b" * 64, b"x", epoch=1, ttl=60)
        assert err.value.current == 0
    finally:
        await a.close()
        await b.close()


async def test_snapshots_expire_after_their_ttl(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url)
    try:
        epoch = await store.claim(KEY)
        await store.save(KEY, b"short", epoch=epoch, ttl=0.3)
        assert await store.load(KEY) is not None
        pttl = await store.redis.pttl(store.keys.snapshot(KEY))
        assert 0 < pttl <= 300
        await wait_for(lambda: _none(store.load(KEY)), "the snapshot to expire")
        # ownership outlives the snapshot: the owner can save again with its epoch
        await store.save(KEY, b"again", epoch=epoch, ttl=60)
        assert (await store.redis.pttl(store.keys.owner(KEY))) > 3600 * 1000
    finally:
        await store.close()


async def _none(coro) -> bool:  # type: ignore[no-untyped-def]
    return await coro is None


async def test_the_prefix_keeps_apps_apart(redis_server: RedisServer) -> None:
    one, two = RedisStore(redis_server.url, prefix="app1:"), RedisStore(redis_server.url, prefix="app2:")
    try:
        e1 = await one.claim(KEY)
        await one.save(KEY, b"one", epoch=e1, ttl=60)
        assert await two.load(KEY) is None
        assert all(k.startswith(b"app1:") for k in await one.redis.keys("*"))
    finally:
        await one.close()
        await two.close()


async def test_garbage_in_redis_is_a_clear_error(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url)
    raw = store.redis
    try:
        await raw.set(store.keys.owner(KEY), b"not a hash")
        with pytest.raises(StoreCorrupt, match="expected a hash or nothing"):
            await store.claim(KEY)
        with pytest.raises(StoreCorrupt):
            await store.save(KEY, b"x", epoch=1, ttl=60)
        assert await raw.get(store.keys.owner(KEY)) == b"not a hash"  # refused, not overwritten

        await raw.rpush(store.keys.snapshot(KEY), b"a list")
        with pytest.raises(StoreCorrupt, match="WRONGTYPE"):
            await store.load(KEY)
        await raw.delete(store.keys.snapshot(KEY))
        await raw.hset(store.keys.snapshot(KEY), mapping={"d": b"x", "e": b"1", "t": b"0", "v": b"99"})
        with pytest.raises(StoreCorrupt, match="layout version 1"):
            await store.load(KEY)
        await raw.hset(store.keys.snapshot(KEY), mapping={"v": b"1", "e": b"seven"})
        with pytest.raises(StoreCorrupt, match="integer epoch"):
            await store.load(KEY)
        await raw.hset(store.keys.snapshot(KEY), mapping={"e": b"7", "t": b"noon"})
        with pytest.raises(StoreCorrupt, match="time of saving"):
            await store.load(KEY)

        await raw.set(store.keys.epochs, b"twelve")
        with pytest.raises(StoreCorrupt):
            await store.claim("c" * 64)
        await raw.delete(store.keys.epochs)
        assert await store.claim("c" * 64) > 0  # and the store goes on once the key is fixed
    finally:
        await store.close()


async def test_bad_arguments_are_refused_before_redis(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url)
    try:
        for key in ("", "x" * 129, "a b", "ключ", "k\n"):
            with pytest.raises(ValueError, match="session key"):
                await store.claim(key)
        with pytest.raises(TypeError):
            await store.load(42)  # type: ignore[arg-type]
        epoch = await store.claim(KEY)
        with pytest.raises(ValueError, match="ttl"):
            await store.save(KEY, b"x", epoch=epoch, ttl=0)
        with pytest.raises(TypeError, match="bytes"):
            await store.save(KEY, "text", epoch=epoch, ttl=1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="at most"):
            await store.save(KEY, b"x" * (16 << 20 | 1), epoch=epoch, ttl=1)
    finally:
        await store.close()


async def test_redis_down_is_store_unavailable_and_recovers(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url)
    try:
        epoch = await store.claim(KEY)
        redis_server.stop()
        with pytest.raises(StoreUnavailable, match="expected Redis to save a snapshot"):
            await store.save(KEY, b"x", epoch=epoch, ttl=60)
        with pytest.raises(StoreUnavailable):
            await store.load(KEY)
        with pytest.raises(StoreUnavailable):
            await store.claim(KEY)
        redis_server.start()  # same port, no data (no persistence)
        # its data is gone, but epochs still beat the ones issued before (Redis's clock)
        assert await store.claim(KEY) > epoch
    finally:
        await store.close()


async def test_a_client_the_caller_owns_is_left_open(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    store = RedisStore(client)
    await store.claim(KEY)
    await store.close()
    assert await client.ping()
    await aclose(client)
