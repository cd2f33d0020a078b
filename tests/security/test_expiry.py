"""Idle expiry: a session without any connected client for ``session_timeout`` seconds is
discarded (its ``on_destroy`` runs), and whatever still names it gets the "expired"
answer: WebSocket ``bye`` + close 4404, HTTP 410 with a ``bye``."""

from __future__ import annotations

import asyncio

import pytest
from hostile import Board, Serve, eventually

from livetag import WebApp
from livetag.server import http
from livetag.testing.wire import Tab, element_id

TIMEOUT = 0.3
EXPIRED = [{"t": "bye", "code": "expired", "msg": "session expired"}]


def destroy_recorder() -> tuple[type[Board], list[str]]:
    destroyed: list[str] = []

    class Mortal(Board):
        def on_destroy(self) -> None:
            destroyed.append(self.id)

    return Mortal, destroyed


async def assert_expired_everywhere(t: Tab) -> None:
    """Every endpoint names the session as gone."""
    await t.connect()
    assert await t.recv() == EXPIRED[0]
    assert (await t.closed())[:2] == (4404, "session expired")
    t.ws = None
    join = {"t": "join", "v": 1, "token": t.token, "cid": t.cid, "rev": t.rev}
    for response in (
        await t.post("join", join, token=None),
        await t.post_events([t.ev("lt1")]),
        await t.post("cookie"),
        await t.poll(),
        await t.http.get(t.url + "_lt/sse", params={"cid": t.cid or ""}, headers={"Origin": t.origin}),
    ):
        assert response.status_code == 410, (response.request.url, response.status_code)
        assert t.messages(response) == EXPIRED


async def test_a_session_never_joined_expires(live_server: Serve, tab, witness) -> None:
    app, destroyed = destroy_recorder()
    webapp = WebApp(app, session_timeout=TIMEOUT)
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        await t.load()
        old_cookie = t.session_id
        await eventually(lambda: len(destroyed) == 1, "the session to expire", 5.0)
        await assert_expired_everywhere(t)
        # A page load starts afresh, under a new id.
        await t.load()
        assert t.session_id != old_cookie
        await asyncio.sleep(3 * TIMEOUT)
        await w.check()  # connected all along: never idle, never expired


async def test_a_session_whose_http_client_went_away_expires(live_server: Serve, tab, witness,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "HTTP_CLIENT_TIMEOUT", TIMEOUT)  # a poller silent this long is gone
    app, destroyed = destroy_recorder()
    webapp = WebApp(app, session_timeout=TIMEOUT)
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join(transport="http")
        await t.event(element_id(html, "inc"))
        await eventually(lambda: len(destroyed) == 1, "the session to expire", 5.0)
        await assert_expired_everywhere(t)
        await w.check()


async def test_a_session_whose_websocket_closed_expires(live_server: Serve, tab, witness) -> None:
    app, destroyed = destroy_recorder()
    webapp = WebApp(app, session_timeout=TIMEOUT)
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join()
        await t.event(element_id(html, "inc"))
        await t.close()
        await eventually(lambda: len(destroyed) == 1, "the session to expire", 10 * TIMEOUT)
        await assert_expired_everywhere(t)
        await w.check()
