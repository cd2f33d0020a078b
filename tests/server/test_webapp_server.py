"""``WebApp`` against a real uvicorn on a free port, speaking the real protocol."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from importlib import resources
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livetag import Event, Tag, WebApp
from livetag.runners.serve import BackgroundServer
from livetag.testing.wire import TIMEOUT, Tab, element_id, text_of, texts

Serve = Callable[..., AbstractContextManager[BackgroundServer]]
MakeTab = Callable[..., Tab]


class Counter(Tag.App):
    def init(self) -> None:
        self.count = 0
        self.value = Tag.span("0", _class="value")
        self <= Tag.h1("Counter <&>")
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= self.value

    def increment(self, e: Event) -> None:
        self.count += 1
        self.value.text = self.count


@pytest.fixture
async def tab() -> AsyncIterator[MakeTab]:
    """``tab(url)`` makes a ``Tab``; all of them are closed after the test."""
    made: list[Tab] = []

    def make(url: str, http: httpx.AsyncClient | None = None) -> Tab:
        made.append(Tab(url, http))
        return made[-1]

    yield make
    for t in made:
        await t.aclose()


async def closed(t: Tab) -> ConnectionClosed:
    """Wait for the server to close ``t``'s WebSocket; return how it closed."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await t.recv()
    return info.value


# -- the page and the script ---------------------------------------------------------------------


async def test_page_is_server_rendered_with_a_session_cookie(live_server: Serve, tab: MakeTab) -> None:
    with live_server(WebApp(Counter).app) as server:
        t = tab(server.url)
        html = await t.load()
        response = t.response
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-store"
        assert html.startswith("<!DOCTYPE html>")
        # Readable without any script: the title and the app's own markup are there, escaped.
        assert "<h1 " in html and "Counter &lt;&amp;&gt;</h1>" in html
        assert text_of(html, element_id(html, "value")) == "0"
        assert re.search(r'<button id="[^"]+" class="inc" data-lt="click">\+</button>', html)
        cookie = response.headers["set-cookie"]
        name, value = cookie.split(";")[0].split("=", 1)
        assert name == "lt_sid" and len(value) >= 43  # 256 bits, base64url
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
        assert "secure" not in attributes  # plain http: a Secure cookie would never come back

        # The same cookie gets the same session and no new cookie.
        again = await t.http.get(t.url)
        assert "set-cookie" not in again.headers
        assert f'data-lt-token="{t.token}"' in again.text

        # Another browser gets another session.
        other = tab(server.url)
        await other.load()
        assert other.token != t.token and other.cookie_header() != t.cookie_header()


async def test_a_forged_session_cookie_is_not_adopted(live_server: Serve, tab: MakeTab) -> None:
    with live_server(WebApp(Counter).app) as server:
        t = tab(server.url)
        t.http.cookies.set("lt_sid", "attacker-chosen-id")
        await t.load()
        assert "attacker-chosen-id" not in t.response.headers["set-cookie"]
        assert t.response.cookies["lt_sid"] != "attacker-chosen-id"


async def test_client_script_is_a_cacheable_static_file(live_server: Serve, tab: MakeTab) -> None:
    source = resources.files("livetag.client").joinpath("livetag.js").read_bytes()
    with live_server(WebApp(Counter).app) as server:
        t = tab(server.url)
        html = await t.load()
        src = re.search(r'<script src="([^"]+)" defer></script>', html).group(1)
        path, version = src.split("?v=")
        assert path == "/_lt/livetag.js" and version == hashlib.sha256(source).hexdigest()[:16]
        assert "<script>" not in html  # not inlined
        response = await t.http.get(server.url + src)
        assert response.status_code == 200 and response.content == source
        assert response.headers["content-type"].startswith("text/javascript")
        cache = response.headers["cache-control"]
        assert "immutable" in cache and "max-age=31536000" in cache and "public" in cache
        # Without the right version the file must be revalidated.
        for url in ("/_lt/livetag.js", "/_lt/livetag.js?v=0000"):
            response = await t.http.get(server.url + url)
            assert response.status_code == 200 and "immutable" not in response.headers["cache-control"]


# -- the WebSocket --------------------------------------------------------------------------------


async def test_join_event_update_round_trip(live_server: Serve, tab: MakeTab) -> None:
    with live_server(WebApp(Counter).app) as server:
        t = tab(server.url)
        html = await t.load()
        value, inc = element_id(html, "value"), element_id(html, "inc")
        joined = await t.join()
        assert joined == {"t": "joined", "cid": joined["cid"], "ack": 0, "rev": t.rev, "p": []}
        messages = await t.event(inc)
        assert messages == [{"t": "up", "rev": joined["rev"] + 1, "ack": 1, "p": [["t", value, "1"]]}]
        assert texts(await t.event(inc)) == ["2"]
        # A duplicate sequence number is acknowledged, not applied again.
        await t.send({"t": "ev", "s": 2, "id": inc, "n": "click", "d": {}, "sync": {}})
        assert await t.recv() == {"t": "ack", "ack": 2}
        # The page reflects the state at the next load.
        assert text_of(await t.load(), value) == "2"


