"""Flooding: every bound holds with a clear answer, and only the flooder pays.

Events per session (token bucket: WebSocket close 1008 with a reason, HTTP 429 with
``Retry-After``), queued updates per client (a client that stops reading is dropped, not
buffered), live sessions (HTTP 503 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import contextlib
import tracemalloc

import pytest
from hostile import Board, Serve
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livetag import Tag, WebApp
from livetag.server import websocket
from livetag.session import MAX_CLIENTS
from livetag.testing.wire import Tab, element_id, text_of, texts

RATE = {"events_per_second": 1.0, "event_burst": 10}


async def test_websocket_events_above_the_rate_close_1008(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board, **RATE).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        inc = element_id(html, "inc")
        await t.join()
        for _ in range(30):
            t.seq += 1
            await t.send({"t": "ev", "s": t.seq, "id": inc, "n": "click", "d": {}, "sync": {}})
        assert (await t.closed())[:2] == (1008, "rate limit: too many messages")
        # The burst went through, exactly once each; the rest was refused, not queued.
        applied = int(text_of(await t.load(), element_id(html, "value")))
        assert 10 <= applied <= 11
        await w.check()  # another session has its own bucket


async def test_http_events_above_the_rate_get_429_with_retry_after(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board, **RATE).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        inc = element_id(html, "inc")
        await t.join(transport="http")  # a join costs a token too
        response = await t.post_events([t.ev(inc) for _ in range(10)])
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert t.messages(response) == [{"t": "err", "code": "rate_limited", "msg": "too many events: slow down"}]
        assert text_of(await t.load(), element_id(html, "value")) == "0"  # refused whole, not half-applied
        responses = []
        for _ in range(12):
            responses.append(await t.post_events([t.ev(inc)]))
        codes = [r.status_code for r in responses]
        assert codes[:9] == [200] * 9 and 429 in codes[9:], codes
        limited = next(r for r in responses if r.status_code == 429)
        assert int(limited.headers["retry-after"]) >= 1
        await w.check()


async def test_sync_requests_over_http_count_against_the_rate(live_server: Serve, tab, witness) -> None:
    # Each sync re-renders the whole page: as costly as an event, and limited the same way.
    with live_server(WebApp(Board, **RATE).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        await t.join(transport="http")
        response = await t.post_events([{"t": "sync"}] * 50)
        assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
        await w.check()


async def test_http_joins_count_against_the_rate(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board, **RATE).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        join = {"t": "join", "v": 1, "token": t.token, "cid": None, "rev": 0}
        codes = [(await t.post("join", join, token=None)).status_code for _ in range(15)]
        assert codes[:10] == [200] * 10 and 429 in codes[10:], codes
        await w.check()


async def test_a_session_keeps_a_bounded_number_of_http_clients(live_server: Serve, tab, witness) -> None:
    webapp = WebApp(Board, events_per_second=1000, event_burst=1000)
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        first = tab(server.url)
        html = await first.load()
        await first.join(transport="http")
        others = [tab(server.url, first.http) for _ in range(MAX_CLIENTS)]
        for other in others:
            other.token = first.token
            await other.join(transport="http")
        # The oldest HTTP client was dropped: it must join again (and gets the page again).
        assert (await first.poll()).status_code == 409
        assert (await first.post_events([first.ev(element_id(html, "inc"))])).status_code == 409
        assert texts(await others[-1].event(element_id(html, "inc"))) == ["1"]
        await w.check()


@pytest.mark.parametrize("message", ['{"t":"sync"}', "{not json"], ids=["sync", "malformed"])
async def test_websocket_messages_that_are_not_events_count_against_the_rate(live_server: Serve, tab, witness,
                                                                             message: str) -> None:
    with live_server(WebApp(Board, **RATE).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        await t.join()
        for _ in range(100):
            await t.send(message)
        assert (await t.closed(timeout=3))[:2] == (1008, "rate limit: too many messages")
        await w.check()


class Big(Board):
    """Every click sends a 100 kB update."""

    def build(self) -> None:
        self.n = 0
        self.blob = Tag.div("", _class="blob")
        self <= Tag.button("big", _class="big", _onclick=self.big)
        self <= self.blob

    def big(self) -> None:
        self.n += 1
        self.blob.text = str(self.n % 10) * 100_000


async def test_a_websocket_client_that_stops_reading_is_dropped(live_server: Serve, tab, witness) -> None:
    webapp = WebApp(Big, max_queued_updates=8, events_per_second=1000, event_burst=1000)
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        big = element_id(html, "big")
        # A client that reads nothing: its library buffers one message, then TCP fills up.
        t.ws = await connect(t.ws_url, additional_headers={"Cookie": t.cookie_header()}, origin=t.origin,
                             proxy=None, max_queue=1, compression=None)
        await t.join()
        for _ in range(300):
            t.seq += 1
            await t.send({"t": "ev", "s": t.seq, "id": big, "n": "click", "d": {}, "sync": {}})
        await asyncio.sleep(1.0)

        # Meanwhile the witness is served promptly, and the same session keeps producing
        # updates (from another tab) without the silent client's share piling up.
        await w.check()
        sibling = tab(server.url, t.http)
        await sibling.load()
        await sibling.join()
        tracemalloc.start()
        try:
            for _ in range(100):  # 100 x 100 kB: would stay allocated if buffered for the silent client
                await sibling.event(big)
            kept, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert kept < 5_000_000, f"{kept} bytes kept while the silent client was not reading"

        code, reason = (await t.closed(timeout=20))[:2]
        assert (code, reason) == (1008, "update queue overflow: client too slow")
        await w.check()


async def test_an_http_client_that_stops_polling_is_dropped(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board, max_queued_updates=8).app) as server:
        w = await witness(server.url).start()
        silent = tab(server.url)
        html = await silent.load()
        inc = element_id(html, "inc")
        await silent.join(transport="http")
        active = tab(server.url, silent.http)  # another tab of the session, over the WebSocket
        await active.load()
        await active.join()
        for _ in range(20):
            await active.event(inc)
        response = await silent.poll()
        assert response.status_code == 409
        assert silent.messages(response) == [{"t": "bye", "code": "rejoin", "msg": "client too slow: join again"}]
        # Rejoining gets the page as it is now.
        silent.cid = None
        joined = await silent.join(transport="http", rev=0)
        assert text_of(joined["p"][0][2], element_id(html, "value")) == "20"
        await w.check()


async def test_an_sse_client_that_stops_reading_is_dropped(live_server: Serve, tab, witness) -> None:
    webapp = WebApp(Big, max_queued_updates=8, events_per_second=1000, event_burst=1000)
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        silent = tab(server.url)
        html = await silent.load()
        big = element_id(html, "big")
        await silent.join(transport="http")
        active = tab(server.url, silent.http)
        await active.load()
        await active.join()
        async with silent.http.stream("GET", silent.url + "_lt/sse", params={"cid": silent.cid},
                                      headers={"Origin": silent.origin}) as stream:
            assert stream.status_code == 200
            for _ in range(200):  # 20 MB of updates: far more than TCP buffers hold
                await active.event(big)
            await w.check()  # served promptly meanwhile
            # Reading again: what was buffered, then the end of the stream, not 20 MB.
            received = 0
            async for chunk in stream.aiter_bytes():
                received += len(chunk)
        assert received < 150 * 100_000, received
        response = await silent.http.get(silent.url + "_lt/sse", params={"cid": silent.cid},
                                         headers={"Origin": silent.origin})
        assert response.status_code == 409  # dropped: it must join again (and gets the page again)
        assert silent.messages(response)[0]["code"] == "rejoin"
        await w.check()


async def test_the_session_cap_answers_503_with_retry_after(live_server: Serve, tab, witness) -> None:
    webapp = WebApp(Board, max_sessions=3)
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        for _ in range(2):  # joined: real sessions (page loads alone would make room, see test_sessions_budget)
            t = tab(server.url)
            await t.load()
            await t.join()
        full = await tab(server.url).http.get(server.url + "/")
        assert full.status_code == 503
        assert int(full.headers["retry-after"]) > 0
        assert "set-cookie" not in full.headers
        assert "full" in full.text
        # Live sessions are untouched, and a returning visitor still gets in.
        await w.check()
        returning = Tab(server.url, w.tab.http)
        await returning.load()
        await returning.aclose()


async def test_one_page_too_many_is_told_not_silently_ignored(live_server: Serve, tab) -> None:
    with live_server(WebApp(Board, events_per_second=1000, event_burst=1000).app) as server:
        first = tab(server.url)
        html = await first.load()
        pages = [first] + [tab(server.url, first.http) for _ in range(MAX_CLIENTS)]  # one cookie: one session
        for page in pages:
            page.token = first.token
            await page.join()
        last = pages[-1]
        last.seq += 1
        await last.send({"t": "ev", "s": last.seq, "id": element_id(html, "inc"), "n": "click", "d": {}, "sync": {}})
        # Either served, or told clearly (an error, a bye, a close): never left waiting.
        try:
            message = await last.recv(timeout=3)
        except ConnectionClosed:
            return
        assert message["t"] in ("up", "ack", "err", "bye"), message


async def test_a_connection_that_never_joins_is_closed(live_server: Serve, tab, witness,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "JOIN_TIMEOUT", 0.5)
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        await t.connect()
        code, reason = (await t.closed(timeout=5))[:2]
        assert code == 1008 and reason.startswith("expected a join message")
        await w.check()


async def test_a_connection_that_sends_only_garbage_is_closed(live_server: Serve, tab, witness,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "JOIN_TIMEOUT", 0.5)
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        await t.connect()

        async def garbage() -> None:
            with contextlib.suppress(ConnectionClosed):
                for _ in range(15):
                    await t.ws.send("{not json")  # type: ignore[union-attr]
                    await asyncio.sleep(0.2)

        sender = asyncio.ensure_future(garbage())
        try:
            code, _ = (await t.closed(timeout=2))[:2]
        finally:
            sender.cancel()
        assert code == 1008
        await w.check()
