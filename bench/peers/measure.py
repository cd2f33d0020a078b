"""livetag next to htag 2 and NiceGUI, in one interleaved run (issue 11).

Usage: ``.venv/bin/python bench/run.py --peers [--quick] [--output PATH] [--idle N]``
(or ``python -m bench.peers.measure`` with the same options).

Every server runs in its own process under the same uvicorn settings (``serve.py``):
the raw Starlette echo, livetag (this checkout), htag 2.0.28 and NiceGUI, the last two
from their own virtual environments under ``bench/.venvs/`` (built on first use). One
client process (uvloop) drives them all, each over its own protocol (``clients.py``),
in interleaved blocks, and reads each server's CPU time and memory from ``/proc``. The
report (Markdown) goes to stdout and, for full runs, replaces the "Peers" section of
``docs/benchmarks.md`` (other sections are kept). Every server is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import re
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.peers import envs  # noqa: E402
from bench.peers.apps import LIST_ROWS, TABLE_ROWS  # noqa: E402
from bench.peers.clients import HtagSession, NiceguiSession  # noqa: E402
from bench.peers.serve import raise_nofile  # noqa: E402
from bench.run import (  # noqa: E402  # noqa: E402
    Sequential,
    Settings,
    Throughput,
    _bounded,
    _cpu_model,
    _git_revision,
    _run,
    log,
    measure_sequential,
    measure_throughput,
)
from bench.servers import ServerProcess, cpu_seconds, machine_busy_seconds, memory_kib, one_cpu  # noqa: E402
from bench.sessions import EchoSession, WsTab, http_client, id_of_class  # noqa: E402

DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"
HEADING = "Peers: htag and NiceGUI (issue 11)"
IDLE_HEADING = "Idle sessions (issue 11)"
FRAMEWORKS = ("htag", "nicegui", "livetag")
LABEL = {"echo": "echo", "htag": "htag", "nicegui": "NiceGUI", "livetag": "livetag"}


@dataclass(frozen=True)
class PeerSettings:
    counter: Settings = Settings(  # noqa: RUF009 - Settings is frozen: a shared default is safe
        warmup_events=200, seq_events=2000, seq_rounds=4, sessions=50, conc_warmup=0.5, conc_seconds=2.0,
        conc_rounds=3)
    lists: Settings = Settings(warmup_events=5, seq_events=100, seq_rounds=5)  # noqa: RUF009 - frozen, as above
    mem_sessions: int = 1000
    mem_concurrency: int = 16
    open_sessions: int = 300     # sessions opened per round for the sessions/s row
    open_rounds: int = 2
    open_concurrency: int = 16
    table_loads: int = 3         # page loads of the table app per framework
    #: Server processes per counter target for the one-session rows (round trips, CPU):
    #: each figure is the median of theirs (``Spread``).
    rt_processes: int = 3
    quick: bool = False


QUICK = PeerSettings(
    counter=Settings(warmup_events=50, seq_events=400, seq_rounds=2, sessions=50, conc_warmup=0.3, conc_seconds=1.0,
                     conc_rounds=1),
    lists=Settings(warmup_events=2, seq_events=10, seq_rounds=2), mem_sessions=200, open_sessions=60, open_rounds=1,
    table_loads=1, rt_processes=1, quick=True)


# -- targets ------------------------------------------------------------------------------


@dataclass
class PeerTarget:
    """One server of one framework and what its events click (by CSS class). Has what
    ``bench.run.measure_sequential`` / ``measure_throughput`` use: ``name``,
    ``server``, ``transport``, ``open(http)``."""

    name: str
    framework: str  # "echo", "livetag", "htag", "nicegui"
    app: str
    server: ServerProcess
    css_class: str | None
    transport: str = "ws"

    async def open(self, http: httpx.AsyncClient) -> tuple[Any, str]:
        base = self.server.base_url
        if self.framework == "echo":
            return await EchoSession.open(base, deflate=True), "lt5"
        if self.framework == "livetag":
            session = await WsTab.open(http, base, deflate=True)
            return session, id_of_class(session.html, self.css_class or "")
        if self.framework == "htag":
            hsession = await HtagSession.open(http, base)
            return hsession, id_of_class(hsession.html, self.css_class or "")
        nsession = await NiceguiSession.open(http, base)
        return nsession, nsession.element_of_class(self.css_class or "")


def server_command(framework: str, app: str) -> list[str]:
    python = str(envs.python("livetag" if framework == "echo" else framework))
    module = "livetag_apps" if framework == "echo" else f"{framework}_apps"
    return [python, "-m", f"bench.peers.{module}", "echo" if framework == "echo" else app]


def start(name: str, framework: str, app: str, css_class: str | None, env: dict[str, str] | None = None) -> PeerTarget:
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        server = ServerProcess(name, server_command(framework, app)).start(timeout=60)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    log(f"{name}: pid {server.pid}, {server.base_url}")
    return PeerTarget(name, framework, app, server, css_class)


#: Counter targets: (name, framework, app). Round trips, CPU, throughput, memory, opening.
COUNTERS = (("echo", "echo", "echo"), ("htag", "htag", "counter"), ("nicegui", "nicegui", "counter"),
            ("livetag", "livetag", "counter"), ("livetag-async", "livetag", "counter-async"))
#: Counters whose plain handlers call a method of the app: round trips and CPU only
#: (NiceGUI's handlers are its own code: no such variant).
METHOD_COUNTERS = (("htag-method", "htag", "counter-method"), ("livetag-method", "livetag", "counter-method"))
#: The 1,000-item list targets.
LISTS = (("htag-list", "htag", "list"), ("htag-list-keyed", "htag", "list-keyed"), ("nicegui-list", "nicegui", "list"),
         ("livetag-list", "livetag", "list"), ("livetag-list-keyed", "livetag", "list-keyed"))
#: Page loads of the table app: (name, framework, rows). htag's ``init`` builds it in
#: quadratic time (seconds for 2,000 rows), so htag loads the 2,000-row table only.
SMALL_TABLE = TABLE_ROWS // 4
TABLES = (("htag-table-small", "htag", SMALL_TABLE), ("livetag-table-small", "livetag", SMALL_TABLE),
          ("nicegui-table", "nicegui", TABLE_ROWS), ("livetag-table", "livetag", TABLE_ROWS))


# -- results ------------------------------------------------------------------------------


@dataclass
class Memory:
    sessions: int
    before_kib: int
    after_kib: int

    @property
    def per_session_kib(self) -> float:
        return (self.after_kib - self.before_kib) / self.sessions


@dataclass
class Opening:
    """Per round: sessions opened, wall seconds, server CPU seconds."""

    rounds: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return statistics.median(n / t for n, t, _ in self.rounds)

    @property
    def cpu_ms(self) -> float:
        return statistics.median(cpu * 1e3 / n for n, _, cpu in self.rounds)


@dataclass
class TableLoad:
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    page_bytes: int = 0


@dataclass
class ScriptBytes:
    """What a first visit downloads besides the HTML: ``files`` (url -> bytes on the
    wire with ``Accept-Encoding: gzip, deflate, br, zstd``), and the page itself."""

    page_bytes: int = 0
    inline_script_bytes: int = 0
    files: dict[str, int] = field(default_factory=dict)
    identity_bytes: int = 0  # livetag only: the script without compression

    @property
    def total(self) -> int:
        return sum(self.files.values()) + self.inline_script_bytes


@dataclass
class Spread:
    """The one-session round trips of one target, measured on several server processes
    of it. One process may be slow or fast for its whole life (where the scheduler put
    it, on a virtual machine, above all: ``one_cpu``; its hash seed and memory layout),
    so a single process per framework would let that luck decide a ratio, which is why
    pyperf runs many. Each figure is the median of the processes' figures."""

    runs: list[Sequential]

    def percentile(self, p: int) -> float:
        """The median over processes of each one's ``p``-th percentile, in µs."""
        return statistics.median(run.percentile(p) for run in self.runs)

    @property
    def cpu_us_per_event(self) -> float:
        return statistics.median(run.cpu_us_per_event for run in self.runs)

    @property
    def events(self) -> int:
        """Timed events per process."""
        return self.runs[0].events

    @property
    def wire_bytes(self) -> int:
        return self.runs[0].wire_bytes

    @property
    def last_message(self) -> str:
        return self.runs[0].last_message


