"""``RedisBroker`` against a real redis-server: delivery between brokers (in one process
and across two OS processes), subscriptions following receivers, Redis stopped and
started again, garbage on a channel."""

from __future__ import annotations

import asyncio
import logging
import queue
import subprocess
import threading
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from redis_server import RedisServer

from livetag.errors import StoreUnavailable
from livetag.pubsub import Broker, encode_message
from livetag.server.cluster.broker import Link, RedisBroker
from livetag.server.cluster.store import aclose

WAIT = 20.0


@pytest.fixture
async def brokers(redis_server: RedisServer) -> AsyncIterator[Callable[..., RedisBroker]]:
    made: list[RedisBroker] = []

    def make(**options: object) -> RedisBroker:
        options.setdefault("heartbeat", 0.5)
        options.setdefault("backoff", (0.05, 0.3))
        broker = RedisBroker(redis_server.url, **options)  # type: ignore[arg-type]
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.close()


async def started(broker: RedisBroker, *topics: str) -> RedisBroker:
    await broker.start()
    await broker.connected(WAIT)
    for topic in topics:
        await broker.subscribed(topic, WAIT)
    return broker


class Inbox:
    """A receiver that keeps what it gets; ``await inbox.expect(n)``."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self._news = asyncio.Event()

    def __call__(self, data: bytes) -> None:
        self.got.append(data)
        self._news.set()

    async def expect(self, count: int) -> list[bytes]:
        async def wait() -> None:
            while len(self.got) < count:
                self._news.clear()
                await self._news.wait()

        await asyncio.wait_for(wait(), WAIT)
        return self.got


async def test_messages_reach_every_subscriber_once_here_and_elsewhere(brokers: Callable[..., RedisBroker]) -> None:
    a, b = brokers(), brokers()
    here, there, other = Inbox(), Inbox(), Inbox()
    bus: Broker = a
    bus.subscribe("room:lobby", here)
    b.subscribe("room:lobby", there)
    b.subscribe("room:other", other)
    await started(a, "room:lobby")
    await started(b, "room:lobby", "room:other")
    for n in range(50):
        a.publish("room:lobby", encode_message({"n": n}))
    assert await there.expect(50) == [encode_message({"n": n}) for n in range(50)]  # in order
    assert here.got == there.got  # delivered here at once, and not again from Redis
    b.publish("room:lobby", b'"back"')
    assert (await here.expect(51))[-1] == b'"back"'
    await asyncio.sleep(0.2)
    assert len(here.got) == 51 and len(there.got) == 51 and other.got == []


async def test_redis_subscriptions_follow_local_receivers(brokers: Callable[..., RedisBroker],
                                                          redis_server: RedisServer) -> None:
    a = brokers(prefix="app1:")
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        first = a.subscribe("t", Inbox())
        second = a.subscribe("t", Inbox())
        await started(a, "t")
        assert await raw.pubsub_numsub("app1:t:t") == [(b"app1:t:t", 1)]  # one connection, whatever the receivers
        first.cancel()
        first.cancel()
        await asyncio.sleep(0.1)
        assert await raw.pubsub_numsub("app1:t:t") == [(b"app1:t:t", 1)]
        second.cancel()

        async def unsubscribed() -> None:
            while await raw.pubsub_numsub("app1:t:t") != [(b"app1:t:t", 0)]:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(unsubscribed(), WAIT)
        assert a.topics() == []
    finally:
        await aclose(raw)


async def test_a_receiver_that_raises_does_not_stop_the_others(brokers: Callable[..., RedisBroker],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    a, b = brokers(), brokers()
    inbox = Inbox()

    def broken(data: bytes) -> None:
        raise RuntimeError("a bug")

    b.subscribe("t", broken)
    b.subscribe("t", inbox)
    await started(a)
    await started(b, "t")
    with caplog.at_level(logging.ERROR, "livetag.server.cluster"):
        a.publish("t", b"1")
        a.publish("t", b"2")
        assert await inbox.expect(2) == [b"1", b"2"]
    assert "a receiver of topic 't' raised" in caplog.text


async def test_garbage_on_a_channel_is_dropped_and_logged(brokers: Callable[..., RedisBroker],
                                                          redis_server: RedisServer,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    a, b = brokers(), brokers()
    inbox = Inbox()
    b.subscribe("t", inbox)
    await started(a)
    await started(b, "t")
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        with caplog.at_level(logging.WARNING, "livetag.server.cluster"):
            await raw.publish("livetag:t:t", b"short")
            a.publish("t", b"after")
            assert await inbox.expect(1) == [b"after"]
        assert "not a livetag message" in caplog.text
        assert b.state is Link.UP
    finally:
        await aclose(raw)


async def test_bad_topics_and_messages_are_refused(brokers: Callable[..., RedisBroker]) -> None:
    a = await started(brokers())
    for topic in ("", "x" * 257, 42):
        with pytest.raises((TypeError, ValueError), match="topic"):
            a.publish(topic, b"1")  # type: ignore[arg-type]
        with pytest.raises((TypeError, ValueError), match="topic"):
            a.subscribe(topic, Inbox())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        a.publish("t", {"n": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most"):
        a.publish("t", b"x" * ((1 << 20) + 1))


async def test_redis_down_then_back(brokers: Callable[..., RedisBroker], redis_server: RedisServer) -> None:
    a, b = brokers(), brokers()
    here, there = Inbox(), Inbox()
    a.subscribe("t", here)
    b.subscribe("t", there)
    await started(a, "t")
    await started(b, "t")
    a.publish("t", b"1")
    await there.expect(1)

    redis_server.stop()
    await asyncio.wait_for(_state(a, Link.DOWN), WAIT)
    with pytest.raises(StoreUnavailable, match="this process's subscribers only"):
        a.publish("t", b"2")
    assert here.got == [b"1", b"2"]  # the owner's own sessions keep working

    redis_server.start()
    await started(a, "t")
    await started(b, "t")
    a.publish("t", b"3")
    assert await there.expect(2) == [b"1", b"3"]
    b.publish("t", b"4")
    assert (await here.expect(4))[-1] == b"4"


async def _state(broker: RedisBroker, state: Link) -> None:
    while broker.state is not state:
        await asyncio.sleep(0.02)


async def test_publish_before_the_link_is_up_raises_and_close_is_idempotent(
        brokers: Callable[..., RedisBroker]) -> None:
    a = brokers()
    inbox = Inbox()
    a.subscribe("t", inbox)
    with pytest.raises(StoreUnavailable, match="link starting"):
        a.publish("t", b"1")
    assert inbox.got == [b"1"]
    await started(a)
    await a.close()
    await a.close()
    with pytest.raises(StoreUnavailable, match="link closed"):
        a.publish("t", b"2")
    with pytest.raises(StoreUnavailable, match="closed"):
        await a.connected(1)


class Lines:
    """A process's stdout, read by a thread: ``expect(predicate)`` returns the first
    matching line (earlier ones are kept in ``seen``)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc, self.seen = proc, []  # type: list[str]
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))

    async def expect(self, predicate: Callable[[str], bool], what: str) -> str:
        async def wait() -> str:
            while True:
                try:
                    line = self._lines.get_nowait()
                except queue.Empty:
                    await asyncio.sleep(0.02)
                    continue
                self.seen.append(line)
                if predicate(line):
                    return line

        try:
            return await asyncio.wait_for(wait(), WAIT)
        except TimeoutError:
            err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
            raise AssertionError(f"expected {what}, got {self.seen} {err}") from None

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()


