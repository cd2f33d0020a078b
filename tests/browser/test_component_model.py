"""The component model in Chromium: reactive state, the router with Back/Forward and deep
links, background work (a clock, a thread), lazily added statics, a 1,000-row table.
Real clicks and typing; every wait is an ``expect(...)``, never a sleep."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from livetag import State, Tag, WebApp

pytestmark = pytest.mark.browser


@pytest.fixture
def open_tab(context: Any) -> Iterator[Callable[..., Any]]:
    """``open_tab(url)``: a page of the test's browser context, loaded and joined to its
    session. Uncaught JavaScript errors and livetag error overlays fail the test."""
    errors: list[str] = []
    pages: list[Any] = []

    def open_(url: str, ctx: Any = None) -> Any:
        page = (ctx or context).new_page()
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


def connected(page: Any) -> None:
    page.wait_for_function("window.livetag && window.livetag.connected")


# -- reactive counter ------------------------------------------------------------------------------


class StateCounter(Tag.App):
    def init(self) -> None:
        self.count = State(0)
        self <= Tag.button("-", _class="dec", _onclick=lambda: self.count.set(self.count - 1))
        self <= Tag.span(self.count, _class="value")
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= Tag.p(lambda: "even" if self.count % 2 == 0 else "odd", _class=lambda: f"parity p{self.count % 2}")

    def increment(self) -> None:
        self.count += 1


def test_reactive_counter(live_server, open_tab) -> None:
    with live_server(WebApp(StateCounter).app) as server:
        page = open_tab(server.url + "/")
        expect(page.locator(".value")).to_have_text("0")
        for _ in range(5):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("5")
        expect(page.locator(".parity")).to_have_text("odd")
        expect(page.locator(".parity")).to_have_class("parity p1")
        page.click("button.dec")
        page.click("button.dec")
        expect(page.locator(".value")).to_have_text("3")
        page.click("button.dec")
        expect(page.locator(".parity")).to_have_text("even")
        expect(page.locator(".parity")).to_have_class("parity p0")
        page.reload()  # the same session, the same state
        connected(page)
        expect(page.locator(".value")).to_have_text("2")
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("3")


# -- router ------------------------------------------------------------------------------------------


def test_router_navigation_with_back_and_forward(live_server, example, open_tab) -> None:
    router = example("router")
    with live_server(router.app) as server:
        page = open_tab(server.url + "/")
        heading, path = page.locator("h2"), page.locator(".path")
        expect(heading).to_have_text("Home")
        page.click("nav a.about")  # a plain link to #/about
        expect(heading).to_have_text("About")
        expect(page.locator("nav a.about")).to_have_class(re.compile(r"\bactive\b"))
        page.click("button.grace")  # Python navigates: router.navigate("/users/7")
        expect(heading).to_have_text("Grace Hopper")
        expect(page).to_have_url(re.compile(r"#/users/7$"))
        page.click("a.home")
        page.click("a.user-link >> text=Alan Turing")
        expect(heading).to_have_text("Alan Turing")
        expect(path).to_have_text("path: /users/2")

        page.go_back()
        expect(heading).to_have_text("Home")
        page.go_back()
        expect(heading).to_have_text("Grace Hopper")
        expect(path).to_have_text("path: /users/7")
        page.go_back()
        expect(heading).to_have_text("About")
        page.go_forward()
        expect(heading).to_have_text("Grace Hopper")
        page.go_forward()
        expect(heading).to_have_text("Home")
        page.go_forward()
        expect(heading).to_have_text("Alan Turing")

        page.click("button.broken")
        expect(heading).to_have_text("Not found")
        page.click("text=back home")
        expect(heading).to_have_text("Home")
        expect(path).to_have_text("path: /")


def test_router_deep_link(live_server, example, open_tab, browser) -> None:
    router = example("router")
    with live_server(router.app) as server:
        fresh = browser.new_context()  # a first visit: no session yet
        try:
            page = open_tab(server.url + "/#/users/7", fresh)
            expect(page.locator("h2")).to_have_text("Grace Hopper")
            expect(page.locator(".path")).to_have_text("path: /users/7")
            page.goto(server.url + "/#/about")  # the same session, another deep link
            connected(page)
            expect(page.locator("h2")).to_have_text("About")
            page.reload()
            connected(page)
            expect(page.locator("h2")).to_have_text("About")
        finally:
            fresh.close()


# -- background work ----------------------------------------------------------------------------------


def test_clock_ticks_with_no_user_input(live_server, example, open_tab) -> None:
    clock = example("clock")
    with live_server(clock.app) as server:
        page = open_tab(server.url + "/")
        time_shown = page.locator(".time")
        first = time_shown.text_content()
        assert re.fullmatch(r"\d\d:\d\d:\d\d", first)
        expect(time_shown).not_to_have_text(first)  # no click, no key: the server pushed it
        expect(page.locator(".ticks")).to_have_text(re.compile(r"^[2-9]\d* ticks$"))


def test_progress_bar_driven_by_a_thread_reaches_100(live_server, example, open_tab) -> None:
    progress = example("progress")
    with live_server(progress.app) as server:
        page = open_tab(server.url + "/")
        start = page.locator("button.start")
        expect(page.locator(".label")).to_have_text("0%")
        start.click()
        expect(start).to_be_disabled()
        expect(page.locator(".label")).to_have_text("100%", timeout=20_000)
        expect(page.locator(".bar")).to_have_attribute("style", "width: 100%")
        expect(page.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
        expect(start).to_be_enabled()
        expect(start).to_have_text("Again")


# -- statics -----------------------------------------------------------------------------------------


def in_head(page: Any, needle: str) -> int:
    """How many ``<style>``/``<script>`` elements of ``<head>`` contain ``needle`` (Playwright's
    text selectors ignore the text of those elements, hence a script)."""
    return page.evaluate("(needle) => [...document.head.querySelectorAll('style, script')]"
                         ".filter((el) => el.textContent.includes(needle)).length", needle)


def test_statics_of_a_lazily_added_component_reach_the_head_once(live_server, example, open_tab) -> None:
    components = example("components")
    with live_server(components.app) as server:
        page = open_tab(server.url + "/")
        assert in_head(page, ".lt-Card h3{") == 1  # in the first page
        assert in_head(page, "function ltRulerMeasure") == 0
        assert page.evaluate("typeof ltRulerMeasure") == "undefined"

        page.click("button.add")
        page.click("button.add")
        # One update carries the statics before the patch: once the rulers show, they are there.
        expect(page.locator(".lt-Ruler")).to_have_count(2)
        assert in_head(page, "function ltRulerMeasure") == 1
        assert in_head(page, ".lt-Ruler{") == 1
        assert in_head(page, "@keyframes lt-ruler-in") == 1
        assert in_head(page, ".lt-Card h3{") == 1
        assert page.evaluate("typeof ltRulerMeasure") == "function"  # the script ran

        # The page uses the function: Python calls it, it answers with a custom event.
        second = page.locator(".lt-Ruler").nth(1)
        second.locator("button.measure").click()
        expect(second.locator(".size")).to_have_text(re.compile(r"^\d+ x \d+ px$"))
        width = second.evaluate("el => Math.round(el.getBoundingClientRect().width)")
        expect(second.locator(".size")).to_have_text(re.compile(rf"^{width} x "))
        # The scoped style applies inside the component only.
        assert second.locator(".size").evaluate("el => getComputedStyle(el).fontFamily") == "monospace"
        assert page.locator("h1").evaluate("el => getComputedStyle(el).fontFamily") != "monospace"


# -- the 1,000-row table -------------------------------------------------------------------------------


def test_table_sort_and_filter(live_server, example, open_tab) -> None:
    table = example("table")
    people = table.make_people()
    with live_server(table.app) as server:
        page = open_tab(server.url + "/")
        ids = page.locator("tbody td.id")
        expect(page.locator("tbody tr")).to_have_count(1000)

        by_name = sorted(people, key=lambda p: (p["name"], p["id"]))
        page.click("th[data-key=name]")
        expect(ids).to_have_text([str(p["id"]) for p in by_name])
        expect(page.locator("th[data-key=name]")).to_have_text("Name ▲")
        page.click("th[data-key=name]")
        expect(ids).to_have_text([str(p["id"]) for p in reversed(by_name)])

        page.locator("input.filter").click()
        page.keyboard.type("lisbon")
        matching = [p for p in people if "lisbon" in p["city"].lower() or "lisbon" in p["name"].lower()]
        expected = sorted(matching, key=lambda p: (p["name"], p["id"]), reverse=True)
        expect(page.locator(".count")).to_have_text(f"{len(expected)} of 1000 rows")
        expect(ids).to_have_text([str(p["id"]) for p in expected])

        page.click("th[data-key=score]")
        expected = sorted(matching, key=lambda p: (p["score"], p["id"]))
        expect(ids).to_have_text([str(p["id"]) for p in expected])

        page.locator("input.filter").fill("")  # clearing fires one input event
        expect(page.locator("tbody tr")).to_have_count(1000)
        expect(ids).to_have_text([str(p["id"]) for p in sorted(people, key=lambda p: (p["score"], p["id"]))])