@dataclass
class PeerResults:
    settings: PeerSettings
    started: datetime.datetime
    #: One-session rows, the client and the servers on one CPU (``one_cpu``): the targets'.
    sequential: dict[str, Spread] = field(default_factory=dict)
    #: The same, each process where the scheduler puts it: a note, not a target.
    sequential_free: dict[str, Spread] = field(default_factory=dict)
    lists: dict[str, Sequential] = field(default_factory=dict)
    throughput: dict[str, Throughput] = field(default_factory=dict)
    memory: dict[str, Memory] = field(default_factory=dict)
    opening: dict[str, Opening] = field(default_factory=dict)
    tables: dict[str, TableLoad] = field(default_factory=dict)
    #: In-process build + render: (framework, rows) -> [(build ms, render ms, HTML bytes)] (CPU time).
    builds: dict[tuple[str, int], list[tuple[float, float, int]]] = field(default_factory=dict)
    scripts: dict[str, ScriptBytes] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    other_cpus: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)


# -- measurements ----------------------------------------------------------------------------


async def measure_memory(target: PeerTarget, http: httpx.AsyncClient, s: PeerSettings) -> Memory:
    """RSS of the server before and after ``s.mem_sessions`` connected sessions (page +
    WebSocket + join; echo: a WebSocket that carried one message each way)."""
    for session, target_id in [await target.open(http) for _ in range(20)]:
        await session.event(target_id)
        await session.close()
    await asyncio.sleep(0.5)
    before = memory_kib(target.server.pid)["rss"]

    async def one() -> Any:
        session, target_id = await target.open(http)
        if target.framework == "echo":
            await session.event(target_id)
        return session

    sessions: list[Any] = []
    try:
        sessions = await _bounded([one] * s.mem_sessions, s.mem_concurrency)
        await asyncio.sleep(1.0)
        after = memory_kib(target.server.pid)["rss"]
    finally:
        await _bounded([session.close for session in sessions], 64)
    return Memory(s.mem_sessions, before, after)


async def measure_opening(target: PeerTarget, http: httpx.AsyncClient, s: PeerSettings, into: Opening) -> None:
    """Open ``s.open_sessions`` sessions, ``s.open_concurrency`` at a time, each as a
    browser does (GET + WebSocket + join); time from the first GET to the last join."""
    pid = target.server.pid
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    opened = await _bounded([lambda: target.open(http)] * s.open_sessions, s.open_concurrency)
    t1, cpu1 = time.perf_counter(), cpu_seconds(pid)
    await _bounded([session.close for session, _ in opened], 64)
    into.rounds.append((s.open_sessions, t1 - t0, cpu1 - cpu0))


