"""Sessions: ids issued by the server only, cookie flags, ``?n``, shutdown, and the cookie
session (``request.session``) on every transport."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time

import httpx
import pytest
from hostile import Board, Serve
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount
from websockets.exceptions import ConnectionClosed

from livetag import Tag, WebApp
from livetag.session import MAX_CLIENTS
from livetag.testing.wire import TIMEOUT, Tab, element_id, text_of, texts

EXPIRED = {"t": "bye", "code": "expired", "msg": "session expired"}


def cookie_attributes(header: str) -> tuple[str, str, dict[str, str]]:
    """``(name, value, {attribute: value})`` of one ``Set-Cookie`` header, attributes
    lower-cased (``httponly`` -> ``""``)."""
    first, *rest = header.split(";")
    name, value = first.strip().split("=", 1)
    attributes = {}
    for part in rest:
        key, _, val = part.strip().partition("=")
        attributes[key.lower()] = val.lower()
    return name, value, attributes


def set_cookies(response: httpx.Response) -> dict[str, tuple[str, dict[str, str]]]:
    out = {}
    for header in response.headers.get_list("set-cookie"):
        name, value, attributes = cookie_attributes(header)
        out[name] = (value, attributes)
    return out


# -- fixation ---------------------------------------------------------------------------------------


async def test_a_client_chosen_session_id_is_never_adopted(live_server: Serve, tab, witness) -> None:
    webapp = WebApp(Board)
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        chosen = base64.urlsafe_b64encode(b"\x01" * 32).decode().rstrip("=")  # well-formed, just not issued
        real = w.tab.session_id
        near = real[:-1] + ("B" if real.endswith("A") else "A")  # one character off, never the same
        for forged in (chosen, "attacker", near, ""):
            t = tab(server.url)
            t.http.cookies.set("lt_sid", forged)
            # Named by WebSocket, SSE, long-poll or POST, the id is unknown: "expired".
            await t.connect(cookie=f"lt_sid={forged}")
            assert await t.recv() == EXPIRED
            assert (await t.closed())[:2] == (4404, "session expired")
            t.ws = None
            for response in (await t.http.get(t.url + "_lt/sse", params={"cid": "abcdefgh"}),
                             await t.http.get(t.url + "_lt/poll", params={"cid": "abcdefgh"}),
                             await t.post("event", [], params={"cid": "abcdefgh", "mode": "http"}, token="x"),
                             await t.post("join", {"t": "join", "v": 1, "token": "x", "cid": None, "rev": 0})):
                assert response.status_code == 410 and response.json() == [EXPIRED]
            # A page load replaces it with a fresh id of 256 random bits.
            await t.load()
            issued = set_cookies(t.response)["lt_sid"][0]
            assert issued != forged and issued != w.tab.session_id
            assert len(base64.urlsafe_b64decode(issued + "=")) == 32
        await w.check()


async def test_session_ids_are_distinct_and_unguessable(live_server: Serve, tab) -> None:
    with live_server(WebApp(Board).app) as server:
        ids = set()
        for _ in range(20):
            t = tab(server.url)
            await t.load()
            ids.add(t.session_id)
        assert len(ids) == 20
        # 43 base64url chars each, no shared prefix structure (not a counter or a timestamp).
        assert all(len(i) == 43 for i in ids)
        assert len({i[:4] for i in ids}) > 15


# -- cookie flags -----------------------------------------------------------------------------------


async def test_session_cookie_flags_at_the_root(live_server: Serve, tab) -> None:
    with live_server(WebApp(Board).app) as server:
        t = tab(server.url)
        await t.load()
        _, attributes = set_cookies(t.response)["lt_sid"]
        assert "httponly" in attributes and attributes["samesite"] == "lax" and attributes["path"] == "/"
        assert "secure" not in attributes  # plain http: a Secure cookie would never come back
        assert "domain" not in attributes  # host-only
        assert t.response.headers["cache-control"] == "no-store"


async def test_session_cookie_path_is_the_mount_point(live_server: Serve, tab) -> None:
    outer = Starlette(routes=[Mount("/ui", WebApp(Board).app)])
    with live_server(outer) as server:
        t = tab(server.url + "/ui/")
        await t.load()
        name, (_, attributes) = next(iter(set_cookies(t.response).items()))
        assert name.startswith("lt_sid") and attributes["path"] == "/ui"
        assert "httponly" in attributes and attributes["samesite"] == "lax"


@pytest.mark.parametrize(("trusted", "secure"), [(True, True), (False, False)],
                         ids=["proxy-trusted", "proxy-not-trusted"])
async def test_cookies_are_secure_behind_an_https_proxy_only_when_it_is_trusted(
        live_server: Serve, tab, trusted: bool, secure: bool) -> None:
    # uvicorn rewrites the scheme from X-Forwarded-Proto only for proxies it trusts
    # (--proxy-headers and --forwarded-allow-ips); livetag follows the scheme it reports.
    options = {"proxy_headers": trusted, "forwarded_allow_ips": "127.0.0.1"}
    with live_server(WebApp(Visits).app, **options) as server:
        t = tab(server.url)
        t.http.headers["X-Forwarded-Proto"] = "https"
        html = await t.load()
        session_id, attributes = set_cookies(t.response)["lt_sid"]
        assert ("secure" in attributes) is secure
        # The cookie behind request.session follows the same rule. (This test client talks
        # plain http to the proxy's back end, so it hands the Secure cookie back itself.)
        t.http.cookies.clear()
        t.http.cookies.set("lt_sid", session_id)
        await t.join(transport="http")
        response = await t.post_events([t.ev(element_id(html, "write"))],
                                       origin="https://" + t.origin.split("://")[1] if secure else t.origin)
        assert response.status_code == 200, response.text
        _, attributes = set_cookies(response)["lt_session"]
        assert ("secure" in attributes) is secure
        assert "httponly" in attributes and attributes["samesite"] == "lax" and attributes["path"] == "/"


# -- ?n and shutdown --------------------------------------------------------------------------------


def destroy_recorder() -> tuple[type[Board], list[int]]:
    destroyed: list[int] = []

    class Mortal(Board):
        def on_destroy(self) -> None:
            destroyed.append(self.count)

    return Mortal, destroyed


async def test_query_n_discards_the_session_and_starts_a_new_one(live_server: Serve, tab, witness) -> None:
    app, destroyed = destroy_recorder()
    with live_server(WebApp(app).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        old_id, old_token = t.session_id, t.token
        await t.join(transport="http")
        for _ in range(3):
            await t.event(element_id(html, "inc"))
        fresh = await t.http.get(t.url + "?n")
        assert fresh.status_code == 200
        assert destroyed == [3]  # the old app's on_destroy ran, with its state
        new_id = set_cookies(fresh)["lt_sid"][0]
        assert new_id != old_id and old_token not in fresh.text
        assert text_of(fresh.text, element_id(fresh.text, "value")) == "0"
        # The old id is gone for good.
        old = tab(server.url)
        old.token = old_token
        old.http.cookies.set("lt_sid", old_id)
        response = await old.post("event", [], params={"cid": "abcdefgh", "mode": "http"})
        assert response.status_code == 410
        await w.check()
        assert len(destroyed) == 1


async def test_a_discarded_sessions_websocket_is_closed_and_runs_no_handler(live_server: Serve, tab,
                                                                          witness) -> None:
    destroyed: list[int] = []
    ran_after_destroy: list[int] = []

    class Watched(Board):
        dead = False

        def on_destroy(self) -> None:
            self.dead = True
            destroyed.append(self.count)

        def increment(self) -> None:
            if self.dead:
                ran_after_destroy.append(self.count)
            super().increment()

    with live_server(WebApp(Watched).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join()
        await t.http.get(t.url + "?n")
        assert destroyed == [0]
        assert (await t.recv()) == {"t": "bye", "code": "expired", "msg": "the session ended"}
        t.seq += 1
        with contextlib.suppress(ConnectionClosed):
            await t.send({"t": "ev", "s": t.seq, "id": element_id(html, "inc"), "n": "click", "d": {}, "sync": {}})
        await asyncio.sleep(0.3)
        assert ran_after_destroy == []
        assert (await t.closed(timeout=2))[:2][0] == 4404
        await w.check()


async def test_server_shutdown_runs_on_destroy_of_every_session(live_server: Serve, tab) -> None:
    app, destroyed = destroy_recorder()
    with live_server(WebApp(app).app) as server:
        tabs = [tab(server.url) for _ in range(3)]
        for i, t in enumerate(tabs):
            html = await t.load()
            await t.join(transport="http")
            for _ in range(i):
                await t.event(element_id(html, "inc"))
        await tabs[0].join()  # one of them connected by WebSocket at shutdown
        assert destroyed == []
        started = time.monotonic()
    assert sorted(destroyed) == [0, 1, 2]
    assert time.monotonic() - started < 10  # an open connection does not hang the shutdown


# -- request.session ---------------------------------------------------------------------------------


class Visits(Board):
    """Counts visits in the cookie session, readable and writable from handlers."""

    def build(self) -> None:
        self.seen = Tag.span("", _class="seen")
        self <= Tag.button("write", _class="write", _onclick=self.write)
        self <= Tag.button("read", _class="read", _onclick=self.read)
        self <= self.seen

    def write(self) -> None:
        session = self.request.session
        session["visits"] = session.get("visits", 0) + 1

    def read(self) -> None:
        self.seen.text = str(self.request.session.get("visits"))


async def test_request_session_over_http(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Visits).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        write, read = element_id(html, "write"), element_id(html, "read")
        await t.join(transport="http")
        response = await t.post_events([t.ev(write)])
        assert response.status_code == 200
        _value, attributes = set_cookies(response)["lt_session"]
        assert "httponly" in attributes and attributes["samesite"] == "lax"
        assert texts(await t.event(read)) == ["1"]
        await t.event(write)
        assert texts(await t.event(read)) == ["2"]
        await w.check()


async def ws_session_round_trip(t: Tab, html: str, cookie_name: str) -> None:
    """A WebSocket handler writes request.session; the page fetches the cookie over HTTP;
    a new connection's handler reads it back."""
    write, read = element_id(html, "write"), element_id(html, "read")
    await t.join()
    await t.event(write)
    assert await t.recv() == {"t": "cookie"}  # a WebSocket cannot set cookies: the page must fetch it
    assert (await t.post("cookie", token=None)).status_code == 403
    response = await t.post("cookie")
    assert response.status_code == 204
    assert cookie_name in set_cookies(response)
    await t.close()
    await t.join()
    assert texts(await t.event(read)) == ["1"]


