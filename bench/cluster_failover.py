"""Benchmarks of the cluster issue 13 asks for besides the relay: failover time (a machine
killed under a page, to the page's first restored render), the cost of Redis snapshots
per event, and sessions per machine at the same memory.

Usage: ``.venv/bin/python bench/cluster_failover.py [--quick] [--output PATH]``

Everything runs on this host: a ``redis-server`` (Debian's, a free port, no persistence)
and "machines", each a uvicorn process serving ``Runner(Clicks)`` with its own runtime
directory, supervisor and relay, joined to the cluster by the environment
(``LIVETAG_REDIS_URL``, ``LIVETAG_CLUSTER_SECRET``, ``LIVETAG_MACHINE_ID``,
``LIVETAG_LEASE``, ``LIVETAG_SESSION_SECRET``, ``LIVETAG_RELAY``). This process is the
client: a page without a browser (``WsPage``: HTTP page load, then livetag's protocol on
a WebSocket). Three parts:

1. failover: a page clicks a ``States`` counter, waits until Redis holds the snapshot of
   its last click, then its machine is killed (every process SIGSTOPped, then
   SIGKILLed); the page sees its socket close and joins again on another live machine
   (directly: no balancer), every 50 ms, until a ``joined`` renders the restored count.
   Timed from the kill. A fresh machine replaces each killed one (3 live before a kill).
   A join refused for a stale page (its CSRF token) reloads the page first, as a browser
   does; the report says how often.
2. snapshot cost: CPU per event of the session process, its supervisor, the web worker
   (and Redis) for three servers side by side: a cluster machine (snapshots to Redis),
   a plain ``Runner`` with its default SQLite snapshots, one without persistence.
3. memory: PSS of idle session processes on a cluster machine and on a plain ``Runner``.

Every process is stopped by PID. The Markdown report goes to stdout and replaces this
script's sections of ``docs/benchmarks-cluster.md`` (the relay's section stays).
Nothing here is a test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
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

from livetag import Runner, States, Tag

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks-cluster.md"
SECRET = "bench-failover-secret-" + "q" * 32
PREFIX = "livetag:"
#: The lease of ``ClusterConfig`` when ``LIVETAG_LEASE`` is not set (seconds).
DEFAULT_LEASE = 10.0
#: Seconds between the page's attempts to join again after its machine died.
RETRY = 0.05
#: The browser's reconnection delays (livetag/client/src/connection.js): 100 ms doubling
#: up to 5 s, each times a random factor in [0.75, 1.25].
BROWSER_FIRST, BROWSER_MAX = 0.1, 5.0
NO_RATE_LIMIT = {"events_per_second": 1e9, "event_burst": 1_000_000}
#: Sessions stay while the benchmark holds them without a client.
KEEP = {"timeout_interaction": 3600, "join_grace": 3600, "max_sessions": 2000, "new_sessions_per_second": 1e9,
        "new_session_burst": 1_000_000}
OWN_SECTIONS = ("## Failover", "## Snapshot cost", "## Sessions per machine")


class Clicks(Tag.App):
    def init(self) -> None:
        self.s = States(count=0)
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= Tag.span(self.s.count, _class="value")
        self <= Tag.span(str(os.getpid()), _class="pid")

    def increment(self, e: Any) -> None:
        self.s.count += 1


# LT_PERSIST=0: no snapshots at all (without a Redis URL); else the default store (SQLite
# at $LIVETAG_STORE), or Redis when the environment names a cluster.
app = Runner(Clicks, persist=os.environ.get("LT_PERSIST") != "0", **KEEP, **NO_RATE_LIMIT)  # type: ignore[arg-type]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ms(values: list[float], q: float = 0.5) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- processes ------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid`` so far, every live thread's: the first field of
    ``/proc/<pid>/task/*/schedstat`` (nanoseconds on a CPU; ``/proc/<pid>/stat`` counts
    10 ms ticks, too coarse for an event every 150 ms)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass  # a thread that just ended
    return total / 1e9


def pss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(re.search(r"^Pss:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]


def private_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(re.search(r"^Private_Dirty:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]


class Redis:
    """Debian's redis-server on a free port of 127.0.0.1, without persistence."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ltbr", dir="/tmp")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.popen = subprocess.Popen(["/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir", self.dir],
                                      stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=self.dir)
        import redis

        self.client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.popen.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.client.close()
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Machine:
    """One uvicorn process serving ``bench.cluster_failover:app`` on its own socket and
    runtime directory (``env``: the cluster's variables, or none). ``pids()``: every
    process of it (the server, its supervisor, their descendants)."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.runtime = tempfile.mkdtemp(prefix="ltbf", dir="/tmp")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.sock.set_inheritable(True)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        full = {**os.environ, "XDG_RUNTIME_DIR": self.runtime, "PYTHONPATH": str(ROOT), **env}
        self.popen = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.cluster_failover:app", "--fd",
                                       str(self.sock.fileno()), "--log-level", "warning"], cwd=ROOT, env=full,
                                      pass_fds=(self.sock.fileno(),), stdin=subprocess.DEVNULL)
        self.pid = self.popen.pid
        self.killed = False

    def ready(self) -> Machine:
        """Answering, with its supervisor started (a web worker starts it at its first page:
        one throwaway session, as a machine that served pages before)."""
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(self.url + "/", timeout=60, trust_env=False)
                if response.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.popen.poll() is not None:
                raise RuntimeError(f"machine {self.name} did not start")
            time.sleep(0.1)

    def supervisors(self) -> list[int]:
        import orjson

        found = []
        for keys in Path(self.runtime).glob("lt-*/*/keys.json"):
            try:
                found.append(int(orjson.loads(keys.read_bytes())["pid"]))
            except (OSError, ValueError, KeyError):
                pass
        return found

    def pids(self) -> list[int]:
        out, todo = [], [self.pid, *self.supervisors()]
        while todo:
            pid = todo.pop()
            if pid not in out and alive(pid):
                out.append(pid)
                todo.extend(children(pid))
        return out

    def kill(self) -> None:
        """As a machine dies: every process frozen first (none sees another die and
        reacts), then SIGKILLed; the listening socket closed (its port refuses)."""
        pids = self.pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        self.killed = True
        self.sock.close()

    def stop(self) -> None:
        left = [p for p in self.pids() if p != self.pid]
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        self.popen.wait(10)
        for pid in left:  # a supervisor outlives its server by design: stopped by PID
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in left) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in left:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.sock.close()
        shutil.rmtree(self.runtime, ignore_errors=True)


def cluster_env(redis: Redis, name: str, lease: float | None) -> dict[str, str]:
    env = {"LIVETAG_REDIS_URL": redis.url, "LIVETAG_CLUSTER_SECRET": SECRET, "LIVETAG_MACHINE_ID": name,
           "LIVETAG_SESSION_SECRET": SECRET, "LIVETAG_RELAY": f"127.0.0.1:{free_port()}"}
    if lease is not None:
        env["LIVETAG_LEASE"] = str(lease)
    return env


# -- the page -------------------------------------------------------------------------------


class JoinRefused(Exception):
    """A join attempt that got no ``joined``: ``how`` (an HTTP status of the handshake, a
    close code, a connection error)."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class WsPage:
    """A page of the ``Clicks`` app over the real protocol: ``load`` (HTTP), ``join``
    (WebSocket, as a new client or resuming ``cid``), ``click``. The session cookie, the
    CSRF token, the client id and the sequence numbers stay across machines."""

    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.Client(trust_env=False, timeout=60)
        self.url = url
        self.ws: Any = None
        self.cid: str | None = None
        self.seq = 0
        self.rev = 0
        self.value = -1

    def load(self) -> None:
        response = self.http.get(self.url + "/")
        assert response.status_code == 200, response.text[:300]
        html = response.text
        self.token = re.search(r'data-lt-token="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        self.rev = int(re.search(r'data-lt-rev="(\d+)"', html).group(1))  # type: ignore[union-attr]
        self.inc = re.search(r'id="([^"]+)" class="inc"', html).group(1)  # type: ignore[union-attr]
        self.pid = int(re.search(r'class="pid">(\d+)<', html).group(1))  # type: ignore[union-attr]
        self.value = int(re.search(r'class="value">(\d+)<', html).group(1))  # type: ignore[union-attr]

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)

    @property
    def sid(self) -> str:
        return next(c.value for c in self.http.cookies.jar if c.name.startswith("lt_sid"))

    def join(self, url: str | None = None, timeout: float = 30) -> dict[str, Any]:
        """Join on ``url`` (default the page's); the ``joined`` message. ``JoinRefused``
        when the machine refuses or closes."""
        import orjson
        from websockets.exceptions import ConnectionClosed, InvalidStatus
        from websockets.sync.client import connect

        url = url or self.url
        try:
            self.ws = connect("ws" + url[4:] + "/_lt/ws", additional_headers={"Cookie": self.cookie},
                              origin=url, compression=None, proxy=None,  # type: ignore[arg-type]
                              open_timeout=timeout).__enter__()
        except InvalidStatus as exc:
            raise JoinRefused(f"HTTP {exc.response.status_code}") from None
        except OSError as exc:
            raise JoinRefused(type(exc).__name__) from None
        try:
            self.ws.send(orjson.dumps({"t": "join", "v": 1, "token": self.token, "cid": self.cid,
                                       "rev": self.rev}).decode())
            message = orjson.loads(self.ws.recv(timeout))
        except ConnectionClosed as exc:
            self.ws = None
            rcvd = exc.rcvd
            code = "none" if rcvd is None else f"{rcvd.code} {rcvd.reason}" if rcvd.code == 1008 else str(rcvd.code)
            raise JoinRefused(f"close {code}") from None
        if message.get("t") == "bye":
            raise JoinRefused(f"bye {message.get('code')}")
        if message.get("t") != "joined":
            raise JoinRefused(f"message {message.get('t')}")
        self.cid, self.rev = message["cid"], message["rev"]
        self.url = url
        self.value = rendered_value(message, self.value)
        return message  # type: ignore[no-any-return]

    def click(self) -> float:
        import orjson

        self.seq += 1
        started = time.perf_counter()
        self.ws.send(orjson.dumps({"t": "ev", "s": self.seq, "id": self.inc, "n": "click", "d": {},
                                   "sync": {}}).decode())
        while True:
            message = orjson.loads(self.ws.recv(60))
            if message["t"] == "up":
                self.rev = message["rev"]
                self.value = rendered_value(message, self.value)
            if message["t"] in ("up", "ack") and message["ack"] >= self.seq:
                return time.perf_counter() - started

    def wait_closed(self, timeout: float = 30) -> None:
        """Read until the socket closes (its machine died)."""
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                self.ws.recv(timeout)
        except ConnectionClosed:
            self.ws = None

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.http.close()


