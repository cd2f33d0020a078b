"""Oversized input: a message above ``max_message_bytes`` is refused while it is read,
before any parsing: WebSocket close 1009 (RFC 6455 section 7.4.1, "message too big"),
HTTP 413 (RFC 9110 section 15.5.14), with or without ``Content-Length``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import orjson
import pytest
from hostile import Board, Serve

from livetag import WebApp
from livetag.testing.wire import Tab, element_id, texts

LIMIT = 4096


def oversized(tab: Tab, target: str) -> dict:
    return {"t": "ev", "s": tab.seq + 1, "id": target, "n": "click", "d": {"value": "x" * (LIMIT + 1)}, "sync": {}}


@pytest.mark.parametrize("uvicorn_limit", [False, True], ids=["checked-by-livetag", "checked-by-uvicorn"])
async def test_a_websocket_message_above_the_limit_closes_1009(live_server: Serve, tab, witness,
                                                              uvicorn_limit: bool) -> None:
    # WebApp.run() also hands the limit to uvicorn (ws_max_size), which then refuses the
    # frame while reading it; mounted elsewhere, livetag checks it before decoding.
    webapp = WebApp(Board, max_message_bytes=LIMIT)
    options = {"ws_max_size": LIMIT} if uvicorn_limit else {}
    with live_server(webapp.app, **options) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join()
        inc = element_id(html, "inc")
        await t.send(oversized(t, inc))
        code, reason = (await t.closed())[:2]
        assert code == 1009 and reason, reason
        # Not applied; the session itself carries on from a new connection.
        t.ws = None
        joined = await t.join()
        assert joined["ack"] == 0
        assert texts(await t.event(inc)) == ["1"]
        await w.check()


async def test_an_oversized_frame_is_refused_before_it_is_parsed(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board, max_message_bytes=LIMIT).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        await t.connect()
        await t.send("{" * (LIMIT + 1))  # invalid JSON too: the size is what is reported
        assert (await t.closed())[:2] == (1009, "message too large")
        await w.check()


async def test_http_bodies_above_the_limit_are_413(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board, max_message_bytes=LIMIT).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        inc = element_id(html, "inc")
        join = {"t": "join", "v": 1, "token": t.token, "cid": None, "rev": t.rev, "pad": "x" * LIMIT}
        response = await t.post("join", join, token=None)
        assert response.status_code == 413
        assert t.messages(response)[0]["code"] == "too_large"
        await t.join(transport="http")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"[" + b" " * (LIMIT // 4) + b"]"

        for body in (orjson.dumps([oversized(t, inc)]), chunks()):
            response = await t.http.post(t.url + "_lt/event", params={"cid": t.cid, "mode": "http"}, content=body,
                                         headers={"X-Livetag-Token": t.token, "Origin": t.origin})
            assert response.status_code == 413
            (err,) = t.messages(response)
            assert err["code"] == "too_large" and err["msg"].startswith(f"expected a message of at most {LIMIT} bytes")
        assert texts(await t.event(inc)) == ["1"]
        await w.check()


async def raw_request(url: str, head: str, body_start: bytes) -> bytes:
    """Send a request head and the start of its body, never the rest; the response."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head.encode() + body_start)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_the_body_is_refused_while_it_is_read(live_server: Serve, tab, witness, framing: str) -> None:
    # The body never completes, so a 413 proves the server refused it without waiting for
    # (or buffering) the whole of it.
    with live_server(WebApp(Board, max_message_bytes=LIMIT).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        await t.join(transport="http")
        netloc = urlsplit(t.url).netloc
        head = (f"POST /_lt/event?cid={t.cid}&mode=http HTTP/1.1\r\nHost: {netloc}\r\nOrigin: {t.origin}\r\n"
                f"Cookie: {t.cookie_header()}\r\nX-Livetag-Token: {t.token}\r\nContent-Type: application/json\r\n")
        if framing == "content-length":
            response = await raw_request(t.url, head + f"Content-Length: {100 * LIMIT}\r\n\r\n", b"[")
        else:
            chunk = b"[" + b" " * (2 * LIMIT)
            response = await raw_request(t.url, head + "Transfer-Encoding: chunked\r\n\r\n",
                                         b"%x\r\n%s\r\n" % (len(chunk), chunk))
        assert response.startswith(b"HTTP/1.1 413 "), response[:200]
        assert b'"code":"too_large"' in response
        await w.check()
