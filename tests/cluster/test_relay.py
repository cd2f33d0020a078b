"""The relay's handshake and splice, in one process: a real ``RelayServer`` on a free
port, a real unix socket standing for a session process, real TCP clients (honest ones
through ``open_remote_session``, hostile ones writing frames by hand)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import shutil
import socket
import struct
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from livetag.errors import RelayUnavailable
from livetag.server.cluster import relay
from livetag.server.cluster.relay import MAGIC, RelayServer, Status, check_request, open_remote_session
from livetag.server.processes import bridge
from livetag.server.processes.paths import session_name

SECRET = "s" * 40
KEY = b"k" * 32
BASE, SID = "/app", "abcDEF-123_x"
WAIT = 20.0
UPLOAD_SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                "scheme": "http", "path": "/_lt/upload", "raw_path": b"/_lt/upload", "query_string": b"",
                "root_path": "", "headers": [(b"host", b"a")], "client": ["127.0.0.1", 1],
                "server": ["127.0.0.1", 2]}


@pytest.fixture
def sockets() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ltr", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Session:
    """A unix socket standing for a session process: echoes what it gets, records its
    client's end of stream, and ends when asked."""

    def __init__(self) -> None:
        self.eof = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self, path: Path) -> Session:
        self.server = await asyncio.start_unix_server(self._serve, str(path))
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        self.eof.set()
        writer.close()

    def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()


@pytest.fixture
async def owner(sockets: Path) -> AsyncIterator[tuple[RelayServer, Session, str]]:
    server = RelayServer(("127.0.0.1", 0), SECRET, lambda: sockets, lambda b, s: session_name(KEY, b, s),
                         handshake_seconds=0.5, idle_seconds=1.0)
    await server.start()
    session = await Session().start(sockets / session_name(KEY, BASE, SID))
    yield server, session, f"127.0.0.1:{server.port}"
    await relay.pool().close()
    session.close()
    await server.close()


