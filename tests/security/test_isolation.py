"""Isolation in time: a session that blocks (a synchronous handler sleeping) does not
delay another session, and a session's own events still run one at a time, in order.

The bounds below are behavioural, with a wide margin (another session answers well
within the time the slow handler sleeps), not performance targets.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from hostile import Board, Serve

from livetag import Tag, WebApp
from livetag.testing.wire import Tab, element_id, texts

SLEEP = 1.0


class Slow(Board):
    """``slow`` blocks its thread for a second; ``log`` shows the order handlers ran in."""

    def build(self) -> None:
        self.log = Tag.span("", _class="log")
        self <= Tag.button("slow", _class="slow", _onclick=self.slow)
        self <= Tag.button("fast", _class="fast", _onclick=self.fast)
        self <= Tag.button("mark", _class="mark", _onclick=self.mark)
        self <= self.log

    def slow(self) -> None:
        time.sleep(SLEEP)  # a blocking call, as user code does
        self.log.text = self.log.text + "slow;"

    def fast(self) -> None:
        self.log.text = self.log.text + "fast;"

    def mark(self) -> None:
        self.log.text = self.log.text + "mark;"


async def start_slow(t: Tab, transport: str) -> asyncio.Future[list[dict]]:
    """Open ``t`` and send its slow click; the messages answering it, when they come."""
    html = await t.load()
    slow = element_id(html, "slow")
    if transport == "websocket":
        await t.join()
        t.seq += 1
        await t.send({"t": "ev", "s": t.seq, "id": slow, "n": "click", "d": {}, "sync": {}})
        return asyncio.ensure_future(t.until_ack(t.seq))
    await t.join(transport="http")

    async def post() -> list[dict]:
        response = await t.post_events([t.ev(slow)])
        assert response.status_code == 200
        return t.messages(response)

    return asyncio.ensure_future(post())


@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_a_sleeping_handler_does_not_delay_another_session(live_server: Serve, tab, witness,
                                                                 transport: str) -> None:
    with live_server(WebApp(Slow).app) as server:
        w = await witness(server.url).start()
        sleepers = [tab(server.url) for _ in range(3)]  # several, so one free thread is not enough
        answers = [await start_slow(sleeper, transport) for sleeper in sleepers]
        await asyncio.sleep(0.1)  # the slow handlers are running now
        started = time.monotonic()
        await w.click()
        took = time.monotonic() - started
        assert took < SLEEP / 2, f"another session's click took {took:.2f} s while handlers slept"
        # The sleepers finish normally.
        for answer in answers:
            assert texts(await answer) == ["slow;"]
        await w.check()


async def test_a_sessions_own_events_stay_in_order(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Slow).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        slow, fast, mark = element_id(html, "slow"), element_id(html, "fast"), element_id(html, "mark")
        await t.join()
        sibling = tab(server.url, t.http)  # another page of the same session, over HTTP
        await sibling.load()
        await sibling.join(transport="http")
        for target in (slow, fast, slow, fast):
            t.seq += 1
            await t.send({"t": "ev", "s": t.seq, "id": target, "n": "click", "d": {}, "sync": {}})
        await asyncio.sleep(0.1)
        await sibling.event(mark)
        messages = await t.until_ack(t.seq)
        acks = [m["ack"] for m in messages if m["t"] in ("up", "ack")]
        assert acks == sorted(acks) and acks[-1] == 4
        log = texts(messages)[-1].split(";")[:-1]
        # One at a time: the sibling's event waited for the running slow one.
        assert log[0] == "slow"
        # And this page's events ran in the order it sent them.
        assert [e for e in log if e != "mark"] == ["slow", "fast", "slow", "fast"]
        await w.check()
