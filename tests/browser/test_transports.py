"""Transports in Chromium: automatic fallback, exactly-once events across a dropped
connection, a server restart under an open page, and parano mode on each transport."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from lt_browser import connected, no_error_overlay
from playwright.sync_api import Page, expect

from livetag import Tag, WebApp
from livetag.runners.serve import BackgroundServer

pytestmark = pytest.mark.browser

Serve = Callable[..., AbstractContextManager[BackgroundServer]]


class Counter(Tag.App):
    def init(self) -> None:
        self.count = 0
        self.value = Tag.span("0", _class="value")
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= self.value

    def increment(self, e: Any) -> None:
        self.count += 1
        self.value.text = self.count


class Ticker(Tag.App):
    """Changes the page from a background task, with no user event."""

    def init(self) -> None:
        self.ticks = Tag.span("0", _class="ticks")
        self <= self.ticks

    async def on_mount(self) -> None:
        for n in range(1, 1000):
            await asyncio.sleep(0.2)
            self.ticks.text = n


class Refuse:
    """An ASGI wrapper that makes some transports unreachable, as a proxy would."""

    def __init__(self, app: Any, *, websocket: bool = False, sse: bool = False) -> None:
        self.app, self.websocket, self.sse = app, websocket, sse

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.websocket and scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
            return
        if self.sse and scope["type"] == "http" and scope["path"].endswith("/_lt/sse"):
            await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": b"blocked"})
            return
        await self.app(scope, receive, send)


class Freeze:
    """An ASGI wrapper whose open WebSockets go silent at ``freeze()``, as those of a
    machine that froze or lost power: no close, no reset, what either side sends is lost.
    Connections opened later work (the load balancer sends them to a live machine)."""

    def __init__(self, app: Any) -> None:
        self.app, self.generation = app, 0

    def freeze(self) -> None:
        self.generation += 1

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        born = self.generation

        async def silent_receive() -> Any:
            while True:
                message = await receive()
                if self.generation == born or message["type"] == "websocket.disconnect":
                    return message

        async def silent_send(message: Any) -> None:
            if self.generation == born or message["type"] != "websocket.send":
                await send(message)

        await self.app(scope, silent_receive, silent_send)


def force(page: Page, url: str, mode: str) -> None:
    page.context.add_cookies([{"name": "livetag_mode", "value": mode, "url": url}])


@pytest.mark.parametrize(("blocked", "expected"), [({"websocket": True}, "sse"),
                                                   ({"websocket": True, "sse": True}, "http")])
def test_the_client_falls_back_when_a_transport_is_blocked(live_server: Serve, page: Page,
                                                           blocked: dict[str, bool], expected: str) -> None:
    with live_server(Refuse(WebApp(Counter).app, **blocked)) as server:
        page.goto(server.url + "/")
        # SSE joins by POST before its stream opens: the page may be joined on "sse" for the
        # moment the blocked stream takes to fail, then falls back and joins again.
        page.wait_for_function("([kind]) => livetag.connected && livetag.transport === kind", arg=[expected])
        for _ in range(3):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("3")
        no_error_overlay(page)


@pytest.mark.parametrize("mode", ["sse", "http"])
def test_background_updates_arrive_on_http_transports(live_server: Serve, page: Page, mode: str) -> None:
    with live_server(WebApp(Ticker).app) as server:
        force(page, server.url, mode)
        page.goto(server.url + "/")
        connected(page)
        # No user event: the long-poll or the stream carries the ticks.
        expect(page.locator(".ticks")).not_to_have_text("0", timeout=5000)
        first = int(page.locator(".ticks").text_content() or 0)
        expect(page.locator(".ticks")).not_to_have_text(str(first), timeout=5000)


def test_the_fallback_is_decided_per_page_load(live_server: Serve, page: Page) -> None:
    webapp = WebApp(Counter)
    refuse = Refuse(webapp.app, websocket=True)
    with live_server(refuse) as server:
        page.goto(server.url + "/")
        connected(page)
        assert page.evaluate("livetag.transport") == "sse"
        refuse.websocket = False  # the proxy lets WebSockets through again
        page.reload()
        connected(page)
        assert page.evaluate("livetag.transport") == "ws"


def test_a_connection_killed_in_a_burst_of_clicks_loses_and_repeats_nothing(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Counter).app) as server:
        page.goto(server.url + "/")
        connected(page)
        button = page.locator("button.inc")
        for n in range(60):
            button.click()
            if n == 20:
                page.evaluate("window.__ltSockets.forEach(ws => ws.close())")
            if n == 40:  # and once more while the page may still be resending
                page.evaluate("window.__ltSockets.forEach(ws => ws.close())")
        expect(page.locator(".value")).to_have_text("60")
        page.reload()  # the server agrees: 60, not 59 or 61
        expect(page.locator(".value")).to_have_text("60")


def test_events_queued_while_disconnected_are_sent_after_reconnecting(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Counter).app) as server:
        page.goto(server.url + "/")
        connected(page)
        page.evaluate("window.__ltBlock = true; window.__ltSockets.forEach(ws => ws.close())")
        page.wait_for_function("!livetag.connected")
        for _ in range(5):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("0")
        expect(page.locator("body")).to_have_class(re.compile(r"\blt-busy\b"))
        expect(page.locator("#lt-status")).to_be_visible()  # the discreet "reconnecting" state
        page.evaluate("window.__ltBlock = false")
        expect(page.locator(".value")).to_have_text("5", timeout=10_000)
        expect(page.locator("#lt-status")).to_have_count(0)


def test_a_server_restart_under_an_open_page_recovers_into_a_fresh_session(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Counter).app) as first:
        port, url = first.port, first.url
        page.goto(url + "/")
        connected(page)
        for _ in range(3):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("3")
    page.wait_for_function("!livetag.connected")
    with live_server(WebApp(Counter).app, port=port):
        # The new server does not know the session: the page reloads into a new one.
        expect(page.locator(".value")).to_have_text("0", timeout=15_000)
        connected(page)
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("1")
        no_error_overlay(page)


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_parano_mode_works_on_every_transport_and_hides_the_payloads(live_server: Serve, page: Page, mode: str) -> None:
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(str(payload))))
    bodies: list[str] = []
    page.on("request", lambda r: bodies.append(r.post_data or "") if "/_lt/" in r.url and r.method == "POST" else None)
    with live_server(WebApp(Counter, parano=True).app) as server:
        if mode != "ws":
            force(page, server.url, mode)
        page.goto(server.url + "/")
        connected(page)
        assert page.evaluate("livetag.transport") == mode
        for _ in range(4):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("4")
        sent = frames if mode == "ws" else bodies
        assert sent, "expected payloads on the wire"
        for payload in sent:
            assert '"t"' not in payload and "join" not in payload and "click" not in payload, payload
        no_error_overlay(page)


def test_a_server_gone_silent_is_left_for_a_new_connection(live_server: Serve, page: Page) -> None:
    # Without the heartbeat the page would wait on the silent socket forever.
    frozen = Freeze(WebApp(Counter, heartbeat=1).app)
    with live_server(frozen) as server:
        page.goto(server.url + "/")
        connected(page)
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("1")
        frozen.freeze()
        page.click("button.inc")  # lost on the way: the page re-sends it once it joined again
        expect(page.locator(".value")).to_have_text("2", timeout=20_000)
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("3")
        no_error_overlay(page)
