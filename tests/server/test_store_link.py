"""The store link of the Runner's session processes (``livetag.server.processes.store_link``):
real ``SupervisorStore``s calling a real ``SQLiteStore`` through a real ``ControlServer`` on
a unix socket, in this process (the supervisor's check of who connects is replaced by a
handler that accepts everyone: tests/runner/test_runner_persistence.py covers the real
one). Hostile peers: malformed calls, frames that are not ours, a flood of calls."""

from __future__ import annotations

import asyncio
import logging
import struct
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from livetag.errors import Fenced, StoreUnavailable
from livetag.server.processes import bridge, store_link
from livetag.server.processes.control import ControlServer
from livetag.server.processes.store_link import SupervisorStore
from livetag.server.store.sqlite import SQLiteStore


class StoreOnly:
    """A control handler that only serves store links (everyone is accepted)."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.links = 0

    def hello(self) -> dict[str, Any]:
        return {}

    async def store_link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.links += 1
        writer.write(bridge.encode({"ok": True}))
        await store_link.serve(reader, writer, self.store, "peer")


class Supervised:
    def __init__(self, path: str, handler: StoreOnly, server: ControlServer) -> None:
        self.path, self.handler, self.server = path, handler, server


@pytest.fixture
async def supervisor() -> AsyncIterator[Supervised]:
    with tempfile.TemporaryDirectory(prefix="lt", dir="/tmp") as directory:
        path = str(Path(directory) / "ctl")
        handler = StoreOnly(SQLiteStore(Path(directory) / "private" / "s.db"))
        server = ControlServer(handler)  # type: ignore[arg-type]
        await server.open(path)
        yield Supervised(path, handler, server)
        await server.aclose()
        await handler.store.close()


async def raw_link(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(bridge.encode({"op": "store"}))
    assert (await bridge.read_frame(reader)) == {"ok": True}
    return reader, writer


async def test_a_session_claims_saves_loads_and_deletes_through_the_supervisors_store(
        supervisor: Supervised) -> None:
    store = SupervisorStore(supervisor.path)
    await store.connect()
    first = await store.claim("k")
    snapshot = bytes(range(256)) * 4096  # 1 MiB of every byte value: the raw part of a frame
    await store.save("k", snapshot, epoch=first, ttl=60)
    got = await store.load("k")
    assert got is not None and got.data == snapshot and got.epoch == first and got.saved_at > 0
    # What the session wrote is what the supervisor's own store holds.
    direct = await supervisor.handler.store.load("k")
    assert direct is not None and direct.data == snapshot
    assert await store.load("other") is None
    await store.delete("k")
    assert await store.load("k") is None
    assert supervisor.handler.links == 1  # one link, any number of calls
    await store.close()


async def test_a_superseded_owner_is_fenced_with_both_epochs(supervisor: Supervised) -> None:
    old, new = SupervisorStore(supervisor.path), SupervisorStore(supervisor.path)
    stale = await old.claim("k")
    current = await new.claim("k")
    assert current > stale
    with pytest.raises(Fenced) as caught:
        await old.save("k", b"late", epoch=stale, ttl=60)
    assert (caught.value.key, caught.value.epoch, caught.value.current) == ("k", stale, current)
    await new.save("k", b"mine", epoch=current, ttl=60)
    assert (await old.load("k")).data == b"mine"  # type: ignore[union-attr]
    await old.close()
    await new.close()


async def test_concurrent_calls_of_one_session_are_answered_in_order(supervisor: Supervised) -> None:
    store = SupervisorStore(supervisor.path)
    epochs = await asyncio.gather(*[store.claim(f"k{i}") for i in range(50)])
    assert len(set(epochs)) == 50
    await asyncio.gather(*[store.save(f"k{i}", f"v{i}".encode(), epoch=e, ttl=60) for i, e in enumerate(epochs)])
    loaded = await asyncio.gather(*[store.load(f"k{i}") for i in range(50)])
    assert [s.data for s in loaded] == [f"v{i}".encode() for i in range(50)]  # type: ignore[union-attr]
    await store.close()


async def test_without_a_supervisor_every_call_says_the_store_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="not a Runner session"):
        await SupervisorStore().claim("k")
    with pytest.raises(StoreUnavailable, match="expected the supervisor's store"):
        await SupervisorStore(str(tmp_path / "no-such-socket")).load("k")
    closed = SupervisorStore(str(tmp_path / "no-such-socket"))
    await closed.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await closed.delete("k")


class Outage(SQLiteStore):
    """An SQLiteStore whose saves fail as a locked file does while ``down``, and whose
    loads break the store's contract (a ``RuntimeError``) while ``broken``."""

    down = False
    broken = False

    async def save(self, key: str, data: bytes, *, epoch: int, ttl: float) -> None:
        if self.down:
            raise StoreUnavailable("expected a writable session store, got a locked file")
        await super().save(key, data, epoch=epoch, ttl=ttl)

    async def load(self, key: str) -> Any:
        if self.broken:
            raise RuntimeError("a store bug")
        return await super().load(key)


