"""Publish/subscribe under the Runner: sessions in different processes (and web workers)
talk through the supervisor's hub. Chromium drives the chat example; a raw client plays
a process that is not a session process."""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from rt_procs import Server, wait_until

from livetag.pubsub import PUBLISH_BURST
from livetag.server.processes import bridge

pytestmark = pytest.mark.browser

Serve = Callable[..., Server]
TARGET = "pubsub_apps:app"


def open_chat(browser: Any, url: str, name: str) -> tuple[Any, Any]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(url)
    page.wait_for_function("window.livetag && window.livetag.connected")
    page.fill("input.name", name)
    return context, page


def control_request(runtime: str, request: dict[str, Any]) -> dict[str, Any]:
    """One request on the supervisor's control socket, from this (test) process."""
    control = wait_until(lambda: next(Path(runtime).glob("lt-*/*/ctl"), None), what="the control socket")

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # blocking: Playwright owns this thread's loop
        sock.settimeout(10)
        sock.connect(str(control))
        sock.sendall(bridge.encode(request))
        head = recv_exact(sock, 8)
        size, raw = struct.unpack("!II", head)
        payload = recv_exact(sock, size + raw)
    return bridge.decode(payload[:size], payload[size:])


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "the supervisor closed the connection"
        data += chunk
    return data


def say(page: Any, text: str) -> None:
    page.fill("input.text", text)
    page.click("button[type=submit]")


@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn"])
def test_a_chat_between_two_browsers_in_two_session_processes(serve: Serve, runtime: str, browser: Any,
                                                              kind: str) -> None:
    server = serve(kind, target=TARGET)
    alice_ctx, alice = open_chat(browser, server.url + "/", "alice")
    bob_ctx, bob = open_chat(browser, server.url + "/", "bob")
    try:
        say(alice, "hello <b>bob</b>")
        expect(alice.locator("ul.messages li.mine")).to_have_text("alice hello <b>bob</b>")
        expect(bob.locator("ul.messages li")).to_have_text(["alice hello <b>bob</b>"])
        say(bob, "hi alice")
        expect(alice.locator("ul.messages li")).to_have_text(["alice hello <b>bob</b>", "bob hi alice"])
        expect(bob.locator("ul.messages li.mine")).to_have_text("bob hi alice")
        # Two sessions, two processes: the hub in the supervisor carried the messages.
        listing = control_request(runtime, {"op": "list"})
        assert len({s["pid"] for s in listing["sessions"]}) == 2
        assert listing["pubsub"] == {"links": 2, "topics": ["chat:lobby"]}
        # Bob asks for a new session (``?n``): the old one's process ends, and its link
        # with it. (Each live session is a chat that subscribed, so it has one link.)
        before = {s["pid"] for s in listing["sessions"]}
        assert bob_ctx.request.get(server.url + "/?n").ok
        expect(bob.locator("ul.messages li")).to_have_count(0)  # the page reloaded itself into a new session
        bob.wait_for_function("window.livetag && window.livetag.connected")

        def settled() -> bool:
            now = control_request(runtime, {"op": "list"})
            pids = {s["pid"] for s in now["sessions"]}
            return len(pids & before) == 1 and now["pubsub"] == {"links": len(pids), "topics": ["chat:lobby"]}

        wait_until(settled, what="the hub to forget the old session's link")
        say(alice, "again")
        expect(alice.locator("ul.messages li").last).to_have_text("alice again")
        expect(bob.locator("ul.messages li")).to_have_text(["alice again"])  # bob's new session listens
        assert alice.errors == [] and bob.errors == []
    finally:
        alice_ctx.close()
        bob_ctx.close()


def test_a_flood_is_bounded_and_the_chat_goes_on(serve: Serve, browser: Any) -> None:
    server = serve("uvicorn", target=TARGET)
    alice_ctx, alice = open_chat(browser, server.url + "/", "alice")
    bob_ctx, bob = open_chat(browser, server.url + "/", "bob")
    flood_ctx = browser.new_context()
    try:
        flooder = flood_ctx.new_page()
        flooder.goto(server.url + "/flood")
        flooder.wait_for_function("window.livetag && window.livetag.connected")
        flooder.click("button.flood")
        expect(flooder.locator(".sent")).to_have_text(re.compile(r"sent \d+"), timeout=15_000)
        sent = int(flooder.locator(".sent").text_content().split()[1])
        # The session's burst (and what its rate refilled meanwhile), then PubSubLimit.
        assert PUBLISH_BURST <= sent < 2 * PUBLISH_BURST
        expect(bob.locator("ul.messages li").last).to_have_text(f"flood {sent - 1}", timeout=15_000)
        expect(bob.locator("ul.messages li")).to_have_count(100)  # the chat keeps its last 100
        say(alice, "still here")
        expect(bob.locator("ul.messages li").last).to_have_text("alice still here")
        expect(alice.locator("ul.messages li").last).to_have_text("alice still here")
    finally:
        alice_ctx.close()
        bob_ctx.close()
        flood_ctx.close()


def test_only_session_processes_may_open_a_pubsub_link(serve: Serve, runtime: str, browser: Any) -> None:
    server = serve("uvicorn", target=TARGET)
    ctx, page = open_chat(browser, server.url + "/", "alice")  # the supervisor runs
    try:
        reply = control_request(runtime, {"op": "pubsub"})  # not a session process: refused
        assert reply["error"] == "refused"
        server.wait_for("pubsub link refused: process")
        say(page, "after")
        expect(page.locator("ul.messages li")).to_have_text(["alice after"])
    finally:
        ctx.close()