def rendered_value(message: dict[str, Any], current: int) -> int:
    """The counter as ``message``'s patch sets it (a text op, or the markup of a full
    render), else ``current``."""
    found = current
    for op in message.get("p", []):
        text = repr(op)
        markup = re.search(r'class=\\?"value\\?">(\d+)<', text)
        if markup is not None:
            found = int(markup.group(1))
        elif op and op[0] == "t" and isinstance(op[-1], str) and op[-1].isdigit():
            found = int(op[-1])
    return found


# -- 1. failover ----------------------------------------------------------------------------


@dataclasses.dataclass
class Failover:
    total: float  # kill -> restored render (s)
    lease_left: float  # the killed machine's lease left at the kill (Redis PTTL, s)
    noticed: float  # kill -> the page saw its socket close
    attempt: float  # kill -> start of the join that succeeded
    join: float  # that join: connect, claim, restore, render (s)
    refused: dict[str, int]  # the refused attempts before, by how
    exact: bool  # the render showed every click
    reloaded: bool = False  # the page's token was refused: it was reloaded (the same session)


def snapshot_acks(redis: Redis, sid: str) -> dict[str, int]:
    import orjson

    from livetag.server.persistence import key

    raw = redis.client.hget(f"{PREFIX}d:{key('', sid)}", "d")
    return {} if raw is None else dict(orjson.loads(raw).get("acks", {}))


def wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"expected {what} within {timeout:g} s")
        time.sleep(0.01)


def failovers(redis: Redis, lease: float | None, kills: int, clicks: int) -> list[Failover]:
    """``kills`` failovers of one page's session (module docstring, part 1)."""
    serial = iter(range(1000))
    label = "d" if lease is None else f"{lease:g}"
    live: list[Machine] = []
    out: list[Failover] = []

    def spawn() -> Machine:
        name = f"m{label}-{next(serial)}"
        return Machine(name, cluster_env(redis, name, lease))

    try:
        live += [spawn() for _ in range(3)]
        for machine in live:
            machine.ready()
            in_cluster(redis, machine)
        page = WsPage(live[0].url)
        page.load()
        page.join()
        owner = live[0]
        for round_ in range(kills):
            for _ in range(clicks):
                page.click()
            expected = page.value
            wait_for(lambda: snapshot_acks(redis, page.sid).get(page.cid or "") == page.seq, "the snapshot")
            machine_key = f"{PREFIX}m:{owner.name}"
            lease_left = redis.client.pttl(machine_key) / 1000
            target = next(m for m in live if m is not owner)
            started = time.perf_counter()
            owner.kill()
            page.wait_closed()
            noticed = time.perf_counter() - started
            refused: dict[str, int] = {}
            reloaded = False
            while True:
                attempt = time.perf_counter()
                try:
                    joined = page.join(target.url)
                    break
                except JoinRefused as exc:
                    refused[exc.how] = refused.get(exc.how, 0) + 1
                    if attempt - started > (lease or DEFAULT_LEASE) + 30:
                        raise RuntimeError(f"no failover within the lease + 30 s: {refused}") from None
                    if exc.how.startswith("close 1008"):
                        # The page is stale (its CSRF token refused): a browser reloads it
                        # (the same session, a fresh token), then joins as a new client.
                        page.url = target.url
                        page.load()
                        page.cid = None
                        reloaded = True
                        continue
                    time.sleep(RETRY)
            done = time.perf_counter()
            shown = rendered_value(joined, page.value if reloaded else -1)
            exact = shown == expected
            out.append(Failover(done - started, lease_left, noticed, attempt - started, done - attempt, refused,
                                exact, reloaded))
            log(f"  kill {round_ + 1}/{kills}: {done - started:.3f} s (lease left {lease_left:.3f} s, join "
                f"{(done - attempt) * 1000:.0f} ms, refused {refused}, count {shown}"
                f"/{expected})")
            live.remove(owner)
            owner.stop()
            owner = target
            # In place of the dead machine, a fresh one (3 live before the next kill).
            fresh = spawn()
            live.append(fresh)
            fresh.ready()
            in_cluster(redis, fresh)
        page.close()
    finally:
        for machine in live:
            machine.stop()
    return out


