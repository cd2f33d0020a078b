"""CSRF: a page of another site cannot drive a session, on any transport.

Two independent checks: the session's CSRF token (in the ``join`` message, and in the
``X-Livetag-Token`` header of every POST), compared in constant time; and the ``Origin``
header (WebSocket handshake, every HTTP endpoint) against the host and
``allowed_origins``. The session cookie is ``SameSite=Lax`` besides (see
``test_sessions``).
"""

from __future__ import annotations

import pytest
from hostile import Board, Serve
from websockets.exceptions import InvalidStatus

from livetag import WebApp
from livetag.testing.wire import element_id, text_of

EVIL = "http://evil.example"


async def clicks_applied(t, html: str) -> str:
    """The attacked session's counter, read from a fresh page load."""
    return text_of(await t.load(), element_id(html, "value"))


# -- the token --------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["wrong", "", "x" * 43])
async def test_websocket_join_with_a_wrong_token_is_closed_1008_csrf(live_server: Serve, tab, witness,
                                                                     token: str) -> None:
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.connect()
        await t.send({"t": "join", "v": 1, "token": token, "cid": None, "rev": t.rev})
        assert (await t.closed())[:2] == (1008, "csrf")
        # Nothing of the session was reachable: an event on a fresh socket without a join is refused too.
        await t.connect()
        await t.send({"t": "ev", "s": 1, "id": element_id(html, "inc"), "n": "click", "d": {}, "sync": {}})
        assert (await t.closed())[:2] == (1008, "not_joined")
        assert await clicks_applied(t, html) == "0"
        await w.check()


async def test_websocket_join_with_another_sessions_token_is_closed(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        await t.connect()
        await t.send({"t": "join", "v": 1, "token": w.tab.token, "cid": None, "rev": t.rev})
        assert (await t.closed())[:2] == (1008, "csrf")
        await w.check()


async def test_websocket_join_without_a_token_is_closed_1008_csrf(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        await t.connect()
        await t.send({"t": "join", "v": 1, "cid": None, "rev": t.rev})
        assert (await t.closed(timeout=3))[:2] == (1008, "csrf")
        await w.check()


@pytest.mark.parametrize("token", ["wrong", "", "x" * 43])
async def test_http_join_with_a_wrong_token_is_403(live_server: Serve, tab, witness, token: str) -> None:
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        response = await t.post("join", {"t": "join", "v": 1, "token": token, "cid": None, "rev": 0}, token=None)
        assert response.status_code == 403
        assert t.messages(response) == [{"t": "err", "code": "csrf", "msg": "expected the session's CSRF token, "
                                                                         "got another value"}]
        await w.check()


async def test_http_join_without_a_token_is_403(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        response = await t.post("join", {"t": "join", "v": 1, "cid": None, "rev": 0}, token=None)
        assert response.status_code == 403 and t.messages(response)[0]["code"] == "csrf"
        await w.check()


@pytest.mark.parametrize("token", [None, "", "wrong", "witness"])
async def test_events_posted_without_the_right_token_are_403(live_server: Serve, tab, witness,
                                                            token: str | None) -> None:
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join(transport="http")
        sent = w.tab.token if token == "witness" else token
        response = await t.post_events([t.ev(element_id(html, "inc"))], token=sent)
        assert response.status_code == 403
        assert t.messages(response)[0] == {"t": "err", "code": "csrf",
                                           "msg": "expected the session's CSRF token in X-Livetag-Token"}
        assert await clicks_applied(t, html) == "0"  # no handler ran
        # The session itself is fine: with its token, the same event goes through.
        messages = await t.event(element_id(html, "inc"))
        assert messages[-1]["ack"] == t.seq
        assert await clicks_applied(t, html) == "1"
        await w.check()


async def test_the_cookie_endpoint_needs_the_token(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        for token in (None, "wrong"):
            assert (await t.post("cookie", token=token)).status_code == 403
        assert (await t.post("cookie")).status_code == 204
        await w.check()


# -- the origin -------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [EVIL, "http://127.0.0.1.evil.example", "null", "https://evil.example:443"])
async def test_a_foreign_origin_is_refused_at_the_websocket_handshake(live_server: Serve, tab, witness,
                                                                      origin: str) -> None:
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        with pytest.raises(InvalidStatus) as info:
            await t.connect(origin=origin)
        assert info.value.response.status_code == 403
        await w.check()


async def test_a_foreign_origin_is_refused_on_every_http_endpoint(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join(transport="http")
        join = {"t": "join", "v": 1, "token": t.token, "cid": None, "rev": t.rev}
        refused = [
            await t.post("join", join, token=None, origin=EVIL),
            await t.post_events([t.ev(element_id(html, "inc"))], origin=EVIL),
            await t.post("cookie", origin=EVIL),
            await t.http.get(t.url + "_lt/poll", params={"cid": t.cid}, headers={"Origin": EVIL}),
            await t.http.get(t.url + "_lt/sse", params={"cid": t.cid}, headers={"Origin": EVIL}),
        ]
        for response in refused:
            assert response.status_code == 403, (response.request.url, response.status_code)
            assert t.messages(response) == [{"t": "err", "code": "origin", "msg": "origin not allowed"}]
        assert await clicks_applied(t, html) == "0"
        await w.check()


async def test_allowed_origins_are_accepted_on_every_transport(live_server: Serve, tab, witness) -> None:
    webapp = WebApp(Board, allowed_origins=("https://Example.com/",))
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.connect(origin="https://example.com")
        await t.join()
        await t.event(element_id(html, "inc"))
        await t.close()
        h = tab(server.url, t.http)
        await h.load()
        response = await h.post("join", {"t": "join", "v": 1, "token": h.token, "cid": None, "rev": h.rev},
                                token=None, origin="https://example.com")
        assert response.status_code == 200
        h.cid = h.messages(response)[0]["cid"]
        response = await h.post_events([h.ev(element_id(html, "inc"))], origin="https://example.com")
        assert response.status_code == 200
        assert await clicks_applied(h, html) == "2"
        # Only the listed origin: a neighbour of it is still foreign.
        with pytest.raises(InvalidStatus):
            await h.connect(origin="https://sub.example.com")
        await w.check()