async def test_a_ping_is_answered_on_every_transport(live_server: Serve, tab: MakeTab) -> None:
    with live_server(WebApp(Counter, heartbeat=7.5).app) as server:
        t = tab(server.url)
        html = await t.load()
        assert 'data-lt-heartbeat="7.5"' in html  # the page asks after 7.5 s of silence
        await t.join()
        await t.send({"t": "ping"})
        assert await t.recv() == {"t": "pong"}
        await t.event(element_id(html, "inc"))  # the session goes on as before
        for mode in ("sse", "http"):  # the response to the POST is the answer
            other = tab(server.url)
            await other.load()
            await other.join(transport=mode)
            answer = await other.post_events([{"t": "ping"}], mode=mode)
            assert answer.status_code == 204 if mode == "sse" else answer.json() == []
            await other.close()
        await t.close()


async def test_rejoin_resumes_and_rerenders_a_stale_page(live_server: Serve, tab: MakeTab) -> None:
    with live_server(WebApp(Counter).app) as server:
        t = tab(server.url)
        html = await t.load()
        inc = element_id(html, "inc")
        await t.join()
        await t.event(inc)
        old_rev, cid = t.rev, t.cid
        await t.close()
        other = tab(server.url, t.http)  # same cookie, another tab moves the state on
        await other.load()
        await other.join()
        await other.event(inc)
        joined = await t.join(rev=old_rev)
        assert joined["cid"] == cid and joined["ack"] == 1
        (op,) = joined["p"]
        assert op[0] == "o" and text_of(op[2], element_id(html, "value")) == "2"


async def test_protocol_errors_on_the_websocket(live_server: Serve, tab: MakeTab) -> None:
    webapp = WebApp(Counter, max_message_bytes=2000)
    with live_server(webapp.app) as server:
        t = tab(server.url)
        html = await t.load()
        await t.join()
        # A malformed message is answered and the connection stays usable.
        await t.send("{not json")
        err = await t.recv()
        assert err["t"] == "err" and err["code"] == "bad_message" and err["msg"].startswith("expected a JSON object")
        await t.send({"t": "ev", "s": "1", "id": "x", "n": "click"})
        assert (await t.recv())["msg"].startswith("expected field 's'")
        await t.send({"t": "join", "v": 1, "token": t.token, "cid": None, "rev": 0})
        assert (await t.recv())["code"] == "already_joined"
        await t.send(b"\x00binary")
        assert "binary" in (await t.recv())["msg"]
        assert texts(await t.event(element_id(html, "inc"))) == ["1"]
        # An oversize message closes with 1009.
        await t.send({"t": "ev", "s": 2, "id": "x", "n": "click", "d": {"v": "x" * 3000}})
        close = await closed(t)
        assert close.rcvd is not None and close.rcvd.code == 1009


@pytest.mark.parametrize(("join", "reason"), [
    ({"token": "wrong"}, "csrf"),
    ({"version": 999}, "version"),
])
async def test_join_with_a_wrong_token_or_version_is_closed(live_server: Serve, tab: MakeTab, join: dict[str, Any],
                                                           reason: str) -> None:
    with live_server(WebApp(Counter).app) as server:
        t = tab(server.url)
        await t.load()
        await t.connect()
        await t.send({"t": "join", "v": join.get("version", 1), "token": join.get("token", t.token), "cid": None,
                      "rev": 0})
        close = await closed(t)
        assert close.rcvd is not None and (close.rcvd.code, close.rcvd.reason) == (1008, reason)


async def test_an_event_before_join_is_refused(live_server: Serve, tab: MakeTab) -> None:
    with live_server(WebApp(Counter).app) as server:
        t = tab(server.url)
        html = await t.load()
        await t.connect()
        await t.send({"t": "ev", "s": 1, "id": element_id(html, "inc"), "n": "click"})
        close = await closed(t)
        assert close.rcvd is not None and (close.rcvd.code, close.rcvd.reason) == (1008, "not_joined")
        assert text_of(await t.load(), element_id(html, "value")) == "0"


