"""Topics, as tags subscribe to and publish on them.

The tag API (``Tag.subscribe``, ``Tag.unsubscribe``, ``Tag.publish``) lives in this
layer, which does no I/O: a tag records its subscriptions on itself, and the live tree
it joins tells them to its session's ``TopicHost`` (``livetag.pubsub.SessionTopics``),
which talks to the broker. The topic rule is here so that a tag checks a topic where it
is named, even before it joins a tree (``livetag.pubsub`` re-exports it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

#: Longest topic accepted, in characters.
MAX_TOPIC = 256


def check_topic(topic: object) -> str:
    """``topic`` if it is a non-empty ``str`` of at most ``MAX_TOPIC`` characters; raises
    ``TypeError`` or ``ValueError`` saying what came otherwise."""
    if not isinstance(topic, str):
        raise TypeError(f"expected the topic as a str, got {type(topic).__name__}")
    if not topic or len(topic) > MAX_TOPIC:
        raise ValueError(f"expected a topic of 1 to {MAX_TOPIC} characters, got {len(topic)}")
    return topic


class TopicHost(Protocol):
    """What a live tree tells its session about the subscriptions of its tags.

    ``add`` starts delivering ``topic`` to ``handler`` for ``tag`` (raises
    ``livetag.errors.PubSubLimit`` past the session's bounds); ``remove`` stops it (every
    topic and handler of ``tag`` when they are ``None``); ``publish`` encodes ``message``
    and sends it (raises ``TypeError`` for a value JSON cannot carry, ``ValueError`` for
    an oversized message, ``PubSubLimit`` past the publish rate). Thread-safe."""

    def add(self, tag: Any, topic: str, handler: Callable[[Any], Any]) -> None: ...

    def remove(self, tag: Any, topic: str | None = None, handler: Callable[[Any], Any] | None = None) -> None: ...

    def publish(self, topic: str, message: Any) -> None: ...
