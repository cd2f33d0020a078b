"""Spare processes (started ahead, handed the next new session) and inline handlers in
session processes, under a real uvicorn. Each test starts its own server (real
processes, stopped by PID); conditions are waited for, timings never asserted."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
from rt_procs import Server, pid_alive, spares, supervisor_pids, supervisor_request, wait_until

from livetag.testing.wire import SyncTab, texts

Serve = Callable[..., Server]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children of any of its threads, and theirs)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in children_of_task(task):
            found += [child, *descendants(child)]
    return found


def children_of_task(task: Path) -> list[int]:
    try:
        return [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        return []


def sessions(runtime: str) -> list[int]:
    return [s["pid"] for s in supervisor_request(runtime, {"op": "list"})["sessions"]]


def start_supervisor(server: Server) -> None:
    """The first request of any kind starts the supervisor (and its first spare)."""
    assert httpx.get(server.url + "/_lt/livetag.js", timeout=20, trust_env=False).status_code == 200


def a_spare(runtime: str, other_than: tuple[int, ...] = ()) -> int:
    """The pid of a spare that finished starting (and is none of ``other_than``)."""
    return wait_until(lambda: [p for p in spares(runtime) if p not in other_than], what="a ready spare")[0]


def test_a_new_session_is_handed_to_the_spare_and_the_next_spare_works_too(serve: Serve, runtime: str) -> None:
    server = serve()
    first = SyncTab(server.url)
    first.load()  # the supervisor's first spare, or a fork: either way a session
    spare = a_spare(runtime)
    assert spare != int(first.text(".pid"))
    second = SyncTab(server.url)
    second.load()
    assert int(second.text(".pid")) == spare  # the spare became this session's process
    assert spare in sessions(runtime) and spare not in spares(runtime)
    second.join()
    assert texts(second.click(".inc")) == ["1"]
    assert texts(second.click(".inc")) == ["2"]
    first.join()
    assert texts(first.click(".inc")) == ["1"]  # sessions stay apart
    following = a_spare(runtime, other_than=(spare,))  # another one was started after the handoff
    third = SyncTab(server.url)
    third.load()
    assert int(third.text(".pid")) == following and third.text(".value") == "0"
    third.join()
    assert texts(third.click(".inc")) == ["1"]
    second.close()
    second.load()  # a reload of a session that began as a spare: same process, same state
    assert int(second.text(".pid")) == spare and second.text(".value") == "2"
    for tab in (first, second, third):
        tab.aclose()


def test_killing_the_spare_is_harmless(serve: Serve, runtime: str) -> None:
    server = serve()
    start_supervisor(server)
    spare = a_spare(runtime)
    os.kill(spare, signal.SIGKILL)
    wait_until(lambda: not pid_alive(spare), what="the spare to die")
    replacement = a_spare(runtime, other_than=(spare,))
    assert sessions(runtime) == []  # a spare is not a session, dead or alive
    tab = SyncTab(server.url)
    tab.load()
    assert int(tab.text(".pid")) == replacement
    tab.join()
    assert texts(tab.click(".inc")) == ["1"]
    os.kill(a_spare(runtime, other_than=(spare, replacement)), signal.SIGTERM)  # asked to end: the same
    a_spare(runtime, other_than=(spare, replacement))
    tab.close()
    tab.load()
    assert int(tab.text(".pid")) == replacement and tab.text(".value") == "1"
    assert "Traceback" not in server.output and "ERROR" not in server.output, server.output[-3000:]
    tab.aclose()


def test_shutdown_leaves_no_process_and_no_files(serve: Serve, runtime: str) -> None:
    server = serve()
    tab = SyncTab(server.url)
    tab.load()
    tab.join()
    spare = a_spare(runtime)
    [supervisor] = supervisor_pids(runtime)
    below = descendants(supervisor)  # the fork server and its forks
    assert int(tab.text(".pid")) in below and spare in below and len(below) >= 3, below
    everyone = [supervisor, *below]
    tab.aclose()
    server.stop()  # SIGTERM: a clean shutdown
    assert "Application shutdown complete" in server.output
    wait_until(lambda: not any(pid_alive(pid) for pid in everyone), what="every helper process to end")
    assert list(Path(runtime).iterdir()) == []


def test_spares_are_not_sessions_and_wait_while_the_server_is_full(serve: Serve, runtime: str) -> None:
    server = serve(env={"LT_MAX_SESSIONS": "2"})
    start_supervisor(server)
    a_spare(runtime)
    assert sessions(runtime) == []
    one, two = SyncTab(server.url), SyncTab(server.url)
    for tab in (one, two):  # joined: page loads alone would give way to new ones (issue 14)
        tab.load()
        tab.join()
    assert sorted(sessions(runtime)) == sorted([int(one.text(".pid")), int(two.text(".pid"))])
    third = httpx.get(server.url + "/", timeout=20, trust_env=False)  # full: a spare does not make room
    assert third.status_code == 503 and third.headers["retry-after"]
    wait_until(lambda: not supervisor_request(runtime, {"op": "list"})["spares"] or None, what="no spare while full")
    os.kill(int(one.text(".pid")), signal.SIGKILL)  # a session ends: room for one more, and a spare again
    wait_until(lambda: sessions(runtime) == [int(two.text(".pid"))], what="the dead session to be dropped")
    spare = a_spare(runtime)
    again = SyncTab(server.url)
    again.load()
    assert int(again.text(".pid")) == spare and sorted(sessions(runtime)) == sorted([int(two.text(".pid")), spare])
    for tab in (one, two, again):
        tab.aclose()


def test_no_spare_when_disabled(serve: Serve, runtime: str) -> None:
    server = serve(env={"LT_SPARES": "0"})
    tab = SyncTab(server.url)
    tab.load()  # a fork for this session
    tab.join()
    assert texts(tab.click(".inc")) == ["1"]
    assert supervisor_request(runtime, {"op": "list"})["spares"] == []
    assert sessions(runtime) == [int(tab.text(".pid"))]
    tab.aclose()


def test_a_blocking_sync_handler_runs_inline_and_delays_no_other_session(serve: Serve, runtime: str) -> None:
    flag = Path(runtime) / "nap-over"
    server = serve(env={"LT_NAP_FLAG": str(flag)})
    napping = SyncTab(server.url, record=True)
    napping.load()
    napping.join()
    napping.send(napping.ev(napping.id(".nap")))  # a synchronous handler that blocks
    try:
        other = SyncTab(server.url)
        other.load()  # the supervisor still creates sessions
        other.join()
        for n in range(1, 4):  # and another session's events still run
            assert texts(other.click(".inc")) == [str(n)]
        # Inline: the handler blocks the only thread of its process (no handler thread).
        assert os.listdir(f"/proc/{int(napping.text('.pid'))}/task") == [str(int(napping.text(".pid")))]
        assert os.listdir(f"/proc/{int(other.text('.pid'))}/task") == [str(int(other.text(".pid")))]
        assert not [m for m in napping.received if m["t"] in ("up", "ack")]  # still napping
    finally:
        flag.touch()
    assert texts(napping.until_ack(napping.seq)) == ["napped"]
    assert texts(napping.click(".inc")) == ["1"]
    napping.aclose()
    other.aclose()


def test_two_sessions_created_at_once_get_two_processes(serve: Serve, runtime: str) -> None:
    server = serve()
    start_supervisor(server)
    a_spare(runtime)
    tabs = [SyncTab(server.url) for _ in range(3)]
    barrier = threading.Barrier(len(tabs))

    def load(tab: SyncTab) -> None:
        barrier.wait()
        tab.load()

    threads = [threading.Thread(target=load, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    pids = [int(tab.text(".pid")) for tab in tabs]
    assert len(set(pids)) == 3 and sorted(sessions(runtime)) == sorted(pids)  # one spare, two forks
    for tab in tabs:
        tab.join()
        assert texts(tab.click(".inc")) == ["1"]
        tab.aclose()