async def test_two_clients_of_one_session_both_receive_updates(live_server: Serve, tab: MakeTab) -> None:
    with live_server(WebApp(Counter).app) as server:
        first = tab(server.url)
        html = await first.load()
        second = tab(server.url, first.http)
        await second.load()
        assert second.token == first.token
        await first.join()
        await second.join()
        value, inc = element_id(html, "value"), element_id(html, "inc")
        assert texts(await first.event(inc)) == ["1"]
        pushed = await second.next_update()
        assert pushed["p"] == [["t", value, "1"]] and pushed["ack"] == 0
        assert texts(await second.event(inc)) == ["2"]
        assert (await first.next_update())["p"] == [["t", value, "2"]]


async def test_a_foreign_origin_is_refused(live_server: Serve, tab: MakeTab) -> None:
    with live_server(WebApp(Counter).app) as server:
        t = tab(server.url)
        await t.load()
        for origin in ("http://evil.example", "http://127.0.0.1.evil.example", "null"):
            with pytest.raises(InvalidStatus) as info:
                await t.connect(origin=origin)
            assert info.value.response.status_code == 403
        await t.connect()  # its own origin is fine
        await t.join()


async def test_allowed_origins_are_accepted(live_server: Serve, tab: MakeTab) -> None:
    with live_server(WebApp(Counter, allowed_origins=("https://Example.com/",)).app) as server:
        t = tab(server.url)
        await t.load()
        await t.connect(origin="https://example.com")
        await t.join()


@pytest.mark.parametrize("cookie", ["", "lt_sid=unknown-session-id"])
async def test_an_unknown_session_gets_bye_expired_and_4404(live_server: Serve, tab: MakeTab, cookie: str) -> None:
    with live_server(WebApp(Counter).app) as server:
        t = tab(server.url)
        await t.connect(cookie=cookie)
        assert await t.recv() == {"t": "bye", "code": "expired", "msg": "session expired"}
        close = await closed(t)
        assert close.rcvd is not None and close.rcvd.code == 4404


async def test_a_client_disconnecting_does_not_stop_the_server(live_server: Serve, tab: MakeTab) -> None:
    with live_server(WebApp(Counter).app) as server:
        t = tab(server.url)
        html = await t.load()
        inc = element_id(html, "inc")
        await t.join()
        assert texts(await t.event(inc)) == ["1"]
        t.ws.transport.abort()  # vanish without a closing handshake
        t.ws = None
        again = tab(server.url, t.http)
        html = await again.load()
        await again.join()
        assert texts(await again.event(inc)) == ["2"]
        await again.close()
        await again.load()  # and plain HTTP still works after a clean close


async def test_an_interrupted_connection_does_not_abort_the_running_handler(live_server: Serve, tab: MakeTab) -> None:
    class Steps(Tag.App):
        def init(self) -> None:
            self.done = False
            self.out = Tag.span("idle", _class="out")
            self <= Tag.button("go", _class="go", _onclick=self.go)
            self <= self.out

        async def go(self) -> AsyncIterator[None]:
            for i in range(4):
                self.out.text = f"step {i}"
                yield
                await asyncio.sleep(0.15)
            self.done = True
            self.out.text = "done"

    webapp = WebApp(Steps)
    with live_server(webapp.app) as server:
        t = tab(server.url)
        html = await t.load()
        await t.join()
        await t.send({"t": "ev", "s": 1, "id": element_id(html, "go"), "n": "click", "d": {}, "sync": {}})
        assert (await t.next_update())["p"][0][2] == "step 0"
        await t.close()  # the page goes away while the handler is still yielding
        await asyncio.sleep(0.4)  # the handler's next yields find the socket closed
        joined = await t.join(rev=0)
        assert joined["ack"] == 1
        out = element_id(html, "out")
        text = text_of(joined["p"][0][2], out)
        while text != "done":  # the rest of the handler reaches the rejoined page
            text = (await t.next_update())["p"][0][2]
        assert webapp.registry.get(t.http.cookies["lt_sid"]).app.done


async def test_an_update_yielded_by_a_running_handler_goes_out_before_the_handler_ends(
        live_server: Serve, tab: MakeTab) -> None:
    release = threading.Event()  # set by the test, read by the server's loop thread

    class Slow(Tag.App):
        def init(self) -> None:
            self.out = Tag.span("idle", _class="out")
            self <= Tag.button("go", _class="go", _onclick=self.go)
            self <= self.out

        async def go(self) -> AsyncIterator[None]:
            self.out.text = "working"
            yield  # the reader is still inside this event: a writer task must send it
            for _ in range(500):
                if release.is_set():
                    break
                await asyncio.sleep(0.02)
            self.out.text = "done"

    with live_server(WebApp(Slow).app) as server:
        t = tab(server.url)
        html = await t.load()
        await t.join()
        await t.send({"t": "ev", "s": 1, "id": element_id(html, "go"), "n": "click", "d": {}, "sync": {}})
        assert (await asyncio.wait_for(t.next_update(), 5))["p"][0][2] == "working"
        release.set()
        done = await asyncio.wait_for(t.next_update(), 5)
        assert done["p"][0][2] == "done" and done["ack"] == 1


