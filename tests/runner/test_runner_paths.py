"""The Runner with a ``PathRouter``: a deep link rendered in the session's process, then
links and Back in Chromium; the Runner's own routes stay its own."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect
from rt_procs import Server

pytestmark = pytest.mark.browser

Serve = Callable[..., Server]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_deep_link_under_the_runner(serve: Serve, context: Any) -> None:
    server = serve(target="runner_paths:app")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(server.url + "/users/7?tab=posts")
    assert response is not None and response.status == 200
    assert "user 7" in response.text()  # rendered by the session's process, in the first HTML
    expect(page.locator(".tab")).to_have_text("tab: posts")
    page.wait_for_function("window.livetag && window.livetag.connected")
    page.evaluate("window.__marker = 'kept'")
    page.click("a.home")
    expect(page.locator("h2")).to_have_text("Home")
    assert page.url == server.url + "/"
    page.go_back()
    expect(page.locator(".user")).to_have_text("user 7")
    assert page.evaluate("window.__marker") == "kept"
    pid = page.locator(".pid").text_content()
    page.goto(server.url + "/users/8?tab=likes")  # other query parameters: the same app, same process
    expect(page.locator(".tab")).to_have_text("tab: likes")
    assert page.locator(".pid").text_content() == pid
    status, body = get(server.url + "/nowhere")  # a new session: 404 with the not-found page
    assert status == 404 and "404 Not Found" in body
    assert get(server.url + "/health") == (200, "ok")  # the Runner's routes come first
    assert errors == []


def test_an_app_without_a_path_router_keeps_404s_under_the_runner(serve: Serve) -> None:
    server = serve()  # runner_apps:app, a Counter: no path router
    assert get(server.url + "/")[0] == 200
    assert get(server.url + "/nowhere") == (404, "Not Found")
    assert get(server.url + "/whoami")[0] == 200  # its own routes still answer
