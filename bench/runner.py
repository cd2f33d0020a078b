"""Benchmark of the process-per-session ``Runner`` (issue 6).

Usage: ``.venv/bin/python bench/runner.py [--quick] [--output PATH]``

Three servers, each its own uvicorn process on 127.0.0.1 (a port the OS chose): the
``Runner`` serving a counter, the same counter in-process (``WebApp``), and a raw
Starlette WebSocket echo. This process drives them over the real protocol (httpx, the
``websockets`` sync client) and measures:

- new-session latency: ``GET /`` without a cookie (a spare process handed the session,
  or a fork of the fork server; app ``init``, page rendered and relayed), one every
  100 ms and back to back (a burst: the spare cannot keep up), against a page reload of
  an existing session;
- event round trip (WebSocket click -> acknowledging update) against ``WebApp`` and the
  echo floor (ratios);
- memory per idle session: PSS (``/proc/<pid>/smaps_rollup``) of each session process,
  with 200 sessions alive (target <= 2 MB), and the floor: an idle child of a fork server
  preloaded the same way, that runs nothing;
- the worst round trip of one session's events while 10 new sessions per second are
  being created (by another process), against the same session's worst without
  creations.

Every server is stopped by PID. The Markdown report goes to stdout and to
``docs/benchmarks-runner.md`` (``docs/benchmarks.md`` is rewritten whole by
``bench/run.py``). Nothing here is a test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from livetag import Runner, Tag, WebApp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, not the checkout
    sys.path.insert(0, str(ROOT))

from bench import runner_ksm, runner_stages  # noqa: E402

DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks-runner.md"
TARGET_NEW_SESSION_MS = 10.0
TARGET_PSS_MB = 3.0
TARGET_ROUND_TRIP_RATIO = 1.3
NO_RATE_LIMIT = {"events_per_second": 1e9, "event_burst": 1_000_000}


class Counter(Tag.App):
    def init(self) -> None:
        self.count = 0
        self.value = Tag.span("0", _class="value")
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= self.value
        self <= Tag.span(str(os.getpid()), _class="pid")

    async def increment(self, e: Any) -> None:
        self.count += 1
        self.value.text = self.count


# Pages loaded and never joined stay (the memory section measures them minutes later);
# the new-session budget per address is the client's, not what is measured.
runner_app = Runner(Counter, max_sessions=2000, join_grace=3600, new_sessions_per_second=1e9,
                    new_session_burst=1_000_000, **NO_RATE_LIMIT)
webapp_app = WebApp(Counter, **NO_RATE_LIMIT).app


async def _echo(ws: Any) -> None:
    from starlette.websockets import WebSocketDisconnect

    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect:
        pass


def _echo_app() -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    return Starlette(routes=[WebSocketRoute("/ws", _echo)])


echo_app = _echo_app()


# -- processes ----------------------------------------------------------------------------


class Server:
    def __init__(self, target: str, runtime: str) -> None:
        self.sock = socket.socket()
        # Accepted sockets inherit it (Linux); uvicorn --fd takes the socket for a unix one
        # and would leave Nagle on, stalling a reused connection's two-part responses.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(2048)
        self.sock.set_inheritable(True)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "PYTHONPATH": str(ROOT)}
        self.popen = subprocess.Popen([sys.executable, "-m", "uvicorn", target, "--fd", str(self.sock.fileno()),
                                       "--log-level", "warning"], cwd=ROOT, env=env, pass_fds=(self.sock.fileno(),),
                                      stdin=subprocess.DEVNULL)
        self.pid = self.popen.pid
        deadline = time.monotonic() + 30
        while True:
            try:
                import httpx

                httpx.get(self.url + "/_lt/livetag.js" if "echo" not in target else self.url + "/nope",
                          timeout=30, trust_env=False)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self.sock.close()


def floor_probe() -> None:
    """Run with ``python -c`` (a multiprocessing fork server re-imports a main *script* in
    each child). Prints, as JSON, the mean Private_Dirty (KiB) of 20 waiting spares of
    livetag's fork server (``spare``: uvloop running, the app's ``WebApp`` built), the fork
    server's RSS and Private_Dirty (to count its shared pages), of 20 idle children of
    multiprocessing's fork server preloaded the same way (``mp_idle``: what its bootstrap
    costs, for reference) and of 20 plain ``os.fork()`` children of this process after
    the same preload (``raw_fork``)."""
    import multiprocessing

    import orjson

    from livetag.server.processes.appref import AppRef
    from livetag.server.processes.forkserver import ForkedProcess, ForkServer, SharedDoubles
    from livetag.server.processes.process import ProcessConfig, SharedField

    os.environ["LIVETAG_RUNNER_ROLE"] = "bench"
    app = AppRef("bench.runner", "Counter")
    os.environ["LIVETAG_RUNNER_PRELOAD"] = orjson.dumps([app.to_json()]).decode()
    config = ProcessConfig("", app, limits=dict(NO_RATE_LIMIT))
    os.environ["LIVETAG_RUNNER_EXPECTED"] = config.to_json().decode()
    out: dict[str, float] = {}
    lifeline, child_end = socket.socketpair()
    forks = ForkServer(child_end)
    forks.start()
    spares = []
    for _ in range(20):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = ForkedProcess(forks, "spare", config.to_json(), theirs, SharedDoubles(len(SharedField)))
        process.start()
        theirs.close()
        spares.append((process, ours))
    time.sleep(2.0)
    out["spare"] = statistics.mean(_rollup(p.pid)["Private_Dirty"] for p, _ in spares)
    assert forks.pid is not None
    server = _rollup(forks.pid)
    out["server_rss_kib"], out["server_private_kib"] = server["Rss"], server["Private_Dirty"]
    for _, ours in spares:
        ours.close()  # no assignment will come: the spare ends
    forks.close()
    lifeline.close()

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["livetag.server.processes.preload"])
    children = [ctx.Process(target=time.sleep, args=(3600,)) for _ in range(20)]
    for child in children:
        child.start()
    time.sleep(2.0)
    out["mp_idle"] = statistics.mean(_rollup(child.pid)["Private_Dirty"] for child in children)
    for child in children:
        child.kill()
        child.join()
    import livetag.server.processes.preload  # noqa: F401  (here too: then plain forks)

    pids = []
    for _ in range(20):
        pid = os.fork()
        if pid == 0:
            time.sleep(3600)
            os._exit(0)
        pids.append(pid)
    time.sleep(2.0)
    out["raw_fork"] = statistics.mean(_rollup(pid)["Private_Dirty"] for pid in pids)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    print(orjson.dumps(out).decode())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rollup(pid: int) -> dict[str, int]:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", text, re.M)}


def pss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(re.search(r"^Pss:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]


def rss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]


# -- clients ------------------------------------------------------------------------------


class Page:
    """A session over the real protocol (page, then WebSocket join)."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = url
        self.http = httpx.Client(trust_env=False, timeout=60)
        self.ws: Any = None
        self.seq = 0

    def load(self) -> float:
        started = time.perf_counter()
        response = self.http.get(self.url + "/")
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text[:300]
        html = response.text
        self.token = re.search(r'data-lt-token="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        self.rev = int(re.search(r'data-lt-rev="(\d+)"', html).group(1))  # type: ignore[union-attr]
        self.inc = re.search(r'id="([^"]+)" class="inc"', html).group(1)  # type: ignore[union-attr]
        self.pid = int(re.search(r'class="pid">(\d+)<', html).group(1))  # type: ignore[union-attr]
        return elapsed

    def join(self) -> None:
        import orjson
        from websockets.sync.client import connect

        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)
        self.ws = connect("ws" + self.url[4:] + "/_lt/ws", additional_headers={"Cookie": cookies},
                          origin=self.url, compression=None, proxy=None).__enter__()
        self.ws.send(orjson.dumps({"t": "join", "v": 1, "token": self.token, "cid": None, "rev": self.rev}).decode())
        assert orjson.loads(self.ws.recv(30))["t"] == "joined"

    def click(self) -> float:
        import orjson

        self.seq += 1
        started = time.perf_counter()
        self.ws.send(orjson.dumps({"t": "ev", "s": self.seq, "id": self.inc, "n": "click", "d": {},
                                   "sync": {}}).decode())
        while True:
            message = orjson.loads(self.ws.recv(60))
            if message["t"] in ("up", "ack") and message["ack"] >= self.seq:
                return time.perf_counter() - started

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.http.close()


