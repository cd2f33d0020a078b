"""Run every livetag benchmark against a raw Starlette WebSocket echo, in one run.

Usage: ``.venv/bin/python bench/run.py [--quick] [--output PATH] [--deflate]``;
``--peers`` runs livetag next to htag 2 and NiceGUI instead (``bench/peers/``), and
``--peers --idle N`` holds N idle sessions on one process.

Six servers run side by side, each in its own process under uvicorn on 127.0.0.1:0:
the echo floor (WebSocket, and the same echo over plain HTTP and SSE + POST),
``examples/counter.py``, the same counter with ``async def`` handlers, the counter with
``WebApp(parano=True)``, a 1,000-row list changed through ``tag.text`` and the same list
with one ``State`` per row (see ``bench/servers.py``). This process drives them over the
real protocol on each transport (``livetag.testing.wire``, through ``bench/sessions.py``) and reads each server's CPU time
and memory from ``/proc``. The Markdown report goes to stdout and (full runs) to
``docs/benchmarks.md``, keeping any section of that file this script does not write;
progress goes to stderr. Every server is stopped by PID, also when a measurement fails.
Nothing here is a test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402

from bench.servers import (  # noqa: E402
    LIST_ROWS,
    ServerProcess,
    cpu_seconds,
    machine_busy_seconds,
    memory_kib,
)
from bench.sessions import (  # noqa: E402
    EchoHttpSession,
    EchoSession,
    http_client,
    id_of_class,
    join_tab,
    open_tab,
    outer_html,
)
from livetag.testing.wire import AesGcm, Tab  # noqa: E402

DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"
#: Server processes: name -> (the element clicked, by class; None for the echo).
SERVERS: dict[str, str | None] = {
    "echo": None, "counter": "inc", "counter-async": "inc", "list": "change", "list-reactive": "change",
    "counter-parano": "inc",
}
#: Targets over WebSocket, in the order of the "All measurements" columns; each is
#: measured for round trips, and with concurrent sessions.
COLUMNS = ("echo", "counter", "counter-async", "list", "list-reactive", "counter-parano")
#: The HTTP transports: (target name, server, transport). Round trips only.
HTTP_TARGETS = tuple((f"{server}-{mode}", server, mode)
                     for mode in ("sse", "http") for server in ("echo", "counter", "counter-parano"))
#: Targets whose last update changed one row, to compare with that row's HTML.
LISTS = ("list", "list-reactive")
#: Headings of sections this script writes (and wrote under earlier names); any other
#: ``## `` section of the output file belongs to someone else and is kept.
OWN_HEADINGS = ("Targets (issue 2, section 8)", "Targets (issue 3: a 1,000-item reactive list)",
                "Transports and parano (issue 4)", "All measurements", "Method", "Machine")

# Targets of issue 2, section 8.
TARGET_P50_RATIO = 1.5
TARGET_CPU_US = 60.0
TARGET_SESSION_KIB = 24.0
TARGET_ROW_EXTRA_BYTES = 64
TARGET_LIST_CPU_RATIO = 1.5
# Issue 3 sets the same two bounds for a list built from states.


@dataclass(frozen=True)
class Settings:
    warmup_events: int = 300      # per target, before any sample
    seq_events: int = 2000        # sequential round trips per WebSocket target, one session
    seq_rounds: int = 4           # blocks interleaved across servers, so drift hits all alike
    http_warmup_events: int = 100  # the HTTP transports: each event is one or two HTTP requests
    http_seq_events: int = 1000   # made by httpx, ~1-2 ms of client CPU, so fewer of them
    sessions: int = 50            # concurrent sessions for the throughput run
    conc_warmup: float = 0.5      # seconds before the throughput window opens
    conc_seconds: float = 2.0     # throughput window per round
    conc_rounds: int = 5          # interleaved across servers; the report takes the median
    mem_sessions: int = 1000
    mem_concurrency: int = 16     # sessions being opened at once
    deflate: bool = False         # permessage-deflate on the servers (livetag's runners turn it off)
    quick: bool = False


QUICK = Settings(warmup_events=50, seq_events=400, seq_rounds=2, http_warmup_events=20, http_seq_events=200,
                 conc_warmup=0.5, conc_seconds=1.5, conc_rounds=1, mem_sessions=200, quick=True)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- what is measured -----------------------------------------------------------------------


class BenchSession(Protocol):
    """A livetag ``Tab`` (``event`` returns the messages up to the acknowledging update) or
    an echo session (``event`` returns the echoed text)."""

    async def event(self, target_id: str, name: str = "click") -> Any: ...
    async def close(self) -> None: ...


@dataclass
class Target:
    """One server under test, the transport used to reach it, how to open a session on
    it and what to click."""

    name: str
    server: ServerProcess
    css_class: str | None  # the clicked element; None for the echo
    deflate: bool = True
    transport: str = "ws"  # "ws", "sse" (SSE + POST) or "http" (POST + long-poll)

    @property
    def is_echo(self) -> bool:
        return self.css_class is None

    async def open(self, http: httpx.AsyncClient) -> tuple[BenchSession, str]:
        """A new session and the id of the element its events target."""
        base = self.server.base_url
        if self.css_class is None:
            if self.transport == "ws":
                return await EchoSession.open(base, deflate=True), "lt5"
            return await EchoHttpSession.open(http, base, sse=self.transport == "sse"), "lt5"
        tab = await open_tab(http, base, self.transport, deflate=True)  # type: ignore[arg-type]
        return tab, id_of_class(tab.html, self.css_class)


@dataclass
class Sequential:
    """Round trips on one session: latencies, server CPU over them, the last update."""

    latencies_us: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    events: int = 0
    last_message: str = ""
    cookie: str = ""
    #: Bytes of the last acknowledging message as received (sealed with parano; on plain
    #: HTTP the whole response body, a JSON array).
    wire_bytes: int = 0
    #: Plain HTTP only: long-polls answered during the timed events, and how many empty.
    polls: int = 0
    empty_polls: int = 0

    def percentile(self, p: int) -> float:
        """The ``p``-th percentile (1-99) of the round trips, in µs."""
        return statistics.quantiles(self.latencies_us, n=100, method="inclusive")[p - 1]

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu_s * 1e6 / self.events


@dataclass
class Throughput:
    """Per round: events acknowledged inside the measuring window, its length, and the
    server's and the client's CPU time in it. Rates are medians over the rounds, which
    shrugs off a round disturbed by other work on the machine."""

    rounds: list[tuple[int, float, float, float]] = field(default_factory=list)

    def add(self, events: int, seconds: float, cpu_s: float, client_cpu_s: float) -> None:
        self.rounds.append((events, seconds, cpu_s, client_cpu_s))

    @property
    def per_second(self) -> float:
        return statistics.median(n / t for n, t, _, _ in self.rounds)

    @property
    def cpu_us_per_event(self) -> float:
        return statistics.median(cpu * 1e6 / n for n, _, cpu, _ in self.rounds)

    @property
    def server_share(self) -> float:
        """Server CPU seconds per second of wall time (1.0 = one CPU busy)."""
        return statistics.median(cpu / t for _, t, cpu, _ in self.rounds)

    @property
    def client_share(self) -> float:
        return statistics.median(client / t for _, t, _, client in self.rounds)


@dataclass
class Memory:
    sessions: int
    before: dict[str, int]
    pages: dict[str, int] | None  # after GET / only (livetag); None for the echo
    connected: dict[str, int]

    def per_session(self, key: str) -> float:
        """Growth of ``key`` (``"rss"``/``"pss"``) per connected session, in KiB."""
        return (self.connected[key] - self.before[key]) / self.sessions

    def page_only(self, key: str) -> float:
        """Growth of ``key`` per session after ``GET /`` alone, in KiB (livetag only)."""
        assert self.pages is not None
        return (self.pages[key] - self.before[key]) / self.sessions


@dataclass
class Results:
    settings: Settings
    sequential: dict[str, Sequential]
    throughput: dict[str, Throughput]
    memory: dict[str, Memory]
    row_html: dict[str, str]  # per list target: the changed row's markup as served
    started: datetime.datetime
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    duration_s: float = 0.0
    #: CPUs' worth of work done by other processes during the run (noise indicator).
    other_cpus: float = 0.0
    #: Sealing then opening the counter's update with AES-GCM, in this process (µs).
    crypto_us: float = 0.0


# -- measurements ------------------------------------------------------------------------------


async def measure_sequential(targets: list[Target], http: httpx.AsyncClient, s: Settings) -> dict[str, Sequential]:
    """Round trips one after the other on one session per target; targets interleaved in
    blocks so that a burst of load from elsewhere hits all of them alike."""
    opened = {t.name: await t.open(http) for t in targets}
    results = {t.name: Sequential() for t in targets}
    try:
        for t in targets:
            session, target_id = opened[t.name]
            for _ in range(s.warmup_events if t.transport == "ws" else s.http_warmup_events):
                await session.event(target_id)
        for _ in range(s.seq_rounds):
            for t in targets:
                session, target_id = opened[t.name]
                block = (s.seq_events if t.transport == "ws" else s.http_seq_events) // s.seq_rounds
                result = results[t.name]
                lat = result.latencies_us
                polls0 = (session.polls, session.empty_polls) if isinstance(session, Tab) else (0, 0)
                cpu0 = cpu_seconds(t.server.pid)
                for _ in range(block):
                    t0 = time.perf_counter_ns()
                    answer = await session.event(target_id)
                    lat.append((time.perf_counter_ns() - t0) / 1000)
                result.cpu_s += cpu_seconds(t.server.pid) - cpu0
                result.events += block
                if isinstance(session, Tab):  # the acknowledging update, in clear, as it came
                    text = orjson.dumps(answer[-1]).decode()
                    result.wire_bytes = len(session.last_raw)
                    result.polls += session.polls - polls0[0]
                    result.empty_polls += session.empty_polls - polls0[1]
                    result.cookie = session.cookie_header()
                else:
                    text = answer
                    result.wire_bytes = getattr(session, "last_wire", 0) or len(text.encode())
                result.last_message = text
    finally:
        await asyncio.gather(*(session.close() for session, _ in opened.values()), return_exceptions=True)
    return results


async def measure_throughput(target: Target, http: httpx.AsyncClient, s: Settings, into: Throughput) -> None:
    """``s.sessions`` sessions each sending events back to back (closed loop); counts
    events acknowledged inside the window and the server CPU spent in it."""
    opened = await asyncio.gather(*(target.open(http) for _ in range(s.sessions)))
    done = 0
    stop = False

    async def worker(session: BenchSession, target_id: str) -> None:
        nonlocal done
        while not stop:
            await session.event(target_id)
            done += 1

    tasks = [asyncio.create_task(worker(session, target_id)) for session, target_id in opened]
    try:
        await asyncio.sleep(s.conc_warmup)
        n0, cpu0, client0, t0 = done, cpu_seconds(target.server.pid), time.process_time(), time.perf_counter()
        await asyncio.sleep(s.conc_seconds)
        n1, cpu1, client1, t1 = done, cpu_seconds(target.server.pid), time.process_time(), time.perf_counter()
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
    finally:
        stop = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(session.close() for session, _ in opened), return_exceptions=True)
    into.add(n1 - n0, t1 - t0, cpu1 - cpu0, client1 - client0)


async def _bounded(jobs: list[Callable[[], Awaitable[Any]]], concurrency: int) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


async def measure_memory(target: Target, http: httpx.AsyncClient, s: Settings) -> Memory:
    """Server RSS/PSS before and after opening ``s.mem_sessions`` sessions, each kept
    connected (livetag: ``GET /`` then WebSocket + ``join``; echo: a WebSocket that
    carried one message each way). For
    livetag the state after the ``GET /`` step alone is recorded too."""
    pid, base = target.server.pid, target.server.base_url
    # Warm up first: lazy imports, caches and the first arenas are not per-session costs.
    for session, target_id in [await target.open(http) for _ in range(20)]:
        await session.event(target_id)
        await session.close()
    await asyncio.sleep(0.5)
    before = memory_kib(pid)
    pages_mem: dict[str, int] | None = None
    sessions: list[Any] = []
    try:
        if target.is_echo:
            async def echo_connection() -> EchoSession:
                # One message each way, as a livetag join does: the per-message-deflate
                # buffers of a connection are only touched once it carries a message.
                connection = await EchoSession.open(base, deflate=True)
                await connection.event("lt5")
                return connection

            sessions = await _bounded([echo_connection] * s.mem_sessions, s.mem_concurrency)
        else:
            pages = await _bounded([lambda: open_tab(http, base, join=False)] * s.mem_sessions, s.mem_concurrency)
            sessions = pages  # closed below whatever happens next
            await asyncio.sleep(0.5)
            pages_mem = memory_kib(pid)
            await _bounded([lambda p=p: join_tab(p, deflate=True) for p in pages], s.mem_concurrency)
        await asyncio.sleep(0.5)
        connected = memory_kib(pid)
    finally:
        await _bounded([session.close for session in sessions], 64)
    return Memory(s.mem_sessions, before, pages_mem, connected)


async def measure_all(targets: dict[str, Target], s: Settings) -> Results:
    started = datetime.datetime.now(datetime.UTC)
    results = Results(s, {}, {}, {}, {}, started, os.getloadavg())
    t_start = time.perf_counter()
    pids = sorted({t.server.pid for t in targets.values()})
    ours0 = time.process_time() + sum(cpu_seconds(pid) for pid in pids)
    busy0 = machine_busy_seconds()
    async with http_client() as http:
        # Memory first, while the servers are fresh.
        for name in ("echo", "counter"):
            log(f"memory: {s.mem_sessions} sessions on {name}")
            results.memory[name] = await measure_memory(targets[name], http, s)
        log(f"round trips: {s.seq_events} sequential events per WebSocket target, {s.http_seq_events} per "
            f"HTTP one, {s.seq_rounds} interleaved blocks")
        results.sequential = await measure_sequential(list(targets.values()), http, s)
        # The changed row as the page serves it now, to compare with the patch that changed it.
        for name in LISTS:
            last = results.sequential[name]
            row_id = _first_op_target(last.last_message)
            page = await http.get(targets[name].server.base_url + "/", headers={"Cookie": last.cookie})
            results.row_html[name] = outer_html(page.text, row_id)
        results.crypto_us = measure_crypto(results.sequential["counter-parano"].last_message)
        results.throughput = {name: Throughput() for name in COLUMNS}
        for round_ in range(s.conc_rounds):
            for name in COLUMNS:
                log(f"throughput: {s.sessions} sessions on {name}, round {round_ + 1}/{s.conc_rounds}")
                await measure_throughput(targets[name], http, s, results.throughput[name])
    results.duration_s = time.perf_counter() - t_start
    results.load_after = os.getloadavg()
    ours = time.process_time() + sum(cpu_seconds(pid) for pid in pids) - ours0
    results.other_cpus = max(0.0, machine_busy_seconds() - busy0 - ours) / results.duration_s
    return results


def measure_crypto(message: str, n: int = 20_000) -> float:
    """µs to seal then open ``message`` as parano does (``livetag.testing.wire.AesGcm``, the
    same library and format as the server's codec), in this process: the crypto's own
    share of parano's cost per update, without the server around it."""
    codec = AesGcm(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))
    data = message.encode()
    t0 = time.perf_counter()
    for _ in range(n):
        codec.open(codec.seal(data))
    return (time.perf_counter() - t0) * 1e6 / n


