"""Direct WebSockets (``livetag.server.processes.direct``): the web worker hands a page's
WebSocket to its session process, which then serves it itself."""

from __future__ import annotations

import asyncio
import errno
import glob
import os
import signal
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest
from rt_procs import Server, wait_until
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from livetag.server.processes import bridge, direct, listener
from livetag.testing.wire import SyncTab, texts

Serve = Callable[..., Server]


def _clicked_once(server: Server) -> SyncTab:
    """A tab on a new session of ``server``, joined over a WebSocket, its counter at 1."""
    tab = SyncTab(server.url)
    tab.load()
    tab.join()
    assert texts(tab.click(".inc")) == ["1"]
    return tab


@pytest.mark.parametrize("direct_on", [True, False], ids=["direct", "relayed"])
def test_events_need_no_worker_once_the_websocket_is_handed_over(serve: Serve, direct_on: bool) -> None:
    server = serve(env={"LT_DIRECT": "1" if direct_on else "0"})
    tab = _clicked_once(server)
    os.kill(server.pid, signal.SIGSTOP)  # the uvicorn worker stops answering anything
    try:
        tab.send(tab.ev(tab.id(".inc")))
        if direct_on:
            assert texts(tab.until_ack(tab.seq)) == ["2"]  # browser <-> session process only
        else:
            with pytest.raises(TimeoutError):
                tab.recv(timeout=1.0)  # the relay waits for the worker
    finally:
        os.kill(server.pid, signal.SIGCONT)
    if not direct_on:
        assert texts(tab.until_ack(tab.seq)) == ["2"]
    assert texts(tab.click(".inc")) == ["3"]
    tab.aclose()


def test_a_stopping_server_closes_a_direct_websocket_as_a_restart_and_keeps_the_session(serve: Serve) -> None:
    server = serve()  # sessions are persisted by default: the next server restores them
    tab = _clicked_once(server)
    server.stop()
    code, _, messages = tab.closed()
    assert code == 1012 and not [m for m in messages if m["t"] == "bye"]  # join again, not "ended"
    tab.aclose()


def test_a_flood_of_websockets_to_one_session_is_served_and_leaves_no_descriptor(serve: Serve) -> None:
    server = serve()
    tab = _clicked_once(server)
    pid = int(tab.text(".pid"))
    before = len(os.listdir(f"/proc/{pid}/fd"))
    flood = []
    for _ in range(150):  # the same session's cookie: each one is handed to its process
        t = SyncTab(server.url, http=tab.http)
        t.html, t.token, t.page = tab.html, tab.token, tab.page
        t.connect()
        flood.append(t)
    assert len(os.listdir(f"/proc/{pid}/fd")) >= before + 150  # served there, not relayed
    assert texts(tab.click(".inc")) == ["2"]
    for t in flood:
        t.close()
    wait_until(lambda: len(os.listdir(f"/proc/{pid}/fd")) <= before + 2, what="the process to close them all")
    assert texts(tab.click(".inc")) == ["3"]
    tab.aclose()


def _session_socket(server: Server) -> str:
    paths = glob.glob(os.path.join(server.runtime, "lt-*", "*", "s", "*"))
    assert len(paths) == 1, paths
    return paths[0]


_SCOPE = {"type": "http", "path": "/", "raw_path": "/", "query_string": "", "headers": [],
          "root_path": "", "scheme": "http", "method": "GET"}


def test_a_passed_descriptor_that_is_no_socket_is_closed_and_the_session_goes_on(serve: Serve,
                                                                                   tmp_path: Any) -> None:
    server = serve()
    tab = _clicked_once(server)
    pid = int(tab.text(".pid"))
    before = len(os.listdir(f"/proc/{pid}/fd"))
    scope = {**_SCOPE, "type": "websocket", "adopt": {"ws": {}, "accept": [], "server": []}}
    with open(tmp_path / "file", "wb") as passed, socket.socket(socket.AF_UNIX) as conn:
        conn.connect(_session_socket(server))
        socket.send_fds(conn, [bridge.frame(scope)], [passed.fileno()])
    wait_until(lambda: "passed a socket" in server.output, what="the refusal in the log")
    assert len(os.listdir(f"/proc/{pid}/fd")) <= before  # the file's descriptor is not kept
    assert texts(tab.click(".inc")) == ["2"]
    tab.aclose()