async def test_two_processes_talk_and_survive_a_redis_restart(brokers: Callable[..., RedisBroker],
                                                              redis_server: RedisServer,
                                                              spawn: Callable[..., subprocess.Popen[str]]) -> None:
    other = Lines(spawn("broker", redis_server.url, "chat"))
    await other.expect(lambda line: line == "ready", "the other process's broker")
    me = brokers()
    inbox = Inbox()
    me.subscribe("chat", inbox)
    await started(me, "chat")
    me.publish("chat", b'"hello from the test"')
    await other.expect(lambda line: line == 'got "hello from the test"', "the message in the other process")
    other.send('"hello from the process"')
    assert (await inbox.expect(2)) == [b'"hello from the test"', b'"hello from the process"']  # its own at once

    redis_server.stop()
    await asyncio.wait_for(_state(me, Link.DOWN), WAIT)
    with pytest.raises(StoreUnavailable):
        me.publish("chat", b'"lost"')
    other.send('"while down"')
    line = await other.expect(lambda line: line.startswith(("unavailable", "ok")), "the other's publish outcome")
    # the other process may not have noticed yet (it notices within its heartbeat): either
    # it said so, or its message was dropped; never delivered here
    assert line.startswith("unavailable") or line == "ok"

    redis_server.start()
    await started(me, "chat")
    for n in range(200):  # until the other process is subscribed again
        me.publish("chat", f'"again {n}"'.encode())
        try:
            await asyncio.wait_for(other.expect(lambda line: line.startswith('got "again'), "x"), 0.2)
            break
        except (TimeoutError, AssertionError):
            continue
    else:
        raise AssertionError(f"expected the other process to receive again, got {other.seen}")
    other.send('"back"')
    got = await inbox.expect(len(inbox.got) + 1)
    assert got[-1] == b'"back"'
    assert got.count(b'"lost"') == 1 and b'"while down"' not in got  # here only; never from the other


async def test_a_full_queue_is_refused_clearly(brokers: Callable[..., RedisBroker]) -> None:
    a = await started(brokers(max_queued=2))
    inbox = Inbox()
    a.subscribe("t", inbox)
    a.publish("t", b"1")  # the sending task has not run yet: both wait in the queue
    a.publish("t", b"2")
    with pytest.raises(StoreUnavailable, match="keep up with messages, got 2 queued"):
        a.publish("t", b"3")
    assert inbox.got == [b"1", b"2", b"3"]
    await asyncio.sleep(0.1)
    a.publish("t", b"4")  # the queue was sent meanwhile
    assert a.dropped == 0


async def test_any_thread_may_publish_subscribe_and_cancel(brokers: Callable[..., RedisBroker]) -> None:
    a, b = await started(brokers()), await started(brokers())
    there: queue.Queue[bytes] = queue.Queue()
    here = Inbox()
    a.subscribe("t", here)
    sub = await asyncio.to_thread(b.subscribe, "t", there.put)  # a receiver called on b's loop
    await b.subscribed("t", WAIT)

    def publish_many() -> None:
        for n in range(100):
            a.publish("t", str(n).encode())

    await asyncio.gather(asyncio.to_thread(publish_many), asyncio.to_thread(publish_many))
    got = [await asyncio.to_thread(there.get, True, WAIT) for _ in range(200)]
    assert sorted(got) == sorted([str(n).encode() for n in range(100)] * 2)
    assert len(here.got) == 200  # delivered here in the publishers' threads
    await asyncio.to_thread(sub.cancel)
    assert b.topics() == []
