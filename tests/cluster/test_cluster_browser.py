"""The cluster in Chromium: a page behind haproxy whose machine is killed resumes on
another machine with its state, and the clicks made while it was away apply once."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import redis
from haproxy import HAPROXY, HAProxy
from machines import Machine, saved
from playwright.sync_api import expect
from redis_server import RedisServer
from rt_procs import wait_until

from livetag.server.persistence import key as store_key

pytestmark = pytest.mark.browser

if not os.access(HAPROXY, os.X_OK):
    pytest.skip(f"no haproxy at {HAPROXY} (scripts/bootstrap installs Debian's)", allow_module_level=True)


def test_a_page_resumes_on_another_machine_when_its_machine_dies(machines: Callable[..., Machine], context: Any,
                                                                  redis_server: RedisServer) -> None:
    a, b = machines("a"), machines("b")
    # Every request to a while it lives, to b once haproxy sees a dead: as a balancer
    # without a relay between machines would have to.
    proxy = HAProxy([a.server.port], backups=[b.server.port]).start()
    client = redis.Redis.from_url(redis_server.url)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(proxy.url + "/")
        page.wait_for_function("window.livetag && window.livetag.connected")
        for _ in range(5):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("5")
        sid = next(c["value"] for c in context.cookies() if c["name"].startswith("lt_sid"))
        key = store_key("", sid)

        wait_until(lambda: saved(client, key) == 5, what="the snapshot of 5 clicks")
        pid_a = page.locator(".pid").inner_text()
        a.kill()
        for _ in range(3):  # while the page is away: kept, re-sent once it joins again
            page.click("button.inc")
        expect(page.locator(".pid")).not_to_have_text(pid_a, timeout=30_000)
        expect(page.locator(".value")).to_have_text("8", timeout=30_000)
        page.click("button.inc")
        expect(page.locator(".value")).to_have_text("9")
        wait_until(lambda: saved(client, key) == 9, what="b's snapshot")
        assert errors == []
    finally:
        client.close()
        proxy.close()


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_a_counter_clicked_through_round_robin_is_exact(machines: Callable[..., Machine], context: Any,
                                                        mode: str) -> None:
    # Three machines behind haproxy in round robin, no stickiness: the page's requests land
    # on any of them, the ones that do not own its session relay to the one that does.
    a, b, c = (machines(name, relay=True) for name in "abc")
    proxy = HAProxy([a.server.port, b.server.port, c.server.port]).start()
    try:
        if mode != "ws":
            context.add_cookies([{"name": "livetag_mode", "value": mode, "url": proxy.url}])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(proxy.url + "/")
        page.wait_for_function("window.livetag && window.livetag.connected")
        pid = page.locator(".pid").inner_text()
        for _ in range(100):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("100", timeout=30_000)
        page.reload()  # the page load lands anywhere too: the same session, the same process
        expect(page.locator(".value")).to_have_text("100")
        assert page.locator(".pid").inner_text() == pid and errors == []
    finally:
        proxy.stop()
