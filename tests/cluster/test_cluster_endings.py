"""How a session's end reaches a page relayed from another machine (real uvicorn machines
with their relays, on the test's redis-server; wire-level clients). A relayed connection
that drops makes the page join again: for an owner that stops (drain) or dies, the
session resumes elsewhere; for a session that ended for good on its owner (killed for its
time or memory, crashed), it must not: its snapshot goes with it, and the page is told
its session expired."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import redis
from machines import Machine, saved
from redis_server import RedisServer
from rt_procs import wait_until

from livetag.server.persistence import key as store_key
from livetag.testing.wire import Tab

PREFIX = "livetag:"


@pytest.fixture
def r(redis_server: RedisServer) -> Any:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()



async def test_a_session_that_ended_for_good_is_not_resumed_through_another_machine(
        machines: Callable[..., Machine], r: redis.Redis) -> None:
    a, b = machines("a", relay=True), machines("b", relay=True)
    async with Tab(a.url + "/", transport="http") as t:
        await t.load()
        await t.join()
        await t.event(t.id(".inc"))
        pid = int(t.text(".pid"))
        t.url, t.origin = b.url + "/", b.url  # the page's requests now land on b, relayed to a
        await t.event(t.id(".inc"))
        assert t.text(".value") == "2" and int(t.text(".pid")) == pid
        key = store_key("", t.session_id)
        wait_until(lambda: saved(r, key) == 2, what="the snapshot of 2 clicks")
        os.kill(pid, signal.SIGKILL)  # as the watchdog kills a process past timeout_interaction
        wait_until(lambda: not r.exists(f"{PREFIX}d:{key}"), what="a to delete the ended session's snapshot")
        status, body = 503, b""
        for _ in range(100):  # "retry" while a still holds the claim; then the answer
            response = await t.post("join", t.join_message(), token=None)
            status, body = response.status_code, response.content
            if status != 503:
                break
            await asyncio.sleep(0.1)
        assert status == 410, (status, body)  # never 200: the session is not revived on b
        assert [m["code"] for m in orjson.loads(body) if m["t"] == "bye"] == ["expired"]
        assert saved(r, key) == -1 and not r.exists(f"{PREFIX}s:{key}")