def frame(payload: bytes) -> bytes:
    return struct.pack("!H", len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack("!H", await reader.readexactly(2))
    return await reader.readexactly(size)


def proof(secret: str, label: bytes, *parts: bytes) -> bytes:
    key = hmac.new(secret.encode(), b"livetag relay v1", hashlib.sha256).digest()
    return hmac.new(key, label + b"".join(parts), hashlib.sha256).digest()


async def closed_by_owner(reader: asyncio.StreamReader) -> bytes:
    """What the owner sends until it closes the connection (it must close it)."""
    return await asyncio.wait_for(reader.read(), WAIT)


async def test_an_honest_peer_is_spliced_both_ways(owner: tuple[RelayServer, Session, str]) -> None:
    server, session, address = owner
    reader, writer = await open_remote_session(address, SECRET, BASE, SID)
    payload = os.urandom(3 << 20)  # larger than every buffer on the way
    writer.write(payload)
    got = await asyncio.wait_for(reader.readexactly(len(payload)), WAIT)
    assert got == payload
    writer.write_eof()  # the worker's end of stream reaches the session as its client's
    await asyncio.wait_for(session.eof.wait(), WAIT)
    assert await asyncio.wait_for(reader.read(), WAIT) == b""  # and the session's end comes back
    writer.close()
    assert server.spliced == 1 and server.refused == 0


async def test_the_session_ending_ends_the_relayed_stream(owner: tuple[RelayServer, Session, str]) -> None:
    _, session, address = owner
    reader, writer = await open_remote_session(address, SECRET, BASE, SID)
    writer.write(b"x")
    assert await asyncio.wait_for(reader.readexactly(1), WAIT) == b"x"
    session.close()
    assert await asyncio.wait_for(reader.read(), WAIT) == b""
    writer.close()


async def test_a_wrong_secret_is_refused_and_logged_without_it(owner: tuple[RelayServer, Session, str],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    server, session, address = owner
    other = "o" * 40
    with caplog.at_level(logging.WARNING, "livetag.server.cluster.relay"):
        # A peer that sends a proof under another secret is cut.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        nonce = secrets.token_bytes(32)
        writer.write(frame(MAGIC + nonce))
        hello = await read_frame(reader)
        writer.write(frame(proof(other, b"worker", nonce, hello[4:36])))
        assert await closed_by_owner(reader) == b""
        writer.close()
        # The owner proves itself first: a worker with another secret stops there.
        with pytest.raises(RelayUnavailable, match="owner to prove the cluster secret"):
            await open_remote_session(address, other, BASE, SID)
    await asyncio.wait_for(_until(lambda: server.refused == 2), WAIT)  # the owner saw it go
    assert server.spliced == 0
    assert "refused a peer from 127.0.0.1:" in caplog.text and "wrong proof" in caplog.text
    assert other not in caplog.text and SECRET not in caplog.text and not session.writers


async def test_a_replayed_handshake_is_refused(owner: tuple[RelayServer, Session, str]) -> None:
    server, _, _ = owner
    nonce = secrets.token_bytes(32)
    request = orjson.dumps({"base": BASE, "sid": SID})
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(frame(MAGIC + nonce))
    hello = await read_frame(reader)
    recorded = [frame(MAGIC + nonce), frame(proof(SECRET, b"worker", nonce, hello[4:36])),
                frame(proof(SECRET, b"request", nonce, hello[4:36], request) + request)]
    writer.write(recorded[1] + recorded[2])
    assert (await read_frame(reader))[0] == Status.CONNECTED
    writer.close()
    # The same bytes again: the owner's fresh nonce makes the recorded proof worthless.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"".join(recorded))
    hello2 = await read_frame(reader)
    assert hello2[4:36] != hello[4:36]
    assert await closed_by_owner(reader) == b""
    writer.close()
    # A proof reflected back (the owner's own proof as the worker's) is refused too.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(frame(MAGIC + nonce))
    hello3 = await read_frame(reader)
    writer.write(frame(hello3[36:]))
    assert await closed_by_owner(reader) == b""
    writer.close()
    # A request signed for another connection is refused, after a valid proof.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(frame(MAGIC + nonce))
    hello4 = await read_frame(reader)
    writer.write(frame(proof(SECRET, b"worker", nonce, hello4[4:36])) + recorded[2])
    assert await closed_by_owner(reader) == b""
    writer.close()
    await asyncio.wait_for(_until(lambda: server.refused == 3), WAIT)
    assert server.spliced == 1


@pytest.mark.parametrize("sent", [
    b"",                                        # connect and close
    b"\x00",                                    # half a length
    struct.pack("!H", 36) + MAGIC + b"123",     # a hello cut short
    frame(b"HTTP" + b"x" * 32),                 # another protocol's magic
    frame(MAGIC + b"x" * 31),                   # a nonce one byte short
    struct.pack("!H", 65535),                   # an oversized frame, refused before its body
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",       # a browser or a scanner
])
async def test_malformed_handshakes_are_refused(owner: tuple[RelayServer, Session, str], sent: bytes) -> None:
    server, _, address = owner
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(sent)
    if sent:
        writer.write_eof()
    answer = await closed_by_owner(reader)  # the owner closes: at most its hello came first
    assert answer == b"" or answer[2:6] == MAGIC
    writer.close()
    await asyncio.wait_for(_until(lambda: server.refused == 1), WAIT)
    # The owner is unaffected: an honest peer still gets through.
    r, w = await open_remote_session(address, SECRET, BASE, SID)
    w.write(b"ok")
    assert await asyncio.wait_for(r.readexactly(2), WAIT) == b"ok"
    w.close()


@pytest.mark.parametrize("stage", ["proof", "request"])
async def test_oversized_frames_after_the_hello_are_refused(owner: tuple[RelayServer, Session, str],
                                                            stage: str) -> None:
    server, _, _ = owner
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    nonce = secrets.token_bytes(32)
    writer.write(frame(MAGIC + nonce))
    hello = await read_frame(reader)
    if stage == "request":
        writer.write(frame(proof(SECRET, b"worker", nonce, hello[4:36])))
    writer.write(struct.pack("!H", 2000) + b"x" * 32)  # the rest never comes: refused on the length
    assert await closed_by_owner(reader) == b""
    writer.close()
    await asyncio.wait_for(_until(lambda: server.refused == 1), WAIT)


async def test_an_idle_authenticated_connection_is_closed_quietly(owner: tuple[RelayServer, Session, str],
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    server, _, _ = owner
    with caplog.at_level(logging.WARNING, "livetag.server.cluster.relay"):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        nonce = secrets.token_bytes(32)
        writer.write(frame(MAGIC + nonce))
        hello = await read_frame(reader)
        writer.write(frame(proof(SECRET, b"worker", nonce, hello[4:36])))
        assert await closed_by_owner(reader) == b""  # after idle_seconds (1 s here)
        writer.close()
    assert server.refused == 0 and "refused" not in caplog.text


async def test_warm_connections_serve_the_next_sessions(owner: tuple[RelayServer, Session, str]) -> None:
    server, _, address = owner
    reader, writer = await open_remote_session(address, SECRET, BASE, SID)
    warm = relay.pool()
    key = relay.relay_key(SECRET)
    await asyncio.wait_for(_until(lambda: len(warm.idle.get((address, key), ())) == warm.spares), WAIT)
    assert server.connections == 1 + warm.spares
    reader2, writer2 = await open_remote_session(address, SECRET, BASE, SID)
    assert server.connections == 1 + warm.spares  # no new connection for it: a warm one
    for r, w in ((reader, writer), (reader2, writer2)):
        w.write(b"hi")
        assert await asyncio.wait_for(r.readexactly(2), WAIT) == b"hi"
        w.close()
    assert server.spliced == 2


async def test_warm_connections_the_owner_closed_are_not_used(sockets: Path) -> None:
    server = RelayServer(("127.0.0.1", 0), SECRET, lambda: sockets, lambda b, s: session_name(KEY, b, s),
                         idle_seconds=0.2)
    await server.start()
    session = await Session().start(sockets / session_name(KEY, BASE, SID))
    address = f"127.0.0.1:{server.port}"
    try:
        _, writer = await open_remote_session(address, SECRET, BASE, SID)
        writer.close()
        warm = relay.pool()
        links = warm.idle.setdefault((address, relay.relay_key(SECRET)), collections.deque())
        await asyncio.wait_for(_until(lambda: len(links) == warm.spares and all(k.reader.at_eof() for k in links)),
                               WAIT)  # the owner closed them, idle too long
        reader, writer = await open_remote_session(address, SECRET, BASE, SID)
        writer.write(b"ok")
        assert await asyncio.wait_for(reader.readexactly(2), WAIT) == b"ok"
        writer.close()
        assert server.spliced == 2
    finally:
        await relay.pool().close()
        session.close()
        await server.close()


async def test_a_slow_peer_hits_the_handshake_deadline(owner: tuple[RelayServer, Session, str]) -> None:
    server, _, _ = owner
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"\x00")  # one byte, then nothing: the deadline (0.5 s here) closes it
    assert await closed_by_owner(reader) == b""
    writer.close()
    assert server.refused == 1


async def test_a_worker_gives_up_on_a_silent_owner() -> None:
    silent = await asyncio.start_server(lambda r, w: asyncio.sleep(30), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    with pytest.raises(RelayUnavailable, match=r"no answer within 0\.3 s"):
        await open_remote_session(f"127.0.0.1:{port}", SECRET, BASE, SID, timeout=0.3)
    silent.close()


async def test_an_unreachable_owner_raises_relay_unavailable() -> None:
    free = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = free.sockets[0].getsockname()[1]
    free.close()
    await free.wait_closed()
    with pytest.raises(RelayUnavailable, match=f"127.0.0.1:{port}"):
        await open_remote_session(f"127.0.0.1:{port}", SECRET, BASE, SID)


@pytest.mark.parametrize(("base", "sid"), [
    ("/app", "../../etc/passwd"), ("/app", "a/b"), ("/../../etc", SID), ("app", SID), ("/a\x00b", SID),
    ("/app", ""), ("/app", "x" * 129), ("/a/./b", SID),
])
async def test_requests_that_are_not_a_session_are_refused(owner: tuple[RelayServer, Session, str], base: str,
                                                           sid: str) -> None:
    server, session, address = owner
    with pytest.raises(RelayUnavailable, match=r"the owner refused: expected a (mount path|session id)"):
        await open_remote_session(address, SECRET, base, sid)
    assert server.spliced == 0 and not session.writers


async def test_an_unknown_session_is_refused(owner: tuple[RelayServer, Session, str], sockets: Path) -> None:
    server, _, address = owner
    with pytest.raises(RelayUnavailable, match="no such session"):
        await open_remote_session(address, SECRET, BASE, "another")
    # A file that is not a socket, where a session's would be, is not a session either.
    (sockets / session_name(KEY, BASE, "plain")).write_bytes(b"")
    with pytest.raises(RelayUnavailable, match="no such session"):
        await open_remote_session(address, SECRET, BASE, "plain")
    assert server.spliced == 0


def test_check_request() -> None:
    assert check_request({"base": "", "sid": "a"}) == ("", "a")
    assert check_request({"base": "/x/y", "sid": "Z-_9"}) == ("/x/y", "Z-_9")
    for bad in ([], {"base": "/"}, {"base": "/", "sid": "a", "more": 1}, {"base": 1, "sid": "a"},
                {"base": "/..", "sid": "a"}, {"base": "/", "sid": None}):
        with pytest.raises(relay.HandshakeError, match="expected"):
            check_request(bad)


async def test_refusals_are_logged_at_most_once_per_period(owner: tuple[RelayServer, Session, str],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    server, _, _ = owner
    with caplog.at_level(logging.WARNING, "livetag.server.cluster.relay"):
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(struct.pack("!H", 65535))
            await closed_by_owner(reader)
            writer.close()
    assert server.refused == 20
    assert caplog.text.count("refused a peer") == 1


async def _until(condition: object) -> None:
    while not condition():  # type: ignore[operator]
        await asyncio.sleep(0.01)


async def test_a_flood_of_connections_is_capped(sockets: Path) -> None:
    server = RelayServer(("127.0.0.1", 0), SECRET, lambda: sockets, lambda b, s: session_name(KEY, b, s),
                         handshake_seconds=60.0, max_peers=2)  # longer than WAIT: a close comes from the cap
    await server.start()
    session = await Session().start(sockets / session_name(KEY, BASE, SID))
    held = []
    try:
        for _ in range(2):  # two silent peers take every slot
            held.append(await asyncio.open_connection("127.0.0.1", server.port))
        await asyncio.wait_for(_until(lambda: server.connections == 2), WAIT)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await closed_by_owner(reader) == b""  # by the cap: the deadline is past WAIT
        writer.close()
        for _, w in held:
            w.close()
        await asyncio.wait_for(_until(lambda: not server._peers), WAIT)
        r, w = await open_remote_session(f"127.0.0.1:{server.port}", SECRET, BASE, SID, warm=False)
        w.write(b"ok")
        assert await asyncio.wait_for(r.readexactly(2), WAIT) == b"ok"
        w.close()
    finally:
        session.close()
        await server.close()


async def test_an_answer_given_before_the_request_body_came_crosses_the_relay_whole(sockets: Path) -> None:
    # A refused upload relayed between machines: the session process answers and ends
    # before the web worker has sent the body. The relay must not reset the connection
    # while the worker still writes, or the worker loses the answer it has not read yet.
    async def refuse(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 403, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"no", "more_body": False})

    loop = asyncio.get_running_loop()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sockets / session_name(KEY, BASE, SID)))
    listener.listen()
    listener.setblocking(False)

    async def session_process() -> None:
        conn, _ = await loop.sock_accept(listener)
        await bridge.serve_one(conn, refuse)

    server = RelayServer(("127.0.0.1", 0), SECRET, lambda: sockets, lambda b, s: session_name(KEY, b, s))
    await server.start()
    serving = asyncio.ensure_future(session_process())
    try:
        reader, writer = await open_remote_session(f"127.0.0.1:{server.port}", SECRET, BASE, SID, warm=False)
        writer.write(bridge.encode_scope(UPLOAD_SCOPE))
        await asyncio.sleep(0.2)  # the answer and END are on their way, the session has ended
        with contextlib.suppress(ConnectionError):  # as the worker's upstream does
            for _ in range(5):  # the body, in chunks: a write after a reset fails
                writer.write(bridge.encode({"type": "http.request", "body": b"x" * 65536, "more_body": True}))
                await writer.drain()
                await asyncio.sleep(0.05)
        got = []
        while not got or got[-1]["type"] != bridge.END:
            got.append(await asyncio.wait_for(bridge.read_frame(reader), WAIT))
        writer.close()
        assert [m["type"] for m in got] == ["http.response.start", "http.response.body", bridge.END]
        assert got[0]["status"] == 403 and got[1]["body"] == b"no"
        await asyncio.wait_for(serving, WAIT)
    finally:
        serving.cancel()
        listener.close()
        await server.close()
    assert server.spliced == 1
