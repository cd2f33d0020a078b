"""The Runner under a real gunicorn (2 UvicornWorkers, --preload): sessions belong to
the supervisor, not to a worker. Events of one session through both workers; a worker
stopped or recycled loses nothing; one supervisor however many first requests; the
master killed, then a clean restart on the same port."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
from rt_procs import Server, bind, pid_alive, supervisor_pids, wait_until

from livetag.testing.page import Page
from livetag.testing.wire import SyncTab, texts

Serve = Callable[..., Server]


def worker(tab: SyncTab) -> int:
    """The pid of the gunicorn worker holding ``tab``'s WebSocket (a handshake header)."""
    assert tab.ws is not None and tab.ws.response is not None
    return int(tab.ws.response.headers["x-livetag-worker"])


def tabs_on_two_workers(server: Server, tab: SyncTab) -> tuple[SyncTab, SyncTab]:
    """Two WebSocket tabs of ``tab``'s session that landed on different workers."""
    seen: dict[int, SyncTab] = {}
    for _ in range(60):
        t = SyncTab(server.url, http=tab.http)
        t.html, t.token, t.rev = tab.html, tab.token, tab.rev
        t.page = Page.from_document(tab.html)  # the same page, not loaded again
        t.connect()
        if worker(t) in seen:
            t.close()
            continue
        seen[worker(t)] = t
        if len(seen) == 2:
            break
    assert len(seen) == 2, "expected the kernel to spread 60 connections over both workers"
    a, b = seen.values()
    a.join()
    b.join()
    return a, b


def test_one_sessions_events_spread_over_both_workers(serve: Serve) -> None:
    server = serve("gunicorn")
    tab = SyncTab(server.url)
    tab.load()
    a, b = tabs_on_two_workers(server, tab)
    assert worker(a) != worker(b) and {worker(a), worker(b)} <= set(server.worker_pids())
    for n in range(10):
        t = a if n % 2 else b
        assert texts(t.click(".inc"))[-1] == str(n + 1)  # (it also saw the other tab's update)
    tab.load()
    assert tab.text(".value") == "10"
    for t in (a, b, tab):
        t.aclose()


def test_sigterm_to_a_worker_loses_no_session(serve: Serve) -> None:
    server = serve("gunicorn", env={"LT_DIRECT": "0"})
    tab = SyncTab(server.url)
    tab.load()
    pid = int(tab.text(".pid"))
    a, b = tabs_on_two_workers(server, tab)
    assert texts(a.click(".inc"))[-1] == "1"
    assert texts(b.click(".inc"))[-1] == "2"
    os.kill(worker(a), signal.SIGTERM)  # a worker goes (deploy, restart): its relayed connections drop
    a.closed()
    # The page reconnects (to whichever worker) and resumes exactly: nothing lost or doubled.
    a.connect()
    joined = a.join()
    assert joined["ack"] == a.seq
    assert texts(a.click(".inc"))[-1] == "3"
    assert texts(b.click(".inc"))[-1] == "4"
    tab.load()
    assert int(tab.text(".pid")) == pid and tab.text(".value") == "4"
    server.wait_for("Booting worker", count=3)
    for t in (a, b, tab):
        t.aclose()


def test_a_direct_websocket_outlives_the_worker_that_handed_it_over(serve: Serve) -> None:
    server = serve("gunicorn")
    tab = SyncTab(server.url)
    tab.load()
    a, b = tabs_on_two_workers(server, tab)
    assert texts(a.click(".inc"))[-1] == "1"
    gone = worker(a)
    os.kill(gone, signal.SIGTERM)  # a deploy or restart of the worker
    server.wait_for("Booting worker", count=3)
    assert not pid_alive(gone)
    # The session process serves the page's WebSocket itself: nothing dropped or rejoined.
    assert texts(a.click(".inc"))[-1] == "2"
    assert texts(b.click(".inc"))[-1] == "3"
    for t in (a, b, tab):
        t.aclose()


def test_max_requests_recycles_workers_without_losing_sessions(serve: Serve) -> None:
    server = serve("gunicorn", args=["--max-requests", "30"])
    tabs = [SyncTab(server.url) for _ in range(3)]
    for t in tabs:
        t.load()
        t.join(transport="http")
    pids = {int(t.text(".pid")) for t in tabs}
    workers: set[int] = set()
    for n in range(1, 41):  # 120 requests over 2 workers of 30: each one is recycled
        for t in tabs:
            response = t.post_events([t.ev(t.id(".inc"))])
            if response.status_code == 409:  # the worker holding its HTTP client stays; never happens
                t.join(transport="http")
                response = t.post_events([t.ev(t.id(".inc"))])
            assert response.status_code == 200, response.text
            assert texts(orjson.loads(response.content)) == [str(n)]
        workers.update(server.worker_pids())
    deadline = time.monotonic() + 20  # a recycled worker ends once its keep-alive connections close
    while len(workers) <= 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        workers.update(server.worker_pids())
    assert len(workers) > 2, "expected gunicorn to recycle workers"
    for t in tabs:
        t.load()
        assert t.text(".value") == "40"
    assert {int(t.text(".pid")) for t in tabs} == pids
    for t in tabs:
        t.aclose()


def test_simultaneous_first_requests_start_one_supervisor(serve: Serve, runtime: str) -> None:
    server = serve("gunicorn")
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def first() -> None:
        with httpx.Client(trust_env=False, timeout=60) as client:
            barrier.wait()
            statuses.append(client.get(server.url + "/").status_code)

    threads = [threading.Thread(target=first) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert statuses == [200] * 8
    assert len(supervisor_pids(runtime)) == 1
    [base] = list(Path(runtime).glob("lt-*"))
    assert len([p for p in base.iterdir() if p.is_dir()]) == 1


def test_master_killed_then_a_clean_restart_on_the_same_port(serve: Serve, runtime: str) -> None:
    server = serve("gunicorn")
    tab = SyncTab(server.url)
    tab.load()
    session = int(tab.text(".pid"))
    [supervisor] = supervisor_pids(runtime)
    workers = server.worker_pids()
    server.extra_pids = workers  # UvicornWorkers outlive a killed master: the test stops them
    os.kill(server.pid, signal.SIGKILL)
    server.popen.wait(10)
    wait_until(lambda: not pid_alive(supervisor) and not pid_alive(session),
               what="the supervisor and its sessions to end with the master")
    for pid in workers:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(pid_alive(p) for p in workers), what="the orphan workers to die")
    port = server.port
    server.sock.close()
    again = serve("gunicorn", sock=bind(port))
    tab2 = SyncTab(again.url)
    tab2.load()
    tab2.join()
    assert texts(tab2.click(".inc")) == ["1"]
    assert supervisor_pids(runtime) != [supervisor]
    tab2.aclose()
    tab.aclose()
    again.stop()
    wait_until(lambda: not list(Path(runtime).iterdir()), what="a clean shutdown to remove the directory")
