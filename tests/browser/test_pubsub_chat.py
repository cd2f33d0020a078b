"""The chat example (publish/subscribe) between two browser contexts under ``WebApp``,
on a real uvicorn: each context has its own cookie, so its own session; messages reach
the other session's page as a background update on whatever transport it uses."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

import pytest
from lt_browser import open_chat, say
from playwright.sync_api import expect

from livetag.runners.serve import BackgroundServer

pytestmark = pytest.mark.browser

Serve = Callable[..., AbstractContextManager[BackgroundServer]]


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_a_chat_between_two_browsers(live_server: Serve, example: Callable[[str], ModuleType], browser: Any,
                                     mode: str) -> None:
    chat = example("chat")
    with live_server(chat.app) as server:
        alice_ctx, alice, alice_errors = open_chat(browser, server.url, "alice")
        bob_ctx, bob, bob_errors = open_chat(browser, server.url, "bob", mode)
        try:
            say(alice, "hello <script>alert(1)</script>")
            expect(bob.locator("ul.messages li")).to_have_text(["alice hello <script>alert(1)</script>"])
            expect(alice.locator("ul.messages li.mine")).to_have_count(1)
            expect(alice.locator("input.text")).to_have_value("")
            say(bob, "hi alice")
            expect(alice.locator("ul.messages li")).to_have_text(
                ["alice hello <script>alert(1)</script>", "bob hi alice"])
            expect(bob.locator("ul.messages li.mine")).to_have_text("bob hi alice")
            bob.reload()  # the session kept what it heard
            bob.wait_for_function("window.livetag && window.livetag.connected")
            expect(bob.locator("ul.messages li")).to_have_count(2)
            assert chat.webapp.broker.topics() == [chat.ROOM]
            assert alice_errors == [] and bob_errors == []
        finally:
            alice_ctx.close()
            bob_ctx.close()
