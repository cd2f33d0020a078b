"""Parano mode: every payload on every transport is sealed with AES-256-GCM under the
session's key (``base64url(nonce || ciphertext || tag)``), so a proxy that logs or rewrites
WebSocket frames and HTTP bodies sees neither the UI nor the CSRF token, and cannot forge
a message. The key is in the page (``data-lt-key``): this is no substitute for TLS.

The test client seals and opens with ``cryptography`` and the page's key, as the browser
does with WebCrypto.
"""

from __future__ import annotations

import base64
import re

import orjson
import pytest
from hostile import Board, Serve

from livetag import WebApp
from livetag.testing.wire import AesGcm, element_id, texts

SEALED = re.compile(rb"[A-Za-z0-9_-]{38,}")  # base64url, at least nonce + tag


def assert_sealed(raw: bytes | str) -> None:
    """``raw`` is one sealed payload: not JSON, nothing readable."""
    raw = raw.encode() if isinstance(raw, str) else raw
    assert SEALED.fullmatch(raw), raw[:100]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)


def tampered(sealed: bytes) -> bytes:
    """``sealed`` with one ciphertext bit flipped (still valid base64url)."""
    data = bytearray(base64.urlsafe_b64decode(sealed + b"=" * (-len(sealed) % 4)))
    data[14] ^= 1
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=")


async def test_the_page_carries_a_per_session_key(live_server: Serve, tab) -> None:
    with live_server(WebApp(Board, parano=True).app) as server:
        a, b = tab(server.url), tab(server.url)
        await a.load()
        await b.load()
        assert a.key and b.key and a.key != b.key
        assert len(base64.urlsafe_b64decode(a.key + "=")) == 32  # AES-256
        fresh = await a.http.get(a.url + "?n")  # a new session, a new key
        assert a.key not in fresh.text and "data-lt-key" in fresh.text
    with live_server(WebApp(Board).app) as server:
        assert "data-lt-key" not in await tab(server.url).load()


async def test_websocket_frames_are_sealed_both_ways(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board, parano=True).app) as server:
        w = await witness(server.url).start()  # itself a parano session
        t = tab(server.url)
        html = await t.load()
        inc, value = element_id(html, "inc"), element_id(html, "value")
        await t.connect()
        join = orjson.dumps({"t": "join", "v": 1, "token": t.token, "cid": None, "rev": t.rev})
        sealed_join = t.codec.seal(join)
        assert t.token.encode() not in sealed_join
        await t.ws.send(sealed_join.decode())
        raw = await t.ws.recv()
        assert_sealed(raw)
        assert orjson.loads(t.codec.open(raw))["t"] == "joined"
        t.cid = orjson.loads(t.codec.open(raw))["cid"]
        await t.send(t.ev(inc))
        raw = await t.ws.recv()
        assert_sealed(raw)
        assert value.encode() not in raw.encode()
        assert orjson.loads(t.codec.open(raw))["p"] == [["t", value, "1"]]
        await w.check()


async def test_tampered_or_clear_websocket_messages_are_rejected(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board, parano=True).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        inc = element_id(html, "inc")
        stranger = AesGcm(w.tab.key)  # another session's key
        event = orjson.dumps({"t": "ev", "s": 1, "id": inc, "n": "click", "d": {}, "sync": {}})
        join = orjson.dumps({"t": "join", "v": 1, "token": t.token, "cid": None, "rev": t.rev})
        await t.connect()
        # Before the join: a join in clear is refused and ends the connection.
        await t.ws.send(join.decode())
        assert (await t.closed())[:2] == (1008, "parano")
        await t.connect()
        await t.join()
        for forged in (event.decode(), tampered(t.codec.seal(event)).decode(), t.codec.seal(event)[:30].decode(),
                       stranger.seal(event).decode(), "", "!!!!", b"\x00binary"):
            await t.ws.send(forged)
            err = await t.recv()  # sealed too, like everything the server sends
            assert err["t"] == "err" and err["code"] in ("parano", "bad_message"), err
            assert set(err) == {"t", "code", "msg"}
        # Nothing was applied; the connection carries on.
        t.seq = 0
        assert texts(await t.event(inc)) == ["1"]
        await w.check()


async def test_http_bodies_and_responses_are_sealed(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board, parano=True).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        inc = element_id(html, "inc")
        join = {"t": "join", "v": 1, "token": t.token, "cid": None, "rev": t.rev}
        response = await t.post("join", join, token=None)
        assert response.status_code == 200
        assert_sealed(response.content)
        t.cid = t.messages(response)[0]["cid"]
        response = await t.post_events([t.ev(inc)])
        assert response.status_code == 200
        assert_sealed(response.content)
        assert texts(t.messages(response)) == ["1"]
        # Another page's update, collected by long-poll: sealed.
        await w.check()
        ws = tab(server.url, t.http)
        await ws.load()
        await ws.join()
        await ws.event(inc)
        response = await t.poll()
        assert response.status_code == 200
        assert_sealed(response.content)
        assert texts(t.messages(response)) == ["2"]


async def test_sse_data_is_sealed(live_server: Serve, tab) -> None:
    with live_server(WebApp(Board, parano=True).app) as server:
        t = tab(server.url)
        html = await t.load()
        inc = element_id(html, "inc")
        await t.join(transport="http")
        headers = {"Origin": t.origin}
        async with t.http.stream("GET", t.url + "_lt/sse", params={"cid": t.cid}, headers=headers) as stream:
            assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith(":")  # the opening comment
            response = await t.post_events([t.ev(inc)], mode="sse")
            assert response.status_code == 204
            data = []
            async for line in lines:
                if line.startswith("data: "):
                    data.append(line[len("data: "):])
                    message = orjson.loads(t.codec.open(data[-1]))
                    if message["t"] in ("up", "ack") and message["ack"] >= t.seq:
                        break
            for payload in data:
                assert_sealed(payload)
            assert texts([orjson.loads(t.codec.open(p)) for p in data]) == ["1"]


async def test_tampered_or_clear_http_bodies_are_rejected(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board, parano=True).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        inc = element_id(html, "inc")
        join = orjson.dumps({"t": "join", "v": 1, "token": t.token, "cid": None, "rev": t.rev})
        for body in (join, tampered(t.codec.seal(join)), AesGcm(w.tab.key).seal(join)):
            response = await t.post("join", body, token=None)
            assert response.status_code == 400
            assert response.json() == [{"t": "err", "code": "parano", "msg": "expected a message sealed with the "
                                                                             "session key, got something else"}]
        await t.join(transport="http")
        events = orjson.dumps([t.ev(inc)])
        for body in (events, tampered(t.codec.seal(events)), b"", AesGcm(w.tab.key).seal(events)):
            response = await t.post_events(body)
            assert response.status_code == 400 and response.json()[0]["code"] == "parano"
        t.seq = 0
        assert texts(await t.event(inc)) == ["1"]
        await w.check()
