"""The Runner as a cluster: two machines (real uvicorn servers, each with its supervisor
and session processes) on one redis-server. Sessions are claimed in the directory,
snapshotted to Redis, taken over by another machine when theirs dies (exactly once), and
fenced when a paused owner comes back; the chat example talks across machines; a Redis
restart under a session is survived. Wire-level clients (``livetag.testing.wire.Tab``)
move from one machine to the other as a page behind a load balancer would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
import redis
from machines import FENCED, Machine
from partition import Partition
from redis_server import RedisServer
from rt_procs import wait_until

from livetag.server.persistence import key as store_key
from livetag.testing.wire import Tab, UnexpectedMessage

Machines = Callable[..., Machine]
PREFIX = "livetag:"


def move(t: Tab, machine: Machine) -> None:
    """Point ``t`` at ``machine`` (its WebSocket is gone): the page behind a balancer."""
    t.url = t.page_url = machine.url + "/"
    t.origin = machine.url
    t.ws = None


def take_over(new: Tab, old: Tab, machine: Machine) -> None:
    """``new`` becomes ``old``'s page (its cookie, the HTML a had served, its client id and
    sequence numbers), pointed at ``machine``: the page behind a balancer whose owner froze
    or was cut off, while ``old`` keeps the socket the former owner holds."""
    new.http.cookies.set(next(c.name for c in old.http.cookies.jar), old.session_id)
    new._loaded(old.html, None)
    new.cid, new.seq = old.cid, old.seq
    move(new, machine)


def snapshot(client: redis.Redis, key: str) -> dict[str, Any] | None:
    raw = client.hget(f"{PREFIX}d:{key}", "d")
    return None if raw is None else orjson.loads(raw)


def acked(client: redis.Redis, key: str, cid: str | None) -> int | None:
    """The last event of page ``cid`` that session ``key``'s snapshot in Redis includes
    (``None``: no snapshot, or none of that page's events)."""
    return (snapshot(client, key) or {}).get("acks", {}).get(cid)


def owner(machine: Machine, sid: str) -> dict[str, Any]:
    return machine.request({"op": "owner", "base": "", "sid": sid})


async def drain(t: Tab, seconds: float = 0.3) -> list[dict[str, Any]]:
    got = []
    try:
        while True:
            got.append(await t.recv(seconds))
    except TimeoutError:
        return got


@pytest.fixture
def r(redis_server: RedisServer) -> Any:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


async def test_the_owner_is_known_to_every_machine(machines: Machines) -> None:
    a, b = machines("a"), machines("b")
    async with Tab(a.url + "/") as t:
        await t.load()
        await t.join()
        here, there = owner(a, t.session_id), owner(b, t.session_id)
        assert here["where"] == "here" and here["machine"] == "a"
        assert there == {**here, "where": "elsewhere", "relay": None}
        assert owner(b, "never-issued")["where"] == "nobody"
        # a page of it that lands on b is told to retry (the relay's job), never a new session
        move(t, b)
        with pytest.raises(Exception):  # noqa: B017 - the handshake is refused (1013 before accept)
            await t.join()
        response = await t.http.get(b.url + "/")
        assert response.status_code == 503 and "retry" in response.text


async def test_a_malformed_owner_request_is_refused(machines: Machines) -> None:
    a = machines("a")
    for request in ({}, {"sid": 7}, {"sid": ""}, {"sid": "x" * 129}, {"sid": ["a"]},
                    {"sid": "a", "base": "/x" * 5000}, {"sid": "a", "base": None}):
        reply = a.request({"op": "owner", **request})
        assert reply.get("error") == "unknown" or reply.get("where") == "nobody", (request, reply)
    assert a.request({"op": "owner", "base": "", "sid": "still-answers"})["where"] == "nobody"


@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn"])
async def test_a_killed_machine_s_session_resumes_on_another_exactly_once(machines: Machines, r: Any,
                                                                          kind: str) -> None:
    a, b = machines("a", kind=kind), machines("b", kind=kind)
    async with Tab(a.url + "/") as t:
        await t.load()
        await t.join()
        for _ in range(3):
            await t.event(t.id(".inc"))
        target, key, pid_a = t.id(".inc"), store_key("", t.session_id), t.text(".pid")
        # Event 4 is applied and snapshotted, but its acknowledgement never reaches the
        # page (the machine dies first): the page re-sends it, and event 5 it queued.
        ev4 = t.ev(target)
        await t.send(ev4)
        wait_until(lambda: acked(r, key, t.cid) == 4, what="event 4 snapshotted")

        a.kill()
        ev5 = t.ev(target)
        move(t, b)
        wait_until(lambda: owner(b, t.session_id)["where"] == "nobody", what="a's lease to run out")
        joined = await t.join()
        assert joined["ack"] == 4  # what the snapshot holds
        assert t.text(".value") == "4" and t.text(".pid") != pid_a
        await t.send(ev4)  # re-sent: acknowledged, not applied again
        await t.send(ev5)
        await t.until_ack(5)
        assert t.text(".value") == "5"
        assert owner(b, t.session_id)["where"] == "here"
        wait_until(lambda: acked(r, key, t.cid) == 5, what="b's snapshot")


async def test_a_paused_owner_never_writes_nor_sends_again(machines: Machines, r: Any) -> None:
    a, b = machines("a"), machines("b")
    async with Tab(a.url + "/") as old, Tab(a.url + "/") as new:
        await old.load()
        await old.join()
        await old.event(old.id(".inc"))
        key = store_key("", old.session_id)
        wait_until(lambda: acked(r, key, old.cid) == 1, what="a's snapshot")
        a.pause()
        try:
            # the same session (its cookie), on b once a's lease ran out
            take_over(new, old, b)
            wait_until(lambda: owner(b, old.session_id)["where"] == "nobody", what="a's lease to run out")
            await new.join()
            await new.event(new.id(".inc"))
            assert new.text(".value") == "2"
            wait_until(lambda: acked(r, key, new.cid) == 2, what="b's snapshot")
            written = r.hgetall(f"{PREFIX}d:{key}")
        finally:
            a.resume()
        # a's session process wakes up with a page still on it: its event runs there, but
        # nothing goes out (no update), its save is fenced, and it ends.
        await old.send(old.ev(old.id(".inc")))
        got = []
        with pytest.raises(Exception):  # noqa: B017 - the socket closes: the process ended
            while True:
                got.append(await old.recv(10))
        assert not [m for m in got if m.get("t") in ("up", "ack", "joined")], got
        assert r.hgetall(f"{PREFIX}d:{key}") == written  # a wrote nothing
        with pytest.raises(UnexpectedMessage, match="503"):  # a page load there: "retry", never a's state
            await old.load()
        await new.event(new.id(".inc"))  # b goes on
        assert new.text(".value") == "3"
        a.server.wait_for(FENCED)


async def test_a_partitioned_owner_never_sends_once_another_machine_could_claim(machines: Machines, r: Any,
                                                                                 redis_server: RedisServer) -> None:
    # a alone is cut off Redis; its page still reaches it. Past a's lease, b may claim the
    # session (and does): from then on a must send nothing, though it cannot know b did.
    cut = Partition(int(redis_server.url.rsplit(":", 1)[1].split("/")[0])).start()
    try:
        a, b = machines("a", redis_url=cut.url), machines("b")
        async with Tab(a.url + "/") as old, Tab(a.url + "/") as new:
            await old.load()
            await old.join()
            await old.event(old.id(".inc"))
            key = store_key("", old.session_id)
            wait_until(lambda: acked(r, key, old.cid) == 1, what="a's snapshot")
            cut.cut()
            await old.event(old.id(".inc"))  # within a's lease: it works
            assert old.text(".value") == "2"
            wait_until(lambda: owner(b, old.session_id)["where"] == "nobody", what="a's lease to run out")
            await old.send(old.ev(old.id(".inc")))  # applied on a, but nothing goes out
            assert [m for m in await drain(old, 1.0) if m["t"] in ("up", "ack")] == []
            take_over(new, old, b)
            await new.join()  # b claims it, from the snapshot of one click
            assert new.text(".value") == "1"
            await new.event(new.id(".inc"))  # b goes on from its snapshot
            assert new.text(".value") == "2"
            cut.heal()  # a reaches Redis again, sees b's epoch, and ends unheard
            got = []
            with pytest.raises(Exception):  # noqa: B017 - the socket closes: the process ended
                while True:
                    got.append(await old.recv(10))
            assert not [m for m in got if m.get("t") in ("up", "ack", "joined")], got
            a.server.wait_for(FENCED)
            await new.event(new.id(".inc"))
            assert owner(b, old.session_id)["where"] == "here"
    finally:
        cut.close()


async def test_concurrent_revivals_of_a_session_start_one_process(machines: Machines, r: Any) -> None:
    # After a failover a page's transports (an SSE stream and an event POST, say) reach
    # the new machine at once: one process, one claim, every request answered with it.
    a, b = machines("a"), machines("b")
    async with Tab(a.url + "/") as t:
        await t.load()
        await t.join()
        await t.event(t.id(".inc"))
        key = store_key("", t.session_id)
        wait_until(lambda: acked(r, key, t.cid) == 1, what="a's snapshot")
        a.kill()
        wait_until(lambda: owner(b, t.session_id)["where"] == "nobody", what="a's lease to run out")
        request = {"op": "revive", "base": "", "sid": t.session_id, "options": [False, False, False],
                   "app": {"module": "cluster_apps", "qualname": "Clicks", "file": None}}
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda _: b.request(request), range(4)))
        assert len({reply.get("pid") for reply in replies}) == 1 and "pid" in replies[0], replies
        assert owner(b, t.session_id)["where"] == "here"
        move(t, b)
        joined = await t.join()
        assert joined["ack"] == 1 and t.text(".value") == "1"


