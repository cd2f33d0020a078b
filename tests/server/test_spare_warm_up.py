"""A spare process's warm-up (``processes.process._touch_page_path``) loads a page of a
built-in app through the ``WebApp`` its session will use: nobody's session, so never
claimed nor snapshotted in the session store (several spares would otherwise claim and
fence each other on one key)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from livetag import Tag, WebApp
from livetag.server.processes.process import _touch_page_path
from livetag.server.store.sqlite import SQLiteStore


class Page(Tag.App):
    def init(self) -> None:
        self <= Tag.p("hello")


async def test_the_warm_up_page_touches_no_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "store" / "sessions.sqlite3"
    store = SQLiteStore(path)
    webapp = WebApp(Page, store=store)
    await _touch_page_path(webapp)
    assert webapp.persistence is not None  # given back after the warm-up
    if path.exists():  # the store opens its file on first use: none, nothing was claimed
        with sqlite3.connect(path) as db:
            last = db.execute("SELECT last FROM epochs").fetchall()
            rows = db.execute("SELECT COUNT(*) FROM snapshots").fetchone()
        assert last in ([], [(0,)]) and rows == (0,), (last, rows)  # no claim was ever made
    await store.close()


async def test_the_warm_up_page_is_served_whatever_the_allowed_hosts() -> None:
    # A deployment sets LIVETAG_ALLOWED_HOSTS=www.example.com: "localhost" is refused (400),
    # so the warm-up asks for an IP literal, which allowed_hosts never refuses.
    from livetag.server.processes.warmup import get_page, warm_up_app

    await get_page(WebApp(warm_up_app(), allowed_hosts=["www.example.com"]), "/")


async def test_the_fork_servers_warm_up_clicks_over_a_handed_over_websocket_and_leaves_nothing() -> None:
    from livetag.server.processes import direct, forkwarm, warmup

    clicked: list[int] = []
    increment = warmup.warm_up_app().increment
    warmup.warm_up_app().increment = lambda self, event: (clicked.append(1), increment(self, event))
    try:
        await forkwarm.load_pages({}, 2, websockets=2)  # each page joined over an adopted WebSocket
    finally:
        warmup.warm_up_app().increment = increment
    assert len(clicked) == 10  # 5 clicks on each of the 2 pages, each answered
    assert direct.running() == set()  # every connection closed and its app ended
    assert not direct._state.connections


async def test_the_websocket_warm_up_skips_parano_and_says_at_once_when_refused() -> None:
    from livetag.server.processes import forkwarm, process, warmup
    from livetag.server.processes.appref import AppRef

    await forkwarm.load_pages({"parano": True}, 1, websockets=1)  # sealed messages: no WebSocket warm-up
    webapp = WebApp(warmup.warm_up_app())
    host = process.SessionHost(process.ProcessConfig("", AppRef("", "")), None,  # type: ignore[arg-type]
                               [0.0] * len(process.SharedField), None, webapp)  # type: ignore[arg-type]
    async with webapp.lifespan():
        webapp.registry = process.BoundRegistry(warmup.warm_up_app(), debug=False, session_id="w", host=host)
        page = await warmup.get_page(webapp, "/")
        forged = re.sub(rb'data-lt-token="[^"]+"', b'data-lt-token="forged"', page)
        with pytest.raises(RuntimeError, match="it closed"):  # the close frame, not a timeout
            await warmup.websocket_clicks(webapp, forged, "w", 1)
        webapp.registry.close_all()
