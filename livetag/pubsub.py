"""Publish/subscribe between sessions: the ``Broker`` interface, its in-process
implementation, and a session's side of it (``SessionTopics``).

A *topic* is a string (``"room:lobby"``); a *message* is a JSON value (``dict``, ``list``,
``str``, ``int``, ``float``, ``bool``, ``None``), encoded once by the publisher with orjson
and decoded by each subscriber, so that every subscriber gets its own copy and no mutable
object is ever shared between sessions. Delivery is at most once, in publish order per
publisher, to subscribers present when the message is published; nothing is stored.

Implementations: ``LocalBroker`` (one process: ``WebApp``, ``livetag.testing``); the
``Runner`` relays between session processes through its supervisor
(``livetag.server.processes.pubsub``, whose hub fans out through a ``Broker`` of its
own); a cluster relays between machines over Redis (``redis-py``'s pub/sub). Each one
satisfies the same ``Broker`` protocol, so a session neither knows nor cares where its
peers live.

Bounds (per session, ``SessionTopics``): ``MAX_TOPICS`` topics, ``MAX_SUBSCRIPTIONS``
(tag, topic, handler) subscriptions, ``PUBLISHES_PER_SECOND`` (burst
``PUBLISH_BURST``) publishes, and an inbox of ``MAX_QUEUED`` messages or
``MAX_QUEUED_BYTES``: a session that cannot keep up loses its *oldest* unhandled
messages (logged), and never slows the publisher or the other subscribers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from .dom.topics import MAX_TOPIC, check_topic
from .errors import PubSubLimit

log = logging.getLogger("livetag.pubsub")

#: Told the raw bytes (orjson) of each message published on a subscribed topic, from any
#: thread. It must not block and must not raise: a session only queues the message and
#: handles it on its own loop.
Receiver = Callable[[bytes], None]

#: Largest encoded message accepted, in bytes.
MAX_MESSAGE = 1 << 20
#: Topics one session may be subscribed to at once.
MAX_TOPICS = 100
#: (tag, topic, handler) subscriptions one session may hold at once.
MAX_SUBSCRIPTIONS = 1000
#: Messages a session holds before it has handled them; beyond, the oldest are dropped.
MAX_QUEUED = 1000
#: Bytes (encoded) a session holds before it has handled them; beyond, the oldest are dropped.
MAX_QUEUED_BYTES = 8 << 20
#: Publishes per second one session may make, on average (a token bucket)...
PUBLISHES_PER_SECOND = 100.0
#: ... and in a burst; beyond, ``publish`` raises ``PubSubLimit``.
PUBLISH_BURST = 200
#: Seconds between two log lines about the messages one session dropped.
DROP_LOG_SECONDS = 5.0

__all__ = [
    "MAX_MESSAGE", "MAX_TOPIC", "Broker", "LocalBroker", "Receiver", "SessionTopics", "Subscription",
    "check_topic", "encode_message",
]


def encode_message(message: Any) -> bytes:
    """``message`` as orjson bytes. Raises ``TypeError`` for a value JSON cannot carry and
    ``ValueError`` when the result exceeds ``MAX_MESSAGE`` bytes."""
    try:
        data = orjson.dumps(message)
    except orjson.JSONEncodeError as e:
        raise TypeError(f"expected a JSON value as the message, got {type(message).__name__}: {e}") from None
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"expected a message of at most {MAX_MESSAGE} bytes encoded, got {len(data)}")
    return data


class Subscription(Protocol):
    """A receiver's registration on one topic."""

    def cancel(self) -> None:
        """Stop delivering to the receiver. Idempotent; any thread."""


class Broker(Protocol):
    """Where sessions publish to and subscribe on topics (module docstring).

    Thread-safe: ``publish``, ``subscribe`` and ``Subscription.cancel`` may be called
    from any thread and never wait for I/O (a networked broker hands the work to its own
    loop); receivers may be called from any thread."""

    def publish(self, topic: str, data: bytes) -> None:
        """Deliver ``data`` (an encoded message) to every receiver subscribed to ``topic``,
        here and, for a distributed broker, elsewhere. Does not block; raises
        ``livetag.errors.StoreUnavailable`` when a distributed broker cannot send."""

    def subscribe(self, topic: str, receiver: Receiver) -> Subscription:
        """Call ``receiver(data)`` for each message published on ``topic`` from now on,
        until the returned subscription is cancelled."""