def _first_op_target(up_text: str) -> str:
    import orjson

    ops = orjson.loads(up_text)["p"]
    if not ops:
        raise RuntimeError("expected the list's last update to carry a patch, it was empty")
    return ops[0][1]


# -- the report ----------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    out = {}
    for name in ("uvicorn", "starlette", "websockets", "orjson", "httpx", "uvloop", "httptools", "cryptography"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_revision() -> str:
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return rev or "unknown"


def _us(value: float) -> str:
    return f"{value:,.0f} µs"


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _kib(value: float) -> str:
    return f"{value:,.1f} KiB"


def _verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**MISS**"


def render_report(r: Results) -> str:
    s = r.settings
    seq, thr, mem = r.sequential, r.throughput, r.memory
    echo, counter, lst, rlst = seq["echo"], seq["counter"], seq["list"], seq["list-reactive"]
    p50 = {n: seq[n].percentile(50) for n in seq}
    p99 = {n: seq[n].percentile(99) for n in seq}
    cpu1 = {n: seq[n].cpu_us_per_event for n in seq}
    cpu50 = {n: thr[n].cpu_us_per_event for n in thr}
    eps = {n: thr[n].per_second for n in thr}
    up_bytes = {n: len(seq[n].last_message.encode()) for n in seq}
    html_bytes = {n: len(r.row_html[n].encode()) for n in LISTS}
    mem_c, mem_e = mem["counter"], mem["echo"]
    rss_session = mem_c.per_session("rss")
    list_cpu_ratio = cpu1["list"] / cpu1["counter"]
    list_cpu_ratio_50 = cpu50["list"] / cpu50["counter"]
    rlist_cpu_ratio = cpu1["list-reactive"] / cpu1["counter"]
    rlist_cpu_ratio_50 = cpu50["list-reactive"] / cpu50["counter"]
    row_limit = {n: html_bytes[n] + TARGET_ROW_EXTRA_BYTES for n in LISTS}

    lines: list[str] = []
    add = lines.append
    add("# livetag benchmarks")
    add("")
    add(f"Measured {r.started:%Y-%m-%d %H:%M} UTC on this project's development machine "
        f"(facts below) in one run of {r.duration_s:.0f} s. Every livetag number sits next to a raw "
        "Starlette echo server (WebSocket; for the HTTP transports also the same echo over HTTP) measured in "
        "the same run, on the same machine, with the same client.")
    add("")
    add("Re-run with `.venv/bin/python bench/run.py` (about 2 minutes on 2 CPUs; it rewrites this file, "
        "keeping any section it does not write); `--quick` is a smoke run that only prints. "
        "`.venv/bin/python bench/run.py --peers` measures livetag next to htag 2 and NiceGUI (the \"Peers\" "
        "section; it builds their virtual environments in `bench/.venvs/` on first use) and `--peers --idle N` "
        "holds N idle sessions on one process (the \"Idle sessions\" section). The code is in "
        "`bench/`: `servers.py` (the apps, and a uvicorn process per server on 127.0.0.1:0), `client.py` "
        "(livetag's real protocol on each transport), `run.py` (measurements and this report).")
    if s.quick:
        add("")
        add("> **Quick run**: few samples, not representative.")
    add("")
    add("## Targets (issue 2, section 8)")
    add("")
    add("| target | measured | result |")
    add("|---|---|---|")
    add(f"| event round trip p50 ≤ {TARGET_P50_RATIO}x the echo (counter, one session) | "
        f"{_us(p50['counter'])} vs echo {_us(p50['echo'])} = {_x(p50['counter'] / p50['echo'])} | "
        f"{_verdict(p50['counter'] <= TARGET_P50_RATIO * p50['echo'])} |")
    add(f"| server CPU ≤ {TARGET_CPU_US:.0f} µs per counter event (one session) | "
        f"{_us(cpu1['counter'])} (echo: {_us(cpu1['echo'])} per message) | "
        f"{_verdict(cpu1['counter'] <= TARGET_CPU_US)} |")
    add(f"| … the same with {s.sessions} concurrent sessions | {_us(cpu50['counter'])} "
        f"(echo: {_us(cpu50['echo'])} per message) | {_verdict(cpu50['counter'] <= TARGET_CPU_US)} |")
    add(f"| ≤ {TARGET_SESSION_KIB:.0f} KiB RSS per counter session ({mem_c.sessions:,} sessions, page loaded "
        f"and WebSocket joined) | {_kib(rss_session)} (PSS {_kib(mem_c.per_session('pss'))}; "
        f"echo: {_kib(mem_e.per_session('rss'))} per connection) | {_verdict(rss_session <= TARGET_SESSION_KIB)} |")
    add(f"| … the session alone (after `GET /`, before its WebSocket) | {_kib(mem_c.page_only('rss'))} | "
        f"{_verdict(mem_c.page_only('rss') <= TARGET_SESSION_KIB)} |")
    add(f"| one changed row costs ≤ the row's HTML + {TARGET_ROW_EXTRA_BYTES} bytes on the wire | "
        f"{up_bytes['list']} B vs {html_bytes['list']} B + {TARGET_ROW_EXTRA_BYTES} = {row_limit['list']} B | "
        f"{_verdict(up_bytes['list'] <= row_limit['list'])} |")
    add(f"| one changed row costs ≤ {TARGET_LIST_CPU_RATIO}x the counter's server CPU per event (one session) | "
        f"{_x(list_cpu_ratio)} ({_us(cpu1['list'])} vs {_us(cpu1['counter'])}) | "
        f"{_verdict(list_cpu_ratio <= TARGET_LIST_CPU_RATIO)} |")
    add(f"| … the same with {s.sessions} concurrent sessions | {_x(list_cpu_ratio_50)} "
        f"({_us(cpu50['list'])} vs {_us(cpu50['counter'])}) | {_verdict(list_cpu_ratio_50 <= TARGET_LIST_CPU_RATIO)} |")
    add("")
    add("## Targets (issue 3: a 1,000-item reactive list)")
    add("")
    add(f"The same {LIST_ROWS:,} rows written with states, as a user of `State` writes one state per item: "
        f"`items = [State(f\"row {{i}}\") for i in range({LIST_ROWS})]`, "
        "`Tag.ul(*[Tag.li(item, _id=f\"row-{i}\") for i, item in enumerate(items)])`: each item's text is "
        "a reactive child of its `<li>`; the (plain `def`) handler does `items[i].set(...)` on one item per "
        "event. Compared with the counter of the same run.")
    add("")
    add("| target | measured | result |")
    add("|---|---|---|")
    add(f"| changing one item sends ≤ that item's HTML + {TARGET_ROW_EXTRA_BYTES} bytes | "
        f"{up_bytes['list-reactive']} B vs {html_bytes['list-reactive']} B + {TARGET_ROW_EXTRA_BYTES} = "
        f"{row_limit['list-reactive']} B | {_verdict(up_bytes['list-reactive'] <= row_limit['list-reactive'])} |")
    add(f"| changing one item costs ≤ {TARGET_LIST_CPU_RATIO}x the counter's server CPU per event (one session) | "
        f"{_x(rlist_cpu_ratio)} ({_us(cpu1['list-reactive'])} vs {_us(cpu1['counter'])}) | "
        f"{_verdict(rlist_cpu_ratio <= TARGET_LIST_CPU_RATIO)} |")
    add(f"| … the same with {s.sessions} concurrent sessions | {_x(rlist_cpu_ratio_50)} "
        f"({_us(cpu50['list-reactive'])} vs {_us(cpu50['counter'])}) | "
        f"{_verdict(rlist_cpu_ratio_50 <= TARGET_LIST_CPU_RATIO)} |")
    add("")
    add(f"- The update: `{rlst.last_message}`; the item as served after it: `{r.row_html['list-reactive']}`.")
    add(f"- Against the list that changes the row's text directly (issue 2 rows above), the states cost "
        f"{_us(cpu1['list-reactive'] - cpu1['list'])} more server CPU per event with one session "
        f"({_us(cpu1['list-reactive'])} vs {_us(cpu1['list'])}), {_us(cpu50['list-reactive'] - cpu50['list'])} "
        f"with {s.sessions} ({_us(cpu50['list-reactive'])} vs {_us(cpu50['list'])}), for the same bytes.")
    add("")

    # -- issue 4 ---------------------------------------------------------------------------
    modes = ("ws", "sse", "http")

    def name(server: str, mode: str) -> str:
        return server if mode == "ws" else f"{server}-{mode}"

    add("## Transports and parano (issue 4)")
    add("")
    add("Issue 4 sets no bound on these; they are measured so that a change shows. One session, sequential "
        "round trips, the counter's `+` clicked over each transport, next to the echo floor of that transport "
        "(WebSocket echo; HTTP `POST` answered with its body; `POST` answered 204 with its body sent down an "
        "SSE stream), all in the same run. \"parano\" is the same counter served with `WebApp(parano=True)`: "
        "every payload sealed with AES-GCM (the client seals and opens too, so its crypto is in the round "
        "trip, as a browser's WebCrypto would be).")
    add("")
    add("| measurement | WebSocket | SSE + POST | plain HTTP |")
    add("|---|---:|---:|---:|")

    def cells(fmt: Callable[[str], str]) -> str:
        return " | ".join(fmt(m) for m in modes)

    add("| echo: round trip p50 (× the WebSocket echo) | " + cells(
        lambda m: _us(p50[name('echo', m)]) + ("" if m == "ws" else f" ({_x(p50[name('echo', m)] / p50['echo'])})"))
        + " |")
    add("| echo: round trip p99 | " + cells(lambda m: _us(p99[name('echo', m)])) + " |")
    add("| counter: round trip p50 (× the WebSocket echo; × this transport's echo) | " + cells(
        lambda m: f"{_us(p50[name('counter', m)])} ({_x(p50[name('counter', m)] / p50['echo'])}"
                  + ("" if m == "ws" else f"; {_x(p50[name('counter', m)] / p50[name('echo', m)])}") + ")") + " |")
    add("| counter: round trip p99 (× this transport's echo) | " + cells(
        lambda m: f"{_us(p99[name('counter', m)])} ({_x(p99[name('counter', m)] / p99[name('echo', m)])})") + " |")
    add("| parano counter: round trip p50 (× the clear counter) | " + cells(
        lambda m: f"{_us(p50[name('counter-parano', m)])} "
                  f"({_x(p50[name('counter-parano', m)] / p50[name('counter', m)])})") + " |")
    add("| parano counter: round trip p99 (× the clear counter) | " + cells(
        lambda m: f"{_us(p99[name('counter-parano', m)])} "
                  f"({_x(p99[name('counter-parano', m)] / p99[name('counter', m)])})") + " |")
    add("| server CPU per event: echo | " + cells(lambda m: _us(cpu1[name('echo', m)])) + " |")
    add("| server CPU per event: counter (× this transport's echo) | " + cells(
        lambda m: f"{_us(cpu1[name('counter', m)])} ({_x(cpu1[name('counter', m)] / cpu1[name('echo', m)])})")
        + " |")
    add("| server CPU per event: parano counter (× the clear counter) | " + cells(
        lambda m: f"{_us(cpu1[name('counter-parano', m)])} "
                  f"({_x(cpu1[name('counter-parano', m)] / cpu1[name('counter', m)])})") + " |")
    add("| bytes of the acknowledging update as received: clear / parano | " + cells(
        lambda m: f"{seq[name('counter', m)].wire_bytes} B / {seq[name('counter-parano', m)].wire_bytes} B") + " |")
    http_c = seq["counter-http"]
    add(f"| long-polls answered per event, of them empty (plain HTTP; clear counter) | – | – | "
        f"{http_c.polls / http_c.events:.2f}, {http_c.empty_polls / http_c.events:.2f} |")
    add(f"| events timed per target (after warm-up: {s.warmup_events} / {s.http_warmup_events} / "
        f"{s.http_warmup_events}) | " + cells(lambda m: f"{seq[name('echo', m)].events:,}") + " |")
    add("")
    add("What this says, computed from this run:")
    add("")
    par, clr = "counter-parano", "counter"
    add(f"- Parano over WebSocket adds {_us(p50[par] - p50[clr])} of median round trip and "
        f"{_us(cpu1[par] - cpu1[clr])} of server CPU per event with one session "
        f"({_us(cpu50[par] - cpu50[clr])} with {s.sessions} sessions: {_us(cpu50[par])} vs {_us(cpu50[clr])}); "
        f"the sealed update is {seq[par].wire_bytes} B instead of {seq[clr].wire_bytes} B "
        "(base64url of nonce + ciphertext + tag). The crypto itself is a small part of that: sealing and "
        f"opening that update once each takes {r.crypto_us:.1f} µs in this process (same library, same "
        "format); a server event does one of each.")
    for mode, label in (("sse", "SSE + POST"), ("http", "plain HTTP")):
        c, e = name("counter", mode), name("echo", mode)
        add(f"- Over {label}, a counter event takes {_us(p50[c])} (median), {_us(p50[c] - p50[e])} more than "
            f"this transport's echo ({_us(p50[e])}), and costs {_us(cpu1[c] - cpu1[e])} of server CPU above it "
            f"({_us(cpu1[c])} vs {_us(cpu1[e])}).")
    add(f"- Most of an HTTP round trip here is the client: the same `httpx` client needs "
        f"{_us(p50['echo-http'])} for a bare HTTP echo, {_x(p50['echo-http'] / p50['echo'])} the WebSocket "
        "echo. Compare each HTTP transport with its own echo; a browser's `fetch` and `EventSource` cost "
        "differently.")
    if http_c.polls:
        add(f"- Plain HTTP: the open long-poll was answered {http_c.polls / http_c.events:.2f} times per event, "
            f"{http_c.empty_polls / http_c.events:.2f} of them empty: the update wakes the waiting poll, the "
            "event's own response takes the message first, and the poll answers `[]` and is sent again. Those "
            "extra requests are in the server CPU above.")
    add("")

    # -- all measurements --------------------------------------------------------------------
    add("## All measurements")
    add("")
    add(f"Ratios are livetag / echo, all over WebSocket. \"counter\" is `examples/counter.py` (plain `def` "
        "handlers, which livetag runs in a worker thread); \"counter, async\" the same app with `async def` "
        "handlers (run on the event loop), to show what the thread hop costs; \"list\" is "
        f"{LIST_ROWS:,} `<li>` rows, each with an id and text, whose (plain) handler changes the text of one "
        "row per event (`row.text = ...`); \"reactive list\" the same rows with one `State` per row (issue 3, "
        "above); \"counter, parano\" the counter with `WebApp(parano=True)`.")
    add("")
    add("| measurement | echo | counter | counter, async | list | reactive list | counter, parano |")
    add("|---|---:|---:|---:|---:|---:|---:|")

    def row(label: str, values: dict[str, float], fmt: Callable[[float], str], ratio: bool = True) -> None:
        def cell(name: str) -> str:
            if name not in values:
                return "–"
            if name == "echo" or not ratio:
                return fmt(values[name])
            return f"{fmt(values[name])} ({_x(values[name] / values['echo'])})"

        add(f"| {label} | " + " | ".join(cell(n) for n in COLUMNS) + " |")

    ws = {n: v for n, v in p50.items() if n in COLUMNS}
    row(f"round trip p50, one session ({echo.events:,} events each)", ws, _us)
    row("round trip p99, one session", {n: v for n, v in p99.items() if n in COLUMNS}, _us)
    row(f"events/s, {s.sessions} concurrent sessions (median of {s.conc_rounds} × {s.conc_seconds:g} s)", eps,
        lambda v: f"{v:,.0f}/s")
    row("server CPU per event, one session", {n: v for n, v in cpu1.items() if n in COLUMNS}, _us)
    row(f"server CPU per event, {s.sessions} sessions (median of the rounds)", cpu50, _us)
    row(f"server CPU during the {s.sessions}-session run (100 % = one CPU)",
        {n: thr[n].server_share for n in thr}, lambda v: f"{100 * v:.0f} %", ratio=False)
    row(f"client CPU during the {s.sessions}-session run", {n: thr[n].client_share for n in thr},
        lambda v: f"{100 * v:.0f} %", ratio=False)
    row(f"RSS growth per session, {mem_c.sessions:,} sessions, page + WebSocket (echo: per connection)",
        {n: m.per_session("rss") for n, m in mem.items()}, _kib)
    row("PSS growth per session, same", {n: m.per_session("pss") for n, m in mem.items()}, _kib)
    row("RSS growth per session after `GET /` only (no WebSocket yet)",
        {n: m.page_only("rss") for n, m in mem.items() if m.pages is not None}, _kib, ratio=False)
    add(f"| server RSS before → after the {mem_c.sessions:,} sessions | " + " | ".join(
        f"{mem[n].before['rss'] / 1024:.1f} → {mem[n].connected['rss'] / 1024:.1f} MiB" if n in mem else "–"
        for n in COLUMNS) + " |")
    row("bytes of one update (`up` message text, in clear)",
        {n: up_bytes[n] for n in COLUMNS if n != "echo"}, lambda v: f"{v:.0f} B", ratio=False)
    row("HTML of the changed element", {n: html_bytes[n] for n in LISTS}, lambda v: f"{v:.0f} B", ratio=False)
    add("")
    hop1 = cpu1["counter"] - cpu1["counter-async"]
    hop50 = cpu50["counter"] - cpu50["counter-async"]
    add("What the columns say, computed from this run:")
    add("")
    add(f"- Running a plain `def` handler in a worker thread costs {_us(hop1)} of server CPU per event with one "
        f"session ({_us(hop50)} with {s.sessions}) and {_us(p50['counter'] - p50['counter-async'])} of median "
        "round trip: the counter minus the same counter with `async def` handlers.")
    add(f"- With `async def` handlers, livetag costs {_us(cpu1['counter-async'] - cpu1['echo'])} of server CPU "
        f"per event above the echo with one session, {_us(cpu50['counter-async'] - cpu50['echo'])} with "
        f"{s.sessions}.")
    add(f"- A connected counter session costs {_kib(rss_session - mem_e.per_session('rss'))} of RSS above a bare "
        f"echo connection ({_kib(mem_e.per_session('rss'))}); the session alone, before its WebSocket, "
        f"{_kib(mem_c.page_only('rss'))}.")
    for n, ratio, label in (("list", list_cpu_ratio, "row"), ("list-reactive", rlist_cpu_ratio, "item state")):
        fits = ratio <= TARGET_LIST_CPU_RATIO and up_bytes[n] <= row_limit[n]
        add(f"- Changing one {label} of {LIST_ROWS:,} costs {_x(ratio)} the counter's CPU per event and sends "
            f"{up_bytes[n] - html_bytes[n]:+d} bytes relative to the row's HTML"
            + (": the cost follows what changed, not the size of the page." if fits
               else ": more than the change alone explains; the size of the page shows through."))
    add("")
    add("Example messages from this run:")
    add("")
    add(f"- counter update: `{counter.last_message}`")
    add(f"- list update: `{lst.last_message}`")
    add(f"- the changed row as served: `{r.row_html['list']}`")
    add("")
    add("## Method")
    add("")
    add("- Each server runs under uvicorn with its defaults (uvloop, httptools, the `websockets` sans-I/O "
        "protocol) in its own process, bound to 127.0.0.1 on a port the OS chose. The client is one asyncio "
        f"process (uvloop) using `httpx` and `websockets`; permessage-deflate is "
        f"{'accepted by every server (--deflate)' if s.deflate else 'offered by the client, as browsers do, and declined by every server, as livetag runners configure uvicorn (--deflate measures it on)'}.")
    add("- A livetag session is opened as a browser opens it: `GET /` (session cookie; CSRF token, revision "
        "and, with parano, the key read from `<html>`), then the transport's join. An event is "
        "`{\"t\":\"ev\",\"s\":n,\"id\":…,\"n\":\"click\",\"d\":{},\"sync\":{}}` and completes when the `up` "
        "with `ack == n` arrives. The echo client sends the same text and waits for it to come back.")
    add("- WebSocket: `/_lt/ws`, `join`, events as text frames. SSE + POST: `POST /_lt/join`, a stream "
        "`GET /_lt/sse?cid=` read with `httpx` (`data:` lines), each event `POST /_lt/event?cid=&mode=sse` "
        "with `X-Livetag-Token` and a JSON array of that one event; it completes when the POST has been "
        "answered (204) and the acknowledging `up` has come down the stream. Plain HTTP: the same join, "
        "each event `POST /_lt/event?cid=&mode=http` whose response (a JSON array) carries the `up`; as the "
        "browser does, a long-poll `GET /_lt/poll?cid=` is kept open all the time (its answers are counted). "
        "One shared `httpx.AsyncClient` (keep-alive connections) serves every HTTP session; its echo floors "
        "are routes of the echo server: `POST /echo` answered with its body, and `POST /echo?mode=sse` "
        "answered 204 with its body sent down that client's `GET /sse` stream.")
    add("- Parano: the counter under `WebApp(parano=True)`; the client takes the key from `data-lt-key` and "
        "seals every message it sends and opens every one it gets with `cryptography`'s `AESGCM`, as "
        "`livetag/server/parano.py` does (`base64url(nonce[12] ‖ ciphertext ‖ tag[16])`, random nonce; on "
        "HTTP the whole body is one sealed array, on SSE each `data:` line one sealed message).")
    add("- The livetag apps are served by `WebApp` with its per-session event rate limit lifted (a security "
        "bound sized for people, not for a benchmark client); the limit is still checked on every event.")
    add(f"- Round trips: {s.warmup_events} warm-up events per WebSocket target ({s.http_warmup_events} per "
        f"HTTP one), then {s.seq_events:,} timed events per WebSocket target ({s.http_seq_events:,} per HTTP "
        f"one, whose events cost the client more) in {s.seq_rounds} blocks interleaved across all targets ("
        + " → ".join(COLUMNS + tuple(t[0] for t in HTTP_TARGETS)) + "), one open session each.")
    add(f"- Throughput (WebSocket only): {s.sessions} sessions (echo: connections), each sending its next "
        f"event as soon as the previous one is acknowledged; {s.conc_warmup:g} s warm-up, then a "
        f"{s.conc_seconds:g} s window, {s.conc_rounds} rounds interleaved across the servers; events/s and CPU "
        f"per event are the median round. Client and server share the machine's {os.cpu_count()} CPUs, so "
        "the events/s are bounded by the client too: the echo's are the client's limit (see the client CPU "
        "row).")
    add("- Server CPU is the server process's CPU clock (`clock_gettime` on the kernel's per-process CPU "
        "clock: scheduler run time of all its threads, nanosecond resolution; earlier reports used "
        "`utime + stime` of `/proc/<pid>/stat`, clock-tick resolution) over "
        "the measured events, divided by their number; nothing is subtracted. With one session the server "
        "idles between events, so this includes the cost of waking up for each one (the echo pays it too). "
        "The HTTP echo routes share the WebSocket echo's process; each block is measured alone.")
    add(f"- Memory: 20 warm-up sessions, then `VmRSS` (`/proc/<pid>/status`) and `Pss` "
        f"(`/proc/<pid>/smaps_rollup`) before and after opening {mem_c.sessions:,} sessions "
        f"({s.mem_concurrency} at a time) that stay connected while measured; each echo connection carries "
        "one message each way, as a livetag join does, so that both have touched their compression buffers.")
    add("- Bytes of an update are the length of the `up` message text in clear (before permessage-deflate "
        "and WebSocket framing); \"as received\" is what travelled: the sealed text with parano, the whole "
        "response body on plain HTTP. A row's HTML is its markup as `GET /` serves it after the change.")
    add("")
    add("## Machine")
    add("")
    add(f"- {os.cpu_count()} CPUs ({_cpu_model()}), {platform.system()} {platform.release()}, "
        f"{platform.machine()}")
    add(f"- Python {platform.python_version()} ({platform.python_implementation()})")
    add("- " + ", ".join(f"{k} {v}" for k, v in _versions().items()))
    add(f"- livetag at `{_git_revision()}`")
    add(f"- the machine is shared: other processes kept {r.other_cpus:.2f} of its {os.cpu_count()} CPUs busy "
        f"on average during the run (load average {r.load_before[0]:.2f} before, {r.load_after[0]:.2f} after); "
        "that adds noise, mostly to the throughput and the p99")
    return "\n".join(lines) + "\n"


# -- entry point -----------------------------------------------------------------------------------


def _run(coro: Awaitable[Results]) -> Results:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run; does not write the docs")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"where to write the report (default: {DEFAULT_OUTPUT.relative_to(ROOT)}; "
                             "a --quick run writes nothing unless given)")
    parser.add_argument("--deflate", action="store_true", help="let every server accept permessage-deflate")
    parser.add_argument("--peers", action="store_true",
                        help="livetag next to htag 2 and NiceGUI (bench/peers/; builds their venvs in bench/.venvs/)")
    parser.add_argument("--idle", type=int, default=0, metavar="N",
                        help="with --peers: hold N idle livetag sessions on one WebApp process instead")
    args = parser.parse_args(argv)
    if args.peers:
        from bench.peers.measure import main as peers_main

        return peers_main(argv)
    settings = QUICK if args.quick else Settings()
    if args.deflate:
        settings = replace(settings, deflate=True)
    os.environ["LIVETAG_BENCH_DEFLATE"] = "1" if settings.deflate else "0"  # read by the server processes
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)

    # SIGTERM must unwind through the finally below, so the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    servers = {name: ServerProcess(name) for name in SERVERS}
    try:
        for server in servers.values():
            server.start()
            log(f"{server.name} server: pid {server.pid}, {server.base_url}")
        targets = {name: Target(name, servers[name], SERVERS[name], settings.deflate) for name in COLUMNS}
        for name, server, mode in HTTP_TARGETS:
            targets[name] = Target(name, servers[server], SERVERS[server], settings.deflate, transport=mode)
        results = _run(measure_all(targets, settings))
    finally:
        for server in servers.values():
            server.stop()
    report = render_report(results)
    print(report)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        kept = foreign_sections(output.read_text()) if output.exists() else ""
        output.write_text(report + ("\n" + kept if kept else ""))
        log(f"report written to {output}" + (" (sections of other authors kept)" if kept else ""))
    return 0


def foreign_sections(text: str) -> str:
    """The ``## `` sections of ``text`` that this script does not write (another
    engineer's, such as a Runner section), verbatim, in their order."""
    parts = re.split(r"(?m)^(?=## )", text)
    kept = [part for part in parts[1:] if part.split("\n", 1)[0][3:].strip() not in OWN_HEADINGS]
    return "".join(kept)


if __name__ == "__main__":
    sys.exit(main())
