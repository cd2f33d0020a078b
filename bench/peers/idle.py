"""Many idle sessions on one livetag ``WebApp`` process (issue 11: 100,000 within 4 GB,
one of them still answering an event in ≤ 50 ms p99).

Run through ``.venv/bin/python bench/run.py --peers --idle N``. The server is the counter
(``bench/peers/livetag_apps.py idle``: session cap and idle timeout raised through
``WebApp``'s options). Client worker processes (``python -m bench.peers.idle --worker``)
each open up to ``PER_WORKER`` sessions as a browser does (``GET /``, WebSocket,
``join``), from their own source address (127.0.0.2, 127.0.0.3, …: a source address
has ~28,000 ephemeral ports), and keep them open, idle. Every process raises its soft
``RLIMIT_NOFILE`` to the hard limit (the library does not); the hard limit itself needs
privileges, and bounds what one server process can hold. The parent samples the
server's RSS as sessions accumulate, then times events on one more session while all
the others stay connected, and reports where opening stopped if it did.
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IDLE_HEADING = "Idle sessions (issue 11)"
PER_WORKER = 8000
CONCURRENCY = 32
MAX_ERRORS = 50


# -- worker ---------------------------------------------------------------------------------


async def _worker(base_url: str, count: int, source: str) -> None:
    import httpx

    from livetag.testing.wire import Tab, no_cookie_client

    transport = httpx.AsyncHTTPTransport(local_address=source, limits=httpx.Limits(max_connections=CONCURRENCY))
    held: list[object] = []
    opened = 0
    failed: str | None = None
    async with no_cookie_client(timeout=60, transport=transport) as http:
        async def one() -> None:
            nonlocal opened
            tab = Tab(base_url, http, timeout=60, track_page=False)
            await tab.load()
            await tab.connect(local_addr=(source, 0))
            await tab.join()
            held.append(tab)
            opened += 1
            if opened % 500 == 0:
                print(f"OPENED {opened}", flush=True)

        queue = iter(range(count))

        errors = 0

        async def lane() -> None:
            # A failed opening is retried (a pooled keep-alive connection that the server
            # closed while the machine stalled shows up as ReadError); the worker stops
            # after MAX_ERRORS failures in a row: that is where it broke.
            nonlocal failed, errors
            for _ in queue:
                for _attempt in range(3):
                    if failed:
                        return
                    try:
                        await one()
                        errors = 0
                        break
                    except Exception as exc:
                        errors += 1
                        if errors >= MAX_ERRORS:
                            failed = f"{type(exc).__name__}: {exc}"[:300]
                            return
                        await asyncio.sleep(0.2)

        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
        if failed:
            print(f"ERROR {failed}", flush=True)
        print(f"DONE {opened}", flush=True)
        # Hold the connections until the parent closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def _raise_nofile() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# -- parent -----------------------------------------------------------------------------------


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def run_idle(n: int, quick: bool = False) -> str:
    """Open ``n`` idle sessions on one livetag server; return the report section."""
    from bench.peers.measure import server_command
    from bench.run import _run, log
    from bench.servers import ServerProcess, cpu_seconds, memory_kib
    from bench.sessions import http_client, id_of_class, open_tab

    hard = _raise_nofile()
    server = ServerProcess("idle", server_command("livetag", "idle")).start(timeout=60)
    log(f"idle server: pid {server.pid}, {server.base_url}; RLIMIT_NOFILE hard limit {hard:,}")
    workers: list[subprocess.Popen[str]] = []
    progress: dict[int, int] = {}
    errors: dict[int, str] = {}
    done: dict[int, int] = {}
    lock = threading.Lock()
    samples: list[tuple[float, int, int, int]] = []  # (seconds, sessions, rss KiB, fds)
    t0 = time.perf_counter()
    try:
        before = memory_kib(server.pid)
        per_worker = min(PER_WORKER, hard - 200)
        for w in range(math.ceil(n / per_worker)):
            count = min(per_worker, n - w * per_worker)
            proc = subprocess.Popen([sys.executable, "-m", "bench.peers.idle", "--worker", server.base_url, str(count),
                                     f"127.0.0.{2 + w}"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True)
            workers.append(proc)

            def read(w: int = w, proc: subprocess.Popen[str] = proc) -> None:
                assert proc.stdout is not None
                for line in proc.stdout:
                    kind, _, rest = line.strip().partition(" ")
                    with lock:
                        if kind == "OPENED":
                            progress[w] = int(rest)
                        elif kind == "ERROR":
                            errors[w] = rest
                        elif kind == "DONE":
                            done[w] = progress[w] = int(rest)

            threading.Thread(target=read, daemon=True).start()
        next_log = 0.0
        while len(done) < len(workers) and all(p.poll() is None for p in workers):
            time.sleep(0.5)
            with lock:
                total = sum(progress.values())
            samples.append((time.perf_counter() - t0, total, memory_kib(server.pid)["rss"], _fds(server.pid)))
            if time.perf_counter() > next_log:
                log(f"idle: {total:,} sessions open, server RSS {samples[-1][2] / 1024:,.0f} MiB, "
                    f"{samples[-1][3]:,} fds")
                next_log = time.perf_counter() + 5
        open_s = time.perf_counter() - t0
        with lock:
            total = sum(done.values()) if len(done) == len(workers) else sum(progress.values())
        time.sleep(2.0)
        after = memory_kib(server.pid)
        fds = _fds(server.pid)
        log(f"idle: {total:,} sessions held; timing events on one more session")

        async def probe() -> tuple[list[float], float, str]:
            async with http_client() as http:
                session = await open_tab(http, server.base_url, "ws", deflate=False)
                target = id_of_class(session.html, "inc")
                for _ in range(50):
                    await session.event(target)
                lat = []
                cpu0 = cpu_seconds(server.pid)
                for _ in range(200 if quick else 1000):
                    t = time.perf_counter()
                    await session.event(target)
                    lat.append((time.perf_counter() - t) * 1e3)
                cpu = (cpu_seconds(server.pid) - cpu0) * 1e6 / len(lat)
                await session.close()
                return lat, cpu, ""

        try:
            latencies, cpu_us, probe_error = _run(probe())  # type: ignore[arg-type]
        except Exception as exc:
            latencies, cpu_us, probe_error = [], 0.0, f"{type(exc).__name__}: {exc}"
    finally:
        for proc in workers:
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(10)
            except (subprocess.TimeoutExpired, OSError):
                proc.kill()
                proc.wait()
        server.stop()

    per_session = (after["rss"] - before["rss"]) / max(total, 1)
    lines = [f"## {IDLE_HEADING}", ""]
    lines.append(f"Run with `.venv/bin/python bench/run.py --peers --idle {n}`: one livetag `WebApp` process (the "
                 "counter app; session cap and idle timeout raised through `WebApp`'s options), "
                 f"{len(workers)} client processes opening sessions as a browser does (`GET /`, WebSocket, `join`) "
                 f"from source addresses 127.0.0.2–127.0.0.{1 + len(workers)}, {CONCURRENCY} at a time each, then "
                 "holding them idle; then one more session times "
                 f"{len(latencies):,} sequential events while all others stay connected.")
    lines.append("")
    lines.append("| measure | value |")
    lines.append("|---|---:|")
    lines.append(f"| sessions asked for / held | {n:,} / {total:,} |")
    lines.append(f"| time to open them | {open_s:,.0f} s ({total / open_s:,.0f}/s) |")
    lines.append(f"| server RSS before → with them | {before['rss'] / 1024:,.0f} → {after['rss'] / 1024:,.0f} MiB |")
    lines.append(f"| RSS per idle session | {per_session:,.1f} KiB |")
    lines.append(f"| … extrapolated to 100,000 sessions | {per_session * 100_000 / 1024 / 1024:,.2f} GiB "
                 f"({'within' if per_session * 100_000 <= 4 * 1024 * 1024 else 'over'} 4 GB) |")
    lines.append(f"| server file descriptors open | {fds:,} (hard `RLIMIT_NOFILE` {hard:,}) |")
    if latencies:
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        lines.append(f"| one more session: event round trip p50 / p99 / max | {q[49]:.2f} / {q[98]:.2f} / "
                     f"{max(latencies):.2f} ms |")
        lines.append(f"| … server CPU per event | {cpu_us:,.0f} µs |")
    else:
        lines.append(f"| one more session | failed: {probe_error} |")
    lines.append("")
    if errors or total < n:
        lines.append("Where it broke: " + "; ".join(f"worker {w + 1}: {e}" for w, e in sorted(errors.items()))
                     + (f". The server held {fds:,} descriptors against a hard limit of {hard:,}, which this "
                        "machine does not let an unprivileged setrlimit raise." if fds > hard * 0.9 else "."))
        lines.append("")
    if hard < 100_000:
        lines.append(f"The hard `RLIMIT_NOFILE` of this machine is {hard:,} and cannot be raised without "
                     "privileges (`setrlimit` refuses: \"not allowed to raise maximum limit\"); one server process "
                     f"therefore holds at most ~{hard - 100:,} WebSockets here, whatever livetag does, and this run "
                     "stays under it. 100,000 needs "
                     "a hard limit above 100,000 (`LimitNOFILE=` in a systemd unit, `ulimit -Hn` as root, "
                     "`--ulimit nofile=` in Docker).")
        lines.append("")
    lines.append("Samples (seconds, sessions, server RSS MiB, fds): " + ", ".join(
        f"({t:.0f} s, {s:,}, {r / 1024:,.0f}, {f:,})" for t, s, r, f in samples[::max(1, len(samples) // 12)]) + ".")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        _raise_nofile()
        try:
            import uvloop

            uvloop.run(_worker(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
        except ImportError:
            asyncio.run(_worker(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    else:
        sys.exit("usage: python -m bench.peers.idle --worker BASE_URL COUNT SOURCE_IP "
                 "(run through bench/run.py --peers --idle N)")
