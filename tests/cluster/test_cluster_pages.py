"""The cluster in Chromium, page by page: the chat example with its two users on two
machines, and a page whose owner froze (SIGSTOP past its lease) resuming on another
machine while the frozen one, woken, never writes again."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from haproxy import HAPROXY, HAProxy
from machines import FENCED, Machine, saved
from playwright.sync_api import expect
from redis_server import RedisServer
from rt_procs import wait_until

from livetag.server.persistence import key as store_key

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


@pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason=f"no haproxy at {HAPROXY} (scripts/bootstrap installs it)")
def test_a_frozen_owner_is_left_and_never_writes_again(machines: Machines, context: Any,
                                                        redis_server: RedisServer) -> None:
    # A frozen machine (SIGSTOP: a stuck VM, a long GC pause) sends no TCP reset: the page
    # notices by its heartbeat, and joins again through haproxy, on the other machine once
    # the frozen one's lease ran out. Woken (SIGCONT), the former owner is fenced.
    a, b = (machines(name, "cluster_apps:beating", relay=True) for name in "ab")
    proxy = HAProxy([a.server.port, b.server.port]).start()
    client = redis.Redis.from_url(redis_server.url)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(proxy.url + "/")
        page.wait_for_function("window.livetag && window.livetag.connected")
        for _ in range(3):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("3")
        sid = next(c["value"] for c in context.cookies() if c["name"].startswith("lt_sid"))
        key = store_key("", sid)

        wait_until(lambda: saved(client, key) == 3, what="the snapshot of 3 clicks")
        owner, other = (a, b) if a.request({"op": "owner", "base": "", "sid": sid})["where"] == "here" else (b, a)
        pid = page.locator(".pid").inner_text()
        owner.pause()
        try:
            page.click("button.inc")  # kept by the page until a machine acknowledges it
            expect(page.locator(".pid")).not_to_have_text(pid, timeout=30_000)
            expect(page.locator(".value")).to_have_text("4", timeout=30_000)
            page.click("button.inc")
            expect(page.locator(".value")).to_have_text("5")
            wait_until(lambda: saved(client, key) == 5, what="the new owner's snapshot")
            written = client.hgetall(f"livetag:d:{key}")
        finally:
            owner.resume()
        owner.server.wait_for(FENCED)  # woken, it learnt it lost the session
        assert client.hgetall(f"livetag:d:{key}") == written  # and wrote nothing
        assert other.request({"op": "owner", "base": "", "sid": sid})["where"] == "here"
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("6")
        assert errors == []
    finally:
        client.close()
        proxy.close()
