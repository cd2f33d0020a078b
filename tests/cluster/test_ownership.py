"""``Ownership`` (the supervisor's side) and ``SessionFence`` / ``ClaimedStore`` (the
session process's side) against a real redis-server: locating a session, claiming it,
checking the claims again after a gap, and fencing updates and saves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from redis_server import RedisServer
from test_directory import LONG, SHORT, machine
from test_store import KEY

from livetag.errors import Fenced, StoreUnavailable
from livetag.server.cluster.directory import Claim, Directory
from livetag.server.cluster.fence import ClaimedStore, ClaimWindow, SessionFence
from livetag.server.cluster.ownership import OwnedElsewhere, Ownership, Where
from livetag.server.cluster.store import RedisStore


async def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "expected a condition to come true"
        await asyncio.sleep(0.02)


async def test_locate_and_claim(redis_server: RedisServer) -> None:
    a, b = machine(redis_server, "a"), machine(redis_server, "bb")
    here, there = Ownership(a), Ownership(b)
    try:
        await a.join()
        await b.join()
        assert (await here.locate(KEY)).where is Where.NOBODY
        claim = await here.claim(KEY)
        assert (await here.locate(KEY)).where is Where.HERE
        located = await there.locate(KEY)
        assert (located.where, located.machine, located.relay, located.epoch) == (
            Where.ELSEWHERE, "a", a.relay, claim.epoch)
        with pytest.raises(OwnedElsewhere) as refused:
            await there.claim(KEY)
        assert refused.value.location.machine == "a" and refused.value.location.relay == a.relay
        await here.release(KEY, claim.epoch + 1)  # not this claim: kept
        assert (await there.locate(KEY)).where is Where.ELSEWHERE
        await here.release(KEY)
        assert (await there.locate(KEY)).where is Where.NOBODY
        assert (await there.claim(KEY)).epoch > claim.epoch
    finally:
        await a.close()
        await b.close()


async def test_claims_are_checked_again_after_a_gap(redis_server: RedisServer) -> None:
    a, b = machine(redis_server, "a", lease=SHORT), machine(redis_server, "bb")
    here = Ownership(a)
    changed: list[tuple[str, int]] = []
    lost: list[str] = []
    here.on_change = lambda key, claim: changed.append((key, claim.epoch))
    here.on_lost = lost.append
    try:
        await a.join()
        await b.join()
        kept, gone, taken = await here.claim(KEY), await here.claim(KEY + "2"), await here.claim(KEY + "3")
        await a.stop_heartbeats()
        await wait_for(lambda: not a.lease_held())
        await asyncio.sleep(SHORT * 1.5)  # a's lease ran out in Redis
        await a.redis.delete(a.keys.owner(KEY + "2"))  # as if Redis had lost it
        assert (await b.claim(KEY + "3")).granted  # b takes the third one meanwhile
        await a.heartbeat()  # a is back: a new lease, after a gap
        assert not a.holds(kept)
        await here.reassert()
        assert a.holds(here.claims[KEY]) and here.claims[KEY].epoch == kept.epoch  # vouched for again
        assert here.claims[KEY + "2"].epoch > gone.epoch  # claimed again
        assert KEY + "3" not in here.claims and lost == [KEY + "3"]  # b's now
        assert sorted(changed) == sorted([(KEY, kept.epoch), (KEY + "2", here.claims[KEY + "2"].epoch)])
        assert taken.epoch < (await a.owner_of(KEY + "3")).epoch
    finally:
        await a.close()
        await b.close()


def fence_for(directory: Directory, claim: Claim, store: RedisStore,
              window: Callable[[], ClaimWindow]) -> tuple[SessionFence, list[str], list[int]]:
    flushed: list[str] = []
    fenced: list[int] = []
    fence = SessionFence(store.redis, prefix=store.keys.prefix, machine=directory.machine_id,
                         incarnation=directory.incarnation, key=claim.key, window=window,
                         flush=lambda: flushed.append("flush"), on_fenced=fenced.append)
    return fence, flushed, fenced


async def test_the_fence_lets_updates_out_only_while_the_claim_is_this_machine_s(redis_server: RedisServer) -> None:
    a, b = machine(redis_server, "a", lease=LONG), machine(redis_server, "bb")
    store = RedisStore(redis_server.url)
    try:
        await a.join()
        await b.join()
        claim = await Ownership(a).claim(KEY)
        since, until = a.lease_window()
        current = ClaimWindow(claim.epoch, claim.sent_at, since, until)
        fence, flushed, fenced = fence_for(a, claim, store, lambda: current)
        assert fence.gate() and await fence.verify()  # the window vouches: no I/O
        unclaimed, _, _ = fence_for(a, claim, store, lambda: ClaimWindow(0, 0.0, 0.0, 0.0))
        assert unclaimed.gate() and await unclaimed.verify()  # started while Redis was down: nothing to fence
        current = ClaimWindow(claim.epoch, claim.sent_at, 0.0, 0.0)  # not sure any more (a gap)
        assert not fence.gate()  # held back, and Redis asked
        await wait_for(lambda: flushed == ["flush"])
        assert fence.gate() and not fence.gate()  # Redis said yes: one flush per answer
        await wait_for(lambda: len(flushed) == 2)
        # another machine claims it (a's lease lapsed, say): the next update never goes out
        await a.redis.hset(a.keys.owner(KEY), mapping={"o": "", "i": ""})
        assert (await b.claim(KEY)).granted
        fence._confirmed = False
        assert not fence.gate()
        await wait_for(lambda: fenced != [])
        assert fenced[0] > claim.epoch and fence.fenced
        assert not fence.gate() and not await fence.verify() and len(fenced) == 1
        claimed = ClaimedStore(store)
        claimed.current = lambda: claim.epoch
        with pytest.raises(Fenced):
            await claimed.save(KEY, b"{}", epoch=claim.epoch, ttl=60)
        await fence.close()
    finally:
        await store.close()
        await a.close()
        await b.close()


async def test_with_redis_unreachable_past_the_lease_updates_wait_for_it(redis_server: RedisServer) -> None:
    # A Redis outage and a partition that cuts this machine alone off Redis look the same
    # from here; in the second, another machine may claim the session: nothing goes out.
    a = machine(redis_server, "a")
    store = RedisStore(redis_server.url)
    try:
        await a.join()
        claim = await Ownership(a).claim(KEY)
        window = ClaimWindow(claim.epoch, claim.sent_at, 0.0, 0.0)  # the lease lapsed: not sure
        fence, flushed, fenced = fence_for(a, claim, store, lambda: window)
        redis_server.stop()
        assert not fence.gate()
        await wait_for(lambda: flushed == ["flush"])  # after UNREACHABLE_RETRY: back through the gate
        assert not fence.gate() and not await fence.verify()  # still held; a new page is told to retry
        assert fenced == [] and not fence.fenced
        claimed = ClaimedStore(store)
        with pytest.raises(StoreUnavailable, match="supervisor's claim"):
            await claimed.claim(KEY)  # the supervisor could not claim it
        claimed.current = lambda: claim.epoch
        with pytest.raises(StoreUnavailable):
            await claimed.save(KEY, b"{}", epoch=claim.epoch, ttl=60)
        redis_server.start()  # without its data: no record is not another's claim
        await wait_for(lambda: fence.gate())  # Redis answered: the held updates go out
        assert await fence.verify() and not fence.fenced
        window = ClaimWindow(claim.epoch, claim.sent_at, claim.sent_at, time.monotonic() + 60)  # renewed
        assert fence.gate() and fence.gate()  # the window vouches again: no I/O
        with pytest.raises(StoreUnavailable, match="claims it again"):
            await claimed.save(KEY, b"{}", epoch=claim.epoch, ttl=60)
        await fence.close()
    finally:
        await store.close()
        await a.close()
