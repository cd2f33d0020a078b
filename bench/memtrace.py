"""Where a connected session's memory goes, on the server: ``tracemalloc`` in a served app.

Usage: ``.venv/bin/python -m bench.memtrace [echo|counter ...] [--sessions N] [--top K]``

Starts each server of ``bench/servers.py`` (the same uvicorn settings as ``run.py``) in
its own process with ``tracemalloc`` on, opens 20 warm-up sessions (echo: connections
carrying one message each way), then ``N`` more that stay connected, and prints the
bytes the server allocated per session, by allocation site (file:line of the innermost
livetag, uvicorn, websockets or starlette frame). Python allocations only: RSS also
counts the allocator's slack and C buffers, which ``run.py`` measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


GROUP = os.environ.get("MEMTRACE_GROUP", "traceback")


def _report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, sessions: int, top: int) -> str:
    lines = []
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    only = os.environ.get("MEMTRACE_ONLY")  # e.g. "*/livetag/*": the sites listed
    if only:
        keep = [tracemalloc.Filter(True, only)]
        before, after = before.filter_traces(keep), after.filter_traces(keep)
    lines.append(f"{total / sessions / 1024:.2f} KiB per session ({sessions} sessions, Python allocations)")
    for stat in after.compare_to(before, GROUP)[:top]:
        frames = [f for f in stat.traceback if "/tracemalloc" not in f.filename]
        where = " <- ".join(f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno}"
                            for f in reversed(frames))
        lines.append(f"  {stat.size_diff / sessions:7.0f} B {stat.count_diff / sessions:5.1f} blocks  {where}")
    return "\n".join(lines)


def serve(name: str, top: int) -> None:
    """Child: serve ``name`` with two extra routes, ``/_snap/start`` and
    ``/_snap/stop?n=<sessions>`` (answers the report)."""
    from bench import servers

    tracemalloc.start(6)
    inner = servers.APPS[name]()
    state: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/_snap/"):
            if path == "/_snap/start":
                import gc
                gc.collect()
                state["before"] = tracemalloc.take_snapshot()
                body = b"ok"
            else:
                import gc
                gc.collect()
                n = int(scope["query_string"].decode().split("=")[1])
                body = _report(state["before"], tracemalloc.take_snapshot(), n, top).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

    servers.APPS[f"{name}-traced"] = lambda: app
    servers.serve(f"{name}-traced")


async def drive(name: str, sessions: int) -> str:
    from bench.servers import ServerProcess
    from bench.sessions import EchoSession, http_client, open_tab

    server = ServerProcess(name, command=[sys.executable, "-m", "bench.memtrace", "--serve", name])
    base = server.start().base_url
    kept: list[Any] = []
    try:
        async with http_client() as http:
            async def one() -> Any:
                if name == "echo":
                    session = await EchoSession.open(base, deflate=False)
                    await session.event("x")
                    return session
                return await open_tab(http, base, deflate=False)

            for _ in range(20):
                kept.append(await one())
            await http.get(base + "/_snap/start")
            for _ in range(sessions):
                kept.append(await one())
            report = (await http.get(f"{base}/_snap/stop?n={sessions}", timeout=600)).text
            for session in kept:
                await session.close()
    finally:
        server.stop()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("servers", nargs="*", default=["echo", "counter"])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.top)
        return
    for name in args.servers:
        print(f"{name}: {asyncio.run(drive(name, args.sessions))}", flush=True)


if __name__ == "__main__":
    main()