async def test_request_session_over_the_websocket(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Visits).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await ws_session_round_trip(t, html, "lt_session")
        await w.check()


async def test_request_session_with_the_applications_own_session_middleware(live_server: Serve, tab) -> None:
    outer = Starlette(routes=[Mount("/ui", WebApp(Visits).app)],
                      middleware=[Middleware(SessionMiddleware, secret_key="app secret", session_cookie="mine")])
    with live_server(outer) as server:
        t = tab(server.url + "/ui/")
        html = await t.load()
        await ws_session_round_trip(t, html, "mine")
        await t.close()
        h = tab(server.url + "/ui/", t.http)
        await h.load()
        await h.join(transport="http")
        response = await h.post_events([h.ev(element_id(html, "write"))])
        assert "mine" in set_cookies(response) and "lt_session" not in set_cookies(response)
        assert texts(await h.event(element_id(html, "read"))) == ["2"]
        assert all(c.name != "lt_session" for c in t.http.cookies.jar)


async def test_two_mounted_apps_keep_their_cookie_sessions_apart(live_server: Serve, tab) -> None:
    outer = Starlette(routes=[Mount("/a", WebApp(Visits).app), Mount("/b", WebApp(Visits).app)])
    with live_server(outer) as server:
        http = httpx.AsyncClient(trust_env=False, timeout=TIMEOUT)
        a, b = tab(server.url + "/a/", http), tab(server.url + "/b/", http)
        html_a, html_b = await a.load(), await b.load()
        await a.join(transport="http")
        await b.join(transport="http")
        await a.event(element_id(html_a, "write"))
        await b.event(element_id(html_b, "write"))
        await b.event(element_id(html_b, "write"))
        assert texts(await a.event(element_id(html_a, "read"))) == ["1"]
        assert texts(await b.event(element_id(html_b, "read"))) == ["2"]
        paths = sorted(c.path for c in http.cookies.jar if c.name == "lt_session")
        assert paths == ["/a", "/b"]


async def test_a_page_reloaded_many_times_still_works(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Board).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        for _ in range(MAX_CLIENTS + 2):  # F5: a new page (no client id), a new WebSocket
            html = await t.load()
            t.cid = None
            await t.join()
            await t.close()
        html = await t.load()
        t.cid = None
        await t.join()
        t.seq += 1
        await t.send({"t": "ev", "s": t.seq, "id": element_id(html, "inc"), "n": "click", "d": {}, "sync": {}})
        assert texts([await t.recv(timeout=3)]) == ["1"]
        await w.check()
