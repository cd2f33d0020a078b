"""Publish/subscribe between sessions: the ``Broker`` interface and its in-process
implementation.

A *topic* is a string (``"room:lobby"``); a *message* is a JSON value (``dict``, ``list``,
``str``, ``int``, ``float``, ``bool``, ``None``), encoded once by the publisher with orjson
and decoded by each subscriber, so that every subscriber gets its own copy and no mutable
object is ever shared between sessions. Delivery is at most once, in publish order per
publisher, to subscribers present when the message is published; nothing is stored.

Implementations: ``LocalBroker`` (one process: ``WebApp``); the ``Runner`` relays between
session processes through its supervisor; a cluster relays between machines over Redis
(``redis-py``'s pub/sub). Each one satisfies the same ``Broker`` protocol, so a session
neither knows nor cares where its peers live.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import orjson

#: Told the raw bytes (orjson) of each message published on a subscribed topic. It must not
#: block: a session schedules the real work on its own loop.
Receiver = Callable[[bytes], None]

#: Longest topic accepted, in characters.
MAX_TOPIC = 256
#: Largest encoded message accepted, in bytes.
MAX_MESSAGE = 1 << 20


def check_topic(topic: object) -> str:
    """``topic`` if it is a non-empty ``str`` of at most ``MAX_TOPIC`` characters; raises
    ``TypeError`` or ``ValueError`` saying what came otherwise."""
    if not isinstance(topic, str):
        raise TypeError(f"expected the topic as a str, got {type(topic).__name__}")
    if not topic or len(topic) > MAX_TOPIC:
        raise ValueError(f"expected a topic of 1 to {MAX_TOPIC} characters, got {len(topic)}")
    return topic


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
        """Stop delivering to the receiver. Idempotent."""


class Broker(Protocol):
    """Where sessions publish to and subscribe on topics (module docstring)."""

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
        receivers = self._broker._topics.get(self._topic)
        if receivers is not None:
            receivers.pop(id(self), None)
            if not receivers:
                del self._broker._topics[self._topic]


class LocalBroker:
    """A ``Broker`` within one process: a dict of topics. Receivers are called
    synchronously, in subscription order; one that raises is logged by its caller's
    contract, never here (receivers must not raise)."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[int, Receiver]] = {}

    def publish(self, topic: str, data: bytes) -> None:
        for receiver in list(self._topics.get(topic, {}).values()):
            receiver(data)

    def subscribe(self, topic: str, receiver: Receiver) -> Subscription:
        sub = _LocalSubscription(self, check_topic(topic), receiver)
        self._topics.setdefault(topic, {})[id(sub)] = receiver
        return sub

    def topics(self) -> list[str]:
        """Topics with at least one receiver (for tests and metrics)."""
        return list(self._topics)