async def measure_table(target: PeerTarget, http: httpx.AsyncClient, into: TableLoad) -> None:
    """One page load of the table app (a new session: build + render), its wall time
    and the server CPU it took."""
    pid = target.server.pid
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    response = await http.get(target.server.base_url + "/", headers={"Accept-Encoding": "identity"}, timeout=300)
    t1, cpu1 = time.perf_counter(), cpu_seconds(pid)
    if response.status_code != 200:
        raise RuntimeError(f"expected 200 from {target.name}'s table page, got {response.status_code}")
    into.wall_ms.append((t1 - t0) * 1e3)
    into.cpu_ms.append((cpu1 - cpu0) * 1e3)
    into.page_bytes = len(response.content)


def build_render(framework: str, rows: int, repeats: int) -> list[tuple[float, float, int]]:
    """``bench/peers/buildrender.py`` in ``framework``'s environment: per repeat, CPU
    ms to build the table, CPU ms to render it, and its HTML bytes."""
    import subprocess

    out = subprocess.run([str(envs.python(framework)), "-m", "bench.peers.buildrender", framework, str(rows),
                          str(repeats)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=True).stdout
    results = []
    for line in out.splitlines():
        _, build, _, render, _, size = line.split()
        results.append((float(build), float(render), int(size)))
    return results


_SRC = re.compile(r'<script[^>]*\ssrc="([^"]+)"')
_PRELOAD = re.compile(r'<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"|<link[^>]*href="([^"]+)"[^>]*rel="modulepreload"')
_IMPORTMAP = re.compile(r'<script type="importmap">\s*(\{.*?\})\s*</script>', re.S)
_IMPORTED = re.compile(r'^\s*import\s+(?:[\w*{}\s,]+\s+from\s+)?"([^"./][^"]*)"', re.M)
_INLINE = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.S)
BROWSER_ENCODINGS = "gzip, deflate, br, zstd"


async def wire_bytes(http: httpx.AsyncClient, url: str, accept: str = BROWSER_ENCODINGS) -> int:
    async with http.stream("GET", url, headers={"Accept-Encoding": accept}) as response:
        if response.status_code != 200:
            raise RuntimeError(f"expected 200 from {url}, got {response.status_code}")
        return sum([len(chunk) async for chunk in response.aiter_raw()])


async def measure_scripts(target: PeerTarget, http: httpx.AsyncClient) -> ScriptBytes:
    """The scripts a first visit of ``target``'s page downloads, in bytes on the wire as
    a browser asks for them: ``<script src>``, module preloads, and the import-map
    entries the page's inline modules import; inline scripts counted in the page."""
    import json

    base = target.server.base_url
    response = await http.get(base + "/", headers={"Accept-Encoding": "identity"})
    html = response.text
    out = ScriptBytes(page_bytes=await wire_bytes(http, base + "/"))
    urls = _SRC.findall(html) + [a or b for a, b in _PRELOAD.findall(html)]
    importmap = _IMPORTMAP.search(html)
    if importmap:
        imports = json.loads(importmap.group(1)).get("imports", {})
        for inline in _INLINE.findall(html):
            urls += [imports[name] for name in _IMPORTED.findall(inline) if name in imports]
    for url in dict.fromkeys(urls):
        out.files[url] = await wire_bytes(http, base + url if url.startswith("/") else url)
    # Inline scripts worth counting (htag's client): the big ones, not NiceGUI's bootstrap lines.
    out.inline_script_bytes = sum(len(s.encode()) for s in _INLINE.findall(html) if len(s) > 4000)
    if target.framework == "livetag":
        out.identity_bytes = await wire_bytes(http, base + urls[0], accept="identity")
    return out


