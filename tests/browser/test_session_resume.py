"""Sessions that survive a restart, in Chromium: a ``States`` counter clicked to 5, the
server restarted under the open page, the page shows 5 without reloading and counts on."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from lt_browser import connected, no_error_overlay
from playwright.sync_api import Page, expect

from livetag import States, Tag, WebApp
from livetag.runners.serve import BackgroundServer

pytestmark = pytest.mark.browser

Serve = Callable[..., AbstractContextManager[BackgroundServer]]


class Clicks(Tag.App):
    # Run twice in one page, this static would throw (an uncaught error fails the test).
    statics = [Tag.script("if (window.ranOnce) throw new Error('static ran twice'); window.ranOnce = true;"),
               Tag.style(".value { font-weight: bold }")]

    def init(self) -> None:
        self.s = States(count=0)
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= Tag.span(self.s.count, _class="value")

    def increment(self, e: Any) -> None:
        self.s.count += 1


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_a_restart_under_an_open_page_resumes_its_session(live_server: Serve, page: Page, tmp_path: Path,
                                                           mode: str) -> None:
    store = tmp_path / "store" / "sessions.sqlite3"
    webapp = WebApp(Clicks, store=store, http_only=mode == "http")
    with live_server(webapp.app) as first:
        port, url = first.port, first.url
        if mode == "sse":
            page.context.add_cookies([{"name": "livetag_mode", "value": "sse", "url": url}])
        page.goto(url + "/")
        connected(page)
        assert page.evaluate("livetag.transport") == mode
        page.evaluate("window.marker = 'same page'")
        for _ in range(5):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("5")
        before = page.get_attribute(".value", "id")
        webapp.server_stopping()  # what SIGTERM does (a background server gets no signal): long-polls end
    if mode == "ws":
        page.wait_for_function("!livetag.connected")  # long-polls retry without leaving the session
    with live_server(WebApp(Clicks, store=store, http_only=mode == "http").app, port=port):
        connected(page)
        # Joined again: the full render renumbered the page's elements (this server's ids).
        page.wait_for_function(f"document.querySelector('.value').id !== {before!r}")
        expect(page.locator(".value")).to_have_text("5")
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("6")
        assert page.evaluate("window.marker") == "same page"  # no reload
        styles = "Array.from(document.querySelectorAll('head style')).filter(s => s.textContent.includes('bold'))"
        assert page.evaluate(f"{styles}.length") == 1  # statics are not sent again
        no_error_overlay(page)
