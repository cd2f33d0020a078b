"""The Runner in Chromium: a counter on each transport, a background ticker, and the
"ended" message when a session's process dies (shown in the page, no reload loop), a page
whose web worker is stopped (its WebSocket served by the session process itself)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect
from rt_procs import Server, pid_alive, wait_until

pytestmark = pytest.mark.browser

Serve = Callable[..., Server]


def open_page(context: Any, url: str, mode: str) -> Any:
    if mode != "ws":
        context.add_cookies([{"name": "livetag_mode", "value": mode, "url": url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(url + "/")
    page.wait_for_function("window.livetag && window.livetag.connected")
    assert page.evaluate("livetag.transport") == mode
    return page


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_a_counter_on_each_transport(serve: Serve, context: Any, mode: str) -> None:
    server = serve()
    page = open_page(context, server.url, mode)
    for _ in range(5):
        page.click("button.inc")
    expect(page.locator(".value")).to_have_text("5")
    page.reload()
    page.wait_for_function("window.livetag && window.livetag.connected")
    expect(page.locator(".value")).to_have_text("5")
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("6")
    assert page.errors == []


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_background_updates_on_each_transport(serve: Serve, context: Any, mode: str) -> None:
    server = serve()
    if mode != "ws":
        context.add_cookies([{"name": "livetag_mode", "value": mode, "url": server.url}])
    page = context.new_page()
    page.goto(server.url + "/ticker")
    page.wait_for_function("Number(document.querySelector('.ticks').textContent) > 3")


def test_http_only_pages_use_long_poll(serve: Serve, context: Any) -> None:
    server = serve(env={"LT_HTTP_ONLY": "1"})
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_function("window.livetag && window.livetag.connected")
    assert page.evaluate("livetag.transport") == "http"
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("1")


@pytest.mark.parametrize("mode", ["ws", "http"])
def test_a_dead_session_process_shows_the_ended_message(serve: Serve, context: Any, mode: str) -> None:
    server = serve(env={"LT_TIMEOUT": "1.5"})
    page = open_page(context, server.url, mode)
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("1")
    pid = int(page.locator(".pid").text_content())
    page.click("button.sleep")
    expect(page.locator("#lt-error")).to_contain_text("longer than 1.5 s", timeout=20_000)
    wait_until(lambda: not pid_alive(pid), what="the process to be killed")
    page.wait_for_timeout(1500)  # no reload by itself, no reconnection loop
    expect(page.locator(".pid")).to_have_text(str(pid))
    page.reload()  # the user reloads: a fresh session
    page.wait_for_function("window.livetag && window.livetag.connected")
    assert int(page.locator(".pid").text_content()) != pid
    expect(page.locator(".value")).to_have_text("0")
    expect(page.locator("#lt-error")).to_have_count(0)
    assert page.errors == []


def test_a_killed_process_is_reported_in_the_page(serve: Serve, context: Any) -> None:
    server = serve()
    page = open_page(context, server.url, "ws")
    pid = int(page.locator(".pid").text_content())
    os.kill(pid, signal.SIGKILL)
    expect(page.locator("#lt-error")).to_contain_text("ended unexpectedly", timeout=20_000)


def test_a_page_goes_on_while_its_web_worker_is_stopped(serve: Serve, context: Any) -> None:
    # Direct WebSockets: the page's WebSocket was handed to its session process, so
    # Chromium and the session process talk with no web worker in between.
    server = serve()
    page = open_page(context, server.url, "ws")
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("1")
    os.kill(server.pid, signal.SIGSTOP)  # the uvicorn process: the only web worker
    try:
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("2", timeout=5_000)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("3")
    assert page.errors == []
