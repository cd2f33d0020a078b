"""Hostile input against session persistence: a resumed session is only ever one the
server issued and snapshotted, for this app, from intact bytes.

- a forged cookie (no snapshot under its hash) gets a fresh session with a new id;
- a snapshot written for another app class is ignored;
- a tampered or corrupt row is ignored (logged), the page starts afresh;
- a process whose claim was superseded stops saving (fenced), never overwriting the
  newer owner's snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from hostile import Serve
from websockets.exceptions import ConnectionClosed

from livetag import States, Tag, WebApp
from livetag.server.persistence import key as store_key
from livetag.testing.wire import Tab, UnexpectedMessage


class Counter(Tag.App):
    def init(self) -> None:
        self.s = States(count=0)
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= Tag.span(self.s.count, _class="value")

    def increment(self) -> None:
        self.s.count += 1


class Impostor(Counter):
    """Another app class with the same states: a snapshot of ``Counter`` is not its."""


async def snapshotted(live_server: Serve, store: Path, clicks: int = 2) -> Tab:
    """A tab whose session (``clicks`` clicks in) was snapshotted by a server now stopped."""
    with live_server(WebApp(Counter, store=store).app) as server:
        t = Tab(server.url + "/")
        await t.load()
        await t.join()
        for _ in range(clicks):
            await t.event(t.id(".inc"))
        await t.close()
    t.ws = None
    return t


async def refused_as_expired(t: Tab) -> None:
    with pytest.raises((UnexpectedMessage, ConnectionClosed), match="expired"):
        await t.join()
    t.ws = None


def issued(t: Tab) -> str | None:
    """The session id the last page load set as cookie, if it set one."""
    assert t.response is not None
    for header in t.response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.startswith("lt_sid"):
            return rest.split(";", 1)[0]
    return None


def rows(store: Path) -> list[tuple[Any, ...]]:
    """The store's rows (none while the server has not made its table yet)."""
    if not store.exists():
        return []
    with sqlite3.connect(store) as db:
        try:
            return list(db.execute("SELECT key, data FROM snapshots"))
        except sqlite3.OperationalError:  # no such table yet
            return []


async def test_a_forged_cookie_gets_a_fresh_session(live_server: Serve, tmp_path: Path) -> None:
    store = tmp_path / "s" / "db.sqlite3"
    victim = await snapshotted(live_server, store)
    with live_server(WebApp(Counter, store=store).app, port=int(victim.url.rsplit(":", 1)[1].strip("/"))) as server:
        forged = secrets.token_urlsafe(32)
        async with Tab(server.url + "/") as t:
            t.http.cookies.set("lt_sid", forged)
            await refused_as_expired(t)
            await t.load()
            assert issued(t) not in (None, forged)  # never adopted
            assert t.text(".value") == "0"
        await victim.aclose()


async def test_another_apps_snapshot_is_ignored(live_server: Serve, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    store = tmp_path / "s" / "db.sqlite3"
    t = await snapshotted(live_server, store)
    port = int(t.url.rsplit(":", 1)[1].strip("/"))
    caplog.set_level(logging.WARNING, "livetag.server.persistence")
    with live_server(WebApp(Impostor, store=store).app, port=port):
        await refused_as_expired(t)
        assert "Impostor" in caplog.text and "ignored" in caplog.text
        old = t.session_id
        await t.load()
        assert issued(t) not in (None, old) and t.text(".value") == "0"
    await t.aclose()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-shape", "hostile-root"])
async def test_a_tampered_row_is_ignored(live_server: Serve, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                         damage: str) -> None:
    store = tmp_path / "s" / "db.sqlite3"
    t = await snapshotted(live_server, store)
    port = int(t.url.rsplit(":", 1)[1].strip("/"))
    [(row_key, data)] = rows(store)
    assert row_key == store_key("", t.session_id)
    envelope = orjson.loads(data)
    bad = {
        "garbage": b"\x00\xff not json",
        "truncated": data[: len(data) // 2],
        "wrong-shape": orjson.dumps({**envelope, "rev": "many", "csrf": 7}),
        "hostile-root": orjson.dumps({**envelope, "root": "x" * 10_000}),
    }[damage]
    with sqlite3.connect(store) as db:
        db.execute("UPDATE snapshots SET data = ?", (bad,))
    caplog.set_level(logging.WARNING, "livetag.server.persistence")
    with live_server(WebApp(Counter, store=store).app, port=port):
        await refused_as_expired(t)
        assert "ignored" in caplog.text
        await t.load()
        await t.join()
        await t.event(t.id(".inc"))
        assert t.text(".value") == "1"  # a fresh session works
    await t.aclose()


async def test_a_superseded_process_is_fenced(live_server: Serve, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    store = tmp_path / "s" / "db.sqlite3"
    caplog.set_level(logging.WARNING, "livetag.server.persistence")
    with live_server(WebApp(Counter, store=store).app) as old:
        a = Tab(old.url + "/")
        await a.load()
        await a.join()
        await a.event(a.id(".inc"))
        # The snapshot is written after the debounce: wait for it.
        while not any(r[1] for r in rows(store)):
            await asyncio.sleep(0.05)
        with live_server(WebApp(Counter, store=store).app) as new:
            # Another process resumes the same session (a worker behind a balancer).
            b = Tab(new.url + "/")
            b.http.cookies.set("lt_sid", a.session_id)
            await b.load()
            assert issued(b) is None  # the same session, resumed
            await b.join()
            await b.event(b.id(".inc"))
            assert b.text(".value") == "2"
            # The old process acts for it once more: its save is refused.
            await a.event(a.id(".inc"))
            while "another process owns it" not in caplog.text:
                await asyncio.sleep(0.05)
            await b.aclose()
        [(_, data)] = rows(store)
        assert orjson.loads(data)["app"]["states"]["s"]["count"] == 2  # the newer owner's
        await a.aclose()


async def test_asking_for_a_new_session_forgets_the_old_snapshot(live_server: Serve, tmp_path: Path) -> None:
    store = tmp_path / "s" / "db.sqlite3"
    t = await snapshotted(live_server, store)
    port = int(t.url.rsplit(":", 1)[1].strip("/"))
    old = t.session_id
    with live_server(WebApp(Counter, store=store).app, port=port):
        async with Tab(t.url) as fresh:
            fresh.http.cookies.set("lt_sid", old)
            await fresh.load("n")
            assert issued(fresh) not in (None, old) and fresh.text(".value") == "0"
        while any(k == store_key("", old) for k, _ in rows(store)):
            await asyncio.sleep(0.05)
        await refused_as_expired(t)  # the old page cannot bring it back
    await t.aclose()


async def test_one_webapp_served_twice_resumes_too(live_server: Serve, tmp_path: Path) -> None:
    webapp = WebApp(Counter, store=tmp_path / "s" / "db.sqlite3")
    with live_server(webapp.app) as first:
        t = Tab(first.url + "/")
        await t.load()
        await t.join()
        await t.event(t.id(".inc"))
        await t.close()
    t.ws = None
    with live_server(webapp.app, port=first.port):  # the same object: its store is opened again
        await t.join()
        assert t.text(".value") == "1"
        await t.event(t.id(".inc"))
        assert t.text(".value") == "2"
    await t.aclose()