# -- mounting and sharing ------------------------------------------------------------------------


async def test_mounted_under_a_sub_path(live_server: Serve, tab: MakeTab) -> None:
    outer = Starlette(routes=[Mount("/ui", WebApp(Counter).app)])
    with live_server(outer) as server:
        t = tab(server.url + "/ui/")
        html = await t.load()
        assert 'data-lt-base="/ui"' in html
        cookie = t.response.headers["set-cookie"].lower()
        assert "path=/ui" in cookie and "httponly" in cookie
        src = re.search(r'<script src="([^"]+)"', html).group(1)
        assert src.startswith("/ui/_lt/livetag.js?v=")
        script = await t.http.get(server.url + src)
        assert script.status_code == 200 and "immutable" in script.headers["cache-control"]
        assert (await t.http.get(server.url + "/_lt/livetag.js")).status_code == 404
        assert t.ws_url.endswith("/ui/_lt/ws")
        await t.join()
        assert texts(await t.event(element_id(html, "inc"))) == ["1"]


async def test_two_apps_mounted_on_one_host_keep_their_sessions_apart(live_server: Serve, tab: MakeTab) -> None:
    outer = Starlette(routes=[Mount("/a", WebApp(Counter).app), Mount("/b", WebApp(Counter).app)])
    with live_server(outer) as server:
        http = httpx.AsyncClient(trust_env=False, timeout=TIMEOUT)
        a, b = tab(server.url + "/a/", http), tab(server.url + "/b/", http)
        html = await a.load()
        await b.load()
        assert a.token != b.token
        assert len(http.cookies.jar) == 2
        await a.join()
        assert texts(await a.event(element_id(html, "inc"))) == ["1"]
        html_b = await b.load()
        assert text_of(html_b, element_id(html_b, "value")) == "0"
        assert text_of(await a.load(), element_id(html, "value")) == "1"


async def test_an_app_instance_is_shared_and_a_class_is_not(live_server: Serve, tab: MakeTab) -> None:
    shared = Counter()
    with live_server(WebApp(shared).app) as server:
        alice, bob = tab(server.url), tab(server.url)
        html = await alice.load()
        await bob.load()
        assert alice.cookie_header() and alice.token == bob.token  # one session for everyone
        value, inc = element_id(html, "value"), element_id(html, "inc")
        await alice.join()
        await bob.join()
        await alice.event(inc)
        assert (await bob.next_update())["p"] == [["t", value, "1"]]
        assert text_of(await bob.load(), value) == "1"
        assert shared.count == 1

    with live_server(WebApp(Counter).app) as server:
        alice, bob = tab(server.url), tab(server.url)
        html = await alice.load()
        await bob.load()
        value, inc = element_id(html, "value"), element_id(html, "inc")
        await alice.join()
        await alice.event(inc)
        await alice.event(inc)
        html_bob = await bob.load()
        assert text_of(html_bob, element_id(html_bob, "value")) == "0"
        assert text_of(await alice.load(), value) == "2"


async def test_visitors_of_a_shared_instance_never_exhaust_the_session_limit(live_server: Serve, tab: MakeTab) -> None:
    # One shared app is one session: visitors must not pile up as sessions that can
    # never expire (the shared one never does) until the server answers 503 forever.
    webapp = WebApp(Counter(), max_sessions=2)
    with live_server(webapp.app) as server:
        for _ in range(5):
            visitor = tab(server.url)
            await visitor.load()
            await visitor.join()
        assert len(webapp.registry) <= 2
        other = WebApp(Counter, max_sessions=2)  # private sessions: the limit does apply
    with live_server(other.app) as server:
        for _ in range(2):  # joined: page loads alone would make room (issue 14)
            visitor = tab(server.url)
            await visitor.load()
            await visitor.join()
        response = await tab(server.url).http.get(server.url + "/")
        assert response.status_code == 503 and response.headers["retry-after"]


async def test_an_app_whose_init_fails_gives_a_500_page(live_server: Serve, tab: MakeTab) -> None:
    class Broken(Tag.App):
        def init(self) -> None:
            raise RuntimeError("<secret>")

    for debug in (False, True):
        with live_server(WebApp(Broken, debug=debug).app) as server:
            response = await tab(server.url).http.get(server.url + "/")
            assert response.status_code == 500
            assert "<secret>" not in response.text  # escaped when shown, hidden without debug
            assert ("&lt;secret&gt;" in response.text) is debug
