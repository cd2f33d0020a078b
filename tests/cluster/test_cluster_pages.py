"""The cluster in Chromium, page by page: the chat example with its two users on two
machines, and a page whose owner froze (SIGSTOP past its lease) resuming on another
machine while the frozen one, woken, never writes again."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from machines import Machine
from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))

from lt_browser import open_chat, say

pytestmark = pytest.mark.browser

Machines = Callable[..., Machine]


def test_the_chat_with_its_users_on_two_machines(machines: Machines, browser: Any) -> None:
    a, b = machines("a", "cluster_apps:chat"), machines("b", "cluster_apps:chat")
    alice_ctx, alice, alice_errors = open_chat(browser, a.url, "alice")
    bob_ctx, bob, bob_errors = open_chat(browser, b.url, "bob", "sse")
    try:
        # b's subscription reaches Redis a moment after its page joined: say it until heard
        for n in range(50):
            say(alice, f"hello {n}")
            try:
                expect(bob.locator("ul.messages li").first).to_contain_text("alice hello", timeout=300)
                break
            except AssertionError:
                continue
        say(bob, "hi alice, from machine b")
        expect(alice.locator("ul.messages li").last).to_have_text("bob hi alice, from machine b")
        say(alice, "bye bob")
        expect(bob.locator("ul.messages li").last).to_have_text("alice bye bob")
        assert alice_errors == [] and bob_errors == []
    finally:
        alice_ctx.close()
        bob_ctx.close()