class _LocalSubscription:
    __slots__ = ("_broker", "_receiver", "_topic")

    def __init__(self, broker: LocalBroker, topic: str, receiver: Receiver) -> None:
        self._broker, self._topic, self._receiver = broker, topic, receiver

    def cancel(self) -> None:
        broker = self._broker
        with broker._lock:
            receivers = broker._topics.get(self._topic)
            if receivers is not None:
                receivers.pop(self, None)
                if not receivers:
                    del broker._topics[self._topic]


class LocalBroker:
    """A ``Broker`` within one process: a dict of topics. Receivers are called
    synchronously, in the publisher's thread, in subscription order (outside the
    broker's lock, so a receiver may subscribe or cancel); receivers must not raise."""

    def __init__(self) -> None:
        # Keyed by the subscription itself (not its id(), which a dropped one frees for reuse).
        self._topics: dict[str, dict[_LocalSubscription, Receiver]] = {}
        self._lock = threading.Lock()

    def publish(self, topic: str, data: bytes) -> None:
        with self._lock:
            registered = self._topics.get(topic)
            if not registered:
                return
            receivers = list(registered.values())
        for receiver in receivers:
            receiver(data)

    def subscribe(self, topic: str, receiver: Receiver) -> Subscription:
        sub = _LocalSubscription(self, check_topic(topic), receiver)
        with self._lock:
            self._topics.setdefault(topic, {})[sub] = receiver
        return sub

    def topics(self) -> list[str]:
        """Topics with at least one receiver (for tests and metrics)."""
        with self._lock:
            return list(self._topics)


Handler = Callable[[Any], Any]


