"""Errors where they happen, and feedback users can see, in Chromium.

Each kind of failure of the app's code (init, a reactive child, a reactive attribute, a
handler, a lifecycle hook, a background task, the page's JavaScript) shows in the error
overlay in debug (the app's frame first) and as a generic message with an error id in
production; the session and its socket live on (the next click works on the same
WebSocket). Then the busy bar, the offline banner with actions queued and applied once,
and the notice when the server lost the session.
"""

from __future__ import annotations

import asyncio
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from lt_browser import SOCKET_CONTROL, connected
from playwright.sync_api import Page, expect

from livetag import State, Tag, WebApp
from livetag.runners.serve import BackgroundServer

pytestmark = pytest.mark.browser

Serve = Callable[..., AbstractContextManager[BackgroundServer]]
HERE = "test_errors_feedback.py"


def child_fails() -> str:
    raise ValueError("the child failed")


def class_fails() -> str:
    raise KeyError("no such class")


class Failing(Tag.div):
    def on_mount(self) -> None:
        raise RuntimeError("the hook failed")


class Faulty(Tag.App):
    def init(self) -> None:
        self.count = 0
        self.mode = State("fine")
        self.out = Tag.span("0", _class="count")
        self <= Tag.div(lambda: child_fails() if self.mode.get() == "child" else "child ok", _class="child")
        self <= Tag.div("attr", _class=lambda: class_fails() if self.mode.get() == "attr" else "attr-ok")
        self <= Tag.button("ok", _class="ok", _onclick=self.ok)
        self <= Tag.button("child", _class="break-child", _onclick=lambda: self.mode.set("child"))
        self <= Tag.button("attr", _class="break-attr", _onclick=lambda: self.mode.set("attr"))
        self <= Tag.button("handler", _class="break-handler", _onclick=self.raises)
        self <= Tag.button("hook", _class="break-hook", _onclick=lambda: self.add(Failing()))
        self <= Tag.button("task", _class="break-task", _onclick=self.spawn)
        self <= self.out

    def ok(self) -> None:
        self.count += 1
        self.out.text = self.count

    def raises(self) -> None:
        raise ZeroDivisionError("the handler failed")

    async def spawn(self) -> None:
        async def job() -> None:
            await asyncio.sleep(0.01)
            raise LookupError("the task failed")

        self.task = asyncio.create_task(job())


@pytest.fixture
def tab(context: Any) -> Iterator[Callable[[str], Page]]:
    """``tab(url)``: a page loaded and joined. Unlike the ``page`` fixture, an uncaught
    JavaScript error does not fail the test: one test provokes one on purpose."""
    pages: list[Page] = []

    def open_(url: str) -> Page:
        page = context.new_page()
        page.add_init_script(SOCKET_CONTROL)
        page.goto(url)
        connected(page)
        pages.append(page)
        return page

    yield open_


def sockets(page: Page) -> int:
    return int(page.evaluate("window.__ltSockets.length"))


def app_frame_first(trace: str) -> str:
    """The first frame line of a trace (after the exception line)."""
    return next(line for line in trace.splitlines() if line.startswith("  "))


def still_alive(page: Page, expected: int) -> None:
    """The session and its socket survived: a click on the same WebSocket works."""
    page.click(".ok")
    expect(page.locator(".count")).to_have_text(str(expected))
    assert sockets(page) == 1 and page.evaluate("livetag.connected")


KINDS = [
    (".break-child", "reactive child of <div", "ValueError: the child failed", "in child_fails"),
    (".break-attr", "reactive attribute of <div", "KeyError: 'no such class'", "in class_fails"),
    (".break-handler", "handler of 'click' on <button>", "ZeroDivisionError: the handler failed", "in raises"),
    (".break-hook", "on_mount of", "RuntimeError: the hook failed", "in on_mount"),
    (".break-task", "background task", "LookupError: the task failed", "in job"),
]


@pytest.mark.parametrize(("button", "what", "error", "frame"), KINDS,
                         ids=["reactive-child", "reactive-attr", "handler", "hook", "task"])
