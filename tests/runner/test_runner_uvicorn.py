"""The Runner under a real uvicorn: pages, events, query parameters, every transport,
timeouts enforced from outside, dead processes noticed at once, request.session, the
private directory. Each test starts its own server (real processes, stopped by PID)."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from rt_procs import Server, pid_alive, supervisor_pids, wait_until
from rt_tabs import told_gone

from livetag.testing.wire import SyncTab, texts

Serve = Callable[..., Server]


def test_a_session_keeps_its_process_across_page_loads(serve: Serve) -> None:
    server = serve()
    tab = SyncTab(server.url)
    tab.load()
    pid = int(tab.text(".pid"))
    assert pid != server.pid and pid_alive(pid)
    tab.join()
    for n in range(1, 4):
        assert texts(tab.click(".inc")) == [str(n)]
    tab.close()
    tab.load()  # F5: the same app instance, in the same process
    assert int(tab.text(".pid")) == pid and tab.text(".value") == "3"
    other = SyncTab(server.url)  # another browser: another session, another process
    other.load()
    assert int(other.text(".pid")) != pid and other.text(".value") == "0"
    tab.aclose()
    other.aclose()


def test_query_parameters_recreate_the_app_which_sees_them(serve: Serve) -> None:
    server = serve()
    tab = SyncTab(server.url)
    tab.load("a=1")
    first = int(tab.text(".pid"))
    assert tab.text(".query") == "[('a', '1')]"
    tab.join()
    tab.click(".inc")
    tab.close()
    tab.load("a=1")
    assert int(tab.text(".pid")) == first and tab.text(".value") == "1"
    tab.load("a=2&b=x")
    assert int(tab.text(".pid")) != first and tab.text(".value") == "0"
    assert tab.text(".query") == "[('a', '2'), ('b', 'x')]"
    wait_until(lambda: not pid_alive(first), what="the replaced process to end")
    cookie = tab.http.cookies.get("lt_sid")
    tab.load("n")  # ?n: a new session (a new id), the old one ends
    assert tab.http.cookies.get("lt_sid") != cookie and tab.text(".value") == "0"
    tab.aclose()


def test_another_app_on_another_route_with_overrides(serve: Serve) -> None:
    server = serve()
    tab = SyncTab(server.url + "/other")
    html = tab.load()
    assert tab.text(".other") == "hello other"
    assert 'data-lt-mode="http"' in html and 'data-lt-base="/other"' in html  # handle(..., http_only=True)
    assert tab.http.cookies.get("lt_sid", path="/other") is None or True
    joined = tab.join(transport="http")  # its transports live under its route
    assert joined["t"] == "joined"
    main = SyncTab(server.url, http=tab.http)
    main.load()
    assert int(main.text(".pid")) != int(tab.text(".pid"))  # one instance per app and user
    assert 'data-lt-mode' not in main.html
    tab.aclose()


@pytest.mark.parametrize("transport", ["ws", "sse", "poll"])
def test_background_updates_reach_every_transport(serve: Serve, transport: str) -> None:
    server = serve()
    tab = SyncTab(server.url + "/ticker")
    tab.load()
    if transport == "ws":
        tab.join()
        update = tab.until(lambda m: m["t"] == "up" and m["p"])
        assert texts([update])
    elif transport == "poll":
        tab.join(transport="http")
        seen: list[str] = []
        while not seen:
            response = tab.poll()
            assert response.status_code == 200, response.text
            seen = texts(orjson.loads(response.content))
    else:
        tab.join(transport="http")
        with tab.http.stream("GET", f"{server.url}/ticker/_lt/sse", params={"cid": tab.cid}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("data: ") and texts([orjson.loads(line[6:])]):
                    break
    tab.aclose()


@pytest.mark.parametrize("action", ["sleep", "spin", "block"])
def test_a_handler_past_timeout_interaction_gets_its_process_killed(serve: Serve, action: str) -> None:
    server = serve(env={"LT_TIMEOUT": "1.5"})
    tab = SyncTab(server.url)
    tab.load()
    pid = int(tab.text(".pid"))
    tab.join()
    assert texts(tab.click(".inc")) == ["1"]
    tab.send(tab.ev(tab.id("." + action)))
    code, reason, messages = told_gone(tab)
    assert code == 4410, (code, reason, messages)
    bye = [m for m in messages if m["t"] == "bye"]
    assert bye and bye[-1]["code"] == "ended" and "longer than 1.5 s" in bye[-1]["msg"]
    wait_until(lambda: not pid_alive(pid), what="the process to be gone")
    # Every transport of that session now says so; never a 500.
    tab.cid = None
    response = tab.post("join", {"t": "join", "v": 1, "token": tab.token, "cid": None, "rev": 0})
    assert response.status_code == 410 and orjson.loads(response.content)[0]["code"] == "ended"
    tab.load()  # the next page load: a fresh session
    assert int(tab.text(".pid")) != pid and tab.text(".value") == "0"
    tab.join()
    assert texts(tab.click(".inc")) == ["1"]
    assert "an interaction passed" in server.output
    tab.aclose()


def test_an_http_event_past_the_timeout_is_answered_410_ended(serve: Serve) -> None:
    server = serve(env={"LT_TIMEOUT": "1"})
    tab = SyncTab(server.url)
    tab.load()
    tab.join(transport="http")
    response = tab.post_events([tab.ev(tab.id(".sleep"))])
    assert response.status_code == 410
    bye = orjson.loads(response.content)[0]
    assert bye["t"] == "bye" and bye["code"] == "ended"
    tab.aclose()


def test_a_process_past_max_memory_mb_is_ended(serve: Serve) -> None:
    server = serve(env={"LT_MEMORY": "150"})
    tab = SyncTab(server.url)
    tab.load()
    pid = int(tab.text(".pid"))
    tab.join()
    tab.send(tab.ev(tab.id(".hog")))
    code, _, messages = told_gone(tab)
    assert code == 4410 and "memory" in [m for m in messages if m["t"] == "bye"][-1]["msg"]
    wait_until(lambda: not pid_alive(pid), what="the process to be gone")
    tab.load()
    assert int(tab.text(".pid")) != pid
    tab.aclose()


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "relayed"])
def test_a_killed_session_process_is_noticed_at_once(serve: Serve, direct: bool) -> None:
    server = serve(env={"LT_DIRECT": "1" if direct else "0"})
    tab = SyncTab(server.url)
    tab.load()
    pid = int(tab.text(".pid"))
    tab.join()
    waiting = SyncTab(server.url, http=tab.http)  # a long-poll waiting on the same session
    waiting.html, waiting.token = tab.html, tab.token
    waiting.join(transport="http")
    polled: list[int] = []
    poller = threading.Thread(target=lambda: polled.append(waiting.poll().status_code))
    poller.start()
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    code, reason, messages = told_gone(tab, direct=direct)
    assert code == 4410 and messages and messages[-1]["code"] == "ended", (messages, reason)
    assert time.monotonic() - started < 10  # behavioural: not a timeout-driven discovery
    poller.join(20)
    assert polled == [410]
    tab.load()
    assert int(tab.text(".pid")) != pid
    tab.aclose()


def test_two_simultaneous_first_loads_of_a_session_make_one_process(serve: Serve) -> None:
    server = serve()
    tab = SyncTab(server.url)
    tab.load()
    first = int(tab.text(".pid"))
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not pid_alive(first), what="the process to die")
    pids: list[int] = []
    barrier = threading.Barrier(4)

    def load() -> None:
        t = SyncTab(server.url, http=__import__("httpx").Client(trust_env=False, timeout=20,
                                                            cookies={"lt_sid": tab.http.cookies["lt_sid"]}))
        barrier.wait()
        t.load()
        pids.append(int(t.text(".pid")))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(pids) == 4 and len(set(pids)) == 1 and pids[0] != first, pids
    tab.aclose()


def test_request_session_is_shared_by_workers_and_session_processes(serve: Serve) -> None:
    server = serve()
    tab = SyncTab(server.url)
    tab.load()
    tab.join()
    tab.click(".inc")
    tab.send(tab.ev(tab.id(".remember")))
    tab.until(lambda m: m["t"] == "cookie")  # a WebSocket cannot set a cookie: ask over HTTP
    response = tab.post("cookie", b"")
    assert response.status_code == 204 and "lt_session=" in response.headers.get("set-cookie", "")
    assert tab.http.get(server.url + "/whoami").json()["remembered"] == "n1"  # a worker route reads it
    tab.close()
    tab.load("n")  # a new session: its init reads request.session
    assert tab.text(".remembered") == "n1"
    tab.aclose()


def test_the_private_directory(serve: Serve, runtime: str) -> None:
    server = serve()
    tab = SyncTab(server.url)
    tab.load()
    tab.join()
    sid = tab.http.cookies["lt_sid"]
    [base] = list(Path(runtime).glob("lt-*"))
    every = [base, *base.rglob("*")]
    for path in every:
        assert sid not in str(path)
        if path.is_file() and not path.is_socket():
            assert sid.encode() not in path.read_bytes()
        if path.is_dir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert any(p.is_socket() for p in every)
    [supervisor] = supervisor_pids(runtime)
    session = int(tab.text(".pid"))
    tab.aclose()
    server.stop()  # SIGTERM: a clean shutdown (uvicorn re-raises the signal once done)
    assert "Application shutdown complete" in server.output
    assert list(Path(runtime).iterdir()) == []
    assert not pid_alive(supervisor) and not pid_alive(session)


def test_leftovers_of_a_crashed_server_do_not_block_a_restart(serve: Serve, runtime: str) -> None:
    server = serve()
    tab = SyncTab(server.url)
    tab.load()
    [supervisor] = supervisor_pids(runtime)
    session = int(tab.text(".pid"))
    os.kill(server.pid, signal.SIGKILL)  # the server crashes: no lifespan shutdown
    server.popen.wait(10)
    # Its supervisor notices (pidfd), ends the session, removes its files.
    wait_until(lambda: not pid_alive(supervisor) and not pid_alive(session), what="the supervisor to follow")
    port = server.port
    server.stop()
    from rt_procs import bind

    again = serve(sock=bind(port))
    tab2 = SyncTab(again.url)
    tab2.load()
    tab2.join()
    assert texts(tab2.click(".inc")) == ["1"]
    tab2.aclose()
    tab.aclose()


def test_timeout_inactivity_ends_idle_sessions_with_on_destroy(serve: Serve, runtime: str) -> None:
    destroyed = Path(runtime) / "destroyed"
    server = serve(env={"LT_INACTIVITY": "1.5", "LT_DESTROYED": str(destroyed)})
    tab = SyncTab(server.url)
    tab.load()
    pid = int(tab.text(".pid"))
    tab.join()
    tab.click(".inc")
    code, reason, messages = tab.closed()
    bye = [m for m in messages if m["t"] == "bye"]
    assert bye and bye[-1]["code"] == "ended" and "without activity" in bye[-1]["msg"], (messages, code, reason)
    wait_until(lambda: destroyed.exists() and str(pid) in destroyed.read_text(), what="on_destroy to run")
    tab.load()
    assert int(tab.text(".pid")) != pid
    tab.aclose()


def test_a_killed_supervisor_takes_its_sessions_and_a_new_one_starts(serve: Serve, runtime: str) -> None:
    server = serve()
    tab = SyncTab(server.url)
    tab.load()
    session = int(tab.text(".pid"))
    [supervisor] = supervisor_pids(runtime)
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: not pid_alive(session), what="the session process to follow its supervisor")
    tab.load()  # the next request starts a new supervisor; the old one's files are swept
    tab.join()
    assert texts(tab.click(".inc")) == ["1"]
    assert int(tab.text(".pid")) != session and supervisor_pids(runtime) != [supervisor]
    [base] = list(Path(runtime).glob("lt-*"))
    assert len([p for p in base.iterdir() if p.is_dir()]) == 1
    tab.aclose()