async def measure_all(s: PeerSettings) -> PeerResults:
    r = PeerResults(s, datetime.datetime.now(datetime.UTC))
    r.versions = envs.versions()
    t_start = time.perf_counter()
    busy0, load0 = machine_busy_seconds(), os.getloadavg()[0]
    counters = {name: start(name, fw, app, "inc" if fw != "echo" else None) for name, fw, app in COUNTERS}
    lists: dict[str, PeerTarget] = {}
    pids: list[int] = []
    ours0 = time.process_time()
    try:
        lists = {name: start(name, fw, app, "change") for name, fw, app in LISTS}
        pids = [t.server.pid for t in (*counters.values(), *lists.values())]
        cpu_start = sum(cpu_seconds(pid) for pid in pids)
        async with http_client() as http:
            for name in ("htag", "nicegui", "livetag"):
                log(f"client script bytes: {name}")
                r.scripts[name] = await measure_scripts(counters[name], http)
            for name in ("echo", "htag", "nicegui", "livetag"):
                log(f"memory: {s.mem_sessions} sessions on {name}")
                r.memory[name] = await measure_memory(counters[name], http, s)
            r.opening = {name: Opening() for name in ("htag", "nicegui", "livetag")}
            for round_ in range(s.open_rounds):
                for name in r.opening:
                    log(f"sessions opened/s: {s.open_sessions} on {name}, round {round_ + 1}/{s.open_rounds}")
                    await measure_opening(counters[name], http, s, r.opening[name])
            c = s.counter
            # Servers for the one-session rows only (the method counters, the extra
            # processes), each stopped afterwards even if a later one fails to start.
            extra: dict[str, PeerTarget] = {}
            try:
                for name, fw, app in METHOD_COUNTERS:
                    extra[name] = start(name, fw, app, "inc")
                one_session = {**counters, **extra}
                for k in range(2, s.rt_processes + 1):
                    for name, t in one_session.items():
                        extra[f"{name}#{k}"] = start(f"{name}#{k}", t.framework, t.app, t.css_class)
                log(f"round trips: {c.seq_events} sequential events per counter on each of {s.rt_processes} "
                    f"processes, {c.seq_rounds} interleaved blocks")
                targets = [*counters.values(), *extra.values()]
                with one_cpu(t.server.pid for t in targets) as cpu:
                    log(f"round trips with the client and the servers on CPU {cpu}")
                    seq = await measure_sequential(targets, http, c)  # type: ignore[arg-type]
                log("round trips again, each process on the CPUs the scheduler picks")
                free = await measure_sequential(targets, http, c)  # type: ignore[arg-type]
            finally:
                for t in extra.values():
                    t.server.stop()
            r.sequential, r.sequential_free = ({name: Spread([q for n, q in runs.items() if n.split("#")[0] == name])
                                                for name in one_session} for runs in (seq, free))
            log(f"lists: {s.lists.seq_events} sequential events per list, {s.lists.seq_rounds} interleaved blocks")
            r.lists = await measure_sequential(list(lists.values()), http, s.lists)  # type: ignore[arg-type]
            r.throughput = {name: Throughput() for name in counters}
            for round_ in range(c.conc_rounds):
                for name, target in counters.items():
                    log(f"throughput: {c.sessions} sessions on {name}, round {round_ + 1}/{c.conc_rounds}")
                    await measure_throughput(target, http, c, r.throughput[name])  # type: ignore[arg-type]
        cpu_end = sum(cpu_seconds(pid) for pid in pids)
    finally:
        for t in (*counters.values(), *lists.values()):
            t.server.stop()
    # The tables last, on their own: a page load of htag's or NiceGUI's takes seconds.
    for fw, rows in (("livetag", TABLE_ROWS), ("livetag", SMALL_TABLE), ("htag", TABLE_ROWS)):
        log(f"build + render in-process: {rows:,} x 3 with {fw}, {s.table_loads} times")
        r.builds[(fw, rows)] = build_render(fw, rows, s.table_loads)
    tables = {name: start(name, fw, "table", None, {"LIVETAG_BENCH_TABLE_ROWS": str(rows)})
              for name, fw, rows in TABLES}
    try:
        async with http_client() as http:
            r.tables = {name: TableLoad() for name in tables}
            for i in range(s.table_loads):
                for name, target in tables.items():
                    if name.startswith("htag") and i > 0:
                        continue  # one load of htag's is seconds of a shared CPU
                    log(f"table page load: {name}, load {i + 1}/{s.table_loads}")
                    await measure_table(target, http, r.tables[name])
    finally:
        for t in tables.values():
            t.server.stop()
    r.duration_s = time.perf_counter() - t_start
    ours = time.process_time() - ours0 + (cpu_end - cpu_start)
    r.other_cpus = max(0.0, machine_busy_seconds() - busy0 - ours) / r.duration_s
    r.load = (load0, os.getloadavg()[0])
    return r


# -- the report -----------------------------------------------------------------------------


def _us(v: float) -> str:
    return f"{v:,.0f} µs" if v >= 10 else f"{v:,.1f} µs"


def _ms(v: float) -> str:
    return f"{v:,.1f} ms" if v < 100 else f"{v:,.0f} ms"


def _kib(v: float) -> str:
    return f"{v:,.1f} KiB"


def _b(v: float) -> str:
    return f"{v:,.0f} B"


def ratios(value: float, peers: dict[str, float]) -> str:
    """``" (0.62x htag · 0.30x NiceGUI)"``: livetag's value over each peer's."""
    parts = [f"{value / v:.2f}x {LABEL[k]}" for k, v in peers.items() if v]
    return f" ({' · '.join(parts)})" if parts else ""


