"""Run every livetag benchmark against a raw Starlette WebSocket echo, in one run.

Usage: ``.venv/bin/python bench/run.py [--quick] [--output PATH] [--deflate]``

Four servers run side by side, each in its own process under uvicorn on 127.0.0.1:0:
the echo floor, ``examples/counter.py``, the same counter with ``async def`` handlers,
and a 1,000-row list (see ``bench/servers.py``). This process drives them
over the real protocol (``bench/client.py``) and reads each server's CPU time and memory
from ``/proc``. The Markdown report goes to stdout and (full runs) to
``docs/benchmarks.md``; progress goes to stderr. Every server is stopped by PID, also
when a measurement fails. Nothing here is a test: no timing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
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

from bench.client import (  # noqa: E402
    EchoSession, LiveSession, http_client, id_of_class, load_page, outer_html,
)
from bench.servers import (  # noqa: E402
    LIST_ROWS, ServerProcess, cpu_seconds, machine_busy_seconds, memory_kib,
)

DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"
#: Servers, in the order of the report's columns.
COLUMNS = ("echo", "counter", "counter-async", "list")

# Targets of issue 2, section 8.
TARGET_P50_RATIO = 1.5
TARGET_CPU_US = 60.0
TARGET_SESSION_KIB = 24.0
TARGET_ROW_EXTRA_BYTES = 64
TARGET_LIST_CPU_RATIO = 1.5


@dataclass(frozen=True)
class Settings:
    warmup_events: int = 300      # per target, before any sample
    seq_events: int = 2000        # sequential round trips per target, one session
    seq_rounds: int = 4           # blocks interleaved across servers, so drift hits all alike
    sessions: int = 50            # concurrent sessions for the throughput run
    conc_warmup: float = 0.5      # seconds before the throughput window opens
    conc_seconds: float = 2.0     # throughput window per round
    conc_rounds: int = 5          # interleaved across servers; the report takes the median
    mem_sessions: int = 1000
    mem_concurrency: int = 16     # sessions being opened at once
    deflate: bool = False         # permessage-deflate on the servers (livetag's runners turn it off)
    quick: bool = False


QUICK = Settings(warmup_events=50, seq_events=400, seq_rounds=2, conc_warmup=0.5, conc_seconds=1.5,
                 conc_rounds=1, mem_sessions=200, quick=True)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- what is measured -----------------------------------------------------------------------


class BenchSession(Protocol):
    async def event(self, target_id: str, name: str = "click") -> str: ...
    async def close(self) -> None: ...


@dataclass
class Target:
    """One server under test and how to open a session on it and what to click."""

    name: str
    server: ServerProcess
    css_class: str | None  # the clicked element; None for the echo
    deflate: bool = True

    @property
    def is_echo(self) -> bool:
        return self.css_class is None

    async def open(self, http: httpx.AsyncClient) -> tuple[BenchSession, str]:
        """A new session and the id of the element its events target."""
        if self.css_class is None:
            return await EchoSession.open(self.server.base_url, deflate=True), "lt5"
        session = await LiveSession.open(http, self.server.base_url, deflate=True)
        return session, id_of_class(session.page.html, self.css_class)


@dataclass
class Sequential:
    """Round trips on one session: latencies, server CPU over them, the last update."""

    latencies_us: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    events: int = 0
    last_message: str = ""
    cookie: str = ""

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
    row_html: str
    started: datetime.datetime
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    duration_s: float = 0.0
    #: CPUs' worth of work done by other processes during the run (noise indicator).
    other_cpus: float = 0.0


# -- measurements ------------------------------------------------------------------------------


async def measure_sequential(targets: list[Target], http: httpx.AsyncClient, s: Settings) -> dict[str, Sequential]:
    """Round trips one after the other on one session per target; targets interleaved in
    blocks so that a burst of load from elsewhere hits all of them alike."""
    opened = {t.name: await t.open(http) for t in targets}
    results = {t.name: Sequential() for t in targets}
    try:
        for t in targets:
            session, target_id = opened[t.name]
            for _ in range(s.warmup_events):
                await session.event(target_id)
        block = s.seq_events // s.seq_rounds
        for _ in range(s.seq_rounds):
            for t in targets:
                session, target_id = opened[t.name]
                result = results[t.name]
                lat = result.latencies_us
                cpu0 = cpu_seconds(t.server.pid)
                for _ in range(block):
                    t0 = time.perf_counter_ns()
                    text = await session.event(target_id)
                    lat.append((time.perf_counter_ns() - t0) / 1000)
                result.cpu_s += cpu_seconds(t.server.pid) - cpu0
                result.events += block
                result.last_message = text
                if isinstance(session, LiveSession):
                    result.cookie = session.page.cookie
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
            pages = await _bounded([lambda: load_page(http, base)] * s.mem_sessions, s.mem_concurrency)
            await asyncio.sleep(0.5)
            pages_mem = memory_kib(pid)
            sessions = await _bounded(
                [lambda p=p: LiveSession.connect(p, base, deflate=True) for p in pages], s.mem_concurrency)
        await asyncio.sleep(0.5)
        connected = memory_kib(pid)
    finally:
        await _bounded([session.close for session in sessions], 64)
    return Memory(s.mem_sessions, before, pages_mem, connected)


async def measure_all(targets: dict[str, Target], s: Settings) -> Results:
    started = datetime.datetime.now(datetime.timezone.utc)
    results = Results(s, {}, {}, {}, "", started, os.getloadavg())
    t_start = time.perf_counter()
    pids = [t.server.pid for t in targets.values()]
    ours0 = time.process_time() + sum(cpu_seconds(pid) for pid in pids)
    busy0 = machine_busy_seconds()
    async with http_client() as http:
        # Memory first, while the servers are fresh.
        for name in ("echo", "counter"):
            log(f"memory: {s.mem_sessions} sessions on {name}")
            results.memory[name] = await measure_memory(targets[name], http, s)
        log(f"round trips: {s.seq_events} sequential events per server, {s.seq_rounds} interleaved blocks")
        results.sequential = await measure_sequential(list(targets.values()), http, s)
        # The changed row as the page serves it now, to compare with the patch that changed it.
        last = results.sequential["list"]
        row_id = _first_op_target(last.last_message)
        page = await load_page(http, targets["list"].server.base_url, cookie=last.cookie)
        results.row_html = outer_html(page.html, row_id)
        results.throughput = {name: Throughput() for name in targets}
        for round_ in range(s.conc_rounds):
            for name, target in targets.items():
                log(f"throughput: {s.sessions} sessions on {name}, round {round_ + 1}/{s.conc_rounds}")
                await measure_throughput(target, http, s, results.throughput[name])
    results.duration_s = time.perf_counter() - t_start
    results.load_after = os.getloadavg()
    ours = time.process_time() + sum(cpu_seconds(pid) for pid in pids) - ours0
    results.other_cpus = max(0.0, machine_busy_seconds() - busy0 - ours) / results.duration_s
    return results


def _first_op_target(up_text: str) -> str:
    import orjson

    ops = orjson.loads(up_text)["p"]
    if not ops:
        raise RuntimeError("expected the list's last update to carry a patch, it was empty")
    return ops[0][1]


# -- the report ----------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    out = {}
    for name in ("uvicorn", "starlette", "websockets", "orjson", "httpx", "uvloop", "httptools"):
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
    echo, counter, lst = seq["echo"], seq["counter"], seq["list"]
    p50 = {n: seq[n].percentile(50) for n in seq}
    p99 = {n: seq[n].percentile(99) for n in seq}
    cpu1 = {n: seq[n].cpu_us_per_event for n in seq}
    cpu50 = {n: thr[n].cpu_us_per_event for n in thr}
    eps = {n: thr[n].per_second for n in thr}
    row_bytes = len(lst.last_message.encode())
    row_html_bytes = len(r.row_html.encode())
    mem_c, mem_e = mem["counter"], mem["echo"]
    rss_session = mem_c.per_session("rss")
    list_cpu_ratio = cpu1["list"] / cpu1["counter"]
    list_cpu_ratio_50 = cpu50["list"] / cpu50["counter"]

    lines: list[str] = []
    add = lines.append
    add("# livetag benchmarks")
    add("")
    add(f"Measured {r.started:%Y-%m-%d %H:%M} UTC on this project's development machine "
        f"(facts below) in one run of {r.duration_s:.0f} s. Every livetag number sits next to a raw "
        "Starlette WebSocket echo server measured in the same run, on the same machine, with the same client.")
    add("")
    add("Re-run with `.venv/bin/python bench/run.py` (about 70 s on 2 CPUs; it rewrites this file); "
        "`--quick` is a smoke run that only prints. The code is in `bench/`: `servers.py` (the apps, "
        "and a uvicorn process per server on 127.0.0.1:0), `client.py` (livetag's real protocol), "
        "`run.py` (measurements and this report).")
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
        f"{row_bytes} B vs {row_html_bytes} B + {TARGET_ROW_EXTRA_BYTES} = {row_html_bytes + TARGET_ROW_EXTRA_BYTES} B | "
        f"{_verdict(row_bytes <= row_html_bytes + TARGET_ROW_EXTRA_BYTES)} |")
    add(f"| one changed row costs ≤ {TARGET_LIST_CPU_RATIO}x the counter's server CPU per event (one session) | "
        f"{_x(list_cpu_ratio)} ({_us(cpu1['list'])} vs {_us(cpu1['counter'])}) | "
        f"{_verdict(list_cpu_ratio <= TARGET_LIST_CPU_RATIO)} |")
    add(f"| … the same with {s.sessions} concurrent sessions | {_x(list_cpu_ratio_50)} "
        f"({_us(cpu50['list'])} vs {_us(cpu50['counter'])}) | {_verdict(list_cpu_ratio_50 <= TARGET_LIST_CPU_RATIO)} |")
    add("")
    add("## All measurements")
    add("")
    add(f"Ratios are livetag / echo. \"counter\" is `examples/counter.py` (plain `def` handlers, which livetag "
        "runs in a worker thread); \"counter, async\" the same app with `async def` handlers (run on the event "
        f"loop), to show what the thread hop costs; \"list\" is {LIST_ROWS:,} `<li>` rows, each with an id and "
        "text, whose (plain) handler changes the text of one row per event.")
    add("")
    add("| measurement | echo | counter | counter, async | list |")
    add("|---|---:|---:|---:|---:|")

    def row(label: str, values: dict[str, float], fmt: Callable[[float], str], ratio: bool = True) -> None:
        def cell(name: str) -> str:
            if name not in values:
                return "–"
            if name == "echo" or not ratio:
                return fmt(values[name])
            return f"{fmt(values[name])} ({_x(values[name] / values['echo'])})"

        add(f"| {label} | " + " | ".join(cell(n) for n in COLUMNS) + " |")

    row(f"round trip p50, one session ({echo.events:,} events each)", p50, _us)
    row("round trip p99, one session", p99, _us)
    row(f"events/s, {s.sessions} concurrent sessions (median of {s.conc_rounds} × {s.conc_seconds:g} s)", eps,
        lambda v: f"{v:,.0f}/s")
    row("server CPU per event, one session", cpu1, _us)
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
    row("bytes of one update (`up` message text)",
        {n: len(seq[n].last_message.encode()) for n in seq if n != "echo"}, lambda v: f"{v:.0f} B", ratio=False)
    row("HTML of the changed element", {"list": row_html_bytes}, lambda v: f"{v:.0f} B", ratio=False)
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
    add(f"- Changing one row of {LIST_ROWS:,} costs {_x(list_cpu_ratio)} the counter's CPU per event and sends "
        f"{row_bytes - row_html_bytes:+d} bytes relative to the row's HTML"
        + (": the cost follows what changed, not the size of the page."
           if list_cpu_ratio <= TARGET_LIST_CPU_RATIO and row_bytes <= row_html_bytes + TARGET_ROW_EXTRA_BYTES
           else ": more than the change alone explains; the size of the page shows through."))
    add("")
    add("Example messages from this run:")
    add("")
    add(f"- counter update: `{counter.last_message}`")
    add(f"- list update: `{lst.last_message}`")
    add(f"- the changed row as served: `{r.row_html}`")
    add("")
    add("## Method")
    add("")
    add("- Each server runs under uvicorn with its defaults (uvloop, httptools, the `websockets` sans-I/O "
        "protocol) in its own process, bound to 127.0.0.1 on a port the OS chose. The client is one asyncio "
        f"process (uvloop) using `httpx` and `websockets`; permessage-deflate is "
        f"{'accepted by every server (--deflate)' if s.deflate else 'offered by the client, as browsers do, and declined by every server, as livetag runners configure uvicorn (--deflate measures it on)'}.")
    add("- A livetag session is opened as a browser opens it: `GET /` (session cookie; CSRF token and "
        "revision read from `<html>`), WebSocket to `/_lt/ws`, `join`. An event is "
        "`{\"t\":\"ev\",\"s\":n,\"id\":…,\"n\":\"click\",\"d\":{},\"sync\":{}}` and completes when the `up` "
        "with `ack == n` arrives. The echo client sends the same text and waits for it to come back.")
    add("- The livetag apps are served by `WebApp` with its per-session event rate limit lifted (a security "
        "bound sized for people, not for a benchmark client); the limit is still checked on every event.")
    add(f"- Round trips: {s.warmup_events} warm-up events per server, then {s.seq_events:,} timed events per "
        f"server in {s.seq_rounds} blocks interleaved across the servers ("
        + " → ".join(COLUMNS) + ").")
    add(f"- Throughput: {s.sessions} sessions (echo: connections), each sending its next event as soon as the "
        f"previous one is acknowledged; {s.conc_warmup:g} s warm-up, then a {s.conc_seconds:g} s window, "
        f"{s.conc_rounds} rounds interleaved across the servers; events/s and CPU per event are the median "
        f"round. Client and server share the machine's {os.cpu_count()} CPUs, so the events/s are bounded by "
        "the client too: the echo's are the client's limit (see the client CPU row).")
    add("- Server CPU is `utime + stime` of `/proc/<pid>/stat` (all threads, clock-tick resolution) over "
        "the measured events, divided by their number; nothing is subtracted. With one session the server "
        "idles between events, so this includes the cost of waking up for each one (the echo pays it too).")
    add(f"- Memory: 20 warm-up sessions, then `VmRSS` (`/proc/<pid>/status`) and `Pss` "
        f"(`/proc/<pid>/smaps_rollup`) before and after opening {mem_c.sessions:,} sessions "
        f"({s.mem_concurrency} at a time) that stay connected while measured; each echo connection carries "
        "one message each way, as a livetag join does, so that both have touched their compression buffers.")
    add("- Bytes are the length of the `up` message text (before permessage-deflate and WebSocket framing). "
        "The row's HTML is its markup as `GET /` serves it after the change.")
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
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    if args.deflate:
        settings = replace(settings, deflate=True)
    os.environ["LIVETAG_BENCH_DEFLATE"] = "1" if settings.deflate else "0"  # read by the server processes
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)

    # SIGTERM must unwind through the finally below, so the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    servers = {name: ServerProcess(name) for name in COLUMNS}
    try:
        for server in servers.values():
            server.start()
            log(f"{server.name} server: pid {server.pid}, {server.base_url}")
        targets = {
            "echo": Target("echo", servers["echo"], None, settings.deflate),
            "counter": Target("counter", servers["counter"], "inc", settings.deflate),
            "counter-async": Target("counter-async", servers["counter-async"], "inc", settings.deflate),
            "list": Target("list", servers["list"], "change", settings.deflate),
        }
        results = _run(measure_all(targets, settings))
    finally:
        for server in servers.values():
            server.stop()
    report = render_report(results)
    print(report)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report)
        log(f"report written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
