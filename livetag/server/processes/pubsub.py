"""Publish/subscribe across the ``Runner``'s session processes, through the supervisor.

Every session of a ``Runner`` server lives in a process of one supervisor (whatever the
web worker that serves its pages), so the supervisor is the hub:

- a session process's broker is a ``RelayBroker``: its first subscribe or publish opens
  a connection to the supervisor's control socket (``{"op": "pubsub"}``, see
  ``control``), which then carries pubsub frames both ways; it subscribes once per
  topic, whatever the number of local receivers, and delivers to them what comes back;
- the supervisor's ``PubSubHub`` checks who connected (``SO_PEERCRED``: the pid of one of
  its live session processes), subscribes each connection to its topics on a ``Broker``
  of its own (a ``LocalBroker``; a Redis broker carries it to other machines) and writes
  what that broker delivers to the connections subscribed.

A publisher's message reaches its own process through the hub too (like every other
subscriber), so that all subscribers see one topic's messages in the hub's order.

Frames: ``!BHI`` (kind, topic length in bytes, data length), the topic (UTF-8), the data
(an encoded message). Kinds: ``SUB``, ``UNSUB``, ``PUB`` (process to hub), ``MSG`` (hub to
process). Bounds: topics as ``livetag.pubsub.check_topic``, data up to ``MAX_MESSAGE``;
per connection ``MAX_TOPICS`` topics and ``HUB_PUBLISHES_PER_SECOND`` publishes (beyond:
dropped, logged); a connection whose unsent bytes pass ``MAX_UNSENT_BYTES`` loses the
messages that do not fit (logged), so that a slow process never holds up the others.
A frame that breaks these rules ends the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from ...errors import StoreUnavailable
from ...pubsub import (
    MAX_MESSAGE,
    MAX_TOPIC,
    MAX_TOPICS,
    PUBLISH_BURST,
    PUBLISHES_PER_SECOND,
    Broker,
    LocalBroker,
    Receiver,
    Subscription,
    check_topic,
)
from . import bridge

log = logging.getLogger("livetag.server.processes.pubsub")

_HEAD = struct.Struct("!BHI")
#: Unsent bytes a connection may hold (either side) before messages are dropped.
MAX_UNSENT_BYTES = 16 << 20
#: Publishes per second a session process may make through the hub, on average, and in
#: a burst: twice a session's own bound (``livetag.pubsub``), a second line of defence.
HUB_PUBLISHES_PER_SECOND = 2 * PUBLISHES_PER_SECOND
HUB_PUBLISH_BURST = 2 * PUBLISH_BURST
#: Seconds between two log lines about one connection's dropped messages.
DROP_LOG_SECONDS = 5.0
#: The control request that turns a control connection into a pubsub one.
OP = "pubsub"


class Kind(enum.IntEnum):
    """What a frame says."""

    SUB = 1    # process -> hub: deliver ``topic`` to me
    UNSUB = 2  # process -> hub: stop delivering ``topic``
    PUB = 3    # process -> hub: publish ``data`` on ``topic``
    MSG = 4    # hub -> process: ``data`` was published on ``topic``


class FrameError(ConnectionError):
    """A pubsub frame that breaks the rules (module docstring)."""


def encode(kind: Kind, topic: str, data: bytes = b"") -> bytes:
    name = topic.encode()
    return _HEAD.pack(kind, len(name), len(data)) + name + data


async def read(reader: asyncio.StreamReader) -> tuple[Kind, str, bytes]:
    """The next frame. Raises ``asyncio.IncompleteReadError`` at end of stream and
    ``FrameError`` for a frame that breaks the rules."""
    kind, size, data_size = _HEAD.unpack(await reader.readexactly(_HEAD.size))
    if size > MAX_TOPIC * 4 or data_size > MAX_MESSAGE:  # 4: the most bytes of one UTF-8 character
        raise FrameError(f"expected a topic of at most {MAX_TOPIC * 4} bytes and data of at most {MAX_MESSAGE}, "
                         f"got {size} and {data_size}")
    try:
        kind = Kind(kind)
        topic = check_topic((await reader.readexactly(size)).decode())
    except (ValueError, TypeError) as exc:
        raise FrameError(f"expected a frame kind and a valid topic, got {exc}") from None
    data = await reader.readexactly(data_size) if data_size else b""
    if data and kind is not Kind.PUB and kind is not Kind.MSG:
        raise FrameError(f"expected no data with {kind.name}, got {data_size} bytes")
    return kind, topic, data


class _DropLog:
    """Counts what one connection drops and logs it at most every ``DROP_LOG_SECONDS``."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.count = 0
        self.last = 0.0

    def drop(self, why: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= DROP_LOG_SECONDS:
            log.warning("pubsub %s: dropped %d message(s): %s", self.who, self.count, why)
            self.last, self.count = now, 0


# -- supervisor side ----------------------------------------------------------------------


def peer_pid(sock: socket.socket | None) -> int:
    """The pid of the process at the other end of unix socket ``sock`` (``SO_PEERCRED``,
    Linux); 0 when unknown."""
    if sock is None:
        return 0
    try:
        pid, _, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    except (OSError, AttributeError):
        return 0
    return int(pid)


class _Peer:
    """One session process's connection to the hub."""

    def __init__(self, writer: asyncio.StreamWriter, who: str, broker: Broker) -> None:
        self.writer = writer
        self.who = who
        self.broker = broker
        self.subs: dict[str, Subscription] = {}
        self.drops = _DropLog(who)
        self.tokens = float(HUB_PUBLISH_BURST)
        self.refilled = time.monotonic()

    def subscribe(self, topic: str) -> None:
        if topic in self.subs:
            return
        if len(self.subs) >= MAX_TOPICS:
            log.warning("pubsub %s: more than %d topics: not subscribed to one more", self.who, MAX_TOPICS)
            return
        self.subs[topic] = self.broker.subscribe(topic, lambda data: self.deliver(topic, data))

    def unsubscribe(self, topic: str) -> None:
        sub = self.subs.pop(topic, None)
        if sub is not None:
            sub.cancel()

    def may_publish(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(HUB_PUBLISH_BURST), self.tokens + (now - self.refilled) * HUB_PUBLISHES_PER_SECOND)
        self.refilled = now
        if self.tokens < 1.0:
            self.drops.drop(f"more than {HUB_PUBLISHES_PER_SECOND:g} publishes per second")
            return False
        self.tokens -= 1.0
        return True

    def deliver(self, topic: str, data: bytes) -> None:
        # Never waits: a process that does not read loses what does not fit.
        writer = self.writer
        if writer.is_closing():
            return
        if writer.transport.get_write_buffer_size() + len(data) > MAX_UNSENT_BYTES:
            self.drops.drop("the session process reads slower than messages come")
            return
        writer.write(encode(Kind.MSG, topic, data))

    def close(self) -> None:
        for sub in self.subs.values():
            sub.cancel()
        self.subs.clear()


class PubSubHub:
    """The supervisor's side (module docstring): connections of session processes,
    subscribed on ``broker`` (default: a ``LocalBroker``)."""

    def __init__(self, broker: Broker | None = None) -> None:
        self.broker: Broker = broker if broker is not None else LocalBroker()
        self.peers: set[_Peer] = set()

    def listing(self) -> dict[str, Any]:
        """``links``: connected session processes; ``topics``: topics one of them listens to."""
        return {"links": len(self.peers), "topics": sorted({t for peer in self.peers for t in peer.subs})}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, who: str) -> None:
        """Serve one session process's connection until it ends (its process ended)."""
        peer = _Peer(writer, who, self.broker)
        self.peers.add(peer)
        try:
            while True:
                kind, topic, data = await read(reader)
                if kind is Kind.SUB:
                    peer.subscribe(topic)
                elif kind is Kind.UNSUB:
                    peer.unsubscribe(topic)
                elif kind is Kind.PUB:
                    if peer.may_publish():
                        self.broker.publish(topic, data)
                else:
                    raise FrameError(f"expected SUB, UNSUB or PUB from a session process, got {kind.name}")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if isinstance(exc, FrameError):
                log.warning("pubsub %s: %s: connection closed", who, exc)
        except StoreUnavailable as exc:
            log.error("pubsub %s: the hub's broker cannot publish (%s): connection closed", who, exc)
        finally:
            peer.close()
            self.peers.discard(peer)


