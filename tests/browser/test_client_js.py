"""The browser client (livetag.js) in Chromium: sync between tabs, typing while updates
arrive, mounting, errors, reconnection and the busy marker."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from lt_browser import connected, no_error_overlay
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.routing import Mount

from livetag import Event, Tag, WebApp
from livetag.runners.serve import BackgroundServer

pytestmark = pytest.mark.browser

Serve = Callable[..., AbstractContextManager[BackgroundServer]]
NewPage = Callable[[], Page]


class Counter(Tag.App):
    def init(self) -> None:
        self.count = 0
        self.value = Tag.span("0", _class="value")
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= self.value

    def increment(self) -> None:
        self.count += 1
        self.value.text = self.count


def test_two_tabs_stay_in_sync(live_server: Serve, new_page: NewPage) -> None:
    with live_server(WebApp(Counter).app) as server:
        first, second = new_page(), new_page()
        first.goto(server.url + "/")
        second.goto(server.url + "/")
        connected(first)
        connected(second)
        first.click("button.inc")
        expect(second.locator(".value")).to_have_text("1")
        second.click("button.inc")
        second.click("button.inc")
        expect(first.locator(".value")).to_have_text("3")
        expect(second.locator(".value")).to_have_text("3")
        third = new_page()  # a tab opened later starts from the current state
        third.goto(server.url + "/")
        expect(third.locator(".value")).to_have_text("3")


def test_mounted_under_a_sub_path(live_server: Serve, page: Page) -> None:
    outer = Starlette(routes=[Mount("/ui", WebApp(Counter).app)])
    with live_server(outer) as server:
        page.goto(server.url + "/ui/")
        connected(page)
        page.click("button.inc")
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("2")
        page.reload()
        expect(page.locator(".value")).to_have_text("2")
        connected(page)
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("3")


# -- typing while updates arrive ------------------------------------------------------------------


class Typing(Tag.App):
    """An input echoed on every keystroke, while a thread changes the page every 20 ms."""

    instances: list[Typing] = []

    def init(self) -> None:
        self.ticks = 0
        self.stopped = threading.Event()
        self.entry = Tag.input(_class="entry", _autocomplete="off", _oninput=self.typed)
        self.echo = Tag.span(_class="echo")
        self.clock = Tag.span("0", _class="clock")
        self.add(Tag.div(self.entry, _class="field"), self.echo, self.clock)
        Typing.instances.append(self)
        threading.Thread(target=self.tick, daemon=True).start()

    def tick(self) -> None:
        while not self.stopped.wait(0.02):
            self.ticks += 1
            self.clock.text = self.ticks
            self.entry["data-tick"] = self.ticks  # the focused element's own attributes too
            self.entry.parent["data-tick"] = self.ticks

    def typed(self, e: Event) -> None:
        self.echo.text = e.value


@pytest.fixture
def typing_app() -> Iterator[type[Typing]]:
    yield Typing
    for app in Typing.instances:
        app.stopped.set()
    Typing.instances.clear()


def test_typing_while_updates_arrive_loses_no_characters(live_server: Serve, page: Page, typing_app: type[Typing]) -> None:
    text = ("The quick brown fox jumps over the lazy dog 0123456789. " * 4)[:200]
    with live_server(WebApp(typing_app).app) as server:
        page.goto(server.url + "/")
        connected(page)
        page.evaluate("""() => {
            window.__clockChanges = 0;
            new MutationObserver(() => window.__clockChanges++).observe(
                document.querySelector(".clock"), {childList: true, characterData: true, subtree: true});
        }""")
        entry = page.locator("input.entry")
        entry.click()
        page.keyboard.type(text, delay=8)
        expect(entry).to_have_value(text)
        expect(page.locator(".echo")).to_have_text(text)  # every keystroke reached the server
        state = page.evaluate("""() => {
            const el = document.querySelector("input.entry");
            return {focused: document.activeElement === el, start: el.selectionStart, end: el.selectionEnd,
                    clockChanges: window.__clockChanges};
        }""")
        assert state["focused"]
        assert (state["start"], state["end"]) == (len(text), len(text))
        assert state["clockChanges"] > 5, "expected background updates to arrive while typing"
        no_error_overlay(page)


def test_editing_in_the_middle_keeps_the_caret(live_server: Serve, page: Page, typing_app: type[Typing]) -> None:
    with live_server(WebApp(typing_app).app) as server:
        page.goto(server.url + "/")
        connected(page)
        entry = page.locator("input.entry")
        entry.click()
        page.keyboard.type("hello world", delay=5)
        for _ in range(len("world")):
            page.keyboard.press("ArrowLeft")
        page.keyboard.type("big ", delay=20)
        expect(entry).to_have_value("hello big world")
        expect(page.locator(".echo")).to_have_text("hello big world")
        assert page.evaluate("document.querySelector('input.entry').selectionStart") == len("hello big ")


class Rewrap(Tag.App):
    """Every keystroke re-renders the parent of the input being typed in."""

    def init(self) -> None:
        self.entry = Tag.input(_class="entry", _autocomplete="off", _oninput=self.typed)
        self.field = Tag.div(self.entry, Tag.small("0", _class="count"), _class="field")
        self <= self.field

    def typed(self, e: Event) -> None:
        self.field.clear(Tag.small(f"{len(e.value)}", _class="count"), self.entry, Tag.em(e.value, _class="echo"))


def test_rerendering_the_parent_of_the_focused_input_keeps_focus_caret_and_value(live_server: Serve, page: Page) -> None:
    text = "morphing must not steal the caret"
    with live_server(WebApp(Rewrap).app) as server:
        page.goto(server.url + "/")
        connected(page)
        entry = page.locator("input.entry")
        entry.click()
        page.evaluate("window.__entry = document.querySelector('input.entry')")
        page.keyboard.type(text, delay=15)
        expect(page.locator(".echo")).to_have_text(text)
        expect(page.locator(".count")).to_have_text(str(len(text)))
        expect(entry).to_have_value(text)
        state = page.evaluate("""() => ({same: window.__entry === document.querySelector('input.entry'),
            focused: document.activeElement === window.__entry, caret: window.__entry.selectionStart})""")
        assert state == {"same": True, "focused": True, "caret": len(text)}


def test_updates_do_not_move_the_scroll_position(live_server: Serve, page: Page) -> None:
    class Long(Tag.App):
        def init(self) -> None:
            self.top = Tag.p("top", _class="top")
            self.rows = Tag.div(*(Tag.p(f"row {i}", _style="height:40px") for i in range(100)), _class="rows")
            self.add(self.top, self.rows, Tag.button("change", _class="change", _onclick=self.change))

        def change(self) -> None:
            self.top.text = "changed"
            self.rows.clear(*(Tag.p(f"new row {i}", _style="height:40px") for i in range(100)))

    with live_server(WebApp(Long).app) as server:
        page.set_viewport_size({"width": 800, "height": 400})
        page.goto(server.url + "/")
        connected(page)
        page.locator("button.change").scroll_into_view_if_needed()
        before = page.evaluate("window.scrollY")
        assert before > 1000
        page.click("button.change")
        expect(page.locator(".top")).to_have_text("changed")
        expect(page.locator(".rows p").last).to_have_text("new row 99")
        assert page.evaluate("window.scrollY") == before


# -- errors ----------------------------------------------------------------------------------------


class Failing(Tag.App):
    def init(self) -> None:
        self.out = Tag.span("ok", _class="out")
        self <= Tag.button("fail", _class="fail", _onclick=self.fail)
        self <= Tag.button("work", _class="work", _onclick=self.work)
        self <= self.out

    def fail(self) -> None:
        raise ValueError("<img src=x onerror=window.__xss=1> secret")

    def work(self) -> None:
        self.out.text = "still working"


def test_a_failing_handler_shows_the_escaped_traceback_in_debug(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Failing, debug=True).app) as server:
        page.goto(server.url + "/")
        connected(page)
        page.click("button.fail")
        overlay = page.locator("#lt-error")
        expect(overlay).to_be_visible()
        expect(overlay).to_contain_text("in your code (innermost first)")
        expect(overlay).to_contain_text("ValueError: <img src=x onerror=window.__xss=1> secret")
        expect(overlay).to_contain_text(re.compile(r"error id [0-9a-f]{6,}"))
        assert overlay.locator("img").count() == 0
        assert page.evaluate("window.__xss") is None
        page.click("button.work")  # the session survived
        expect(page.locator(".out")).to_have_text("still working")
        overlay.locator(".lt-error-close").click()  # dismissed by its button
        expect(overlay).to_have_count(0)


def test_a_failing_handler_shows_only_a_generic_message_without_debug(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Failing, debug=False).app) as server:
        page.goto(server.url + "/")
        connected(page)
        page.click("button.fail")
        overlay = page.locator("#lt-error")
        expect(overlay).to_be_visible()
        expect(overlay.locator(".lt-error-msg")).to_have_text(re.compile(r"^an internal error occurred \(error id [0-9a-f]{6,}\)$"))
        content = page.content()
        assert "secret" not in content and "Traceback" not in content and "ValueError" not in content
        page.click("button.work")
        expect(page.locator(".out")).to_have_text("still working")


# -- connection -------------------------------------------------------------------------------------


def test_reconnects_after_the_websocket_drops_and_converges(live_server: Serve, new_page: NewPage) -> None:
    with live_server(WebApp(Counter).app) as server:
        page, other = new_page(), new_page()
        page.goto(server.url + "/")
        other.goto(server.url + "/")
        connected(page)
        connected(other)
        # Cut the page's connection and keep it down.
        page.evaluate("() => { window.__ltBlock = true; window.__ltSockets.at(-1).close(); }")
        page.wait_for_function("!window.livetag.connected")
        other.click("button.inc")  # the page misses these updates
        other.click("button.inc")
        expect(other.locator(".value")).to_have_text("2")
        page.click("button.inc")  # queued while offline
        expect(page.locator("body")).to_have_class(re.compile(r"\blt-busy\b"))
        expect(page.locator("#lt-status")).to_be_visible()  # the user is told
        expect(page.locator(".value")).to_have_text("0")
        page.evaluate("() => { window.__ltBlock = false; }")
        # Back: the missed updates and the queued click, applied exactly once.
        expect(page.locator(".value")).to_have_text("3", timeout=15_000)
        expect(other.locator(".value")).to_have_text("3")
        expect(page.locator("#lt-status")).to_have_count(0)
        expect(page.locator("body")).not_to_have_class(re.compile(r"\blt-busy\b"))
        page.click("button.inc")
        expect(other.locator(".value")).to_have_text("4")
        expect(page.locator(".value")).to_have_text("4")


def test_a_page_that_lost_track_of_its_dom_converges(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Counter).app) as server:
        page.goto(server.url + "/")
        connected(page)
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("1")
        # Something outside livetag removes an element the next patch targets.
        page.evaluate("document.querySelector('.value').remove()")
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("2")
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("3")
        no_error_overlay(page)


def test_the_body_is_busy_while_an_event_is_in_flight(live_server: Serve, page: Page) -> None:
    release = threading.Event()

    class Slow(Tag.App):
        def init(self) -> None:
            self.out = Tag.span("idle", _class="out")
            self <= Tag.button("go", _class="go", _onclick=self.go)
            self <= self.out

        def go(self) -> None:
            release.wait(10)
            self.out.text = "done"

    with live_server(WebApp(Slow).app) as server:
        try:
            page.goto(server.url + "/")
            connected(page)
            body = page.locator("body")
            expect(body).not_to_have_class(re.compile(r"\blt-busy\b"))
            page.click("button.go")
            expect(body).to_have_class(re.compile(r"\blt-busy\b"))
            expect(page.locator(".out")).to_have_text("idle")
            release.set()
            expect(page.locator(".out")).to_have_text("done")
            expect(body).not_to_have_class(re.compile(r"\blt-busy\b"))
        finally:
            release.set()


def test_an_expired_session_reloads_into_a_new_one(live_server: Serve, page: Page) -> None:
    webapp = WebApp(Counter)
    with live_server(webapp.app) as server:
        page.goto(server.url + "/")
        connected(page)
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("1")
        old_token = page.evaluate("document.documentElement.dataset.ltToken")
        # "/?n" with the page's cookie ends its session (and starts another one).
        assert page.context.request.get(server.url + "/?n").ok
        page.wait_for_function(f"document.documentElement.dataset.ltToken !== {old_token!r}", timeout=15_000)
        expect(page.locator(".value")).to_have_text("0")
        connected(page)
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("1")


def test_prevent_and_stop_reach_the_browser(live_server: Serve, page: Page) -> None:
    from livetag import prevent, stop

    class Links(Tag.App):
        def init(self) -> None:
            self.log = Tag.span(_class="log")
            inner = Tag.button("inner", _class="inner", _onclick=stop(self.record))
            self <= Tag.div(inner, Tag.button("other", _class="other"), _class="outer", _onclick=self.record)
            self <= Tag.a("link", _href="#moved", _class="link", _onclick=prevent(self.record))
            self <= self.log

        def record(self, e: Event) -> None:
            self.log.text = self.log.text + e.target["class"] + ";"

    with live_server(WebApp(Links).app) as server:
        page.goto(server.url + "/")
        connected(page)
        page.click("button.inner")  # stopped: the outer div does not hear it
        expect(page.locator(".log")).to_have_text("inner;")
        page.click("button.other")  # bubbles to the outer div
        expect(page.locator(".log")).to_have_text("inner;outer;")
        page.click("a.link")
        expect(page.locator(".log")).to_have_text("inner;outer;link;")
        assert page.evaluate("location.hash") == ""