# -- 2. snapshot cost -----------------------------------------------------------------------

KINDS = ("plain", "sqlite", "cluster")
MEMORY_KINDS = ("sqlite", "cluster")
KIND_LABELS = {"plain": "Runner without persistence (`persist=False`)",
               "sqlite": "Runner with its default SQLite snapshots",
               "cluster": "cluster machine (snapshots to Redis)"}


def servers(redis: Redis, store_dir: str) -> dict[str, Machine]:
    """The three servers of parts 2 and 3, started and ready."""
    out = {"plain": Machine("plain", {"LT_PERSIST": "0"}),
           "sqlite": Machine("sqlite", {"LIVETAG_STORE": os.path.join(store_dir, "sessions.sqlite3")}),
           "cluster": Machine("cost", cluster_env(redis, "cost", None))}
    for machine in out.values():
        machine.ready()
    in_cluster(redis, out["cluster"])
    return out


def in_cluster(redis: Redis, machine: Machine) -> None:
    """Wait until ``machine``'s lease is in Redis: a machine joins without waiting, and a
    session it starts before its first heartbeat lands is never snapshotted."""
    wait_for(lambda: redis.client.exists(f"{PREFIX}m:{machine.name}"), f"machine {machine.name} in the cluster")


def redis_stats(redis: Redis) -> dict[str, int]:
    """Redis's command and byte counters: ``calls:<command>`` per command, ``commands``,
    ``in`` and ``out`` (network bytes)."""
    out = {f"calls:{name.removeprefix('cmdstat_')}": int(v["calls"])
           for name, v in redis.client.info("commandstats").items() if name != "cmdstat_info"}
    stats = redis.client.info("stats")
    # Bytes in: this process's INFO requests are a few bytes; its replies (kilobytes) would
    # drown the snapshots' answers, so bytes out are not counted.
    out.update(bytes_in=int(stats["total_net_input_bytes"]))
    return out


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def snapshot_cost(redis: Redis, machines: dict[str, Machine], quick: bool) -> dict[str, Any]:
    """Part 2 (module docstring): CPU per event and round trips, back to back (the saves
    coalesce: one per ``DEBOUNCE``) and spaced (every event saved), interleaved."""
    from livetag.server.persistence import DEBOUNCE, key

    pages = {}
    for kind in KINDS:
        machine = machines[kind]
        page = WsPage(machine.url)
        page.load()
        page.join()
        pages[kind] = page
    procs = {kind: {"session": pages[kind].pid, "supervisor": machines[kind].supervisors()[0],
                    "worker": machines[kind].pid} for kind in KINDS}
    procs["cluster"]["redis"] = redis.popen.pid

    def cpu() -> dict[str, dict[str, float]]:
        return {kind: {name: cpu_seconds(pid) for name, pid in p.items()} for kind, p in procs.items()}

    def spent(after: dict[str, dict[str, float]], before: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        return {kind: {name: after[kind][name] - before[kind][name] for name in after[kind]} for kind in after}

    warmup = 100 if quick else 300
    for page in pages.values():
        for _ in range(warmup):
            page.click()
    out: dict[str, Any] = {}

    # Idle: what each server's processes (and Redis) spend without events, per second.
    idle_seconds = 2.0 if quick else 6.0
    time.sleep(DEBOUNCE * 3)
    before, stats = cpu(), redis_stats(redis)
    time.sleep(idle_seconds)
    idle = {kind: {name: v / idle_seconds for name, v in d.items()} for kind, d in spent(cpu(), before).items()}
    idle_redis = {k: v / idle_seconds for k, v in delta(redis_stats(redis), stats).items()}
    out["idle"] = idle

    # Back to back: blocks of n clicks, the servers in turn.
    n, blocks = (200, 2) if quick else (1000, 6)
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    used = {kind: {name: 0.0 for name in procs[kind]} for kind in KINDS}
    redis_b2b: dict[str, int] = {}
    for _ in range(blocks):
        for kind in KINDS:
            before, stats, started = cpu(), redis_stats(redis), time.monotonic()
            times[kind] += [pages[kind].click() for _ in range(n)]
            elapsed = time.monotonic() - started
            for name, v in spent(cpu(), before)[kind].items():
                used[kind][name] += v - idle[kind][name] * elapsed
            if kind == "cluster":
                for k, v in delta(redis_stats(redis), stats).items():
                    redis_b2b[k] = redis_b2b.get(k, 0) + v - round(idle_redis.get(k, 0) * elapsed)
    events = n * blocks
    out["b2b"] = {"events": events, "warmup": warmup, "block": n, "p50": {k: ms(v) for k, v in times.items()},
                  "p99": {k: ms(v, 0.99) for k, v in times.items()},
                  "cpu_us": {k: {name: 1e6 * v / events for name, v in d.items()} for k, d in used.items()},
                  "redis": redis_b2b}

    # Spaced: one event per server every `gap` seconds (> DEBOUNCE: every event saved).
    gap = DEBOUNCE * 1.5
    m = 40 if quick else 200
    times = {kind: [] for kind in KINDS}
    time.sleep(gap)
    before, stats, started = cpu(), redis_stats(redis), time.monotonic()
    for _ in range(m):
        round_started = time.monotonic()
        for kind in KINDS:
            times[kind].append(pages[kind].click())
        time.sleep(max(0.0, gap - (time.monotonic() - round_started)))
    time.sleep(DEBOUNCE * 2)  # the last saves
    elapsed = time.monotonic() - started
    used = {kind: {name: v - idle[kind][name] * elapsed for name, v in d.items()}
            for kind, d in spent(cpu(), before).items()}
    redis_spaced = {k: v - round(idle_redis.get(k, 0) * elapsed) for k, v in delta(redis_stats(redis), stats).items()}
    snapshot = redis.client.hstrlen(f"{PREFIX}d:{key('', pages['cluster'].sid)}", "d")
    out["spaced"] = {"events": m, "gap": gap, "p50": {k: ms(v) for k, v in times.items()},
                     "cpu_us": {k: {name: 1e6 * v / m for name, v in d.items()} for k, d in used.items()},
                     "redis": redis_spaced, "snapshot_bytes": snapshot}
    for page in pages.values():
        page.close()
    return out


# -- 3. memory ------------------------------------------------------------------------------


def memory(redis: Redis, machines: dict[str, Machine], quick: bool) -> dict[str, Any]:
    """Part 3 (module docstring): ``count`` idle sessions on the cluster machine and on
    the SQLite one (each: page loaded, joined, one click saved, socket closed); the PSS
    and Private_Dirty of their processes, and what Redis holds for them."""
    count = 30 if quick else 200
    out: dict[str, Any] = {"sessions": count}
    for kind in MEMORY_KINDS:
        used_before = int(redis.client.info("memory")["used_memory"])
        clients_before = int(redis.client.info("clients")["connected_clients"])
        pids = []
        for _ in range(count):
            page = WsPage(machines[kind].url)
            page.load()
            page.join()
            page.click()
            pids.append(page.pid)
            page.close()
        time.sleep(1.5)  # saves done, processes idle
        pss = [pss_kib(pid) for pid in pids]
        private = [private_kib(pid) for pid in pids]
        out[kind] = {"pss_kib": statistics.mean(pss), "pss_max_kib": max(pss),
                     "private_kib": statistics.mean(private)}
        if kind != "sqlite":
            info = redis.client.info("memory")
            out[kind]["redis_kib"] = (int(info["used_memory"]) - used_before) / 1024 / count
            out[kind]["redis_clients"] = (int(redis.client.info("clients")["connected_clients"]) - clients_before)
    return out


# -- the whole run --------------------------------------------------------------------------


def measure(quick: bool) -> dict[str, Any]:
    started = time.monotonic()
    redis = Redis()
    store_dir = tempfile.mkdtemp(prefix="ltbs", dir="/tmp")
    result: dict[str, Any] = {"quick": quick}
    try:
        machines = servers(redis, store_dir)
        try:
            log("snapshot cost...")
            result["cost"] = snapshot_cost(redis, machines, quick)
            log("memory...")
            result["memory"] = memory(redis, machines, quick)
        finally:
            for machine in machines.values():
                machine.stop()
        redis.client.flushall()
        kills, clicks = (3, 5) if quick else (20, 10)
        log(f"failover, default lease ({DEFAULT_LEASE:g} s), {kills} kills...")
        result["failover"] = {"default": failovers(redis, None, kills, clicks)}
        short = (3, 5) if quick else (10, 10)
        log(f"failover, lease 2 s, {short[0]} kills...")
        result["failover"]["short"] = failovers(redis, 2.0, *short)
        result["redis_version"] = redis.client.info("server")["redis_version"]
    finally:
        redis.stop()
        shutil.rmtree(store_dir, ignore_errors=True)
    result["seconds"] = time.monotonic() - started
    return result


# -- the report -----------------------------------------------------------------------------


def browser_estimate(f: Failover, rng: Any) -> float:
    """When a browser's page would have rendered the restored session: its attempts follow
    connection.js's backoff from the moment it saw the close; the first one after the
    lease ran out succeeds, taking as long as the measured successful join."""
    at, k = f.noticed, 0
    while True:
        at += min(BROWSER_MAX, BROWSER_FIRST * 2 ** k) * rng.uniform(0.75, 1.25)
        k += 1
        if at >= f.lease_left:
            return at + f.join


def failover_rows(label: str, runs: list[Failover]) -> list[str]:
    import random

    rng = random.Random(13)
    total = [f.total for f in runs]
    join = [f.join for f in runs]
    wait = [f.lease_left for f in runs]
    slack = [max(0.0, f.attempt - f.lease_left) for f in runs]
    browser = [browser_estimate(f, rng) for f in runs]

    def row(name: str, values: list[float], unit: str = "s") -> str:
        scale, fmt = (1.0, ".2f") if unit == "s" else (1000.0, ".0f")
        p50, p99 = ms(values) / 1000 * scale, ms(values, 0.99) / 1000 * scale
        return f"| {label}: {name} | {p50:{fmt}} {unit} | {p99:{fmt}} {unit} | {max(values) * scale:{fmt}} {unit} |"

    return [
        row("kill to restored render", total),
        row("of which the killed machine's lease left (wait)", wait),
        row("of which lease end to the successful join's start (retry step)", slack, "ms"),
        row("of which the successful join (connect, claim, restore, render)", join, "ms"),
        row("a browser's page (its backoff instead of 50 ms retries; estimate)", browser),
    ]


def report(r: dict[str, Any]) -> str:
    import starlette
    import uvicorn

    cost, mem, fo = r["cost"], r["memory"], r["failover"]
    default, short = fo["default"], fo["short"]
    runs = default + short
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    quick = " **Quick run (`--quick`): few samples, a smoke test of the script, not the numbers to quote.**" \
        if r["quick"] else ""
    refused: dict[str, int] = {}
    for f in runs:
        for how, count in f.refused.items():
            refused[how] = refused.get(how, 0) + count
    lost = sum(not f.exact for f in runs)
    reloads = sum(f.reloaded for f in runs)
    ended = sum(v for k, v in refused.items() if k in ("close 4410", "bye ended"))
    b2b, spaced = cost["b2b"], cost["spaced"]

    def cpu_cell(d: dict[str, float], kind: str) -> str:
        parts = f"{d['session']:.0f} + {d['supervisor']:.0f} + {d['worker']:.0f}"
        total = d["session"] + d["supervisor"] + d["worker"]
        extra = f" (+ Redis {d['redis']:.0f})" if kind == "cluster" else ""
        return f"{total:.0f} ({parts}){extra}"

    def inside(stats: dict[str, int], events: int) -> str:
        shown = sorted(((k.removeprefix("calls:"), v) for k, v in stats.items()
                        if k.startswith("calls:") and k not in ("calls:evalsha", "calls:ping") and v > 0),
                       key=lambda kv: -kv[1])
        return ", ".join(f"{name} {v / events:.1f}" for name, v in shown) or "none"

    gib = 8 * 1024 * 1024  # KiB

    def saved(kind: str) -> float:
        d, base = spaced["cpu_us"][kind], spaced["cpu_us"]["plain"]
        return sum(d[p] - base[p] for p in ("session", "supervisor", "worker"))
    lines = [
        "## Failover: kill to first restored render",
        "",
        f"Run of {datetime.date.today()} by `bench/cluster_failover.py` (livetag `{commit}`, "
        f"{r['seconds'] / 60:.1f} min in all), on a 2-CPU machine shared with other work (every machine, Redis "
        f"and the client on it), Linux {platform.release()}, Python {platform.python_version()}; uvicorn "
        f"{uvicorn.__version__}, starlette {starlette.__version__}, Redis {r['redis_version']}.{quick}",
        "",
        "| | p50 | p99 | max |",
        "|---|---|---|---|",
        *failover_rows(f"default lease ({DEFAULT_LEASE:g} s), {len(default)} kills", default),
        *failover_rows(f"lease 2 s, {len(short)} kills", short),
        "",
        f"Restored state: {len(runs) - lost} of {len(runs)} restored renders showed every click (the page clicked "
        f"10 times{' (5 in the quick run)' if r['quick'] else ''} before each kill and waited for the snapshot). "
        f"Attempts refused before the lease ran out: {', '.join(f'{v} x {k}' for k, v in sorted(refused.items()))}.",
        "",
    ]
    if reloads:
        lines += [
            f"**Found: {reloads} failovers found the page's CSRF token refused** (close 1008 `csrf`): the 5th and "
            "later restores of a page that was never reloaded. A snapshot keeps the hashes of 4 tokens "
            "(`persistence.MAX_TOKENS`): the session's own and the latest inherited ones, and each restore makes "
            "a new own token, so the page's token (of its first load) drops out at the 4th restore; `joined` "
            "does not give the page the new one. A browser then reloads the page (the same session, its state "
            "kept, but a full page load); this page did too, and its time counts.",
            "",
        ]
    lines += [
        "Method: a redis-server and three machines (uvicorn processes, each a `Runner` with its own runtime "
        "directory, supervisor and relay, joined by `LIVETAG_REDIS_URL`, `LIVETAG_CLUSTER_SECRET`, "
        "`LIVETAG_MACHINE_ID`, `LIVETAG_SESSION_SECRET`, `LIVETAG_RELAY` and, for the second block, "
        "`LIVETAG_LEASE=2`). One page (this process: an HTTP page load, then livetag's protocol on a WebSocket, "
        "no browser) keeps one session across all the kills: it clicks a `States` counter, waits until Redis "
        "holds the snapshot of its last click, then its machine is killed as a machine dies (every process "
        "SIGSTOPped, then SIGKILLed). The page sees its socket close and joins again, every 50 ms, directly on "
        "another live machine (no balancer: with one, add its health check's reaction, which does not matter "
        "here since any live machine serves the join), with the same cookie, token and client id, until a "
        "`joined` comes; its render must show the restored count. Timed from the kill. The wait is the killed "
        "machine's lease left at the kill (Redis's `PTTL` of its key: renewed every third of a lease, so "
        "between 2/3 and all of it); then the join that succeeds: the WebSocket handshake, the worker asking "
        "its supervisor, the claim (a new epoch), a process restoring the snapshot, the full render. A fresh "
        "machine replaces each killed one before the next kill (3 live machines at each kill). The browser "
        "row replays the page's reconnection delays (`connection.js`: 100 ms doubling up to 5 s, +-25 % "
        "jitter) against each measured lease wait and join: what a browser page would see if it kept "
        "retrying.",
        "",
        "Reading: a failover takes the dead machine's remaining lease plus a few tens of milliseconds; the "
        "lease is the knob (a shorter one costs more heartbeats and risks a paused-but-alive machine losing "
        "its sessions). A browser adds up to its backoff step on top (up to 5 s after a long wait).",
        "",
    ]
    if ended:
        lines += [
            f"**Found: {ended} join attempts made while the dead machine's lease still ran were answered "
            "\"session ended\"** (`bye` `ended` then close 4410, \"The server holding this session cannot be "
            "reached. Reload the page.\"): the live machine's worker sees a live owner in the directory, its "
            "relay refuses the connection (`RelayUnavailable`), and `Runner._transport` answers as for a session "
            "that ended, not \"retry\". A browser page stops reconnecting at that answer (`connection.js` `end`), "
            "so with relays configured (the deployment recipe) a killed machine's pages show an error instead "
            "of resuming, unless their user reloads after the lease ran out. This benchmark's page keeps "
            "retrying through it, so the times above are what the failover costs once that answer is \"retry\".",
            "",
        ]
    lines += [
        "## Snapshot cost per event",
        "",
        "| | p50 round trip, back to back | server CPU per event, back to back: total (session + supervisor + "
        "worker), us | p50 round trip, one event per 150 ms | server CPU per event, one per 150 ms, us |",
        "|---|---|---|---|---|",
        *(f"| {KIND_LABELS[kind]} | {b2b['p50'][kind]:.3f} ms | {cpu_cell(b2b['cpu_us'][kind], kind)} | "
          f"{spaced['p50'][kind]:.3f} ms | {cpu_cell(spaced['cpu_us'][kind], kind)} |" for kind in KINDS),
        "",
        f"Redis: back to back, {b2b['redis'].get('calls:evalsha', 0)} saves (`EVALSHA` of the save script) for "
        f"{b2b['events']} events (they coalesce: one save per 0.1 s at most per session); one event per 150 ms, "
        f"{spaced['redis'].get('calls:evalsha', 0)} saves for {spaced['events']} events, each one round trip "
        f"running, per event, {inside(spaced['redis'], spaced['events'])} inside the script, "
        f"{spaced['redis'].get('bytes_in', 0) / spaced['events']:.0f} bytes sent to Redis (the answer is two "
        "integers). A snapshot of this counter "
        f"is {spaced['snapshot_bytes']} bytes (the envelope: revision, CSRF hash, acknowledged events, the "
        "app's `States`).",
        "",
        "Method: three servers side by side, each a uvicorn process with its own supervisor: a cluster machine "
        "(default lease), a `Runner` with its default SQLite store, one with `persist=False`; one page each, "
        f"joined over a WebSocket, clicking a `States` counter ({b2b['warmup']} warm-up clicks). Back to back: "
        f"interleaved blocks of {b2b['block']} clicks. Spaced: a click on each server in turn, every 150 ms "
        "(longer than the 0.1 s save debounce, so each event is saved). CPU time (nanoseconds on a CPU, "
        "`/proc/<pid>/task/*/schedstat`) of the session process, its supervisor, the uvicorn worker (which "
        "carries the WebSocket) and, for the cluster, the redis-server; each process's idle rate (heartbeats, "
        "lease renewals), measured first without events, is subtracted. Redis's commands from `INFO "
        "commandstats` (idle rate subtracted likewise; small negative values are that subtraction's noise). "
        "The client shares the 2 CPUs: round trips are inflated, the differences are what snapshots add.",
        "",
        f"Reading: when every event is saved, a snapshot to Redis costs about {saved('cluster'):.0f} us of "
        f"this machine's CPU per event more than no persistence (SQLite: {saved('sqlite'):.0f} us), plus "
        f"{spaced['cpu_us']['cluster']['redis']:.0f} us in Redis, and one round trip (`EVALSHA` of the save "
        "script; the commands inside it are counted too). Back to back the saves coalesce (at most one per "
        "0.1 s per session), so their cost per event nearly vanishes. The round trip of the event itself "
        "does not wait for the save (it runs after the update went out).",
        "",
        "## Sessions per machine at the same memory",
        "",
        f"| {mem['sessions']} idle sessions | PSS per session process, mean (max) | Private_Dirty mean "
        "| sessions in 8 GiB (PSS) |",
        "|---|---|---|---|",
        *(f"| {KIND_LABELS[kind]} | {mem[kind]['pss_kib'] / 1024:.2f} MB ({mem[kind]['pss_max_kib'] / 1024:.2f} MB) "
          f"| {mem[kind]['private_kib'] / 1024:.2f} MB | {gib / mem[kind]['pss_kib']:.0f} |"
          for kind in MEMORY_KINDS),
        "",
        f"Redis holds {mem['cluster']['redis_kib']:.1f} KiB per session of this app (its snapshot, ownership "
        f"record and connection: {mem['cluster']['redis_clients']} more Redis connections for "
        f"{mem['sessions']} sessions, each session process keeps one).",
        "",
        f"Method: on the two servers above, {mem['sessions']} sessions each: page loaded, joined, one click "
        "(saved), socket closed, then idle; PSS and Private_Dirty from `/proc/<pid>/smaps_rollup` of each "
        "session process (the fork server's pages shared by all of them counted in shares, so PSS depends "
        "on how many there are: both rows have the same count). \"Sessions in 8 GiB\" divides 8 GiB by the "
        "mean PSS: the session processes alone, without the supervisor, web workers and fork server (a few "
        "tens of MB per machine) nor the sessions' own data growing.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    from bench.mdsections import replace_sections

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run, still written)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    # SIGTERM (a timeout, a Ctrl-C of a wrapper) unwinds too: every process is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    text = report(measure(args.quick))
    print(text)
    replace_sections(args.output, "Benchmarks of the cluster", OWN_SECTIONS, text)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
