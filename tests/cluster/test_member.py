"""``ClusterMember``: a machine that boots while Redis is down joins when it answers, and
leaves at once on a clean close."""

from __future__ import annotations

from redis_server import RedisServer
from test_broker import Inbox
from test_store import KEY, wait_for

from livetag.errors import StoreUnavailable
from livetag.server.cluster.broker import Link
from livetag.server.cluster.config import ClusterConfig
from livetag.server.cluster.member import ClusterMember
from livetag.server.cluster.store import RedisStore


def config(server: RedisServer, machine: str) -> ClusterConfig:
    return ClusterConfig(redis_url=server.url, secret="s" * 32, machine_id=machine, relay="127.0.0.1:9000",
                         prefix="shop:", lease=10.0)


async def test_a_machine_booted_while_redis_is_down_joins_when_it_answers(redis_server: RedisServer) -> None:
    redis_server.stop()
    member = ClusterMember(config(redis_server, "m1"))
    try:
        await member.start()  # does not wait for Redis
        assert not member.directory.lease_held() and member.broker.state is not Link.UP
        redis_server.start()
        await member.broker.connected(20)
        await wait_for(lambda: _ids(member), "the machine to register")
        assert member.directory.lease_held()
        claim = await member.directory.claim(KEY)
        assert claim.granted and member.directory.holds(claim)
        await member.store.save(claim.key, b"state", epoch=claim.epoch, ttl=60)
        assert await member.redis.exists(f"shop:d:{claim.key}")  # the configured prefix
    finally:
        await member.close()


async def _ids(member: ClusterMember) -> bool:
    try:
        return [m.id for m in await member.directory.machines()] == [member.config.machine_id]
    except StoreUnavailable:
        return False


async def test_a_clean_close_leaves_at_once_and_frees_the_sessions(redis_server: RedisServer) -> None:
    one, two = ClusterMember(config(redis_server, "m1")), ClusterMember(config(redis_server, "m2"))
    try:
        await one.start()
        await two.start()
        await one.directory.join()
        await two.directory.join()
        mine = await one.directory.claim(KEY)
        assert not (await two.directory.claim(KEY)).granted
        inbox = Inbox()
        two.broker.subscribe("room", inbox)
        await one.broker.connected(20)
        await two.broker.subscribed("room", 20)
        one.broker.publish("room", b'"hi"')
        assert await inbox.expect(1) == [b'"hi"']
        await one.close()
        await one.close()
        taken = await two.directory.claim(KEY)  # no lease to wait for
        assert taken.granted and taken.epoch > mine.epoch
        assert [m.id for m in await two.directory.machines()] == ["m2"]
    finally:
        await one.close()
        await two.close()


async def test_closing_while_redis_is_down_does_not_raise(redis_server: RedisServer) -> None:
    member = ClusterMember(config(redis_server, "m1"))
    await member.start()
    await member.directory.join()
    redis_server.stop()
    await member.close()  # the lease cannot be ended: logged, it runs out by itself
    redis_server.start()
    store = RedisStore(redis_server.url)
    assert await store.load(KEY) is None
    await store.close()
