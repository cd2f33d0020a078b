"""The Runner's publish/subscribe relay (``livetag.server.processes.pubsub``): real
``RelayBroker``s talking to a real ``PubSubHub`` through a real ``ControlServer`` on a
unix socket, in this process (the supervisor's check of who connects is replaced by a
handler that accepts everyone: the browser tests under tests/runner cover the real one).
Hostile peers: malformed and oversized frames, a 10k-character topic, a flood, a peer
that never reads."""

from __future__ import annotations

import asyncio
import logging
import struct
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from livetag.errors import StoreUnavailable
from livetag.pubsub import MAX_MESSAGE
from livetag.server.processes import bridge
from livetag.server.processes import pubsub as relay_module
from livetag.server.processes.control import ControlServer
from livetag.server.processes.pubsub import Kind, PubSubHub, RelayBroker, encode


class HubOnly:
    """A control handler that only serves pubsub links (everyone is accepted)."""

    def __init__(self) -> None:
        self.hub = PubSubHub()

    async def page(self, request: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def status(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def hello(self) -> dict[str, Any]:
        return {}

    def listing(self) -> dict[str, Any]:
        return {}

    async def stop_from(self, anchor: int) -> dict[str, Any]:
        return {}

    async def pubsub(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(bridge.encode({"ok": True}))
        await self.hub.serve(reader, writer, "peer")


@pytest.fixture
async def hub() -> AsyncIterator[tuple[PubSubHub, str]]:
    with tempfile.TemporaryDirectory(prefix="lt", dir="/tmp") as directory:
        path = str(Path(directory) / "ctl")
        handler = HubOnly()
        server = ControlServer(handler)
        await server.open(path)
        yield handler.hub, path
        await server.aclose()


async def until(condition: Callable[[], Any], what: str = "a condition") -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {what}")


async def raw_peer(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(bridge.encode({"op": "pubsub"}))
    assert (await bridge.read_frame(reader)) == {"ok": True}
    return reader, writer


async def test_two_relays_talk_through_the_hub_and_leave_nothing_behind(hub: tuple[PubSubHub, str]) -> None:
    server, path = hub
    a, b = RelayBroker(path), RelayBroker(path)
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    sub_a = a.subscribe("room", got_a.append)
    sub_b = b.subscribe("room", got_b.append)
    b.subscribe("other", got_b.append)
    await until(lambda: sorted(server.broker.topics()) == ["other", "room"], "both subscribed at the hub")
    a.publish("room", b'"hi"')
    await until(lambda: got_a == [b'"hi"'] and got_b == [b'"hi"'], "the publisher and the other relay served")
    sub_a.cancel()
    sub_b.cancel()
    await until(lambda: server.broker.topics() == ["other"], "the hub unsubscribed")
    a.close()
    b.close()
    await until(lambda: server.broker.topics() == [] and not server.peers, "the hub forgot both")


async def test_a_relay_that_lost_the_hub_refuses_to_publish(tmp_path: Path) -> None:
    relay = RelayBroker(str(tmp_path / "nothing-here"))
    relay.publish("room", b"1")  # queued: the connection is made in the background...
    await until(lambda: relay.failed is not None, "the connection to fail")
    with pytest.raises(StoreUnavailable, match="supervisor's pubsub hub"):  # ... and then it says so
        relay.publish("room", b"2")


@pytest.mark.parametrize("frame", [
    struct.pack("!BHI", 9, 4, 0) + b"room",  # unknown kind
    struct.pack("!BHI", Kind.SUB, 10_000, 0) + b"x" * 10_000,  # a 10k-character topic
    struct.pack("!BHI", Kind.SUB, 0, 0),  # an empty topic
    struct.pack("!BHI", Kind.PUB, 4, MAX_MESSAGE + 1) + b"room",  # oversized data
    struct.pack("!BHI", Kind.SUB, 2, 0) + b"\xff\xfe",  # not UTF-8
    struct.pack("!BHI", Kind.SUB, 4, 3) + b"room" + b"abc",  # data where none belongs
    struct.pack("!BHI", Kind.MSG, 4, 1) + b"room" + b"1",  # only the hub sends MSG
])
async def test_a_malformed_frame_ends_that_link_only(hub: tuple[PubSubHub, str], frame: bytes,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    server, path = hub
    good = RelayBroker(path)
    got: list[bytes] = []
    good.subscribe("room", got.append)
    await until(lambda: server.broker.topics() == ["room"])
    reader, writer = await raw_peer(path)
    with caplog.at_level(logging.WARNING, "livetag.server.processes.pubsub"):
        writer.write(frame)
        assert await reader.read() == b""  # the hub closed this link
    assert "connection closed" in caplog.text
    good.publish("room", b"1")
    await until(lambda: got == [b"1"], "the other link unaffected")
    writer.close()
    good.close()


async def test_a_flood_is_cut_at_the_hub_and_a_peer_that_never_reads_loses_messages_alone(
        hub: tuple[PubSubHub, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(relay_module, "MAX_UNSENT_BYTES", 64 << 10)
    server, path = hub
    _reader, writer = await raw_peer(path)  # subscribes, then never reads
    writer.write(encode(Kind.SUB, "room"))
    fast = RelayBroker(path)
    got: list[bytes] = []
    fast.subscribe("room", got.append)
    await until(lambda: len(server.peers) == 2 and server.broker.topics() == ["room"])
    _flooder_reader, flooder = await raw_peer(path)
    payload = b'"' + b"x" * (32 << 10) + b'"'
    with caplog.at_level(logging.WARNING, "livetag.server.processes.pubsub"):
        for _ in range(2000):  # far past the hub's burst
            flooder.write(encode(Kind.PUB, "room", payload))
        await flooder.drain()
        await until(lambda: len(got) >= relay_module.HUB_PUBLISH_BURST, "the fast peer to get the burst")
        await asyncio.sleep(0.2)
    assert relay_module.HUB_PUBLISH_BURST <= len(got) < 2000  # the rest was dropped at the hub...
    assert "publishes per second" in caplog.text
    assert "reads slower than messages come" in caplog.text  # ... and the sleeping peer lost its share
    slow = next(p for p in server.peers if p.writer.transport.get_write_buffer_size())
    assert slow.writer.transport.get_write_buffer_size() <= 64 << 10
    for w in (writer, flooder):
        w.close()
    fast.close()
    await until(lambda: server.broker.topics() == [] and not server.peers, "every link forgotten")