def render(r: PeerResults) -> str:
    s = r.settings
    seq, lists, thr, mem, opn = r.sequential, r.lists, r.throughput, r.memory, r.opening
    p50 = {n: q.percentile(50) for n, q in seq.items()}
    p99 = {n: q.percentile(99) for n, q in seq.items()}
    cpu1 = {n: q.cpu_us_per_event for n, q in seq.items()}
    eps = {n: t.per_second for n, t in thr.items()}
    cpu50 = {n: t.cpu_us_per_event for n, t in thr.items()}
    lcpu = {n: q.cpu_us_per_event / 1000 for n, q in lists.items()}  # ms
    lbytes = {n: q.wire_bytes for n, q in lists.items()}
    tcpu = {n: statistics.median(t.cpu_ms) for n, t in r.tables.items()}
    v = r.versions
    lines: list[str] = []
    add = lines.append
    add(f"## {HEADING}")
    add("")
    add(f"Measured {r.started:%Y-%m-%d %H:%M} UTC in one run of {r.duration_s:.0f} s with "
        f"`.venv/bin/python bench/run.py --peers{' --quick' if s.quick else ''}`"
        + (" (**quick run: few samples, not representative**)" if s.quick else "") + ". "
        f"htag {v.get('htag', '?')} and NiceGUI {v.get('nicegui', '?')} run from their own virtual environments "
        "(`bench/.venvs/`, built on first use); each framework serves the same apps (`bench/peers/apps.py` for "
        "livetag and htag: the same class bodies, only the import differs; `bench/peers/nicegui_apps.py` in "
        "NiceGUI's idiom) under the same uvicorn settings (uvloop, httptools, `websockets` sans-I/O, no "
        f"permessage-deflate), one process each ({s.rt_processes} each for the one-session rows: the median of "
        "theirs), driven by one client process over each framework's own "
        "protocol, in interleaved blocks. The machine is shared (conditions below): read the ratios, not the "
        "absolute numbers.")
    add("")
    hd, ng = "htag", "nicegui"
    add(f"| measure | echo | htag {v.get('htag', '')} | NiceGUI {v.get('nicegui', '')} | livetag `def` "
        "(× htag · × NiceGUI) | livetag `async def` (× htag · × NiceGUI) |")
    add("|---|---:|---:|---:|---:|---:|")

    def row(label: str, vals: dict[str, float], fmt: Callable[[float], str], peers: tuple[str, str] = (hd, ng),
            names: tuple[str, str, str, str, str] = ("echo", "htag", "nicegui", "livetag", "livetag-async"),
            notes: dict[str, str] | None = None) -> None:
        notes = notes or {}
        cells = []
        for i, n in enumerate(names):
            if n in notes:
                cells.append(notes[n])
            elif n not in vals:
                cells.append("–")
            elif i >= 3:
                cells.append(fmt(vals[n]) + ratios(vals[n], {p.split("-")[0]: vals[p] for p in peers if p in vals}))
            else:
                cells.append(fmt(vals[n]))
        add(f"| {label} | " + " | ".join(cells) + " |")

    c = s.counter
    per = f"{seq['echo'].events:,} events" + (f" on each of {s.rt_processes} processes" if s.rt_processes > 1 else "")
    row(f"counter click round trip p50 ({per}, one session)", p50, _us)
    row("counter click round trip p99", p99, _us)
    row("same p50 with each process on the CPU the scheduler picks (not a target: see the notes)",
        {n: q.percentile(50) for n, q in r.sequential_free.items()}, _us)
    row("server CPU per event, one session", cpu1, _us)
    method_names = ("x", "htag-method", "x", "livetag-method", "x")
    method_note = {"x": "–"}
    row("counter whose plain handlers call a method of the app (`self.show()`): round trip p50", p50, _us,
        ("htag-method",), method_names, method_note)
    row("same, server CPU per event, one session", cpu1, _us, ("htag-method",), method_names, method_note)
    row(f"events/s, {c.sessions} sessions (median of {c.conc_rounds} × {c.conc_seconds:g} s; client-bound, see below)",
        eps, lambda x: f"{x:,.0f}/s")
    row(f"server CPU per event, {c.sessions} sessions", cpu50, _us)
    row(f"RSS per connected session ({s.mem_sessions:,} sessions; echo: per connection)",
        {n: m.per_session_kib for n, m in mem.items()}, _kib,
        notes={"livetag-async": "same app as `def`"})
    row(f"sessions opened/s (GET + WebSocket + join, {s.open_concurrency} at a time, {s.open_sessions} per round)",
        {n: o.per_second for n, o in opn.items()}, lambda x: f"{x:,.0f}/s",
        notes={"echo": "–", "livetag-async": "same app as `def`"})
    row("server CPU per session opened", {n: o.cpu_ms for n, o in opn.items()}, _ms,
        notes={"livetag-async": "same app as `def`"})
    no_key = "no keyed reconciliation (`@ui.refreshable` is its idiom: see the row above)"
    list_names = ("echo", "htag-list", "nicegui-list", "livetag-list", "x")
    keyed_names = ("echo", "htag-list-keyed", "nicegui-list-keyed", "livetag-list-keyed", "x")
    list_note = {"echo": "–", "x": "handlers are `def`"}
    row(f"{LIST_ROWS:,}-row list from `lambda: [Tag.li(x) for x in self.items]`, one item changed: bytes down "
        f"(NiceGUI: `@ui.refreshable`)", lbytes, _b, ("htag-list", "nicegui-list"), list_names, list_note)
    row("same, server CPU per event", lcpu, _ms, ("htag-list", "nicegui-list"), list_names, list_note)
    row("same with `key=` on each `<li>`: bytes down (htag ignores `key=`)", lbytes, _b,
        ("htag-list-keyed",), keyed_names, {**list_note, "nicegui-list-keyed": no_key})
    row("same with `key=`: server CPU per event", lcpu, _ms, ("htag-list-keyed",), keyed_names,
        {**list_note, "nicegui-list-keyed": no_key})
    # The least repeat, as timeit advises for CPU time: other work on a shared machine only adds.
    def least(fw: str, rows: int) -> tuple[float, float]:
        return min(((b, rr) for b, rr, _ in r.builds[(fw, rows)]), key=sum)

    def build(fw: str, rows: int) -> float:
        return sum(least(fw, rows))

    def split(fw: str, rows: int) -> str:
        b, rr = least(fw, rows)
        return f"{_ms(b + rr)} ({_ms(b)} + {_ms(rr)})"

    small = SMALL_TABLE
    h8, l8, l2 = build("htag", TABLE_ROWS), build("livetag", TABLE_ROWS), build("livetag", small)
    add(f"| build + render a table of {TABLE_ROWS:,} rows × 3 cells in-process (CPU: build + `str()`; least of "
        f"{s.table_loads}) | – | {split('htag', TABLE_ROWS)} | elements exist only inside a page: see the next row | "
        f"{split('livetag', TABLE_ROWS)}{ratios(l8, {'htag': h8})} | same |")
    lt_small, lt_big = tcpu["livetag-table-small"], tcpu["livetag-table"]
    add(f"| page load of the table app (a new session: `init` builds it, the page renders it): server CPU | – | "
        f"{small:,} rows: {_ms(tcpu['htag-table-small'])} (its `init` build grows quadratically: {TABLE_ROWS:,} "
        f"rows not run) | {_ms(tcpu['nicegui-table'])} | {_ms(lt_big)}{ratios(lt_big, {'nicegui': tcpu['nicegui-table']})}; "
        f"{small:,} rows: {_ms(lt_small)}{ratios(lt_small, {'htag': tcpu['htag-table-small']})} | same |")
    add(f"| same, page bytes (uncompressed) | – | {small:,} rows: {_b(r.tables['htag-table-small'].page_bytes)} | "
        f"{_b(r.tables['nicegui-table'].page_bytes)} | {_b(r.tables['livetag-table'].page_bytes)}; {small:,} rows: "
        f"{_b(r.tables['livetag-table-small'].page_bytes)} | same |")
    sc = r.scripts
    script_cells = {
        "htag": f"{sc['htag'].inline_script_bytes:,} B inline in every page (page {sc['htag'].page_bytes:,} B, "
                "not compressed)",
        "nicegui": f"{sc['nicegui'].total:,} B in {len(sc['nicegui'].files)} files, gzip (page "
                   f"{sc['nicegui'].page_bytes:,} B)",
    }
    lt = sc["livetag"]
    add(f"| client script on the wire, first visit | – | {script_cells['htag']} | {script_cells['nicegui']} | "
        f"{lt.total:,} B gzip ({lt.identity_bytes:,} B uncompressed), immutable under `?v=`; page "
        f"{lt.page_bytes:,} B{ratios(lt.total, {'htag': sc['htag'].inline_script_bytes, 'nicegui': sc['nicegui'].total})}"
        " | same |")
    add("")
    add("Targets of issue 11 that this run measures:")
    add("")
    add("| target | measured | result |")
    add("|---|---|---|")

    def verdict(ok: bool) -> str:
        return "**PASS**" if ok else "**MISS**"

    def target(text: str, measured: str, ok: bool) -> None:
        add(f"| {text} | {measured} | {verdict(ok)} |")

    x = lambda a, b: a / b  # noqa: E731
    target("`def` handlers: round trip p50 ≤ htag's", f"{_us(p50['livetag'])} vs {_us(p50['htag'])} = "
           f"{x(p50['livetag'], p50['htag']):.2f}x", p50["livetag"] <= p50["htag"])
    target("`def` handlers: server CPU per event ≤ htag's (one session)", f"{_us(cpu1['livetag'])} vs "
           f"{_us(cpu1['htag'])} = {x(cpu1['livetag'], cpu1['htag']):.2f}x", cpu1["livetag"] <= cpu1["htag"])
    target("`def` handlers that call a method: round trip p50 ≤ htag's", f"{_us(p50['livetag-method'])} vs "
           f"{_us(p50['htag-method'])} = {x(p50['livetag-method'], p50['htag-method']):.2f}x",
           p50["livetag-method"] <= p50["htag-method"])
    target("`def` handlers that call a method: server CPU per event ≤ htag's", f"{_us(cpu1['livetag-method'])} vs "
           f"{_us(cpu1['htag-method'])} = {x(cpu1['livetag-method'], cpu1['htag-method']):.2f}x",
           cpu1["livetag-method"] <= cpu1["htag-method"])
    target("`async def` handlers: round trip p50 ≤ 0.8x htag's", f"{_us(p50['livetag-async'])} = "
           f"{x(p50['livetag-async'], p50['htag']):.2f}x", p50["livetag-async"] <= 0.8 * p50["htag"])
    target("`async def` handlers: server CPU per event ≤ 0.8x htag's", f"{_us(cpu1['livetag-async'])} = "
           f"{x(cpu1['livetag-async'], cpu1['htag']):.2f}x", cpu1["livetag-async"] <= 0.8 * cpu1["htag"])
    target(f"{c.sessions} sessions: events/s ≥ 1.5x htag's (`def`)", f"{eps['livetag']:,.0f}/s vs "
           f"{eps['htag']:,.0f}/s = {x(eps['livetag'], eps['htag']):.2f}x (client-bound: see below)",
           eps["livetag"] >= 1.5 * eps["htag"])
    target(f"{c.sessions} sessions: server CPU per event ≤ htag's / 1.5 (what 1.5x events/s needs when the "
           "server is the bottleneck)", f"{_us(cpu50['livetag'])} vs {_us(cpu50['htag'])} = "
           f"{x(cpu50['livetag'], cpu50['htag']):.2f}x", cpu50["livetag"] <= cpu50["htag"] / 1.5)
    lt_kib, echo_kib = mem["livetag"].per_session_kib, mem["echo"].per_session_kib
    target("a connected session costs ≤ the echo's connection + 4 KiB", f"{_kib(lt_kib)} vs {_kib(echo_kib)} + 4 = "
           f"{_kib(echo_kib + 4)} (+{lt_kib - echo_kib:.1f} KiB)", lt_kib <= echo_kib + 4)
    target("sessions opened per second ≥ htag's", f"{opn['livetag'].per_second:,.0f}/s vs "
           f"{opn['htag'].per_second:,.0f}/s = {x(opn['livetag'].per_second, opn['htag'].per_second):.2f}x",
           opn["livetag"].per_second >= opn["htag"].per_second)
    row_html = len(f"<li id=\"lt123\">row {LIST_ROWS - 1} changed 9999</li>")
    target(f"list without keys: one item changed sends ≤ that row's HTML + 64 B (~{row_html} + 64 B)",
           _b(lbytes["livetag-list"]), lbytes["livetag-list"] <= row_html + 64)
    target("list without keys: ≤ 2 ms server CPU per event", _ms(lcpu["livetag-list"]), lcpu["livetag-list"] <= 2)
    target("list with keys: ≤ 1.5 ms server CPU per event", _ms(lcpu["livetag-list-keyed"]),
           lcpu["livetag-list-keyed"] <= 1.5)
    target(f"{TABLE_ROWS:,} × 3 table built and rendered in ≤ 80 ms (in-process CPU)", _ms(l8), l8 <= 80)
    target("… linear in rows", f"{small:,} rows: {_ms(l2)}; {TABLE_ROWS:,}: {_ms(l8)} ({l8 / l2:.2f}x for "
           f"{TABLE_ROWS / small:.0f}x the rows)", l8 / l2 <= 1.15 * TABLE_ROWS / small)
    target("client script compressed, immutable under `?v=`, ≤ 10 KB transferred", f"{lt.total:,} B",
           lt.total <= 10 * 1024)
    add("")
    add("Notes computed from this run:")
    add("")
    if s.rt_processes > 1:
        for title, runs in (("on one CPU", seq), ("on the CPUs the scheduler picks", r.sequential_free)):
            add(f"- One session {title}, each server process (round trip p50 / server CPU per event): " + "; ".join(
                f"{n}: " + ", ".join(f"{_us(q.percentile(50))} / {_us(q.cpu_us_per_event)}" for q in spread.runs)
                for n, spread in runs.items()) + ".")
    add(f"- The events/s rows are bounded by the client: during the {c.sessions}-session rounds the client "
        "process used " + ", ".join(f"{LABEL.get(n.split('-')[0], n)}{' async' if n.endswith('async') else ''} "
                                     f"{100 * t.client_share:.0f} %" for n, t in thr.items())
        + " of a CPU and each server " + ", ".join(f"{100 * t.server_share:.0f} %" for t in thr.values())
        + " (same order), on 2 CPUs shared with other work. The server CPU per event is the fairer comparison; "
        "NiceGUI's client (`python-socketio` on `aiohttp`) costs more per event than the `websockets` client of "
        "the others.")
    add(f"- Memory: server RSS before → after the {s.mem_sessions:,} sessions: " + "; ".join(
        f"{LABEL[n]} {m.before_kib / 1024:.1f} → {m.after_kib / 1024:.1f} MiB" for n, m in mem.items()) + ".")
    add("- Bytes of one update as it travelled: counter " + ", ".join(
        f"{LABEL.get(n.split('-')[0], n)}{' async' if n.endswith('async') else ''} {q.wire_bytes} B"
        for n, q in seq.items() if n != "echo" and not n.endswith("-method")) + "; example messages: "
        + "; ".join(f"{n}: `{q.last_message[:120]}{'…' if len(q.last_message) > 120 else ''}`"
                    for n, q in seq.items() if n in ("htag", "nicegui", "livetag")) + ".")
    add("- The list rows: htag re-renders the whole `<ul>` (its 1,000 `<li>` as HTML) on every change, keys or "
        "not; NiceGUI's `rows.refresh()` deletes the 1,000 elements and sends 1,000 new element dicts; livetag "
        "without keys " + ("sends one op per changed position" if lbytes["livetag-list"] < 2000 else
                           "removes and re-inserts every row (new tags, matched by identity)")
        + ", with keys only the changed row. Last list updates: " + "; ".join(
            f"{n} {q.wire_bytes:,} B: `{q.last_message[:90]}…`" for n, q in lists.items()) + ".")
    sc_files = ", ".join(f"`{u.rsplit('/', 1)[-1]}` {b:,} B" for u, b in sc["nicegui"].files.items())
    add(f"- Client scripts: livetag `{next(iter(lt.files)).split('?')[0]}` {lt.total:,} B (gzip; "
        f"{lt.identity_bytes:,} B as is), then cached as immutable; htag inlines {sc['htag'].inline_script_bytes:,} B "
        f"of script in every page and does not compress; NiceGUI: {sc_files} (gzip, immutable).")
    add("- Build + render in-process, every repeat (build / render CPU ms): " + "; ".join(
        f"{fw} {rows:,} rows: " + ", ".join(f"{b:,.0f}/{rr:,.0f}" for b, rr, _ in runs)
        for (fw, rows), runs in r.builds.items()) + ".")
    add("- Table page loads (wall / server CPU, every load): " + "; ".join(
        f"{n}: " + ", ".join(f"{w:,.0f}/{cc:,.0f} ms" for w, cc in zip(t.wall_ms, t.cpu_ms, strict=False))
        for n, t in r.tables.items()) + ". A page load is a new session: the app's `init` builds the tree "
        "(NiceGUI: the page function builds the elements), then the page is rendered (NiceGUI: elements as JSON "
        "for its Vue app).")
    add("")
    add("Method: round trips as in the sections above (one session per target, "
        f"{c.warmup_events} warm-up events, {c.seq_events:,} timed in {c.seq_rounds} blocks interleaved across "
        f"targets; the counters on {s.rt_processes} server processes each, all interleaved, each figure the "
        "median of the processes' figures, as one process may be slow or fast for its whole life; the client "
        "and every counter's server process (all their threads) on one CPU while the one-session rows are "
        "measured (`bench.servers.one_cpu`), then once more unpinned for the row that says so: on this virtual "
        "machine, waking a process on the other, idle vCPU costs tens of µs, and the scheduler keeps each process "
        "where it first put it, so unpinned processes of identical work draw round trips from two clusters about "
        "20 µs apart; lists: "
        f"{s.lists.seq_events} timed in {s.lists.seq_rounds} blocks after {s.lists.warmup_events} "
        "warm-up). Server CPU is the server process's CPU clock over the measured events. An htag event is "
        "`{\"id\":…,\"event\":\"click\",\"data\":{\"callback_id\":…}}`, done when the update with that "
        "`callback_id` arrives; a NiceGUI event is socket.io `42[\"event\",{id,client_id,listener_id,args}]`, "
        "done at the next `update`; a livetag event is `{\"t\":\"ev\",\"s\":…,\"id\":…,\"n\":\"click\",…}`, done at the "
        "`up` (or `ack`) acknowledging it. Each client does the same per event: one JSON message out, frames in, "
        "each parsed once, until the answer (livetag: `bench.sessions.WsTab`, not the test client `Tab`, which "
        "also arms a timeout per message and keeps a page model). A session is opened as its browser script opens "
        "it, by a client that does only that: htag `GET /` + WebSocket `/ws` + its first full update; NiceGUI "
        "`GET /` + socket.io connect with the implicit handshake; livetag `GET /` + WebSocket + `join` and its "
        "reply (`WsTab.open`: the token and revision read from the page, as htag's client reads its cookie). "
        "Memory: RSS (`/proc/<pid>/status`) after 20 warm-up sessions, then with "
        f"{s.mem_sessions:,} sessions connected. Script bytes: the raw body of each request with "
        f"`Accept-Encoding: {BROWSER_ENCODINGS}`.")
    add("")
    add(f"Conditions: {os.cpu_count()} CPUs ({_cpu_model()}), {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}; " + ", ".join(f"{k} {val}" for k, val in v.items())
        + f"; livetag at `{_git_revision()}`. Other processes kept {r.other_cpus:.2f} of the "
        f"{os.cpu_count()} CPUs busy on average during the run (load average {r.load[0]:.2f} before, "
        f"{r.load[1]:.2f} after).")
    add("")
    return "\n".join(lines)


