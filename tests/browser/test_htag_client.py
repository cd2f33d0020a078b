"""htag 2's page-side surface in Chromium: ``htag_event(id, name, value)`` from the page's
JavaScript, ``hashchange`` with ``newURL``/``oldURL``, and JavaScript errors shown in the
page in debug mode (htag's ``events.md`` and ``runners.md``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from lt_browser import connected, no_error_overlay
from playwright.sync_api import Page, expect

from livetag import Event, Tag, WebApp
from livetag.runners.serve import BackgroundServer

pytestmark = pytest.mark.browser

Serve = Callable[..., AbstractContextManager[BackgroundServer]]


class Custom(Tag.App):
    """A target for custom events, its handler bound the htag way (``tag["on..."]``)."""

    def init(self) -> None:
        self.seen: list[str] = []
        self.target_ = Tag.div("target", _class="target")
        self.target_["oncustom"] = self.on_custom
        self.out = Tag.pre("", _class="out")
        # A DOM event handed over as is, the way htag pages wire their own widgets.
        self.field = Tag.input(_class="field", _oninput="htag_event(this.id, 'typed', event)")
        self.field["ontyped"] = lambda e: self.show(f"typed value={e.value!r} target={e.target is self.field}")
        self <= self.target_
        self <= self.field
        self <= self.out

    def on_custom(self, e: Event) -> None:
        fields = {k: v for k, v in e.data.items()}
        self.show(f"value={e.value!r} key={e.data.get('key')!r} target={e.target is self.target_} "
                  f"name={e.name} fields={sorted(fields)}")

    def show(self, line: str) -> None:
        self.seen.append(line)
        self.out.text = "\n".join(self.seen)


def test_htag_event_delivers_primitives_as_value_and_objects_as_fields(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Custom).app) as server:
        page.goto(server.url + "/")
        connected(page)
        target = page.locator(".target").get_attribute("id")
        # The returned promise resolves once the server applied the event (and the
        # update that came with it is in the page).
        page.evaluate("id => htag_event(id, 'custom', 'x')", target)
        expect(page.locator(".out")).to_have_text("value='x' key=None target=True name=custom fields=['value']")
        page.evaluate("id => htag_event(id, 'custom', {key: 'v', target: 'evil', name: 'evil', __class__: 1})",
                      target)
        expect(page.locator(".out")).to_contain_text(
            "value=None key='v' target=True name=custom fields=['__class__', 'key', 'name', 'target']")
        page.evaluate("id => htag_event(id, 'custom', [1, 2])", target)
        expect(page.locator(".out")).to_contain_text("value=[1, 2] key=None")
        page.fill(".field", "hello")
        expect(page.locator(".out")).to_contain_text("typed value='hello' target=True")
        # livetag's own spelling keeps its documented meaning: the whole value is e.value.
        page.evaluate("id => livetag.event(id, 'custom', {key: 'w'})", target)
        expect(page.locator(".out")).to_contain_text("value={'key': 'w'} key=None")
        no_error_overlay(page)


def test_htag_event_resolves_after_the_handler_ran(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Custom).app) as server:
        page.goto(server.url + "/")
        connected(page)
        text = page.evaluate("""async () => {
            const id = document.querySelector('.target').id;
            await htag_event(id, 'custom', 42);
            return document.querySelector('.out').textContent;
        }""")
        assert text.startswith("value=42 ")


def test_htag_event_refuses_what_json_cannot_carry_in_the_caller(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Custom).app) as server:
        page.goto(server.url + "/")
        connected(page)
        error = page.evaluate("""() => {
            const id = document.querySelector('.target').id;
            const loop = {}; loop.self = loop;
            try { htag_event(id, 'custom', loop); return null; } catch (e) { return e.name; }
        }""")
        assert error == "TypeError"
        # Nothing was queued: the session goes on with the next event.
        page.evaluate("() => htag_event(document.querySelector('.target').id, 'custom', 'after')")
        expect(page.locator(".out")).to_have_text("value='after' key=None target=True name=custom fields=['value']")


class Hash(Tag.App):
    def init(self) -> None:
        self["onhashchange"] = self.on_hash
        self.out = Tag.pre("", _class="out")
        self <= self.out

    def on_hash(self, e: Event) -> None:
        self.out.text = f"new={e.newURL} old={e.oldURL}"


def test_hashchange_gives_new_and_old_url(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Hash).app) as server:
        base = server.url + "/"
        page.goto(base)
        connected(page)
        page.evaluate("location.hash = '#/a'")
        expect(page.locator(".out")).to_have_text(f"new={base}#/a old={base}")
        page.evaluate("location.hash = '#/b'")
        expect(page.locator(".out")).to_have_text(f"new={base}#/b old={base}#/a")
        page.go_back()
        expect(page.locator(".out")).to_have_text(f"new={base}#/a old={base}#/b")


def test_a_deep_link_sends_a_hashchange_with_no_old_url(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(Hash).app) as server:
        page.goto(server.url + "/#/deep")
        expect(page.locator(".out")).to_have_text(f"new={server.url}/#/deep old=")


class Faulty(Tag.App):
    def init(self) -> None:
        self <= Tag.button("now", _class="now", _onclick=lambda: self.call_js("throw new Error('boom')"))
        self <= Tag.button("later", _class="later",
                           _onclick=lambda: self.call_js("setTimeout(() => { throw new Error('late <b>x</b>') })"))
        self <= Tag.button("rejected", _class="rejected",
                           _onclick=lambda: self.call_js("Promise.reject(new Error('nope'))"))


@pytest.fixture
def loose_page(context: Any) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A page whose uncaught errors are expected: (page, page errors, console errors)."""
    page = context.new_page()
    errors: list[str] = []
    console: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    yield page, errors, console
    page.close()


def test_javascript_errors_show_in_the_page_in_debug(live_server: Serve, loose_page: Any) -> None:
    page, _, _ = loose_page
    with live_server(WebApp(Faulty, debug=True).app) as server:
        page.goto(server.url + "/")
        connected(page)
        overlay = page.locator("#lt-error")
        page.click("button.now")
        expect(overlay).to_contain_text("call_js failed: boom")
        expect(overlay).to_contain_text("Error: boom")  # the stack
        overlay.locator(".lt-error-close").click()
        page.click("button.later")
        expect(overlay).to_contain_text("JavaScript error: late <b>x</b>")
        assert overlay.locator("b").count() == 0  # text, never markup
        overlay.locator(".lt-error-close").click()
        page.click("button.rejected")
        expect(overlay).to_contain_text("Unhandled promise rejection: nope")


def test_javascript_errors_stay_in_the_console_without_debug(live_server: Serve, loose_page: Any) -> None:
    page, errors, console = loose_page
    with live_server(WebApp(Faulty, debug=False).app) as server:
        page.goto(server.url + "/")
        connected(page)
        page.click("button.now")
        page.click("button.later")
        page.click("button.rejected")
        page.wait_for_function("() => !document.body.classList.contains('lt-busy')")
        # The timer's error and the rejection come after the update: wait for them.
        deadline = time.monotonic() + 10
        while not (any("boom" in line for line in console) and any("late" in e for e in errors)
                   and any("nope" in e for e in errors)):
            assert time.monotonic() < deadline, (console, errors)
            page.wait_for_timeout(50)
        no_error_overlay(page)
