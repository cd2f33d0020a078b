"""Sessions that survive a restart under the Runner: the server stopped (SIGTERM, each
session process saves its session) and started again on the same port with the same
store; the open page's session is revived in a new process and goes on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import expect
from rt_procs import Server, bind, supervisor_request, wait_until
from websockets.exceptions import ConnectionClosed

from livetag.testing.wire import Tab

Serve = Callable[..., Server]


def restarted(serve: Serve, server: Server, env: dict[str, str]) -> Server:
    port = server.port
    server.stop()
    return serve(sock=bind(port), target="persist_apps:app", env=env)


async def test_a_session_resumes_in_a_new_process_after_a_restart(serve: Serve, tmp_path: Path) -> None:
    env = {"LIVETAG_STORE": str(tmp_path / "store" / "sessions.sqlite3")}
    server = serve(target="persist_apps:app", env=env)
    async with Tab(server.url + "/") as t:
        await t.load()
        await t.join()
        for _ in range(3):
            await t.event(t.id(".inc"))
        assert t.text(".value") == "3"
        old_pid = t.text(".pid")
        await t.close()
        server = restarted(serve, server, env)
        t.ws = None
        await t.join()  # the open page: its old token, no page load in between
        assert t.text(".value") == "3" and t.text(".pid") != old_pid
        await t.event(t.id(".inc"))
        assert t.text(".value") == "4"

        await t.load("n")  # ?n: a new session, the old one's snapshot is forgotten
        assert t.text(".value") == "0"


def open_files(pid: int) -> set[str]:
    """What the file descriptors of process ``pid`` point to."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            found.add(os.readlink(fd))
    return found


async def test_session_processes_save_through_the_supervisor_which_alone_opens_the_store(
        serve: Serve, runtime: str, tmp_path: Path) -> None:
    # A SQLite connection costs a process ~1.2 MB (bench/runner_stages.py): the session
    # processes reach the store through a link to the supervisor instead.
    store = tmp_path / "store" / "sessions.sqlite3"
    server = serve(target="persist_apps:app", env={"LIVETAG_STORE": str(store)})
    async with Tab(server.url + "/") as t:
        await t.load()
        await t.join()
        await t.event(t.id(".inc"))
        session_pid = int(t.text(".pid"))
        supervisor_pid = supervisor_request(runtime, {"op": "hello"})["pid"]
        def linked() -> dict[str, Any] | None:  # the link opens in the background as the process starts
            listing = supervisor_request(runtime, {"op": "list"})
            return listing if listing["store_links"] == 1 else None

        listing = wait_until(linked, what="the session's store link")
        assert [s["pid"] for s in listing["sessions"]] == [session_pid]
        assert not {f for f in open_files(session_pid) if f.startswith(str(store))}
        assert str(store) in open_files(supervisor_pid)
        # The link is the session process's own: another process is refused one.
        refused = supervisor_request(runtime, {"op": "store"})
        assert refused == {"error": "refused", "msg": "expected a session process of this supervisor"}
        # What the session saved is there for the next start (the test above resumes it).
        await t.event(t.id(".inc"))
        await t.close()
    server.stop()
    with contextlib.closing(sqlite3.connect(store)) as db:
        [(data,)] = db.execute("SELECT data FROM snapshots WHERE data IS NOT NULL").fetchall()
    assert orjson.loads(data)["app"]["states"] == {"s": {"count": 2}}  # the last event's, saved at the stop


@pytest.mark.parametrize("direct_on", [True, False], ids=["direct", "relayed"])
async def test_events_around_a_stop_are_each_applied_once(serve: Serve, tmp_path: Path, direct_on: bool) -> None:
    # The stop comes while a handler runs (it counts after 0.5 s) and the page clicks on:
    # the snapshot waits for the handler, and nothing is applied after it (the WebSocket
    # the session process serves itself closes first). Saved mid-handler, the event was
    # lost (its sequence number in the snapshot, its change not); applied after the
    # snapshot, a click was acknowledged and then lost.
    env = {"LIVETAG_STORE": str(tmp_path / "store" / "sessions.sqlite3"), "LT_DIRECT": "1" if direct_on else "0"}
    server = serve(target="persist_apps:app", env=env)
    async with Tab(server.url + "/") as t:
        await t.load()
        await t.join()
        await t.event(t.id(".inc"))
        sent = [t.ev(t.id(".slow"))]
        await t.send(sent[0])
        await asyncio.sleep(0.15)  # the handler runs
        stopping = asyncio.create_task(asyncio.to_thread(restarted, serve, server, env))
        with contextlib.suppress(ConnectionClosed):
            while True:
                sent.append(t.ev(t.id(".inc")))
                await t.send(sent[-1])
                await asyncio.sleep(0.02)
        # 1012, or a reset: clicks that reach a socket just closed make the kernel answer RST,
        # which can drop the close frame before the tab reads it.
        await t.closed(abrupt=True)
        server = await stopping
        t.ws = None
        joined = await t.join()
        unacknowledged = [m for m in sent if m["s"] > joined["ack"]]
        for message in unacknowledged:  # sent again, as livetag.js does
            await t.send(message)
        messages = await t.until_ack(sent[-1]["s"]) if unacknowledged else []
        assert t.text(".value") == str(1 + len(sent))
        assert not [m for m in messages if m["t"] == "err"]  # no "restored: its last changes were lost"


async def test_without_persistence_the_page_is_told_its_session_expired(serve: Serve, tmp_path: Path) -> None:
    env = {"LIVETAG_STORE": str(tmp_path / "store" / "sessions.sqlite3"), "LT_PERSIST": "0"}
    server = serve(target="persist_apps:app", env=env)
    async with Tab(server.url + "/") as t:
        await t.load()
        await t.join()
        await t.event(t.id(".inc"))
        await t.close()
        server = restarted(serve, server, env)
        t.ws = None
        with pytest.raises(Exception, match="expired"):
            await t.join()
    assert not (tmp_path / "store").exists()


async def test_a_forged_cookie_is_not_revived(serve: Serve, tmp_path: Path) -> None:
    env = {"LIVETAG_STORE": str(tmp_path / "store" / "sessions.sqlite3")}
    server = serve(target="persist_apps:app", env=env)
    async with Tab(server.url + "/") as t:
        t.http.cookies.set("lt_sid", "A" * 43)
        with pytest.raises(Exception, match="expired"):
            await t.join()
        t.ws = None
        await t.load()
        assert "lt_sid=" + "A" * 43 not in ";".join(t.response.headers.get_list("set-cookie"))  # type: ignore[union-attr]
        assert t.text(".value") == "0"


@pytest.mark.browser
def test_an_open_page_counts_on_after_a_runner_restart(serve: Serve, context: Any, tmp_path: Path) -> None:
    env = {"LIVETAG_STORE": str(tmp_path / "store" / "sessions.sqlite3")}
    server = serve(target="persist_apps:app", env=env)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    page.wait_for_function("window.livetag && window.livetag.connected")
    page.evaluate("window.marker = 'same page'")
    for _ in range(5):
        page.click("button.inc")
    expect(page.locator(".value")).to_have_text("5")
    old_pid = page.text_content(".pid")
    server = restarted(serve, server, env)
    expect(page.locator(".pid")).not_to_have_text(old_pid or "", timeout=20_000)  # revived, rejoined
    expect(page.locator(".value")).to_have_text("5")
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("6")
    assert page.evaluate("window.marker") == "same page"  # never reloaded
    assert errors == []
    assert os.path.exists(env["LIVETAG_STORE"])