def test_debug_shows_the_error_with_the_app_frame_first_and_the_session_lives_on(
        live_server: Serve, tab: Callable[[str], Page], button: str, what: str, error: str, frame: str) -> None:
    with live_server(WebApp(Faulty, debug=True).app) as server:
        page = tab(server.url + "/")
        still_alive(page, 1)
        page.click(button)
        overlay = page.locator("#lt-error")
        expect(overlay).to_be_visible()
        expect(overlay).to_have_attribute("role", "alert")
        message = page.locator("#lt-error .lt-error-msg").first
        expect(message).to_contain_text(what)
        expect(message).to_contain_text(error)
        trace = page.locator("#lt-error .lt-error-trace").first.text_content() or ""
        first = app_frame_first(trace)
        assert HERE in first and first.endswith(frame), trace
        assert "livetag/" not in trace.split("then, in livetag")[0], trace
        page.click("#lt-error .lt-error-close")
        expect(overlay).to_have_count(0)
        still_alive(page, 2)


@pytest.mark.parametrize(("button", "what", "error", "frame"), KINDS,
                         ids=["reactive-child", "reactive-attr", "handler", "hook", "task"])
def test_production_shows_a_generic_message_with_the_id_the_log_has(
        live_server: Serve, tab: Callable[[str], Page], caplog: pytest.LogCaptureFixture,
        button: str, what: str, error: str, frame: str) -> None:
    with caplog.at_level(logging.ERROR, "livetag"), live_server(WebApp(Faulty, debug=False).app) as server:
        page = tab(server.url + "/")
        page.click(button)
        message = page.locator("#lt-error .lt-error-msg").first
        expect(message).to_have_text(re.compile(r"^an internal error occurred \(error id [0-9a-f]{8}\)$"))
        assert page.locator("#lt-error .lt-error-trace").count() == 0
        error_id = re.findall(r"error id ([0-9a-f]{8})", message.text_content() or "")[0]
        logged = [r for r in caplog.records if error_id in r.getMessage()]
        assert logged and logged[0].exc_info is not None and error.split(":")[0] in caplog.text
        still_alive(page, 1)


def test_a_javascript_error_shows_in_the_overlay_in_debug(live_server: Serve, tab: Callable[[str], Page]) -> None:
    with live_server(WebApp(Faulty, debug=True).app) as server:
        page = tab(server.url + "/")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.evaluate("setTimeout(() => { throw new TypeError('the page script failed'); })")
        expect(page.locator("#lt-error .lt-error-msg")).to_contain_text("JavaScript error: the page script failed")
        assert errors  # the browser saw it too: the overlay adds to the console, hides nothing
        still_alive(page, 1)


class InitFails(Tag.App):
    def init(self) -> None:
        self.load()

    def load(self) -> None:
        raise ValueError("<b>the init failed</b>")


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_an_init_failure_renders_an_error_page_with_status_500(
        live_server: Serve, tab: Callable[[str], Page], context: Any, caplog: pytest.LogCaptureFixture) -> None:
    with live_server(WebApp(InitFails, debug=True).app) as server:
        status, body = fetch(server.url + "/")
        assert status == 500 and "<b>the init failed</b>" not in body  # escaped
        page = context.new_page()
        page.goto(server.url + "/")
        expect(page.locator("#lt-error-title")).to_contain_text("ValueError: <b>the init failed</b>")
        first = app_frame_first(page.locator("#lt-error-trace").text_content() or "")
        assert HERE in first and first.endswith("in load")
    with caplog.at_level(logging.ERROR, "livetag"), live_server(WebApp(InitFails, debug=False).app) as server:
        status, body = fetch(server.url + "/")
        assert status == 500 and "the init failed" not in body and "Traceback" not in body
        error_id = re.findall(r"error id ([0-9a-f]{8})", body)[0]
        assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


# -- feedback ------------------------------------------------------------------------------


class Slow(Tag.App):
    def init(self) -> None:
        self.out = Tag.span("idle", _class="out")
        self <= Tag.button("fast", _class="fast", _onclick=lambda: self.done("fast"))
        self <= Tag.button("slow", _class="slow", _onclick=self.slow)
        self <= self.out

    def done(self, what: str) -> None:
        self.out.text = what

    async def slow(self) -> None:
        await asyncio.sleep(1.5)
        self.done("slow")