class SessionTopics:
    """One session's side of publish/subscribe (it implements ``dom.topics.TopicHost``).

    Tags subscribe handlers; the session holds one broker subscription per topic, however
    many handlers it has. A message received (any thread) waits in a bounded inbox and
    ``on_message()`` is told when the inbox stops being empty; the session then ``take``s
    batches and runs the handlers one at a time with its events. Thread-safe.
    """

    def __init__(self, broker: Broker, on_message: Callable[[], None] | None = None, *, name: str = "") -> None:
        self.broker = broker
        self.on_message = on_message
        self.name = name  # for logs
        self._lock = threading.Lock()
        self._handlers: dict[str, list[tuple[Any, Handler]]] = {}
        self._subs: dict[str, Subscription] = {}
        self._count = 0
        self._inbox: deque[tuple[str, bytes]] | None = None  # made on the first message: most sessions get none
        self._queued_bytes = 0
        self._dropped = 0
        self._last_drop_log = 0.0
        self._tokens = float(PUBLISH_BURST)
        self._refilled = time.monotonic()
        self.closed = False

    # -- subscriptions (dom.topics.TopicHost) --------------------------------------------

    def add(self, tag: Any, topic: str, handler: Handler) -> None:
        check_topic(topic)
        subscribe = False
        with self._lock:
            if self.closed:
                return
            handlers = self._handlers.get(topic)
            if handlers is None:
                if len(self._handlers) >= MAX_TOPICS:
                    raise PubSubLimit(f"expected at most {MAX_TOPICS} topics per session, got one more: {topic!r}")
                handlers = self._handlers[topic] = []
                subscribe = True
            elif any(t is tag and h == handler for t, h in handlers):
                return
            if self._count >= MAX_SUBSCRIPTIONS:
                if not handlers:
                    del self._handlers[topic]
                raise PubSubLimit(f"expected at most {MAX_SUBSCRIPTIONS} subscriptions per session, got one more")
            handlers.append((tag, handler))
            self._count += 1
        if subscribe:
            # Outside the lock: a broker may call a receiver (which takes it) meanwhile.
            try:
                sub = self.broker.subscribe(topic, lambda data: self._receive(topic, data))
            except BaseException:
                self.remove(tag, topic, handler)
                raise
            with self._lock:
                if self._handlers.get(topic) and topic not in self._subs and not self.closed:
                    self._subs[topic] = sub
                    return
            sub.cancel()  # removed (or closed) while subscribing

    def remove(self, tag: Any, topic: str | None = None, handler: Handler | None = None) -> None:
        gone: list[Subscription] = []
        with self._lock:
            for name in [topic] if topic is not None else list(self._handlers):
                handlers = self._handlers.get(name)
                if handlers is None:
                    continue
                kept = [(t, h) for t, h in handlers if t is not tag or (handler is not None and h != handler)]
                self._count -= len(handlers) - len(kept)
                if kept:
                    self._handlers[name] = kept
                else:
                    del self._handlers[name]
                    sub = self._subs.pop(name, None)
                    if sub is not None:
                        gone.append(sub)
        for sub in gone:
            sub.cancel()

    def publish(self, topic: str, message: Any) -> None:
        check_topic(topic)
        data = encode_message(message)
        with self._lock:
            now = time.monotonic()
            self._tokens = min(float(PUBLISH_BURST), self._tokens + (now - self._refilled) * PUBLISHES_PER_SECOND)
            self._refilled = now
            if self._tokens < 1.0:
                raise PubSubLimit(f"expected at most {PUBLISHES_PER_SECOND:g} publishes per second "
                                  f"(bursts of {PUBLISH_BURST}) per session, got more")
            self._tokens -= 1.0
        self.broker.publish(topic, data)

    def topics(self) -> list[str]:
        """Topics this session is subscribed to."""
        with self._lock:
            return list(self._subs)

    # -- delivery -------------------------------------------------------------------------

    def _receive(self, topic: str, data: bytes) -> None:
        """The broker's receiver (any thread): queue, dropping the oldest past the bounds."""
        with self._lock:
            if self.closed or topic not in self._handlers:
                return
            inbox = self._inbox
            if inbox is None:
                inbox = self._inbox = deque()
            was_empty = not inbox
            inbox.append((topic, data))
            self._queued_bytes += len(data)
            dropped = 0
            while len(inbox) > MAX_QUEUED or (self._queued_bytes > MAX_QUEUED_BYTES and len(inbox) > 1):
                _, old = inbox.popleft()
                self._queued_bytes -= len(old)
                dropped += 1
            if dropped:
                self._dropped += dropped
                now = time.monotonic()
                if now - self._last_drop_log >= DROP_LOG_SECONDS:
                    log.warning("session %s: handling messages slower than they come: dropped the %d oldest "
                                "(at most %d messages or %d bytes wait)", self.name, self._dropped, MAX_QUEUED,
                                MAX_QUEUED_BYTES)
                    self._last_drop_log, self._dropped = now, 0
        if was_empty and self.on_message is not None:
            self.on_message()

    @property
    def pending(self) -> int:
        """Messages received and not taken yet."""
        return len(self._inbox) if self._inbox is not None else 0

    def take(self, limit: int) -> list[tuple[str, bytes, list[tuple[Any, Handler]]]]:
        """Up to ``limit`` messages, oldest first, each with its topic and the handlers
        subscribed to it now."""
        batch: list[tuple[str, bytes, list[tuple[Any, Handler]]]] = []
        with self._lock:
            while self._inbox and len(batch) < limit:  # (None: nothing came yet)
                topic, data = self._inbox.popleft()
                self._queued_bytes -= len(data)
                handlers = self._handlers.get(topic)
                if handlers:
                    batch.append((topic, data, list(handlers)))
        return batch

    def close(self) -> None:
        """Cancel every subscription and forget the inbox (the session ended)."""
        with self._lock:
            self.closed = True
            subs = list(self._subs.values())
            self._subs.clear()
            self._handlers.clear()
            self._count = 0
            self._inbox = None
            self._queued_bytes = 0
        for sub in subs:
            sub.cancel()