def echo_round_trips(url: str, n: int) -> list[float]:
    from websockets.sync.client import connect

    text = '{"t":"ev","s":1,"id":"lt3","n":"click","d":{},"sync":{}}'
    out = []
    with connect("ws" + url[4:] + "/ws", compression=None, proxy=None) as ws:
        for _ in range(n):
            started = time.perf_counter()
            ws.send(text)
            ws.recv(30)
            out.append(time.perf_counter() - started)
    return out


def ms(values: list[float], q: float = 0.5) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- measurements -------------------------------------------------------------------------


def measure(quick: bool) -> dict[str, Any]:
    runtime = tempfile.mkdtemp(prefix="ltb", dir="/tmp")
    servers: list[Server] = []
    results: dict[str, Any] = {}
    try:
        runner = Server("bench.runner:runner_app", runtime)
        webapp = Server("bench.runner:webapp_app", runtime)
        echo = Server("bench.runner:echo_app", runtime)
        servers += [runner, webapp, echo]
        log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

        # New sessions (the supervisor and fork server are warm after the first).
        log("new-session latency...")
        warm = Page(runner.url)
        warm.load()
        pages: list[Page] = [warm]
        new_times = []
        for _ in range(20 if quick else 100):
            time.sleep(0.1)  # one every 100 ms (plus the page's own time)
            p = Page(runner.url)
            new_times.append(p.load())
            pages.append(p)
        burst_times = []
        for _ in range(20 if quick else 50):
            p = Page(runner.url)
            burst_times.append(p.load())
            pages.append(p)
        reload_times = [warm.load() for _ in range(20 if quick else 100)]
        webapp_new = []
        for _ in range(20 if quick else 100):
            p = Page(webapp.url)
            webapp_new.append(p.load())
            p.close()
        results["new"] = {"p50": ms(new_times), "p95": ms(new_times, 0.95), "burst_p50": ms(burst_times),
                          "burst_p95": ms(burst_times, 0.95), "reload_p50": ms(reload_times),
                          "webapp_new_p50": ms(webapp_new)}

        # Round trips.
        log("event round trips...")
        n = 300 if quick else 2000
        rt_runner = Page(runner.url)
        rt_runner.load()
        rt_runner.join()
        rt_webapp = Page(webapp.url)
        rt_webapp.load()
        rt_webapp.join()
        for _ in range(200):
            rt_runner.click()
            rt_webapp.click()
        samples: dict[str, list[float]] = {"runner": [], "webapp": [], "echo": []}
        # Server CPU (user + system) of the clicks: the web worker and the session
        # process for the Runner, the server process for WebApp.
        cpu = {"worker": 0.0, "session": 0.0, "webapp": 0.0}
        for _ in range(4):
            samples["echo"] += echo_round_trips(echo.url, n // 4)
            before = cpu_seconds(webapp.pid)
            samples["webapp"] += [rt_webapp.click() for _ in range(n // 4)]
            cpu["webapp"] += cpu_seconds(webapp.pid) - before
            before, before_session = cpu_seconds(runner.pid), cpu_seconds(rt_runner.pid)
            samples["runner"] += [rt_runner.click() for _ in range(n // 4)]
            cpu["worker"] += cpu_seconds(runner.pid) - before
            cpu["session"] += cpu_seconds(rt_runner.pid) - before_session
        results["rt"] = {k: {"p50": ms(v), "p99": ms(v, 0.99)} for k, v in samples.items()}
        results["cpu_us"] = {k: 1e6 * v / (4 * (n // 4)) for k, v in cpu.items()}
        rt_webapp.close()

        # Memory with 200 idle sessions.
        log("memory at 200 sessions...")
        while len(pages) < 200:
            p = Page(runner.url)
            p.load()
            pages.append(p)
        time.sleep(1.0)
        pids = sorted({p.pid for p in pages})
        pss = [pss_kib(pid) for pid in pids]
        rss = [rss_kib(pid) for pid in pids]
        private = [_rollup(pid)["Private_Dirty"] for pid in pids]
        threads = [len(os.listdir(f"/proc/{pid}/task")) for pid in pids]
        results["memory"] = {"sessions": len(pids), "pss_mean_kib": statistics.mean(pss),
                             "pss_max_kib": max(pss), "rss_mean_kib": statistics.mean(rss),
                             "pss_total_mib": sum(pss) / 1024, "private_mean_kib": statistics.mean(private),
                             "threads_max": max(threads)}
        # Sessions as users have them: the WebSocket joined (served by the session process
        # itself, direct WebSockets) and one event handled.
        joined = pages[-20:]
        for p in joined:
            p.join()
            p.click()
        time.sleep(1.0)
        stages_env = runner_stages.fork_server_environment(pages[0].pid)
        joined_pids = sorted({p.pid for p in joined})
        results["memory"]["joined_sessions"] = len(joined_pids)
        results["memory"]["joined_pss_mean_kib"] = statistics.mean(pss_kib(pid) for pid in joined_pids)
        results["memory"]["joined_private_mean_kib"] = statistics.mean(
            _rollup(pid)["Private_Dirty"] for pid in joined_pids)
        for p in joined:
            p.close()
        # Kernel samepage merging of the idle ones (the host's KSM, when it may be set).
        results["ksm"] = runner_ksm.measure(pages[:-20], _rollup, cpu_seconds, log)

        # Another session's events while 10 sessions/s are created. The creator is a
        # process of its own: as a thread of this one, its HTTP parsing would hold the GIL
        # while a click's answer waits here, and the measure would be the client's.
        # Periods with and without creations alternate (the machine's own noise is in both).
        log("events while sessions are created...")
        seconds = 3 if quick else 8

        def clicks() -> list[float]:
            out = []
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                out.append(rt_runner.click())
                time.sleep(0.02)
            return out

        baseline: list[float] = []
        loaded: list[float] = []
        created: list[float] = []
        for _ in range(1 if quick else 3):
            baseline += clicks()
            creator = subprocess.Popen([sys.executable, "-c", "from bench.runner import creator; creator()",
                                        runner.url, str(seconds)], cwd=ROOT, stdout=subprocess.PIPE,
                                       env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert creator.stdout is not None and creator.stdout.readline().strip() == b"go"
            loaded += clicks()
            out, _ = creator.communicate(timeout=60)
            created += [float(x) for x in out.split()]
        results["contention"] = {"baseline_max": ms(baseline, 1.0), "baseline_p50": ms(baseline),
                                 "baseline_p99": ms(baseline, 0.99), "loaded_max": ms(loaded, 1.0),
                                 "loaded_p50": ms(loaded), "loaded_p99": ms(loaded, 0.99), "events": len(loaded),
                                 "created": len(created), "created_p50": ms(created)}
        for p in pages:
            p.close()
        rt_runner.close()

        log("memory floor (an idle fork-server child)...")
        probe = subprocess.run([sys.executable, "-c", "from bench.runner import floor_probe; floor_probe()"],
                               cwd=ROOT, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               timeout=120, check=True)
        import orjson

        results["floor"] = orjson.loads(probe.stdout.splitlines()[-1])
        log("memory by stage of a session process's start...")
        results["stages"] = runner_stages.measure(stages_env)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(runtime, ignore_errors=True)
    return results


def creator() -> None:
    """``python -c "from bench.runner import creator; creator()" URL SECONDS``: print
    ``go``, open 10 new sessions per second for SECONDS (their processes stay), then
    print each page's time (s)."""
    import httpx

    url, seconds = sys.argv[1], float(sys.argv[2])
    # One client for all: making one costs ~17 ms of CPU (its TLS context), which would
    # land on the 2 CPUs at each creation and be measured as the server's doing.
    http = httpx.Client(trust_env=False, timeout=60)
    times = []
    print("go", flush=True)
    next_at = time.monotonic()
    deadline = next_at + seconds
    while next_at < deadline:
        time.sleep(max(0.0, next_at - time.monotonic()))
        http.cookies.clear()  # no session cookie: a new session
        started = time.perf_counter()
        response = http.get(url + "/")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text[:300]
        next_at += 0.1
    http.close()
    print("\n".join(f"{t:.6f}" for t in times))


def report(r: dict[str, Any]) -> str:
    new, rt, mem, con, floor, cpu = r["new"], r["rt"], r["memory"], r["contention"], r["floor"], r["cpu_us"]
    ksm = r["ksm"]
    try:
        from importlib.metadata import version

        versions = ", ".join(f"{p} {version(p)}" for p in ("uvicorn", "starlette", "websockets", "uvloop"))
    except Exception:
        versions = ""
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    ok = lambda good: "yes" if good else "no"  # noqa: E731
    mb = lambda kib: f"{kib / 1024:.2f} MB"  # noqa: E731
    shared_share = (floor["server_rss_kib"] - floor["server_private_kib"]) / (mem["sessions"] + 1)
    target = f"<= {TARGET_NEW_SESSION_MS:g} ms"
    from livetag.server.processes.priority import priority_restorable

    restorable = priority_restorable()
    lines = [
        "## Runner: one process per session",
        "",
        f"Run of {datetime.date.today().isoformat()} by `bench/runner.py` (livetag `{commit}`), "
        f"{os.cpu_count()} CPUs shared with other work, Linux {platform.release()}, "
        f"Python {platform.python_version()}; {versions}.",
        "",
        "| measure | value | target | met |",
        "|---|---|---|---|",
        f"| new session (`GET /`, no cookie), one every 100 ms, p50 / p95 | {new['p50']:.1f} / {new['p95']:.1f} ms "
        f"| {target} | {ok(new['p50'] <= TARGET_NEW_SESSION_MS)} |",
        f"| same, back to back (a burst), p50 / p95 | {new['burst_p50']:.1f} / {new['burst_p95']:.1f} ms "
        f"| {target} | {ok(new['burst_p50'] <= TARGET_NEW_SESSION_MS)} |",
        f"| same, in-process `WebApp`, p50 | {new['webapp_new_p50']:.1f} ms | | |",
        f"| page reload of a live session (Runner), p50 | {new['reload_p50']:.1f} ms | | |",
        f"| event round trip p50: Runner / WebApp / echo | {rt['runner']['p50']:.3f} / {rt['webapp']['p50']:.3f} / "
        f"{rt['echo']['p50']:.3f} ms | | |",
        f"| round trip ratio Runner / WebApp, Runner / echo (p50) | "
        f"{rt['runner']['p50'] / rt['webapp']['p50']:.2f}x, {rt['runner']['p50'] / rt['echo']['p50']:.2f}x "
        f"| <= {TARGET_ROUND_TRIP_RATIO:g}x WebApp "
        f"| {ok(rt['runner']['p50'] / rt['webapp']['p50'] <= TARGET_ROUND_TRIP_RATIO)} |",
        f"| server CPU per event: Runner (web worker + session process) / WebApp | {cpu['worker'] + cpu['session']:.0f} "
        f"({cpu['worker']:.0f} + {cpu['session']:.0f}) / {cpu['webapp']:.0f} us | | |",
        f"| event round trip p99: Runner / WebApp / echo | {rt['runner']['p99']:.3f} / {rt['webapp']['p99']:.3f} / "
        f"{rt['echo']['p99']:.3f} ms | | |",
        f"| memory per idle session, PSS mean (max) at {mem['sessions']} sessions | "
        f"{mb(mem['pss_mean_kib'])} ({mb(mem['pss_max_kib'])}) | <= {TARGET_PSS_MB:g} MB | "
        f"{ok(mem['pss_mean_kib'] / 1024 <= TARGET_PSS_MB)} |",
        f"| same, Private_Dirty mean (pages of its own) | {mb(mem['private_mean_kib'])} | | |",
        *([f"| same, the host running KSM (`merge_pages`, default on; {ksm['sessions']} idle sessions): PSS mean (max) "
           f"| {mb(ksm['pss_mean_kib'])} ({mb(ksm['pss_max_kib'])}) | <= {TARGET_PSS_MB:g} MB "
           f"| {ok(ksm['pss_mean_kib'] / 1024 <= TARGET_PSS_MB)} |",
           f"| same, Private_Dirty mean | {mb(ksm['private_mean_kib'])} | | |"] if "skipped" not in ksm else
          [f"| same, the host running KSM | not measured: {ksm['skipped']} | | |"]),
        f"| same, RSS mean (pages shared with the fork server counted whole) | {mem['rss_mean_kib'] / 1024:.1f} MB "
        "| | |",
        f"| same, WebSocket joined and one event handled ({mem['joined_sessions']} of them): PSS / Private_Dirty "
        f"mean | {mb(mem['joined_pss_mean_kib'])} / {mb(mem['joined_private_mean_kib'])} | | |",
        f"| floor: a spare waiting for its session, Private_Dirty (PSS at {mem['sessions']}) | "
        f"{mb(floor['spare'])} ({mb(floor['spare'] + shared_share)}) | | |",
        f"| threads per session process (max) | {mem['threads_max']} | | |",
        f"| another session's event while 10 sessions/s are created: p50 / p99 / worst | {con['loaded_p50']:.2f} / "
        f"{con['loaded_p99']:.1f} / {con['loaded_max']:.1f} ms | | |",
        f"| same session without creations: p50 / p99 / worst | {con['baseline_p50']:.2f} / "
        f"{con['baseline_p99']:.1f} / {con['baseline_max']:.1f} ms | | |",
        "",
        "Method: each server is a uvicorn process (uvloop, httptools) on 127.0.0.1; the client is this "
        "process (httpx, the `websockets` sync client, no compression). A new session is timed from the "
        "request to the last byte of the page: the supervisor's round trip, the handoff to the spare "
        "process (or, when none is ready, a fork of the preloaded fork server), the app's `init`, the page "
        "rendered by the session's `WebApp` and relayed by the web worker; one every 100 ms, then 50 back "
        "to back. Round trips: 200 warm-up events, then interleaved blocks (echo, WebApp, Runner); the "
        "Runner's WebSocket is handed by the web worker to the session process, which serves it itself "
        "(direct WebSockets: the worker's CPU per event is what it still does, none); CPU per "
        "event from `/proc/<pid>/stat` (10 ms ticks) over those blocks. Memory: "
        "PSS from `/proc/<pid>/smaps_rollup` of each session process with 200 sessions alive and idle (pages "
        "loaded, no WebSocket); the fork server's own memory is shared by all of them and not included; the "
        f"floor's PSS counts its share of the fork server's pages as if {mem['sessions']} children shared "
        "them. Contention: one connected session clicks every 20 ms (both columns: an event after 20 ms of "
        "quiet, so its p50 is above the round trip's) while another process opens 10 new sessions per second "
        f"with one HTTP client ({con['created']} created, their page p50 {con['created_p50']:.1f} ms); "
        "periods with and without creations alternate.",
        "",
        "### New sessions and the events of other sessions",
        "",
        "A new session is handed to a waiting spare process: the supervisor sends it the session's "
        "configuration and listening socket, the spare builds nothing (its `WebApp` came built from the fork "
        "server) and runs the app's `init`. The next spare then starts in the background: where priorities "
        f"can be restored ({'here they can' if restorable else 'not here: spares start at the normal priority'}), "
        "the supervisor's thread that asks for it and the fork server run at "
        "nice +10 and the spare waits as `SCHED_IDLE`. What another session's events still see during "
        "creations (the p99 above) lines up, on this 2-CPU machine, with the fork server's `fork()` of the "
        "next spare (1 to 3 ms in the kernel, longer as the fork server has more children), and it stays the "
        "same when the whole start runs as `SCHED_IDLE`: the fork itself, not CPU time taken from them.",
        "",
        "### Where a session process's memory goes",
        "",
        "A session process is a fork: it shares the fork server's pages until it writes to them, and "
        "Private_Dirty counts what it wrote (copied) or allocated. On CPython 3.11 most of it is writes to "
        "shared objects: every object the process touches gets its reference count changed, and every "
        "function it runs has its code object written (the specialising interpreter's warm-up counter and "
        "inline caches), so each page holding one is copied. The pages the collector would write are "
        "spared by `gc.freeze()` in the fork server; what the code touches cannot be.",
        "",
        "| step | Private_Dirty |",
        "|---|---|",
        f"| a plain `os.fork()` child of the preloaded interpreter, sleeping | {mb(floor['raw_fork'])} |",
        f"| for reference, an idle child of multiprocessing's fork server (its bootstrap: unpickling the process "
        f"object, `spawn.prepare`, `_bootstrap`; the Runner no longer uses it) | {mb(floor['mp_idle'])} |",
        f"| a spare of livetag's fork server, waiting: uvloop running, `WebApp` built, one page of a built-in app "
        f"loaded | {mb(floor['spare'])} |",
        f"| a session process: spare handed a session, page loaded, idle | {mb(mem['private_mean_kib'])} |",
        "",
        f"So about {mb(floor['spare'] - floor['raw_fork'])} is a spare's start (its event loop, the "
        "prebuilt `WebApp`, one page of a built-in app relayed through it while it waits, so that the pages "
        "a first page load copies are copied before a user waits for them: about -25% on a new session's "
        "latency for +0.4 MB per session, measured side by side) and "
        f"{mb(mem['private_mean_kib'] - floor['spare'])} the session itself: the handoff, the app's `init`, "
        "its page render and whatever the warm-up did not touch. What the Runner does "
        "about it: session processes are forks of livetag's own fork server, which builds a child's arguments "
        "before the fork so that the child calls its entry point at once (no bootstrap: the row of "
        "multiprocessing's above is what that saved); handlers run inline (one thread, no thread stack nor "
        "malloc arena of its own; `M_ARENA_MAX=2` bounds what an app's own threads add); the fork server "
        "imports what children would import themselves, builds the expected `WebApp` once for all children, "
        "runs the page path a few times with a built-in app on uvloop, and the WebSocket path (a socket "
        "handed over as a web worker hands one: handshake, join, clicks, close), so that its code is already "
        "specialised (the WebSocket part: about -0.45 MB per joined session, +0.15 MB per idle one, measured "
        "side by side), and freezes its heap without a last `gc.collect()` (whose holes children would fill, copying pages). "
        "Measured and not kept: filling the free blocks of the allocator's partly used pools before the "
        "freeze (so that children allocate in pools of their own) changed nothing measurable. Most of what "
        "is left is reference counts and inline caches written in shared pages (a session process copies "
        "about 3.7 MB of the fork server's arenas and 0.45 MB of libpython's static data): CPython 3.12's "
        "immortal objects would spare some of it, the 3 MB target needs a session to touch about half the "
        "pages it does now.",
        "",
        "Stage by stage (`bench/runner_stages.py`: children of an interpreter preloaded as the fork server is, "
        "each running a spare's steps and then saving a snapshot as a persisted session does; Private_Dirty "
        "after each step, the mean of 3):",
        "",
        *runner_stages.table(r["stages"]),
        "",
        "The event loop is a fixed cost of every process (uvloop's loop object alone holds a 256 KiB read "
        "buffer; asyncio's own loop costs more here). The first page is the page path touched once: reference "
        "counts and inline caches of the code and objects it runs through (the second page adds almost "
        "nothing). The store link is persistence's price in each session process: one connection to the "
        "supervisor, whose own SQLite store does the claims and saves of every session "
        "(`livetag.server.processes.store_link`). A SQLite connection in each session process, as before "
        "(the connection, the WAL set-up, the schema and the first save), cost about 1.2 MB, none of it given "
        "back when closed.",
        "",
        *ksm_section(ksm, mem),
    ]
    return "\n".join(lines)


def ksm_section(ksm: dict[str, Any], mem: dict[str, Any]) -> list[str]:
    """The report's part on kernel samepage merging (``bench/runner_ksm.py``)."""
    head = ["### Kernel samepage merging (KSM)", ""]
    if "skipped" in ksm:
        return [*head, f"Not measured in this run: {ksm['skipped']}.", ""]
    mb = lambda kib: f"{kib / 1024:.2f} MB"  # noqa: E731
    fast, default = ksm["pace"], ksm["default_pace"]
    first = ms(ksm["first_click_s"])
    return [
        *head,
        "Session processes are marked mergeable (`Runner(merge_pages=True)`, the default: "
        "`prctl(PR_SET_MEMORY_MERGE)` in the fork server, inherited by every child; "
        "`livetag.server.processes.ksm`). Where the host runs KSM (`/sys/kernel/mm/ksm/run`, root's setting; "
        "livetag never turns it on), the kernel's `ksmd` finds the pages that session processes copied alike "
        "(most of the reference counts and inline caches written in shared pages above are the same from one "
        "process to the next, or back to the fork server's bytes once the counts returned) and keeps one "
        "write-protected copy of each. This run turned KSM on for the measurement and put the host's settings "
        "back after:",
        "",
        "| measure | value |",
        "|---|---|",
        f"| idle session PSS mean (max), {ksm['sessions']} sessions, once merged | {mb(ksm['pss_mean_kib'])} "
        f"({mb(ksm['pss_max_kib'])}); without KSM {mb(mem['pss_mean_kib'])} |",
        f"| same, Private_Dirty mean | {mb(ksm['private_mean_kib'])}; without KSM {mb(mem['private_mean_kib'])} |",
        f"| time to merge at `pages_to_scan` {fast['pages_to_scan']}, `sleep_millisecs` {fast['sleep_millisecs']} "
        f"| {ksm['converge_seconds']:.0f} s ({ksm['full_scans']} full scans), `ksmd` CPU "
        f"{ksm['converge_cpu_seconds']:.1f} s |",
        f"| pages: `pages_shared` / `pages_sharing` (the kept copies / the mappings of them) "
        f"| {ksm['pages_shared']:,} / {ksm['pages_sharing']:,} |",
        f"| `ksmd` CPU once merged, at the kernel's default pace (`pages_to_scan` {default['pages_to_scan']}, "
        f"`sleep_millisecs` {default['sleep_millisecs']}), over {ksm['steady_seconds']:g} s "
        f"| {100 * ksm['steady_cpu_share']:.1f} % of a CPU |",
        f"| first event of a merged session (join, then one click), round trip p50 of {ksm['clicked']} "
        f"| {first:.2f} ms; {ksm['clicked']} sessions of the same age before KSM was on: "
        f"{ms(ksm['unmerged_first_click_s']):.2f} ms |",
        f"| those sessions after it: PSS / Private_Dirty mean | {mb(ksm['clicked_pss_mean_kib'])} / "
        f"{mb(ksm['clicked_private_mean_kib'])}; joined without KSM {mb(mem['joined_pss_mean_kib'])} / "
        f"{mb(mem['joined_private_mean_kib'])} |",
        "",
        "What it costs: `ksmd`'s CPU, set by the host's pace (it scans every mergeable page of every session "
        "process in turn, so faster merging costs more CPU), and a page fault with a 4 KiB copy when a "
        "session process writes to a merged page (its first event after a quiet spell pays a few hundred). "
        "Merged pages are also a timing side channel between processes on the same machine (a write to a "
        "merged page takes longer): where untrusted local processes run beside the server, leave KSM off or "
        "pass `merge_pages=False` (`docs/runner.md`).",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    text = report(measure(args.quick))
    print(text)
    if not args.quick:
        header = "# Benchmarks of the Runner\n\n(Kept apart from `docs/benchmarks.md`, which `bench/run.py` rewrites.)\n\n"
        args.output.write_text(header + text)


if __name__ == "__main__":
    main()
