"""Where a ``Runner`` session process's private memory comes from, stage by stage.

Usage: ``.venv/bin/python bench/runner_stages.py``

A diagnostic beside ``bench/runner.py`` (which measures whole session processes, and
runs this too). It reads the environment a running ``Runner``'s fork server was given
(the app to preload, the ``WebApp`` options it prebuilds): ``bench/runner.py`` from the
Runner it measures; run alone, from the benchmark's ``Runner`` (``bench.runner:runner_app``)
started for it and stopped. Then it starts an interpreter preloaded the same way (the
fork server's ``preload``) and forks children from it. Each child runs the stages a spare and
then a session run, in order, and reports its ``Private_Dirty`` (``/proc/self/smaps_rollup``:
the pages it wrote, copied from the parent or its own) after each:

- ``fork``: nothing yet (returning from ``os.fork`` in Python);
- ``event loop``: a new uvloop loop, one turn run;
- ``WebApp``: the prebuilt ``WebApp`` taken (``build_webapp``);
- ``first page``, ``second page``: a built-in app's page loaded through it (what a spare
  does while it waits; the second shows what a page costs once the path was touched);
- ``store link``: the session claimed and a snapshot saved (persistence, the ``Runner``'s
  default) through a store link (``processes.store_link``), as a session process does
  at its start and after a change; the link's other end, a control socket whose
  ``SQLiteStore`` answers, runs in another process forked for it (stopped at the end).

Numbers in MB, the mean of 3 children. Nothing is asserted; ``bench/runner.py`` puts the
table in its report.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("fork", "event loop", "WebApp", "first page", "second page", "store link")
CHILDREN = 3

_CHILD = r"""
import asyncio, json, os, sys
from livetag.server.processes import preload  # noqa: F401 - the fork server's preload, gc.freeze() included
from livetag.server.processes import process
from livetag.server.processes.config import EXPECTED_ENV


def private_dirty_kib():
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("Private_Dirty:"):
            return int(line.split()[1])


def store_server(control, ready):
    from livetag.server.processes import bridge, store_link
    from livetag.server.processes.control import ControlServer
    from livetag.server.store.sqlite import SQLiteStore

    class Supervisor:  # the store link of a Supervisor, without its check of the peer
        store = SQLiteStore(control + ".sqlite3")

        async def store_link(self, reader, writer):
            writer.write(bridge.encode({"ok": True}))
            await store_link.serve(reader, writer, self.store, "bench")

    async def serve():
        await ControlServer(Supervisor()).open(control)
        os.write(ready, b"1")
        await asyncio.Event().wait()

    asyncio.run(serve())


def child(control, out):
    import uvloop
    from livetag.server.processes.store_link import SupervisorStore

    seen = [private_dirty_kib()]
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(asyncio.sleep(0))
    seen.append(private_dirty_kib())
    config = process.ProcessConfig.from_json(os.environ[EXPECTED_ENV].encode())

    async def build():
        return process.build_webapp(config)

    webapp = loop.run_until_complete(build())
    seen.append(private_dirty_kib())
    for _ in range(2):
        loop.run_until_complete(process._touch_page_path(webapp))
        seen.append(private_dirty_kib())
    store = SupervisorStore(control)

    async def persist():
        await store.connect()
        await store.save("k", b"x" * 300, epoch=await store.claim("k"), ttl=60.0)

    loop.run_until_complete(persist())
    seen.append(private_dirty_kib())
    os.write(out, json.dumps(seen).encode())


control = os.path.join(sys.argv[1], "ctl")
r, w = os.pipe()
server = os.fork()
if server == 0:
    try:
        store_server(control, w)
    finally:
        os._exit(0)
os.read(r, 1)
try:
    for n in range(int(sys.argv[2])):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                child(control, w)
            finally:
                os._exit(0)
        os.close(w)
        print(os.read(r, 65536).decode(), flush=True)
        os.close(r)
        os.waitpid(pid, 0)
finally:
    os.kill(server, 15)
    os.waitpid(server, 0)
"""


def fork_server_environment(session_pid: int) -> dict[str, str]:
    """The ``LIVETAG_RUNNER_*`` variables of the fork server whose child is ``session_pid``."""
    zygote = int(Path(f"/proc/{session_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    raw = Path(f"/proc/{zygote}/environ").read_bytes().decode()
    pairs = (item.split("=", 1) for item in raw.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("LIVETAG_RUNNER_")}


def benchmark_environment() -> dict[str, str]:
    """``fork_server_environment`` of the benchmark's ``Runner``, started for it and stopped."""
    sys.path.insert(0, str(ROOT))
    from bench.runner import Page, Server

    server = Server("bench.runner:runner_app", tempfile.mkdtemp(prefix="ltb", dir="/tmp"))
    try:
        page = Page(server.url)
        page.load()
        try:
            return fork_server_environment(page.pid)
        finally:
            page.close()
    finally:
        server.stop()


def measure(fork_server_env: dict[str, str]) -> list[float]:
    """Private_Dirty in MB after each of ``STAGES`` (the mean over ``CHILDREN`` children) in
    children of an interpreter preloaded with ``fork_server_env`` (``fork_server_environment``)."""
    env = {**os.environ, **fork_server_env, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="lt", dir="/tmp") as stores:
        out = subprocess.run([sys.executable, "-c", _CHILD, stores, str(CHILDREN)], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=300, check=True).stdout
    runs = [json.loads(line) for line in out.splitlines() if line.startswith("[")]
    return [statistics.mean(run[i] for run in runs) / 1024 for i in range(len(STAGES))]


def table(means: list[float]) -> list[str]:
    """``measure()``'s numbers as Markdown table lines."""
    lines = ["| stage | Private_Dirty after it | added by it |", "|---|---:|---:|"]
    for i, (stage, mb) in enumerate(zip(STAGES, means, strict=True)):
        lines.append(f"| {stage} | {mb:.2f} MB | {mb - (means[i - 1] if i else 0.0):+.2f} MB |")
    return lines


def main() -> None:
    print("\n".join(table(measure(benchmark_environment()))))


if __name__ == "__main__":
    main()