@pytest.mark.parametrize("frame", [
    b"garbage",  # shorter than a frame's head, then the end
    struct.pack("!II", 2, 0) + b"{[",  # not JSON
    bridge.frame({**_SCOPE, "type": "websocket"}),  # no adopt key
    bridge.frame({**_SCOPE, "adopt": {"ws": {}, "accept": [], "server": []}}),  # not a WebSocket
    bridge.frame({**_SCOPE, "type": "websocket", "adopt": "no"}),  # the adopt key malformed
    struct.pack("!II", 1 << 30, 0),  # a frame far too large
], ids=["short", "json", "no-adopt", "http", "malformed", "huge"])
def test_a_socket_passed_with_a_forged_frame_is_closed_and_the_session_goes_on(serve: Serve, frame: bytes) -> None:
    server = serve()
    tab = _clicked_once(server)
    ours, passed = socket.socketpair()
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(_session_socket(server))
        socket.send_fds(conn, [frame], [passed.fileno()])
    passed.close()
    ours.settimeout(10)
    assert ours.recv(1) == b""  # the session process closed what it was passed
    ours.close()
    assert texts(tab.click(".inc")) == ["2"]
    wait_until(lambda: "passed a socket" in server.output, what="the refusal in the log")
    tab.aclose()


# -- the parts, without a server --------------------------------------------------------


def test_the_handshake_request_is_rebuilt_from_the_scope() -> None:
    scope = {"path": "/a b/_lt/ws", "raw_path": b"/a%20b/_lt/ws", "query_string": b"x=1",
             "headers": [(b"host", b"example.org"), (b"sec-websocket-key", b"k==")]}
    assert direct.handshake_request(scope) == (b"GET /a%20b/_lt/ws?x=1 HTTP/1.1\r\nhost: example.org\r\n"
                                               b"sec-websocket-key: k==\r\n\r\n")
    assert direct.handshake_request({**scope, "raw_path": None, "query_string": b""}).startswith(
        b"GET /a b/_lt/ws HTTP/1.1\r\n")


class _Transport(asyncio.Transport):
    def __init__(self, extra: dict[str, Any]) -> None:
        super().__init__(extra)
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self.closing


async def test_only_plain_tcp_connections_of_uvicorns_sansio_protocol_are_detachable() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not run")

    config = Config(app=app, log_config=None)
    config.load()

    def protocol(**extra: Any) -> WebSocketsSansIOProtocol:
        made = WebSocketsSansIOProtocol(config, ServerState(), {})
        made.transport = _Transport(extra)
        return made

    plain = protocol(socket=object())
    assert direct.detachable(plain.receive) is plain

    async def wrapped() -> Any:  # a middleware's receive: its messages are its own business
        return await plain.receive()

    assert direct.detachable(wrapped) is None
    assert direct.detachable(protocol(socket=object(), sslcontext=object()).receive) is None  # TLS
    assert direct.detachable(protocol().receive) is None  # no socket (not a socket transport)
    answered = protocol(socket=object())
    answered.handshake_complete = True
    assert direct.detachable(answered.receive) is None
    closing = protocol(socket=object())
    closing.transport.closing = True  # type: ignore[attr-defined]
    assert direct.detachable(closing.receive) is None