async def test_the_chat_across_two_machines(machines: Machines) -> None:
    a, b = machines("a", "cluster_apps:chat"), machines("b", "cluster_apps:chat")
    async with Tab(a.url + "/") as ann, Tab(b.url + "/") as bob:
        for t in (ann, bob):
            await t.load()
            await t.join()
        form = ann.id("form")
        # Redis acknowledges b's subscription a moment after its join: say hi until b hears
        for n in range(100):
            await ann.event(form, "submit", {"name": "ann", "text": f"hi {n}"})
            await drain(bob, 0.2)
            if "hi" in bob.text(".messages"):
                break
        assert "ann" in bob.text(".messages")
        await bob.event(bob.id("form"), "submit", {"name": "bob", "text": "hello ann"})
        await wait_for_text(ann, ".messages", "hello ann")


async def wait_for_text(t: Tab, selector: str, text: str) -> None:
    async def until() -> None:
        while text not in t.text(selector):
            await t.recv()

    await asyncio.wait_for(until(), 20)


async def test_a_session_survives_a_redis_restart(machines: Machines, redis_server: RedisServer, r: Any) -> None:
    a = machines("a")
    async with Tab(a.url + "/") as t:
        await t.load()
        await t.join()
        await t.event(t.id(".inc"))
        key = store_key("", t.session_id)
        wait_until(lambda: acked(r, key, t.cid) == 1, what="the snapshot")
        redis_server.stop()
        for n in range(2, 5):  # Redis down: the session works on its owner
            await t.event(t.id(".inc"))
            assert t.text(".value") == str(n)
        await asyncio.sleep(2.5)  # past a lease: the machine's own lease lapsed too
        # Another machine could claim the session now (were this a partition that cut a
        # alone off Redis): the event is applied, its update waits for Redis.
        await t.send(t.ev(t.id(".inc")))
        assert [m for m in await drain(t, 1.5) if m["t"] in ("up", "ack")] == []
        assert t.text(".value") == "4"
        redis_server.start()  # without its data (no persistence): the session is claimed again
        await t.until_ack(timeout=20)
        assert t.text(".value") == "5"
        await t.event(t.id(".inc"))
        assert t.text(".value") == "6"
        wait_until(lambda: owner(a, t.session_id)["where"] == "here", what="the claim again")
        await t.event(t.id(".inc"))
        wait_until(lambda: acked(r, key, t.cid) == 7, what="snapshots to resume")
        assert t.text(".value") == "7"


