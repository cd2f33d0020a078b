"""Backpressure (issue 14): a WebSocket client that does not read is dropped by livetag
with its documented close (1008 ``update queue overflow: client too slow``) within a
bound in bytes (``max_queued_bytes``) of updates waiting for it, and within
``WRITE_TIMEOUT`` once the socket stops taking data (a reader blocked in a send reads
none of the client's next events meanwhile); the close frame reaches the client when
it reads again. Other sessions never notice."""

from __future__ import annotations

import asyncio

import pytest
from hostile import Board, Serve
from websockets.asyncio.client import connect

from livetag import Tag, WebApp
from livetag.server import websocket
from livetag.testing.wire import element_id

TOO_SLOW = (1008, "update queue overflow: client too slow")
NO_MESSAGE_BOUND = {"max_queued_updates": 100_000, "events_per_second": 1000, "event_burst": 1000}


class Big(Board):
    """Every click sends a 100 kB update."""

    def build(self) -> None:
        self.n = 0
        self.blob = Tag.div("", _class="blob")
        self <= Tag.button("big", _class="big", _onclick=self.big)
        self <= self.blob

    def big(self) -> None:
        self.n += 1
        self.blob.text = str(self.n % 10) * 100_000


async def _silent(t, server_url: str) -> str:
    """Load and join ``t`` on a WebSocket whose client library reads one message, then
    nothing (TCP fills up behind it); the id of the big button."""
    html = await t.load()
    t.ws = await connect(t.ws_url, additional_headers={"Cookie": t.cookie_header()}, origin=t.origin,
                         proxy=None, max_queue=1, compression=None)
    await t.join()
    return element_id(html, "big")


async def _click(t, big: str, times: int) -> None:
    """Send ``times`` clicks on ``big``, reading nothing."""
    for _ in range(times):
        t.seq += 1
        await t.send({"t": "ev", "s": t.seq, "id": big, "n": "click", "d": {}, "sync": {}})


async def _all_applied(webapp: WebApp, t) -> None:
    """Wait (at most 20 s) until the session applied every event ``t`` sent, or dropped
    ``t`` (it then applies no more): only then has the server written (or tried to
    write) every update, the test's client having read nothing meanwhile."""
    session = webapp.registry.get(t.session_id)
    assert session is not None
    for _ in range(400):
        mine = [c for c in session._clients.values() if c.cid == t.cid]
        if not mine or mine[0].sink is None or mine[0].last_seq >= t.seq:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("expected the session to apply every event within 20 s")


async def test_a_client_that_does_not_read_is_dropped_past_the_byte_bound(live_server: Serve, tab, witness,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "WRITE_TIMEOUT", 60.0)  # only the bound in bytes can drop it in time
    webapp = WebApp(Big, max_queued_bytes=512 * 1024, **NO_MESSAGE_BOUND)
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        big = await _silent(t, server.url)
        # Another tab of the session clicks: every update goes to the silent tab too, whose
        # own reader is free (its events would wait behind its blocked send instead).
        sibling = tab(server.url, t.http)
        await sibling.load()
        await sibling.join()
        for _ in range(100):  # 10 MB of updates: far past the kernel's buffers and the bound
            await sibling.event(big)
        await w.check()
        assert (await t.closed(timeout=20))[:2] == TOO_SLOW
        await w.check()


async def test_a_client_that_does_not_read_is_dropped_after_the_write_timeout(live_server: Serve, tab, witness,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "WRITE_TIMEOUT", 0.5)
    webapp = WebApp(Big, max_queued_bytes=1 << 30, **NO_MESSAGE_BOUND)  # no bound in bytes nor messages
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        big = await _silent(t, server.url)
        # The socket fills up: the reader, which sends each event's update itself, stops in
        # a send and reads no more. Nothing else is sent to the client: the send watch alone
        # notices, and the events sent meanwhile stay unread.
        await _click(t, big, 150)
        await _all_applied(webapp, t)
        await w.check()
        assert (await t.closed(timeout=20))[:2] == TOO_SLOW
        await w.check()


def test_a_send_watch_left_waiting_when_its_loop_closes_ends_quietly() -> None:
    # A server thread's loop may close while the watch task waits (a test's in-process
    # server, a worker shutting down): the coroutine is then closed outside any running
    # loop, and must let go of its task without asking asyncio which task is current.
    watch = websocket.SendWatch()
    loop = asyncio.new_event_loop()

    async def send_once() -> None:
        watch.begin(object(), asyncio.get_running_loop())  # type: ignore[arg-type]
        await asyncio.sleep(0)  # the watch task starts and waits

    try:
        loop.run_until_complete(send_once())
    finally:
        loop.close()
    task = watch._task
    assert task is not None and not task.done()
    task.get_coro().close()  # what the collector does to the pending task's coroutine
    assert watch._task is None
