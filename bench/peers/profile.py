"""Where a peers-run server spends its CPU: drive one app of one framework and sample
it with py-spy (the bench extra), as ``bench/hotspots.py`` does for ``bench/servers.py``.

Usage: ``.venv/bin/python -m bench.peers.profile {livetag|htag|nicegui} APP [--sessions N]
[--seconds S] [--gil] [--top K] [--raw FILE]`` (APP: counter, counter-async, list,
list-keyed). Prints events/s, server CPU per event, and the functions with the most
samples, self and inclusive. A diagnostic, not part of the report.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.hotspots import summarize  # noqa: E402
from bench.peers.measure import PeerTarget, server_command  # noqa: E402
from bench.run import Settings, Throughput, _run, log, measure_throughput  # noqa: E402
from bench.servers import ServerProcess  # noqa: E402
from bench.sessions import http_client  # noqa: E402


async def drive(target: PeerTarget, sessions: int, seconds: float) -> Throughput:
    result = Throughput()
    async with http_client() as http:
        await measure_throughput(target, http, Settings(sessions=sessions, conc_warmup=0.5, conc_seconds=seconds),
                                 result)  # type: ignore[arg-type]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("framework", choices=("livetag", "htag", "nicegui"))
    parser.add_argument("app", choices=("counter", "counter-async", "list", "list-keyed"))
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        sys.exit("expected py-spy: .venv/bin/pip install -e '.[bench]'")
    raw = args.raw or Path(tempfile.mkdtemp(prefix="lt-profile-")) / "stacks.txt"
    server = ServerProcess(f"{args.framework}-{args.app}", server_command(args.framework, args.app))
    spy: subprocess.Popen[bytes] | None = None
    try:
        server.start(timeout=60)
        css = "change" if args.app.startswith("list") else "inc"
        target = PeerTarget(server.name, args.framework, args.app, server, css)
        spy = subprocess.Popen([py_spy, "record", "--pid", str(server.pid), "--rate", "1000", "--threads",
                                "--format", "raw", "--output", str(raw), "--duration", str(int(args.seconds + 2)),
                                "--nonblocking", *(["--gil"] if args.gil else [])],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = _run(drive(target, args.sessions, args.seconds))  # type: ignore[arg-type]
        spy.wait(60)
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
