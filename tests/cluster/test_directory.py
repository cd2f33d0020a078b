"""``Directory`` against a real redis-server: leases, claims, epochs, fencing, and two
OS processes (concurrent claimers; an owner stopped with SIGSTOP past its lease)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import time
from collections.abc import Callable

import pytest
from redis_server import RedisServer
from test_store import KEY, wait_for

from livetag.errors import Fenced, StoreCorrupt, StoreUnavailable
from livetag.server.cluster.directory import Directory
from livetag.server.cluster.store import RedisStore

#: Leases of machines a test lets lapse; the others get ``LONG`` ones, so that a heartbeat
#: delayed on a busy machine cannot make a test fail.
SHORT, LONG = 0.6, 10.0


def machine(server: RedisServer, name: str, lease: float = LONG, **options: object) -> Directory:
    return Directory(server.url, machine_id=name, relay=f"127.0.0.1:{9000 + len(name)}", lease=lease,
                     **options)  # type: ignore[arg-type]


async def test_machines_join_renew_and_leave(redis_server: RedisServer) -> None:
    a, b = machine(redis_server, "a"), machine(redis_server, "bb")
    try:
        await a.join()
        await b.join()
        live = await a.machines()
        assert [(m.id, m.relay) for m in live] == [("a", "127.0.0.1:9001"), ("bb", "127.0.0.1:9002")]
        assert live[0].incarnation == a.incarnation and abs(live[0].started - time.time()) < 60
        await a.heartbeat()  # renewed: no gap
        assert a.lease_held()
        assert [m.id for m in await b.machines()] == ["a", "bb"]
        assert a.lease_held()
        await a.leave()
        assert [m.id for m in await b.machines()] == ["bb"]
        assert not a.lease_held()
    finally:
        await a.close()
        await b.close()


async def test_claim_is_refused_while_a_live_machine_owns_the_session(redis_server: RedisServer) -> None:
    a, b = machine(redis_server, "a"), machine(redis_server, "b")
    try:
        await a.join()
        await b.join()
        mine = await a.claim(KEY)
        assert mine.granted and a.holds(mine) and await a.owns(mine)
        theirs = await b.claim(KEY)
        assert not theirs.granted and theirs.owner is not None
        assert (theirs.owner.machine, theirs.epoch) == ("a", mine.epoch)
        owner = await b.owner_of(KEY)
        assert (owner.machine, owner.incarnation, owner.epoch, owner.live) == ("a", a.incarnation, mine.epoch, True)
        again = await a.claim(KEY)  # the owner may claim again (a new process): a new epoch
        assert again.granted and again.epoch > mine.epoch
        # the fast path vouches for the lease, not for claims made by the same machine since:
        # the machine fences its own former processes (it knows its claims)
        assert a.holds(mine)
        assert await a.release(again)
        assert not await a.release(again)
        assert (await b.owner_of(KEY)).machine is None
        taken = await b.claim(KEY)  # released: claimable at once
        assert taken.granted and taken.epoch > again.epoch
        assert not await a.release(again)
    finally:
        await a.close()
        await b.close()


async def test_lease_expiry_lets_another_machine_claim_and_fences_the_old_owner(redis_server: RedisServer) -> None:
    a, b = machine(redis_server, "a", lease=SHORT), machine(redis_server, "b")
    store = RedisStore(redis_server.url)
    try:
        await a.join()
        await b.join()
        mine = await a.claim(KEY)
        await store.save(KEY, b"a's state", epoch=mine.epoch, ttl=60)
        await a.stop_heartbeats()  # as if paused: the lease runs out
        taken = await wait_for(lambda: _granted(b.claim(KEY)), "the lease of a to run out")
        assert taken.epoch > mine.epoch
        assert not a.holds(mine)  # its own clock says the lease is over
        assert not await a.owns(mine)
        with pytest.raises(Fenced):
            await store.save(KEY, b"a's late write", epoch=mine.epoch, ttl=60)
        snap = await store.load(KEY)
        assert snap is not None and snap.data == b"a's state"
        with pytest.raises(StoreUnavailable, match="lease"):  # a lapsed machine cannot claim
            await a.claim("f" * 64)
        await a.join()  # renews: the lapse is known, older claims are no longer trusted locally
        assert a.lease_held() and not a.holds(mine) and not await a.owns(mine)
        assert b.holds(taken) and await b.owns(taken)
    finally:
        await store.close()
        await a.close()
        await b.close()


async def _granted(coro):  # type: ignore[no-untyped-def]
    claim = await coro
    return claim if claim.granted else None


async def test_a_restarted_machine_does_not_inherit_its_former_sessions(redis_server: RedisServer) -> None:
    old = machine(redis_server, "a", lease=SHORT)
    await old.join()
    claim = await old.claim(KEY)
    await old.close()  # killed: no leave, the lease still runs
    new = machine(redis_server, "a")
    with pytest.raises(ValueError, match="machine id 'a'"):
        await new.join(wait=0.05)  # a second machine with the same id, while the first lives
    try:
        await new.join()  # waits for the former incarnation's lease
        assert [m.incarnation for m in await new.machines()] == [new.incarnation]
        owner = await new.owner_of(KEY)
        assert owner.machine == "a" and not owner.live  # another incarnation
        again = await new.claim(KEY)
        assert again.granted and again.epoch > claim.epoch
    finally:
        await new.close()


async def test_holds_needs_no_redis_and_owns_asks_redis_when_unsure(redis_server: RedisServer) -> None:
    a = Directory(redis_server.url, machine_id="a", lease=30.0, claim_ttl=0.3)
    try:
        await a.join()
        mine = await a.claim(KEY)
        redis_server.stop()
        assert a.holds(mine) and await a.owns(mine)  # no round trip
        await asyncio.sleep(0.3)  # past the claim ttl: the record may be gone, so ask
        assert not a.holds(mine)
        with pytest.raises(StoreUnavailable):
            await a.owns(mine)
        with pytest.raises(StoreUnavailable):
            await a.machines()
    finally:
        await a.close()


async def test_heartbeats_survive_a_redis_restart(redis_server: RedisServer) -> None:
    a, b = machine(redis_server, "a", lease=SHORT), machine(redis_server, "b")
    try:
        await a.join()
        redis_server.restart()  # every key is gone (no persistence)
        await wait_for(lambda: _ids(b.machines(), ["a"]), "a's heartbeat to register it again")
        await b.join()
        assert [m.id for m in await b.machines()] == ["a", "b"]
    finally:
        await a.close()
        await b.close()


async def _ids(coro, expected: list[str]) -> bool:  # type: ignore[no-untyped-def]
    try:
        return [m.id for m in await coro] == expected
    except StoreUnavailable:
        return False


async def test_garbage_directory_keys_are_clear_errors(redis_server: RedisServer) -> None:
    a = machine(redis_server, "a")
    try:
        await a.redis.set(a.me, b"junk")
        with pytest.raises(StoreCorrupt, match="expected a hash"):
            await a.join()
        await a.redis.delete(a.me)
        await a.join()
        await a.redis.sadd(a.keys.machines, "ghost", "junk")
        await a.redis.set(a.keys.machine("junk"), b"junk")
        assert [m.id for m in await a.machines()] == ["a"]  # listing skips a bad record
        await a.redis.lpush(a.keys.owner(KEY), b"x")
        with pytest.raises(StoreCorrupt):
            await a.claim(KEY)
        with pytest.raises(StoreCorrupt):
            await a.owner_of(KEY)
    finally:
        await a.close()


def _lines(proc: subprocess.Popen[str], count: int) -> list[str]:
    assert proc.stdout is not None
    return [proc.stdout.readline().strip() for _ in range(count)]


async def test_epochs_strictly_increase_across_two_processes(redis_server: RedisServer,
                                                             spawn: Callable[..., subprocess.Popen[str]]) -> None:
    procs = [spawn("claims", redis_server.url, KEY, "200") for _ in range(2)]
    results = [await asyncio.to_thread(_lines, proc, 200) for proc in procs]
    for proc in procs:
        assert await asyncio.to_thread(proc.wait) == 0
    epochs = [[int(x) for x in lines] for lines in results]
    for mine in epochs:
        assert all(x < y for x, y in itertools.pairwise(mine))
    assert len(set(epochs[0]) | set(epochs[1])) == 400


async def test_an_owner_stopped_past_its_lease_never_writes_again(redis_server: RedisServer,
                                                                  spawn: Callable[..., subprocess.Popen[str]]) -> None:
    proc = spawn("owner", redis_server.url, "a", KEY)
    line = (await asyncio.to_thread(_lines, proc, 1))[0]
    assert line.startswith("claimed "), line + (proc.stderr.read() if proc.stderr else "")
    old = int(line.split()[1])
    b = Directory(redis_server.url, machine_id="b", lease=LONG)
    store = RedisStore(b.redis)
    try:
        await b.join()
        os.kill(proc.pid, signal.SIGSTOP)  # paused: no heartbeat, no save
        taken = await wait_for(lambda: _granted(b.claim(KEY)), "a's lease to run out")
        assert taken.epoch > old
        await store.save(KEY, b"b's state", epoch=taken.epoch, ttl=60)
        os.kill(proc.pid, signal.SIGCONT)
        line = (await asyncio.to_thread(_lines, proc, 1))[0]
        assert line == f"fenced {taken.epoch} holds=False owns=False", line
        snap = await store.load(KEY)
        assert snap is not None and snap.data == b"b's state" and snap.epoch == taken.epoch
    finally:
        await b.close()


async def test_two_machines_racing_for_the_same_sessions_get_one_grant_each(redis_server: RedisServer) -> None:
    a, b = machine(redis_server, "a"), machine(redis_server, "b")
    try:
        await a.join()
        await b.join()
        keys = [f"{n:064x}" for n in range(40)]
        claims = await asyncio.gather(*(d.claim(k) for k in keys for d in (a, b)))
        for n in range(len(keys)):
            first, second = claims[2 * n], claims[2 * n + 1]
            assert first.granted != second.granted  # exactly one owner per session
            winner = first if first.granted else second
            loser = second if first.granted else first
            assert loser.owner is not None and loser.epoch == winner.epoch
    finally:
        await a.close()
        await b.close()