async def test_a_supervisor_store_that_fails_is_reported_and_the_link_goes_on(
        supervisor: Supervised, caplog: pytest.LogCaptureFixture) -> None:
    failing = Outage(supervisor.handler.store.path)
    supervisor.handler.store = failing
    store = SupervisorStore(supervisor.path)
    epoch = await store.claim("k")
    failing.down = failing.broken = True
    with pytest.raises(StoreUnavailable, match="failed a save: expected a writable session store"):
        await store.save("k", b"x", epoch=epoch, ttl=60)
    with caplog.at_level(logging.ERROR, "livetag.server.processes.store_link"):
        with pytest.raises(StoreUnavailable, match="failed a load: RuntimeError: a store bug"):
            await store.load("k")
    assert "a load failed" in caplog.text
    failing.down = failing.broken = False
    await store.save("k", b"x", epoch=epoch, ttl=60)  # the same link, the store back
    assert (await store.load("k")).data == b"x"  # type: ignore[union-attr]
    assert supervisor.handler.links == 1
    await store.close()
    await failing.close()


async def test_a_link_lost_is_opened_again_at_the_next_call(supervisor: Supervised) -> None:
    store = SupervisorStore(supervisor.path)
    epoch = await store.claim("k")
    await supervisor.server.aclose()  # the supervisor ends every link...
    with pytest.raises(StoreUnavailable):
        await store.save("k", b"x", epoch=epoch, ttl=60)  # ... and no control socket to reach
    await supervisor.server.open(supervisor.path)
    await store.save("k", b"x", epoch=epoch, ttl=60)
    assert supervisor.handler.links == 2
    await store.close()


async def test_links_opened_before_the_control_socket_closes_keep_working(supervisor: Supervised) -> None:
    # A supervisor that shuts down stops accepting first; its sessions then save their
    # last snapshot through the links they opened when they started.
    store = SupervisorStore(supervisor.path)
    await store.connect()
    supervisor.server.close()
    epoch = await store.claim("k")
    await store.save("k", b"last", epoch=epoch, ttl=60)
    assert (await supervisor.handler.store.load("k")).data == b"last"  # type: ignore[union-attr]
    with pytest.raises(StoreUnavailable):
        await SupervisorStore(supervisor.path).claim("k")  # a new link: refused by the closed socket
    await store.close()


@pytest.mark.parametrize(("request_", "expected"), [
    ({"call": "drop", "key": "k"}, "expected a call among"),
    ({"key": "k"}, "expected a call among"),
    ({"call": "claim"}, "expected 'key'"),
    ({"call": "claim", "key": ""}, "expected 'key'"),
    ({"call": "load", "key": "k" * 257}, "expected 'key'"),
    ({"call": "load", "key": 7}, "expected 'key'"),
    ({"call": "save", "key": "k", "epoch": 1, "ttl": 60}, "expected a save"),  # no body
    ({"call": "save", "key": "k", "epoch": True, "ttl": 60, "body": b"x"}, "expected a save"),
    ({"call": "save", "key": "k", "epoch": "1", "ttl": 60, "body": b"x"}, "expected a save"),
    ({"call": "save", "key": "k", "epoch": 1, "ttl": -1, "body": b"x"}, "expected a save"),
    ({"call": "save", "key": "k", "epoch": 1, "ttl": "60", "body": b"x"}, "expected a save"),
    ({"call": "save", "key": "k", "epoch": 1, "ttl": 60, "data": "x"}, "expected a save"),
])
async def test_a_malformed_call_is_answered_invalid_and_the_link_goes_on(
        supervisor: Supervised, request_: dict[str, Any], expected: str) -> None:
    reader, writer = await raw_link(supervisor.path)
    writer.write(bridge.encode(request_))
    reply = await bridge.read_frame(reader)
    assert reply["error"] == "invalid" and expected in reply["msg"]
    writer.write(bridge.encode({"call": "claim", "key": "k"}))
    assert type((await bridge.read_frame(reader))["epoch"]) is int
    writer.close()


@pytest.mark.parametrize("frame", [
    struct.pack("!II", 5, 0) + b"[1,2]",  # JSON, not an object
    struct.pack("!II", 3, 0) + b"{x}",  # not JSON
    struct.pack("!II", bridge.MAX_FRAME, 1),  # oversized: refused before reading it
])
async def test_a_frame_that_is_not_ours_ends_that_link_only(supervisor: Supervised, frame: bytes,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    good = SupervisorStore(supervisor.path)
    epoch = await good.claim("k")
    reader, writer = await raw_link(supervisor.path)
    with caplog.at_level(logging.WARNING, "livetag.server.processes.store_link"):
        writer.write(frame)
        assert await reader.read() == b""  # the supervisor closed this link
    assert "closing it" in caplog.text
    await good.save("k", b"fine", epoch=epoch, ttl=60)  # the other link unaffected
    writer.close()
    await good.close()


async def test_a_flood_of_calls_is_answered_one_by_one_and_others_go_on(supervisor: Supervised) -> None:
    reader, writer = await raw_link(supervisor.path)
    writer.write(b"".join(bridge.encode({"call": "load", "key": f"k{i}"}) for i in range(2000)))
    other = SupervisorStore(supervisor.path)
    epoch = await other.claim("mine")
    await other.save("mine", b"kept", epoch=epoch, ttl=60)
    for _ in range(2000):
        assert await bridge.read_frame(reader) == {"found": False}
    assert (await other.load("mine")).data == b"kept"  # type: ignore[union-attr]
    writer.close()
    await other.close()