async def test_a_session_started_while_redis_was_down_is_claimed_and_saved_once_it_is_back(
        machines: Machines, redis_server: RedisServer, r: Any) -> None:
    a, b = machines("a"), machines("b")
    redis_server.stop()
    async with Tab(a.url + "/") as t:
        await t.load()  # a new session works without Redis: unclaimed, not snapshotted
        await t.join()
        for n in range(1, 4):
            await t.event(t.id(".inc"))
            assert t.text(".value") == str(n)
        redis_server.start()  # a claims it, and its process saves what it has
        key = store_key("", t.session_id)
        wait_until(lambda: owner(a, t.session_id)["where"] == "here", what="a's claim")
        wait_until(lambda: acked(r, key, t.cid) == 3, what="the first snapshot")
        a.kill()  # so it survives its machine, as any other session
        move(t, b)
        wait_until(lambda: owner(b, t.session_id)["where"] == "nobody", what="a's lease to run out")
        joined = await t.join()
        assert joined["ack"] == 3 and t.text(".value") == "3"
        await t.event(t.id(".inc"))
        assert t.text(".value") == "4"


@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn"])
async def test_a_stopped_machine_hands_its_sessions_over(machines: Machines, r: Any, kind: str) -> None:
    a, b = machines("a", kind=kind), machines("b")
    async with Tab(a.url + "/") as t:
        await t.load()
        await t.join()
        for _ in range(2):
            await t.event(t.id(".inc"))
        key = store_key("", t.session_id)
        a.server.stop()  # SIGTERM: its session is saved, its claim released, the machine leaves
        wait_until(lambda: r.hget(f"{PREFIX}s:{key}", "o") == b"", what="the claim released")
        wait_until(lambda: not r.exists(f"{PREFIX}m:a"), what="a to leave the cluster")
        move(t, b)
        joined = await t.join()  # at once: no lease to wait for
        assert joined["ack"] == 2 and t.text(".value") == "2"
        await t.event(t.id(".inc"))
        assert t.text(".value") == "3"


@pytest.mark.parametrize("transport", ["ws", "sse", "http"])
async def test_any_request_on_any_machine_reaches_the_owner_through_its_relay(machines: Machines,
                                                                               transport: str) -> None:
    # No stickiness: the page of a session owned by a, and every request of it, land on
    # b, which looks the owner up in the directory and relays to a's machine.
    a, b = machines("a", relay=True), machines("b", relay=True)
    async with Tab(a.url + "/", transport=transport) as t:
        await t.load()
        await t.join()
        await t.event(t.id(".inc"))
        pid_a = t.text(".pid")
        move(t, b)
        page = await t.http.get(b.url + "/")
        assert page.status_code == 200 and f'class="pid">{pid_a}<' in page.text
        await t.join()
        for _ in range(20):
            await t.event(t.id(".inc"))
        assert t.text(".value") == "21" and t.text(".pid") == pid_a
        assert owner(b, t.session_id)["where"] == "elsewhere"