async def test_a_hand_over_to_a_gone_process_leaves_the_connection_to_the_worker() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not run")

    config = Config(app=app, log_config=None)
    config.load()
    browser, _browser_peer = socket.socketpair()  # stands for the browser's TCP socket

    class Transport(_Transport):
        paused: bool | None = None

        def pause_reading(self) -> None:
            self.paused = True

        def resume_reading(self) -> None:
            self.paused = False

    protocol = WebSocketsSansIOProtocol(config, ServerState(), {})
    protocol.transport = Transport({"socket": browser})
    ours, theirs = socket.socketpair()
    theirs.close()  # the session process died after the worker connected
    _, writer = await asyncio.open_unix_connection(sock=ours)
    scope = {"type": "websocket", "path": "/_lt/ws", "raw_path": b"/_lt/ws", "query_string": b"", "headers": []}
    assert not await direct.hand_over(protocol, protocol.receive, writer, scope)
    assert protocol.transport.paused is False  # reading again: the relay reports the gone process
    writer.close()
    browser.close()
    _browser_peer.close()


def test_the_adopt_frame_carries_the_relayed_scope_and_the_workers_settings() -> None:
    config = Config(app=None, log_config=None, ws_max_size=1234, ws_ping_interval=7.0)  # type: ignore[arg-type]

    class Worker:
        default_headers = [(b"server", b"uvicorn")]

    Worker.config = config  # type: ignore[attr-defined]
    scope = {"type": "websocket", "path": "/_lt/ws", "raw_path": b"/_lt/ws", "query_string": b"",
             "headers": [(b"host", b"h")], "root_path": "", "scheme": "ws", "client": ("1.2.3.4", 5),
             "session": {"k": "v"}}
    frame = direct.adopt_frame(scope, Worker(), [(b"x-livetag-worker", b"42")])
    size, raw = struct.unpack_from("!II", frame)
    message = bridge.decode(frame[8:8 + size], b"")
    assert raw == 0 and message["adopt"] == {
        "ws": {"ws_max_size": 1234, "ws_ping_interval": 7.0, "ws_ping_timeout": 20.0,
               "ws_per_message_deflate": True},
        "accept": [["x-livetag-worker", "42"]], "server": [["server", "uvicorn"]]}
    decoded = bridge.decode_scope({k: v for k, v in message.items() if k != "adopt"})
    assert decoded["client"] == ("1.2.3.4", 5) and decoded["headers"] == [(b"host", b"h")]
    assert dict(decoded["session"]) == {"k": "v"}


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


async def _get(path: str, where: str) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_unix_connection(where)
    scope = {"type": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": [],
             "method": "GET", "root_path": "", "scheme": "http"}
    writer.write(bridge.encode_scope(scope) + bridge.encode({"type": "http.request", "body": b""}))
    got = []
    while (message := await bridge.read_frame(reader))["type"] != bridge.END:
        got.append(message)
    writer.close()
    return got


class _OutOfDescriptors:
    """A listening socket whose ``accept`` fails as out of descriptors for its first
    0.1 s of use."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.accepts, self.since = sock, 0, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)

    def accept(self) -> tuple[socket.socket, Any]:
        self.accepts += 1
        now = time.monotonic()
        self.since = self.since or now
        if now - self.since < 0.1:
            raise OSError(errno.EMFILE, "Too many open files")
        return self.sock.accept()


async def test_the_listener_serves_relayed_connections_and_waits_out_a_failed_accept(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener, "ACCEPT_RETRY_SECONDS", 0.2)
    where = str(tmp_path / "s")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(where)
    sock.listen()
    failing = _OutOfDescriptors(sock)
    served = listener.Listener(failing, _ok)  # type: ignore[arg-type]
    try:
        got = await asyncio.wait_for(_get("/a", where), 10)
        assert [m["type"] for m in got] == ["http.response.start", "http.response.body"]
        assert got[1]["body"] == b"/a"
        # The failed accept was retried after a pause, not in a loop while it kept failing.
        assert failing.accepts <= 3  # the failure, the retry, the retry loop's EAGAIN
    finally:
        served.close()
