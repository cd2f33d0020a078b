"""The relay between two real Runner servers on one host ("machines" A and B: each a
uvicorn process with its own port, runtime directory and supervisor, the same cluster
secret). A page is loaded on A; its transports then go to B, whose test-only ``locate``
names A's relay: B relays them, and the session on A sees every event exactly once."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis_server import RedisServer
from websockets.exceptions import InvalidStatus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))

from rt_procs import ROOT, Server, pid_alive, supervisor_pids, supervisor_request, wait_until

from livetag.testing.wire import SyncTab, texts

HERE = Path(__file__).resolve().parent
SECRET = "relay-test-secret-" + "x" * 30
CLICKS = 100

if not sys.platform.startswith("linux"):
    pytest.skip("the Runner's process tests use /proc and pidfds (Linux)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
        return True
    except OSError:
        return False


class Machines:
    def __init__(self, a: Server, b: Server, relay_a: str, start: Callable[..., Server]) -> None:
        self.a, self.b, self.relay_a = a, b, relay_a
        #: ``start(relay, locate, kind="uvicorn")``: one more machine, stopped after the test.
        self.start = start

    def tab(self, transport: str) -> SyncTab:
        """A tab whose page was loaded on A, its transports pointed at B."""
        tab = SyncTab(self.a.url, transport=transport)  # type: ignore[arg-type]
        tab.load()
        tab.url = self.b.url + "/"
        tab.origin = self.b.url
        return tab


@pytest.fixture
def machines(redis_server: RedisServer) -> Iterator[Machines]:
    started: list[Server] = []
    runtimes: list[str] = []

    def start(relay: str, locate: str | None, kind: str = "uvicorn") -> Server:
        runtime = tempfile.mkdtemp(prefix="ltm", dir="/tmp")
        runtimes.append(runtime)
        env = {"LIVETAG_REDIS_URL": redis_server.url, "LIVETAG_CLUSTER_SECRET": SECRET, "LIVETAG_RELAY": relay,
               "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "tests" / "runner"), str(ROOT)])}
        if locate:
            env["LT_LOCATE"] = locate
        server = Server(kind, runtime, env=env, target="relay_apps:app")
        started.append(server)
        return server.ready()

    relay_a = f"127.0.0.1:{free_port()}"
    try:
        a = start(relay_a, None)
        b = start(f"127.0.0.1:{free_port()}", relay_a)
        yield Machines(a, b, relay_a, start)
    finally:
        for server in started:
            server.stop()
        for runtime in runtimes:
            shutil.rmtree(runtime, ignore_errors=True)


def count_through_b(tab: SyncTab) -> None:
    for n in range(1, CLICKS + 1):
        assert texts(tab.click(".inc")) == [str(n)]
    assert tab.text(".value") == str(CLICKS)


@pytest.mark.parametrize("transport", ["ws", "sse", "http"])
def test_a_counter_clicked_through_another_machine_is_exact(machines: Machines, transport: str) -> None:
    tab = machines.tab(transport)
    pid = int(tab.text(".pid"))
    [supervisor] = supervisor_pids(machines.a.runtime)
    before = open_fds(supervisor)
    tab.join()
    count_through_b(tab)
    tab.close()
    # Every relayed connection (one per POST over HTTP) was closed on A's side too; what
    # stays open is B's warm connections (``RelayPool.spares``, 2) waiting for a request.
    wait_until(lambda: open_fds(supervisor) <= before + 2 + 1, what="A's relay to close what it relayed")
    # The session lives on A, in the same process: its page there shows every click once.
    again = SyncTab(machines.a.url, http=tab.http)
    again.load()
    assert again.text(".value") == str(CLICKS) and int(again.text(".pid")) == pid
    assert "refused a peer" not in machines.a.output
    relayed = supervisor_request(machines.a.runtime, {"op": "list"})["relay"]
    assert relayed["refused"] == 0 and relayed["spliced"] >= (1 if transport == "ws" else CLICKS)
    tab.aclose()


def test_a_wrong_secret_on_the_way_is_refused_and_logged(machines: Machines) -> None:
    # A peer that does not know the secret (a port scanner here) gets nothing.
    host, port = machines.relay_a.rsplit(":", 1)
    machines.tab("ws")  # starts A's supervisor, and so its relay
    wait_until(lambda: listening(host, int(port)), what="A's relay to listen")
    with socket.create_connection((host, int(port))) as peer:
        peer.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        peer.settimeout(20)
        assert peer.recv(100) == b""  # closed by A
    machines.a.wait_for(r"refused a peer from 127\.0\.0\.1:\d+")
    assert SECRET not in machines.a.output


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_losing_the_owner_mid_stream_makes_the_page_join_again(machines: Machines, transport: str) -> None:
    # The owner stopping (a drain) or dying looks the same from B: the relayed stream
    # ends. The page is told to join again, never that its session ended: the session
    # resumes wherever it is found once its owner released it or its lease ran out.
    tab = machines.tab(transport)
    tab.join()
    assert texts(tab.click(".inc")) == ["1"]
    [supervisor] = supervisor_pids(machines.a.runtime)
    os.kill(supervisor, signal.SIGKILL)  # A's relay, and with it the way to the session
    wait_until(lambda: not pid_alive(supervisor), what="A's supervisor to be gone")
    if transport == "ws":
        code, _, messages = tab.closed()
        assert code == 1012 and not [m for m in messages if m["t"] == "bye"]
    else:
        assert tab._lines is not None
        for _ in tab._lines:  # the relayed stream ends (no hang, no error)
            pass
    # What comes next through B, while A still owns the session (its lease lives) but
    # cannot be reached, is told to retry: 503, never "ended", a 500 or a hang.
    tab.cid = None
    response = tab.post("join", {"t": "join", "v": 1, "token": tab.token, "cid": None, "rev": 0})
    assert response.status_code == 503 and response.headers["retry-after"], response.text
    machines.b.wait_for("expected the relay at 127.0.0.1:")
    tab.aclose()



def test_a_failing_lookup_tells_the_page_to_retry(machines: Machines) -> None:
    # The owner cannot be looked up (Redis down): the page keeps its session and retries.
    c = machines.start(f"127.0.0.1:{free_port()}", "down")
    tab = machines.tab("ws")
    tab.url, tab.origin = c.url + "/", c.url
    with pytest.raises(InvalidStatus) as refused:  # closed (1013) before the handshake's answer: no "bye"
        tab.connect()
    assert refused.value.response.status_code == 403
    response = tab.post("join", {"t": "join", "v": 1, "token": tab.token, "cid": None, "rev": 0})
    assert response.status_code == 503 and response.headers["retry-after"]
    c.wait_for("the lookup failed: StoreUnavailable")
    tab.aclose()


def test_the_relay_outlives_the_owners_web_workers(machines: Machines) -> None:
    # A gunicorn owner: its relay lives in the supervisor, so relayed sockets and new
    # relayed requests go on while gunicorn replaces its web workers.
    relay_g = f"127.0.0.1:{free_port()}"
    owner = machines.start(relay_g, None, "gunicorn")
    other = machines.start(f"127.0.0.1:{free_port()}", relay_g)
    tab = SyncTab(owner.url)
    tab.load()
    tab.url, tab.origin = other.url + "/", other.url
    tab.join()
    assert texts(tab.click(".inc")) == ["1"]
    workers = owner.worker_pids()
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: len(set(owner.worker_pids()) - set(workers)) == 2, what="gunicorn to replace its workers")
    for n in range(2, 12):  # the same relayed WebSocket
        assert texts(tab.click(".inc")) == [str(n)]
    tab.close()
    tab.cid = None
    tab.join(transport="http")  # new relayed requests, one relay connection each
    for n in range(12, 22):
        assert texts(tab.click(".inc")) == [str(n)]
    tab.aclose()
