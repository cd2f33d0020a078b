"""``RedisBroker``: the ``Broker`` of ``livetag.pubsub`` across machines, over Redis
pub/sub (redis-py's asyncio client).

One broker per process (a machine's supervisor), with two connections to Redis: one
subscribed connection that carries every topic this process listens to (``SUBSCRIBE``
when a topic gets its first local receiver, ``UNSUBSCRIBE`` when it loses its last), and
one for ``PUBLISH``. Both are used by tasks of the broker's event loop only; ``publish``,
``subscribe`` and ``cancel`` are plain calls that never wait, from any thread (as
``livetag.pubsub.Broker`` requires); receivers are called in the publisher's thread for
messages published here, on the broker's loop for the others.

Delivery. ``publish`` calls this process's receivers of the topic at once (as
``LocalBroker`` does: the same process never waits for Redis), then queues the message
for Redis; a task sends the queue in order, in pipelines (one round trip per batch).
Messages carry their sender's random origin, so a process skips its own messages when
Redis echoes them. Other processes get a message if their ``SUBSCRIBE`` was acknowledged
before it was published (``subscribed(topic)`` waits for that): at most once, in publish
order per publisher, as ``livetag.pubsub`` promises.

Redis down. The subscribed connection notices (the socket closes, or a ``PING`` sent
after ``heartbeat`` seconds of silence gets no answer within two more), and the broker
reconnects with exponential backoff (``backoff``: first and longest wait, seconds),
subscribing again to every topic that has receivers. While it is down, ``publish`` still
delivers to this process's receivers and then raises ``StoreUnavailable``, saying that
the other processes were not reached (the caller may tell its user; retrying would
deliver twice here). Messages queued when the link broke are dropped and logged
(``dropped`` counts them). A queue that reaches ``max_queued`` messages (Redis not
keeping up) makes ``publish`` raise ``StoreUnavailable`` as well.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import itertools
import logging
import secrets
import threading
from typing import TYPE_CHECKING, Any

from ...errors import StoreUnavailable
from ...pubsub import MAX_MESSAGE, Broker, Receiver, Subscription, check_topic
from .client import Keys, aioredis, connect, redis_errors, stop_task
from .config import DEFAULT_PREFIX
from .store import aclose

log = logging.getLogger("livetag.server.cluster")

#: Messages sent per pipeline.
BATCH = 256
_ORIGIN = 16  # bytes of a message's origin (hex of 8 random bytes)


class Link(enum.Enum):
    """The state of the subscribed connection."""

    STARTING = "starting"  # not started, or connecting for the first time
    UP = "up"  # subscribed: messages flow both ways
    DOWN = "down"  # lost: reconnecting with backoff
    CLOSED = "closed"


class _Subscription:
    # Keyed by a counter, not id(self): a caller that drops its subscription object would
    # let the next one reuse its id and replace its receiver.
    __slots__ = ("_broker", "_number", "_topic")

    def __init__(self, broker: RedisBroker, topic: str, number: int) -> None:
        self._broker, self._topic, self._number = broker, topic, number

    def cancel(self) -> None:
        broker = self._broker
        with broker._lock:
            receivers = broker._receivers.get(self._topic)
            if receivers is None or receivers.pop(self._number, None) is None or receivers:
                return
            del broker._receivers[self._topic]
        broker._signal(broker._wanted)


class RedisBroker:
    """Publish/subscribe between processes and machines (module docstring).

    ``url``: Redis (``redis://``, ``rediss://``, ``unix://``); ``prefix``: of every
    channel (as the store's keys). Call ``await start()`` on the loop that will use it,
    and ``await close()`` at the end."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, heartbeat: float = 5.0,
                 backoff: tuple[float, float] = (0.1, 5.0), max_queued: int = 10_000) -> None:
        self.keys = Keys(prefix)
        self._topic_prefix = self.keys.topic("").encode()
        self.origin = secrets.token_hex(_ORIGIN // 2).encode()
        self._own = f"{prefix}b:{self.origin.decode()}".encode()
        self._url = url
        self._sub: aioredis.Redis = connect(url, retries=0, name="livetag-broker-sub")
        self._pub: aioredis.Redis = connect(url, retries=0, name="livetag-broker-pub")
        self.heartbeat = float(heartbeat)
        self.backoff = backoff
        self.max_queued = int(max_queued)
        self.state = Link.STARTING
        #: Messages lost because Redis could not be reached when they were sent.
        self.dropped = 0
        self._lock = threading.Lock()  # receivers and the queue: any thread may publish or subscribe
        self._loop: asyncio.AbstractEventLoop | None = None
        self._receivers: dict[str, dict[int, Receiver]] = {}
        self._numbers = itertools.count()
        self._active: set[str] = set()  # topics Redis acknowledged on the current connection
        self._outbox: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._wanted = asyncio.Event()  # the set of topics with receivers changed
        self._queued = asyncio.Event()
        self._news = asyncio.Event()  # the state or the acknowledged topics changed
        self._tasks: list[asyncio.Task[None]] = []
        self._inner: set[asyncio.Future[None]] = set()  # the link's reader and subscriber

    # -- the Broker protocol ----------------------------------------------------------------

    def publish(self, topic: str, data: bytes) -> None:
        """Deliver ``data`` here at once and to the other processes through Redis (module
        docstring). Raises ``StoreUnavailable`` (after the local delivery) when Redis
        cannot be reached or is not keeping up; ``TypeError`` / ``ValueError`` for a bad
        topic or message."""
        check_topic(topic)
        if not isinstance(data, bytes):
            raise TypeError(f"expected the message as bytes (livetag.pubsub.encode_message), got {type(data).__name__}")
        if len(data) > MAX_MESSAGE:
            raise ValueError(f"expected a message of at most {MAX_MESSAGE} bytes encoded, got {len(data)}")
        self._deliver(topic, data)
        if self.state is not Link.UP:
            raise StoreUnavailable(f"expected Redis to carry a message on {topic!r} to the other processes, got the "
                                   f"link {self.state.value}: delivered to this process's subscribers only")
        with self._lock:
            queued = len(self._outbox)
            if queued < self.max_queued:
                self._outbox.append((self.keys.topic(topic).encode(), self.origin + data))
        if queued >= self.max_queued:
            raise StoreUnavailable(f"expected Redis to keep up with messages, got {queued} queued: "
                                   f"{topic!r} delivered to this process's subscribers only")
        self._signal(self._queued)

    def subscribe(self, topic: str, receiver: Receiver) -> Subscription:
        """Call ``receiver(data)`` (it must not block or raise) for each message on
        ``topic``, published here or elsewhere, until cancelled. Any thread."""
        check_topic(topic)
        with self._lock:
            sub = _Subscription(self, topic, next(self._numbers))
            receivers = self._receivers.setdefault(topic, {})
            first = not receivers
            receivers[sub._number] = receiver
        if first:
            self._signal(self._wanted)
        return sub

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the connection and sending tasks (returns at once: the link comes up in
        the background, and comes back after each outage). Idempotent."""
        if self._tasks or self.state is Link.CLOSED:
            return
        loop = self._loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._link(), name="livetag-broker-link"),
                       loop.create_task(self._send(), name="livetag-broker-send")]

    async def connected(self, timeout: float | None = 30.0) -> None:
        """Wait until the link is up. Raises ``TimeoutError``."""
        await self._until(lambda: self.state is Link.UP, timeout)

    async def subscribed(self, topic: str, timeout: float | None = 30.0) -> None:
        """Wait until Redis acknowledged this process's subscription to ``topic`` (from
        then on, messages published anywhere reach it). Raises ``TimeoutError``."""
        await self._until(lambda: self.state is Link.UP and topic in self._active, timeout)

    def topics(self) -> list[str]:
        """Topics with at least one local receiver."""
        with self._lock:
            return list(self._receivers)

    async def close(self) -> None:
        """Stop the tasks and close both connections; queued messages are dropped.
        Idempotent."""
        if self.state is Link.CLOSED:
            return
        self.state = Link.CLOSED
        self._news.set()
        for task in [*self._inner, *self._tasks]:  # the link's own tasks first: it waits for them
            await stop_task(task)
        self._tasks = []
        await aclose(self._sub)
        await aclose(self._pub)

    async def _until(self, condition: Any, timeout: float | None) -> None:
        async def wait() -> None:
            while not condition():
                if self.state is Link.CLOSED:
                    raise StoreUnavailable("expected a running broker, got it closed")
                self._news.clear()
                await self._news.wait()

        await asyncio.wait_for(wait(), timeout)

    def _signal(self, event: asyncio.Event) -> None:
        """Set ``event`` from any thread (asyncio's events belong to their loop)."""
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            event.set()  # on the loop, or before start (nothing waits yet)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the broker too
                loop.call_soon_threadsafe(event.set)

    def _set_state(self, state: Link) -> None:
        if self.state is not Link.CLOSED:
            self.state = state
            self._news.set()

    # -- delivery ---------------------------------------------------------------------------

    def _deliver(self, topic: str, data: bytes) -> None:
        with self._lock:  # called outside it: a receiver may subscribe or cancel
            receivers = list(self._receivers.get(topic, {}).values())
        for receiver in receivers:
            try:
                receiver(data)
            except Exception:  # a receiver's bug must not stop the others, nor the link
                log.exception("a receiver of topic %r raised", topic)

    def _received(self, channel: bytes, payload: bytes) -> None:
        if not channel.startswith(self._topic_prefix):
            return
        if len(payload) < _ORIGIN or len(payload) > MAX_MESSAGE + _ORIGIN:
            log.warning("dropped a message of %d bytes on %r: not a livetag message", len(payload), channel[:80])
            return
        if payload[:_ORIGIN] == self.origin:
            return  # delivered here when published
        self._deliver(channel[len(self._topic_prefix):].decode("utf-8", "replace"), payload[_ORIGIN:])

    # -- the subscribed connection ----------------------------------------------------------

    async def _link(self) -> None:
        delay = self.backoff[0]
        while True:
            pubsub = self._sub.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(self._own)
                requested: set[str] = set()
                tasks = self._inner = {asyncio.ensure_future(self._read(pubsub)),
                                       asyncio.ensure_future(self._reconcile(pubsub, requested))}
                try:
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in tasks:
                        await stop_task(task)
                for task in done:
                    task.result()  # raises what ended it
            except (redis_errors.RedisError, OSError) as exc:
                if self.state is not Link.DOWN:
                    log.warning("lost the pub/sub link to Redis (%s: %s); reconnecting", type(exc).__name__, exc)
                if self.state is Link.UP:
                    delay = self.backoff[0]
                self._set_state(Link.DOWN)
            except Exception:  # a bug must not end the link for good: log it, start again
                log.exception("the pub/sub link failed; reconnecting")
                self._set_state(Link.DOWN)
            finally:
                self._active.clear()
                with contextlib.suppress(Exception):
                    await aclose(pubsub)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    async def _read(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            message = await pubsub.get_message(timeout=self.heartbeat)
            now = loop.time()
            if message is None:
                if now - heard > 3 * self.heartbeat:
                    raise redis_errors.ConnectionError(f"no answer from Redis for {now - heard:.1f} s")
                await pubsub.ping()
                continue
            heard = now
            kind, channel = message["type"], message.get("channel")
            if kind == "message":
                self._received(channel, message["data"])
            elif kind == "subscribe":
                if channel == self._own:
                    if self.state is Link.DOWN:
                        # Redis went away: the publishing connections are stale too. Drop
                        # them before publishing resumes (a retry could deliver twice).
                        await self._pub.connection_pool.disconnect()
                        log.info("pub/sub link to Redis is up again")
                    self._set_state(Link.UP)
                elif channel.startswith(self._topic_prefix):
                    self._active.add(channel[len(self._topic_prefix):].decode())
                    self._news.set()
            elif kind == "unsubscribe" and channel and channel.startswith(self._topic_prefix):
                self._active.discard(channel[len(self._topic_prefix):].decode())

    async def _reconcile(self, pubsub: Any, requested: set[str]) -> None:
        """SUBSCRIBE / UNSUBSCRIBE so that the connection carries the topics that have
        receivers (sending only: the replies are read by ``_read``)."""
        while True:
            self._wanted.clear()
            with self._lock:
                wanted = set(self._receivers)
            add, drop = wanted - requested, requested - wanted
            if add:
                await pubsub.subscribe(*(self.keys.topic(t).encode() for t in sorted(add)))
                requested |= add
            if drop:
                await pubsub.unsubscribe(*(self.keys.topic(t).encode() for t in sorted(drop)))
                requested -= drop
            await self._wanted.wait()

    # -- sending ----------------------------------------------------------------------------

    async def _send(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()
            while True:
                with self._lock:
                    batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
                if not batch:
                    break
                try:
                    async with self._pub.pipeline(transaction=False) as pipe:
                        for channel, payload in batch:
                            pipe.publish(channel, payload)
                        await pipe.execute()
                except (redis_errors.RedisError, OSError) as exc:
                    with self._lock:
                        lost = len(batch) + len(self._outbox)
                        self._outbox.clear()
                    self.dropped += lost
                    log.warning("dropped %d message(s) for the other processes: Redis: %s", lost, exc)


if TYPE_CHECKING:  # mypy checks that the class satisfies the protocol it implements

    def _is_a_broker(broker: RedisBroker) -> Broker:
        return broker
