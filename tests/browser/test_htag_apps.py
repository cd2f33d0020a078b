"""htag 2 apps in Chromium, imports changed to livetag only (issue 9): what a user sees.

Ports (in our own words) of htag 2.0.28's example apps and documentation samples: a page
built from tags created in ``init()``, the router example with links and Back, the
``components.md`` clock (a plain ``def on_mount`` starting an asyncio task), scoped
styles on the component's own element, ``hashchange`` with ``newURL``, ``htag_event``
called from JavaScript, and a JavaScript error shown in the page in debug mode.
Every wait is an ``expect(...)`` or a ``wait_for_function``, never a sleep.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lt_browser import connected
from playwright.sync_api import expect

from livetag import Router, State, States, Tag, WebApp

pytestmark = pytest.mark.browser


@pytest.fixture
def open_app(context: Any) -> Iterator[Callable[[str], Any]]:
    """``open_app(url)``: a joined page; uncaught JavaScript errors and error overlays
    fail the test."""
    errors: list[str] = []
    pages: list[Any] = []

    def open_(url: str) -> Any:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        connected(page)
        pages.append(page)
        return page

    yield open_
    for page in pages:
        if not page.is_closed():
            assert page.locator("#lt-error").count() == 0, page.locator("#lt-error").text_content()
    assert errors == [], f"uncaught JavaScript errors: {errors}"


# -- a page built from tags created in init() ----------------------------------------------


class Demo(Tag.App):
    def init(self):
        self.state = States(counter=0)
        with Tag.div(_class="wrap"):
            Tag.h2("Feature demo")
            with Tag.div(_class="box"):
                Tag.div(lambda: f"Counter: {self.state.counter.value}", _class="counter")
                Tag.button("Increment", _class="inc", _onclick=self.increment)
            self.label = Tag.div("Initial text", _class="label")
            Tag.button("Change text", _class="change", _onclick=lambda e: setattr(self.label, "text", "Replaced"))

    def increment(self, e):
        self.state.counter.value += 1


def test_tags_created_in_init_render_and_react(live_server, open_app) -> None:
    with live_server(WebApp(Demo).app) as server:
        page = open_app(server.url + "/")
        expect(page.locator(".wrap > h2")).to_have_text("Feature demo")
        expect(page.locator(".counter")).to_have_text("Counter: 0")
        page.click(".inc")
        page.click(".inc")
        expect(page.locator(".counter")).to_have_text("Counter: 2")
        page.click(".change")
        expect(page.locator(".label")).to_have_text("Replaced")


# -- the router example ------------------------------------------------------------------------


class HomePage(Tag.div):
    def init(self) -> None:
        Tag.h1("Home")
        Tag.p("Welcome to this simple SPA demo.")


class Page1(Tag.div):
    def init(self) -> None:
        Tag.h1("Page 1")


class HelloPage(Tag.div):
    def init(self, name: str) -> None:
        Tag.h1(f"Hello {name}!")


class RouterDemo(Tag.App):
    statics = [Tag.style("nav a.active { font-weight: bold; }")]

    def init(self) -> None:
        self.router = Router()
        self.router.add_route("/", HomePage)
        self.router.add_route("/p1", Page1)
        self.router.add_route("/hello/:name", HelloPage)
        with Tag.nav():
            Tag.a("Home", _href="#/", _class=lambda: "active" if self.router.path == "/" else "")
            Tag.a("Page 1", _href="#/p1", _class=lambda: "active" if self.router.path == "/p1" else "")
            Tag.a("Hello", _href="#/hello/World", _class=lambda: "active" if self.router.path == "/hello/World" else "")
        Tag.button("go p1", _class="go", _onclick=lambda e: self.router.navigate("/p1"))
        self <= self.router


def test_router_example_links_back_and_deep_link(live_server, open_app) -> None:
    with live_server(WebApp(RouterDemo).app) as server:
        page = open_app(server.url + "/")
        expect(page.locator("h1")).to_have_text("Home")
        expect(page.locator("nav a.active")).to_have_text("Home")
        page.click("text=Page 1")
        expect(page.locator("h1")).to_have_text("Page 1")
        expect(page.locator("nav a.active")).to_have_text("Page 1")
        page.click("text=Hello")
        expect(page.locator("h1")).to_have_text("Hello World!")
        expect(page.locator("nav a.active")).to_have_text("Hello")
        page.go_back()
        expect(page.locator("h1")).to_have_text("Page 1")
        page.go_back()
        expect(page.locator("h1")).to_have_text("Home")
        # programmatic navigation changes the hash, so Back works after it too
        page.click(".go")
        expect(page.locator("h1")).to_have_text("Page 1")
        assert page.evaluate("location.hash") == "#/p1"
        page.go_back()
        expect(page.locator("h1")).to_have_text("Home")
        # a deep link
        deep = open_app(server.url + "/#/hello/Deep")
        expect(deep.locator("h1")).to_have_text("Hello Deep!")


def test_router_default_404(live_server, open_app) -> None:
    with live_server(WebApp(RouterDemo).app) as server:
        page = open_app(server.url + "/#/nowhere")
        expect(page.locator("body")).to_contain_text("404")
        expect(page.locator("body")).to_contain_text("/nowhere")


# -- the clock of components.md ----------------------------------------------------------------


class Clock(Tag.div):
    def init(self) -> None:
        self["class"] = "clock"
        self.count = State(0)
        self <= Tag.span(self.count, _class="count")

    def on_mount(self):
        async def run():
            while True:
                self.count += 1
                await asyncio.sleep(0.05)

        self.task = asyncio.create_task(run())

    def on_unmount(self) -> None:
        self.task.cancel()


class ClockApp(Tag.App):
    def init(self) -> None:
        self <= Clock()


def test_clock_on_mount_task_updates_the_page(live_server, open_app) -> None:
    with live_server(WebApp(ClockApp).app) as server:
        page = open_app(server.url + "/")
        expect(page.locator(".clock .count")).to_have_text(re.compile(r"^([3-9]|\d\d+)$"))


# -- scoped styles -----------------------------------------------------------------------------


class MyCard(Tag.div):
    styles = """
        .panel { border-top: 3px solid rgb(1, 2, 3); }
        .title { color: rgb(4, 5, 6); }
        div { outline: 2px solid rgb(7, 8, 9); }
    """

    def init(self, title: str) -> None:
        self["class"] = "panel"
        self <= Tag.h2(title, _class="title")
        self <= Tag.div("body", _class="inner")


class StyledApp(Tag.App):
    def init(self) -> None:
        self <= MyCard("Hello", _id="card")
        Tag.h2("outside", _class="title", _id="outside")
        Tag.div("plain", _class="panel", _id="plain")


def computed(page: Any, selector: str, prop: str) -> str:
    return page.eval_on_selector(selector, f"el => getComputedStyle(el).{prop}")


def test_scoped_style_applies_to_the_component_root(live_server, open_app) -> None:
    with live_server(WebApp(StyledApp).app) as server:
        page = open_app(server.url + "/")
        expect(page.locator("#card > h2")).to_have_text("Hello")
        page.wait_for_function("getComputedStyle(document.querySelector('#card .title')).color === 'rgb(4, 5, 6)'")
        # the component's own element
        assert computed(page, "#card", "borderTopColor") == "rgb(1, 2, 3)"
        assert computed(page, "#card", "outlineColor") == "rgb(7, 8, 9)"
        # a descendant
        assert computed(page, "#card > .inner", "outlineColor") == "rgb(7, 8, 9)"
        # nothing outside the component
        assert computed(page, "#outside", "color") != "rgb(4, 5, 6)"
        assert computed(page, "#plain", "borderTopColor") != "rgb(1, 2, 3)"
        assert computed(page, "#plain", "outlineColor") != "rgb(7, 8, 9)"


# -- hashchange, htag_event, JavaScript errors --------------------------------------------------


class HashNav(Tag.App):
    def init(self):
        self["onhashchange"] = self.on_hash
        with Tag.div():
            Tag.a("[P1]", _href="#page1")
            Tag.a("[P2]", _href="#page2")

    def on_hash(self, ev):
        self <= Tag.div("hash changed to ", ev.newURL, " from ", ev.oldURL, _class="changed")


def test_hashchange_event_has_new_and_old_url(live_server, open_app) -> None:
    with live_server(WebApp(HashNav).app) as server:
        page = open_app(server.url + "/")
        page.click("text=[P1]")
        expect(page.locator(".changed")).to_have_count(1)
        text = page.locator(".changed").text_content()
        assert re.fullmatch(r"hash changed to http://\S+/#page1 from http://\S+/", text), text
        page.click("text=[P2]")
        expect(page.locator(".changed")).to_have_count(2)
        assert page.locator(".changed").nth(1).text_content().endswith("#page1")


class Toasts(Tag.App):
    def init(self):
        self.box = Tag.div(_class="toasts")
        Tag.button("notify", _class="notify", _onclick=self.notify)

    def notify(self, e):
        t = Tag.div("Saved!", _class="toast", _onexpire=lambda e: t.remove())
        self.box.add(t)
        t.call_js(f"setTimeout(() => htag_event('{t.id}', 'expire', {{}}), 100)")


def test_htag_event_from_javascript_fires_a_custom_event(live_server, open_app) -> None:
    with live_server(WebApp(Toasts).app) as server:
        page = open_app(server.url + "/")
        page.click(".notify")
        expect(page.locator(".toast")).to_have_count(1)
        expect(page.locator(".toast")).to_have_count(0)


class JsBug(Tag.App):
    def init(self):
        self <= Tag.button("Trigger JS Error", _class="js", _onclick="not_defined_function()")


def test_javascript_error_is_shown_in_the_page_in_debug(live_server, context) -> None:
    with live_server(WebApp(JsBug, debug=True).app) as server:
        page = context.new_page()
        page.goto(server.url + "/")
        connected(page)
        page.click(".js")
        expect(page.locator("#lt-error")).to_be_visible()
        expect(page.locator("#lt-error")).to_contain_text("not_defined_function")


def test_router_deep_link_on_a_new_session(live_server, open_app) -> None:
    with live_server(WebApp(RouterDemo).app) as server:
        page = open_app(server.url + "/#/hello/Deep")
        expect(page.locator("h1")).to_have_text("Hello Deep!")
        expect(page.locator("nav a.active")).to_have_count(0)
        page.click("text=Page 1")
        expect(page.locator("h1")).to_have_text("Page 1")
        page.go_back()
        expect(page.locator("h1")).to_have_text("Hello Deep!")