#: Sections of issue 11 kept together at the top of the report, in this order.
ISSUE_11_SECTIONS = (HEADING, "Where livetag misses issue 11's targets", IDLE_HEADING)


def replace_section(text: str, heading: str, section: str) -> str:
    """``text`` with its ``## heading`` section replaced by ``section``; when absent,
    ``section`` is inserted after the issue-11 sections at the top (before the first
    other ``## `` section)."""
    parts = re.split(r"(?m)^(?=## )", text)
    for i, part in enumerate(parts):
        if part.startswith(f"## {heading}\n"):
            parts[i] = section.rstrip("\n") + "\n\n"
            return "".join(parts)
    i = 1
    while i < len(parts) and parts[i][3:].startswith(ISSUE_11_SECTIONS):
        i += 1
    return "".join(parts[:i]) + section.rstrip("\n") + "\n\n" + "".join(parts[i:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", action="store_true", help=argparse.SUPPRESS)  # when called through run.py
    parser.add_argument("--quick", action="store_true", help="a short smoke run; does not write the docs")
    parser.add_argument("--output", type=Path, default=None, help="where to write the report (default: "
                        f"{DEFAULT_OUTPUT.relative_to(ROOT)}; a --quick run writes nothing unless given)")
    parser.add_argument("--idle", type=int, default=0, metavar="N",
                        help="instead of the peers run: hold N idle livetag sessions on one WebApp process")
    parser.add_argument("--deflate", action="store_true", help="let every server accept permessage-deflate")
    args = parser.parse_args(argv)
    os.environ["LIVETAG_BENCH_DEFLATE"] = "1" if args.deflate else "0"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    raise_nofile()
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    envs.ensure_all(log)
    if args.idle:
        from bench.peers.idle import IDLE_HEADING as heading
        from bench.peers.idle import run_idle

        section = run_idle(args.idle, quick=args.quick)
    else:
        heading = HEADING
        section = render(_run(measure_all(QUICK if args.quick else PeerSettings())))  # type: ignore[arg-type]
    print(section)
    if output is not None:
        text = output.read_text() if output.exists() else "# livetag benchmarks\n\n"
        output.write_text(replace_section(text, heading, section))
        log(f"report written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