def test_the_busy_bar_shows_during_a_slow_handler_only(live_server: Serve, tab: Callable[[str], Page]) -> None:
    with live_server(WebApp(Slow).app) as server:
        page = tab(server.url + "/")
        bar = page.locator("#lt-status-busy")
        page.click(".fast")
        expect(page.locator(".out")).to_have_text("fast")
        assert bar.count() == 0 and page.evaluate("document.body.getAttribute('aria-busy')") is None
        page.click(".slow")
        expect(bar).to_be_visible()
        expect(page.locator("body")).to_have_attribute("aria-busy", "true")
        assert page.locator(".out").text_content() == "fast"  # the handler is still running
        expect(page.locator(".out")).to_have_text("slow")
        expect(bar).to_have_count(0)
        assert page.evaluate("document.body.getAttribute('aria-busy')") is None


class Form(Tag.App):
    def init(self) -> None:
        self.clicks = 0
        self.inputs = 0
        self.entry = Tag.input(_class="entry", _oninput=self.typed)
        self.seen = Tag.span("", _class="seen")
        self.count = Tag.span("0/0", _class="count")
        self <= self.entry
        self <= Tag.button("+", _class="inc", _onclick=self.clicked)
        self <= self.seen
        self <= self.count

    def typed(self, e: Any) -> None:
        self.inputs += 1
        self.seen.text = e.value
        self.show()

    def clicked(self) -> None:
        self.clicks += 1
        self.show()

    def show(self) -> None:
        self.count.text = f"{self.clicks}/{self.inputs}"


def cut(context: Any, page: Page) -> None:
    """The network goes away: the browser is offline (new connections fail) and the open
    socket drops (Chromium's offline mode leaves established WebSockets open)."""
    context.set_offline(True)
    page.evaluate("window.__ltSockets.forEach(ws => ws.close())")
    page.wait_for_function("!livetag.connected")


def test_the_offline_banner_and_actions_made_offline_applied_once_after_reconnect(
        live_server: Serve, tab: Callable[[str], Page], context: Any) -> None:
    with live_server(WebApp(Form).app) as server:
        page = tab(server.url + "/")
        cut(context, page)
        banner = page.locator("#lt-status")
        expect(banner).to_be_visible()
        expect(banner).to_have_attribute("role", "status")
        expect(banner).to_contain_text("Connection lost")
        page.locator(".entry").press_sequentially("abc")
        page.click(".inc")
        page.click(".inc")
        expect(banner).to_contain_text("5 actions will be sent when it is back")
        assert page.locator(".count").text_content() == "0/0"
        context.set_offline(False)
        expect(page.locator(".count")).to_have_text("2/3", timeout=15_000)
        expect(page.locator(".seen")).to_have_text("abc")
        expect(banner).to_have_count(0)
        page.reload()  # the server agrees: each action applied exactly once
        connected(page)
        expect(page.locator(".count")).to_have_text("2/3")


def test_a_server_restart_without_persistence_says_so_before_the_fresh_session(
        live_server: Serve, tab: Callable[[str], Page]) -> None:
    with live_server(WebApp(Form).app) as first:
        port, url = first.port, first.url
        page = tab(url + "/")
        page.click(".inc")
        expect(page.locator(".count")).to_have_text("1/0")
    page.wait_for_function("!livetag.connected")
    page.click(".inc")  # made while the server is down: the new server cannot apply it
    page.evaluate("window.__reloadMarker = 1")
    with live_server(WebApp(Form).app, port=port):
        banner = page.locator("#lt-status[data-kind=expired]")
        expect(banner).to_contain_text("starting a fresh one", timeout=15_000)
        expect(banner).to_contain_text("1 action made meanwhile could not be applied")
        page.wait_for_function("window.__reloadMarker === undefined", timeout=15_000)  # reloaded
        connected(page)
        expect(page.locator(".count")).to_have_text("0/0")
        page.click(".inc")
        expect(page.locator(".count")).to_have_text("1/0")