# -- session process side -----------------------------------------------------------------


class _RelaySubscription:
    __slots__ = ("_broker", "_topic")

    def __init__(self, broker: RelayBroker, topic: str) -> None:
        self._broker, self._topic = broker, topic

    def cancel(self) -> None:
        self._broker._cancel(self._topic, id(self))


class RelayBroker:
    """A session process's ``Broker``: everything goes through the supervisor's hub at
    ``control_path`` (module docstring). Make it on the process's event loop; thread-safe
    afterwards. Once the connection failed (the supervisor refused it or went away),
    ``publish`` raises ``StoreUnavailable``."""

    def __init__(self, control_path: str) -> None:
        self.control_path = control_path
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._lock = threading.Lock()
        self._receivers: dict[str, dict[int, Receiver]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._pending: list[bytes] = []  # publishes made while connecting
        self._pending_bytes = 0
        self.failed: str | None = None
        self.drops = _DropLog("relay")

    # -- Broker ----------------------------------------------------------------------------

    def publish(self, topic: str, data: bytes) -> None:
        check_topic(topic)
        if len(data) > MAX_MESSAGE:
            raise ValueError(f"expected a message of at most {MAX_MESSAGE} bytes encoded, got {len(data)}")
        if self.failed is not None:
            raise StoreUnavailable(f"expected the supervisor's pubsub hub, got: {self.failed}")
        self._on_loop(self._send, encode(Kind.PUB, topic, data))

    def subscribe(self, topic: str, receiver: Receiver) -> Subscription:
        check_topic(topic)
        sub = _RelaySubscription(self, topic)
        with self._lock:
            receivers = self._receivers.get(topic)
            first = receivers is None
            if receivers is None:
                receivers = self._receivers[topic] = {}
            receivers[id(sub)] = receiver
        if first:
            self._on_loop(self._control, Kind.SUB, topic)
        return sub

    def _cancel(self, topic: str, key: int) -> None:
        with self._lock:
            receivers = self._receivers.get(topic)
            if receivers is None or receivers.pop(key, None) is None or receivers:
                return
            del self._receivers[topic]
        self._on_loop(self._control, Kind.UNSUB, topic)

    def topics(self) -> list[str]:
        """Topics with at least one local receiver."""
        with self._lock:
            return list(self._receivers)

    # -- the connection (on the loop) -------------------------------------------------------

    def _on_loop(self, func: Callable[..., None], *args: Any) -> None:
        if threading.get_ident() == self._thread:
            func(*args)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(func, *args)

    def _control(self, kind: Kind, topic: str) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(encode(kind, topic))
        else:
            self._connect()  # the connection sends every topic subscribed by then

    def _send(self, frame: bytes) -> None:
        writer = self._writer
        if writer is None:
            if self._pending_bytes + len(frame) > MAX_UNSENT_BYTES:
                self.drops.drop("the supervisor's hub is not connected yet")
                return
            self._pending.append(frame)
            self._pending_bytes += len(frame)
            self._connect()
        elif writer.is_closing() or writer.transport.get_write_buffer_size() + len(frame) > MAX_UNSENT_BYTES:
            self.drops.drop("the supervisor's hub reads slower than this session publishes")
        else:
            writer.write(frame)

    def _connect(self) -> None:
        if self._connecting is None and self._writer is None and self.failed is None:
            self._connecting = self._loop.create_task(self._run())

    async def _run(self) -> None:
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_unix_connection(self.control_path)
            writer.write(bridge.encode({"op": OP}))
            reply = await bridge.read_frame(reader)
            if not reply.get("ok"):
                raise ConnectionError(f"the supervisor refused: {reply.get('msg', reply)}")
            with self._lock:
                topics = list(self._receivers)
            for topic in topics:
                writer.write(encode(Kind.SUB, topic))
            for frame in self._pending:
                writer.write(frame)
            self._pending, self._pending_bytes = [], 0
            self._writer = writer
            while True:
                kind, topic, data = await read(reader)
                if kind is not Kind.MSG:
                    raise FrameError(f"expected MSG from the hub, got {kind.name}")
                with self._lock:
                    receivers = list(self._receivers.get(topic, {}).values())
                for receiver in receivers:
                    receiver(data)
        except asyncio.CancelledError:
            raise
        except (OSError, asyncio.IncompleteReadError, bridge.FrameError) as exc:
            self._fail(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        except Exception as exc:  # a receiver that broke its contract: no more deliveries
            log.exception("pubsub relay failed")
            self._fail(repr(exc))
        finally:
            self._writer = None
            if writer is not None:
                writer.close()

    def _fail(self, why: str) -> None:
        if self.failed is None:
            self.failed = why or "connection closed"
            log.error("pubsub: the connection to the supervisor's hub ended (%s): publishing fails from now on",
                      self.failed)
        self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        """End the connection (the process ends)."""
        if self.failed is None:
            self.failed = "the session process is closing"
        task = self._connecting
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):
                task.cancel()
