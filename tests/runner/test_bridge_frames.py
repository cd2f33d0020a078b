"""The bridge's frames (ASGI over IPC) and its session-process side (``Served``) over a
real socket pair: WebSocket messages without JSON, other messages and control requests
with it, and frames that are not ours."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from livetag.server.processes import bridge


def frames(*messages: dict[str, Any]) -> bytes:
    return b"".join(bridge.encode(m) for m in messages)


async def read_all(data: bytes) -> list[dict[str, Any]]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    out = []
    while True:
        try:
            out.append(await bridge.read_frame(reader))
        except asyncio.IncompleteReadError:
            return out


@pytest.mark.parametrize("message", [
    {"type": "websocket.receive", "text": '{"t":"ev","d":"été ✓"}', "bytes": None},
    {"type": "websocket.receive", "bytes": b"\x00\xff", "text": None},
    {"type": "websocket.send", "text": "", "bytes": None},
    {"type": "websocket.send", "bytes": b"x" * 70_000, "text": None},
])
def test_websocket_messages_travel_without_json(message: dict[str, Any]) -> None:
    frame = bridge.encode(message)
    assert b"websocket" not in frame  # the type is in the marker, the payload raw
    assert asyncio.run(read_all(frame)) == [message]


def test_other_messages_and_control_requests_keep_their_fields() -> None:
    messages = [
        {"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"\xe9")]},
        {"type": "http.response.body", "body": b"<p>", "more_body": True},
        {"type": "websocket.close", "code": 4410, "reason": "ended"},
        {"op": "status", "name": "abc"},  # a control request: no type
    ]
    assert asyncio.run(read_all(frames(*messages))) == messages


def test_frames_that_are_not_ours_are_refused() -> None:
    too_big = bridge.HEAD.pack(0xFFFFFFF0, bridge.MAX_FRAME + 1)
    bad_text = bridge.HEAD.pack(0xFFFFFFF0, 2) + b"\xff\xfe"
    for data in (too_big, bad_text):
        with pytest.raises(bridge.FrameError):
            asyncio.run(read_all(data))


async def _served(app: Any, *chunks: bytes, last: bytes = b"", expect: int = 0) -> tuple[list[dict[str, Any]], bool]:
    """Serve one connection with ``app``, sending ``chunks`` (one ``send`` each), then
    ``last`` once ``expect`` messages came back; returns what came back and whether it
    ended with ``END``."""
    ours, theirs = socket.socketpair()
    serving = asyncio.ensure_future(bridge.serve_one(theirs, app))
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(0.01)
    got: list[dict[str, Any]] = []
    ended = False
    while True:
        try:
            message = await asyncio.wait_for(bridge.read_frame(reader), 10)
        except (asyncio.IncompleteReadError, ConnectionError):
            break
        if message["type"] == bridge.END:
            ended = True
            break
        got.append(message)
        if len(got) == expect:
            writer.write(last)
    writer.close()
    await asyncio.wait_for(serving, 10)
    return got, ended


SCOPE = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": "/_lt/ws", "raw_path": b"/_lt/ws",
         "root_path": "", "query_string": b"", "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 1),
         "server": ("127.0.0.1", 2), "subprotocols": []}


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message["text"].upper()})


def test_a_websocket_is_served_message_by_message_even_split_across_reads() -> None:
    data = frames({"type": "websocket.connect"}, {"type": "websocket.receive", "text": "a", "bytes": None},
                  {"type": "websocket.receive", "text": "b", "bytes": None})
    head = bridge.encode_scope(SCOPE)
    pieces = [head[:3], head[3:] + data[:5], data[5:11], data[11:]]  # frames cut anywhere
    got, ended = asyncio.run(_served(echo, *pieces, last=frames({"type": "websocket.disconnect", "code": 1000}),
                                     expect=3))
    assert ended and [m["type"] for m in got] == ["websocket.accept", "websocket.send", "websocket.send"]
    assert [m.get("text") for m in got[1:]] == ["A", "B"]


def test_a_connection_that_is_not_ours_is_closed_and_the_app_told() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append((await receive())["type"])
        seen.append((await receive())["type"])  # the garbage below: a disconnect

    garbage = bridge.HEAD.pack(3, 0) + b"{{{"
    got, ended = asyncio.run(_served(app, bridge.encode_scope(SCOPE) + frames({"type": "websocket.connect"}), garbage))
    assert seen == ["websocket.connect", "websocket.disconnect"] and got == [] and not ended
    got, ended = asyncio.run(_served(app, b"\x00\x00\x00\x05\x00\x00\x00\x00nope!"))  # no valid scope
    assert got == [] and not ended


HTTP_SCOPE = {**SCOPE, "type": "http", "scheme": "http", "method": "POST", "path": "/_lt/upload",
              "raw_path": b"/_lt/upload", "http_version": "1.1"}
del HTTP_SCOPE["subprotocols"]


def test_an_answer_given_before_the_request_body_came_reaches_the_worker_whole() -> None:
    # A refused upload: the app answers without reading the body, which the web worker
    # sends after the answer was written. The worker still reads the answer, then END.
    async def refuse(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 403, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"no", "more_body": False})

    async def worker() -> list[str]:
        ours, theirs = socket.socketpair()
        serving = asyncio.ensure_future(bridge.serve_one(theirs, refuse))
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        writer.write(bridge.encode_scope(HTTP_SCOPE))
        await writer.drain()
        await asyncio.sleep(0.2)  # the answer is written, the app has returned
        writer.write(frames({"type": "http.request", "body": b"x" * 4096, "more_body": False}))
        await writer.drain()
        await asyncio.sleep(0.05)
        got = []
        while not got or got[-1] != bridge.END:
            got.append((await asyncio.wait_for(bridge.read_frame(reader), 10))["type"])
        writer.close()
        await asyncio.wait_for(serving, 10)
        return got

    assert asyncio.run(worker()) == ["http.response.start", "http.response.body", bridge.END]
