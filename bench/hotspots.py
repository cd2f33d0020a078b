"""Where a server's CPU goes: drive one bench server and sample it with py-spy.

Usage: ``.venv/bin/python bench/hotspots.py {echo|counter|counter-async|list} [--sessions N]
[--seconds S] [--gil] [--no-deflate] [--top K] [--raw FILE]``

Starts the server in its own process (as ``run.py`` does), drives it with ``N`` sessions
sending events back to back, records it with ``py-spy record --format raw`` (all threads;
install with ``.venv/bin/pip install -e .[bench]``), and prints the functions with the
most samples, self and inclusive. ``--gil`` keeps only samples holding the GIL, which
drops threads and event loops waiting for work. Coroutine stacks are cut where the event
loop (C code) resumed them, so inclusive shares understate the outer frames. A diagnostic,
not part of the report.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import Settings, Target, Throughput, _run, log, measure_throughput  # noqa: E402
from bench.servers import ServerProcess  # noqa: E402
from bench.sessions import http_client  # noqa: E402

CLICKED = {"echo": None, "counter": "inc", "counter-async": "inc", "list": "change"}


async def drive(target: Target, sessions: int, seconds: float) -> Throughput:
    settings = Settings(sessions=sessions, conc_warmup=0.5, conc_seconds=seconds, deflate=target.deflate)
    result = Throughput()
    async with http_client() as http:
        await measure_throughput(target, http, settings, result)
    return result


def summarize(raw: Path, top: int) -> str:
    """Top functions by self and inclusive samples, from py-spy's collapsed stacks."""
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
                  if " (" in f else f for f in stack.split(";")[1:]]  # drop the thread frame
        if not frames:
            continue
        total += n
        self_counts[frames[-1]] += n
        for frame in set(frames):
            incl_counts[frame] += n
    out = [f"{total} samples", "", "self %   function"]
    out += [f"{100 * c / total:5.1f}   {f}" for f, c in self_counts.most_common(top)]
    out += ["", "incl %   function"]
    out += [f"{100 * c / total:5.1f}   {f}" for f, c in incl_counts.most_common(top)]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", choices=sorted(CLICKED))
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--no-deflate", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument("--gil", action="store_true",
                        help="only samples holding the GIL (drops threads and loops waiting for work)")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        sys.exit("expected py-spy: .venv/bin/pip install py-spy")
    raw = args.raw or Path(tempfile.mkdtemp(prefix="lt-profile-")) / "stacks.txt"
    server = ServerProcess(args.server)
    spy: subprocess.Popen[bytes] | None = None
    try:
        server.start()
        target = Target(args.server, server, CLICKED[args.server], not args.no_deflate)
        spy = subprocess.Popen([py_spy, "record", "--pid", str(server.pid), "--rate", "1000", "--threads",
                                "--format", "raw", "--output", str(raw), "--duration", str(int(args.seconds + 2)),
                                "--nonblocking", *(["--gil"] if args.gil else [])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = _run(drive(target, args.sessions, args.seconds))
        spy.wait(30)
    finally:
        if spy is not None and spy.poll() is None:
            spy.terminate()
            spy.wait(10)
        server.stop()
    log(f"{result.per_second:,.0f} events/s, {result.cpu_us_per_event:.0f} µs server CPU per event")
    print(summarize(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
