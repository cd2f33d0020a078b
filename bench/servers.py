"""The servers under test, and a helper that runs each one in its own process.

Apps: the echo floor (a raw Starlette WebSocket echo, plus the same echo over plain HTTP
and over SSE + POST for the HTTP transports), ``examples/counter.py``, the counter with
``async def`` handlers, the counter with ``WebApp(parano=True)``, a 1,000-row list
changed through ``tag.text`` and the same list built from one ``State`` per row.

Each server runs under uvicorn (its defaults: uvloop, httptools, the ``websockets``
sans-I/O protocol, permessage-deflate offered) in a separate OS process, so that its CPU
time and memory can be read from ``/proc/<pid>`` without the client's share mixed in.

Child side: ``python -m bench.servers NAME`` binds 127.0.0.1 on a free port, starts
uvicorn and prints ``PORT <n>`` on stdout once it accepts connections.
Parent side: ``ServerProcess(NAME)`` starts that child, reads the port, and stops the
child by its PID.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"

#: Rows of the list app. The handler changes one row per event.
LIST_ROWS = 1000


# -- the apps --------------------------------------------------------------------------


def echo_app() -> Any:
    """The floor: a raw Starlette app echoing what it gets, on each transport shape
    livetag uses.

    - ``/ws``: WebSocket, every text frame sent back.
    - ``POST /echo``: the body sent back as the response (livetag's plain HTTP mode).
    - ``GET /sse?cid=`` + ``POST /echo?cid=&mode=sse``: the POST answers 204 and its body
      goes down that stream as one ``data:`` line (livetag's SSE + POST mode).
    """
    import asyncio
    from collections.abc import AsyncIterator

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    streams: dict[str, asyncio.Queue[bytes]] = {}

    async def echo_http(request: Request) -> Response:
        body = await request.body()
        queue = streams.get(request.query_params.get("cid", ""))
        if request.query_params.get("mode") == "sse" and queue is not None:
            queue.put_nowait(body)
            return Response(status_code=204)
        return Response(body, media_type="application/json")

    async def sse(request: Request) -> Response:
        cid = request.query_params.get("cid", "")
        queue = streams[cid] = asyncio.Queue()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b": echo\n\n"
                while True:
                    yield b"data: " + await queue.get() + b"\n\n"
            finally:
                streams.pop(cid, None)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[WebSocketRoute("/ws", echo), Route("/echo", echo_http, methods=["POST"]),
                             Route("/sse", sse, methods=["GET"])])


#: livetag's per-session event rate limit is a security bound, sized for humans (tens of
#: events per second); a benchmark client sends thousands, so it is lifted here. The
#: bucket is still checked on every event, so its cost is measured.
UNLIMITED_EVENTS = {"events_per_second": 1e9, "event_burst": 1_000_000_000,
                    "new_sessions_per_second": 0}  # every bench session comes from 127.0.0.1


def _webapp(app: Any, **options: Any) -> Any:
    """``WebApp(app, **options).app`` with the event rate limit lifted (when this livetag
    has one)."""
    from livetag import WebApp

    accepted = inspect.signature(WebApp).parameters
    return WebApp(app, **{k: v for k, v in UNLIMITED_EVENTS.items() if k in accepted}, **options).app


def _example_counter() -> Any:
    path = ROOT / "examples" / "counter.py"
    spec = importlib.util.spec_from_file_location("bench_example_counter", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"expected a Python module at {path}, found none")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Counter


def counter_app() -> Any:
    """``examples/counter.py``, loaded from its file so the bench measures the real example."""
    return _webapp(_example_counter())


def counter_async_app() -> Any:
    """The same counter with ``async def`` handlers. Livetag runs plain handlers in a
    worker thread and coroutines on the event loop: this variant shows what that hop costs."""
    class CounterAsync(_example_counter()):  # type: ignore[misc]
        async def increment(self, e: Any) -> None:
            self.count += 1
            self.value.text = self.count

        async def decrement(self, e: Any) -> None:
            self.count -= 1
            self.value.text = self.count

    return _webapp(CounterAsync)


def counter_parano_app() -> Any:
    """``examples/counter.py`` served with ``WebApp(parano=True)``: every payload sealed
    with AES-GCM under the session's key."""
    return _webapp(_example_counter(), parano=True)


def list_app() -> Any:
    """A ``LIST_ROWS``-row list; each click of ``button.change`` changes one row's text."""
    from livetag import Tag

    class RowList(Tag.App):  # type: ignore[misc, name-defined]
        def init(self) -> None:
            self.changes = 0
            self.rows = [Tag.li(f"row {i}", _id=f"row-{i}") for i in range(LIST_ROWS)]
            self <= Tag.button("change a row", _class="change", _onclick=self.change)
            self <= Tag.ul(self.rows, _class="rows")

        def change(self, e: Any) -> None:
            self.changes += 1
            # A stride coprime with the length walks every row instead of one hot row.
            i = (self.changes * 7919) % LIST_ROWS
            self.rows[i].text = f"row {i} changed {self.changes}"

    return _webapp(RowList)


def reactive_list_app() -> Any:
    """The list of ``list_app`` written with states (issue 3): each row's text is its own
    ``State``, passed to its ``<li>`` as a reactive child; each click of
    ``button.change`` writes one of those states. The ``<li>`` tags themselves are built
    once (not by a lambda over the list): items never move here, only their text changes."""
    from livetag import State, Tag

    class ReactiveRowList(Tag.App):  # type: ignore[misc, name-defined]
        def init(self) -> None:
            self.changes = 0
            self.items = [State(f"row {i}") for i in range(LIST_ROWS)]
            self <= Tag.button("change a row", _class="change", _onclick=self.change)
            self <= Tag.ul(*[Tag.li(item, _id=f"row-{i}") for i, item in enumerate(self.items)], _class="rows")

        def change(self, e: Any) -> None:
            self.changes += 1
            i = (self.changes * 7919) % LIST_ROWS  # as list_app: every row in turn, no hot row
            self.items[i].set(f"row {i} changed {self.changes}")

    return _webapp(ReactiveRowList)


APPS: dict[str, Callable[[], Any]] = {
    "echo": echo_app, "counter": counter_app, "counter-async": counter_async_app, "list": list_app,
    "list-reactive": reactive_list_app, "counter-parano": counter_parano_app,
}


# -- child: serve one app --------------------------------------------------------------


def serve(name: str) -> None:
    """Serve ``APPS[name]`` on 127.0.0.1:<free port>; print ``PORT <n>`` once started."""
    import uvicorn

    from livetag.runners.serve import bind_socket

    app = APPS[name]()
    sock = bind_socket(HOST, 0)
    port = sock.getsockname()[1]
    # Every server alike: permessage-deflate off, as livetag's runners serve, unless the
    # run measures compression (bench/run.py --deflate).
    deflate = os.environ.get("LIVETAG_BENCH_DEFLATE") == "1"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=2, ws_per_message_deflate=deflate))

    def announce() -> None:
        # The socket listens before uvicorn runs; only announce once it really accepts.
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        print(f"PORT {port}", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


# -- parent: run one app in a child process ----------------------------------------------


class ServerProcess:
    """One server in a child process. ``start()`` returns once it accepts connections;
    ``stop()`` ends it by PID (SIGTERM, then SIGKILL after ``grace`` seconds)."""

    def __init__(self, name: str, command: list[str] | None = None) -> None:
        if command is None and name not in APPS:
            raise ValueError(f"expected a server name in {sorted(APPS)}, got {name!r}")
        self.name = name
        #: The child's command line; by default this module serving ``name``. Any other
        #: command must print ``PORT <n>`` the same way (for ad-hoc variants).
        self.command = command or [sys.executable, "-m", "bench.servers", name]
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"server {self.name!r} is not running")
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_die_with_parent,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"expected server {self.name!r} to print its port within {timeout:.0f} s; "
                                   f"it did not (exit code {self.proc.returncode})")
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 64)
                if not chunk:
                    continue
                line += chunk
        if not line.startswith(b"PORT "):
            self.stop()
            raise RuntimeError(f"expected 'PORT <n>' from server {self.name!r}, got {line!r}")
        self.port = int(line.split()[1])
        return self

    def stop(self, grace: float = 5.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> None:
    # Safety net for a parent killed with SIGKILL, where no ``finally`` runs: Linux sends
    # the child SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG).
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# -- process readings (Linux /proc) ------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of process ``pid`` and all its threads (exited ones included), in seconds.

    Read from the kernel's per-process CPU clock (``clock_gettime`` on the clock id
    ``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)``: scheduler run time, nanosecond
    resolution), so that a few hundred events of one session can be told apart; falls
    back to ``utime + stime`` of ``/proc/<pid>/stat`` (clock-tick resolution)."""
    try:
        return time.clock_gettime((~pid << 3) | 2)
    except OSError:
        pass
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@contextlib.contextmanager
def one_cpu(pids: Iterable[int], cpu: int | None = None) -> Iterator[int]:
    """Run this process and the processes ``pids`` (every thread of each) on one CPU
    only while the block runs; yields that CPU (default: the highest this process may
    use). Each thread gets its own affinity back afterwards; a thread started inside
    the block inherits the one CPU and gets the affinity of its process's first thread.

    Why: on a virtual machine, waking a process on another, idle vCPU costs tens of µs
    that depend on where the scheduler happened to put each process (it keeps a process
    where it first ran it), so one-session round trips of identical work drew from two
    clusters 20 µs apart. On one CPU a round trip is the client's and the server's work
    back to back, the same for every framework. Linux only (``sched_setaffinity``)."""
    chosen = max(os.sched_getaffinity(0)) if cpu is None else cpu
    saved: dict[int, set[int]] = {}
    firsts: dict[int, set[int]] = {}
    for pid in (os.getpid(), *pids):
        for tid in _threads(pid):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                saved[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, {chosen})
        firsts[pid] = saved.get(pid, set(range(os.cpu_count() or 1)))
    try:
        yield chosen
    finally:
        for pid, first in firsts.items():
            for tid in _threads(pid):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(tid, saved.get(tid, first))


def _threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []  # the process ended


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs of the machine spent not idle since boot (``/proc/stat``)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """``{"rss": KiB, "pss": KiB}`` of process ``pid``: ``VmRSS`` from
    ``/proc/<pid>/status`` and ``Pss`` from ``/proc/<pid>/smaps_rollup``."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                out["pss"] = int(line.split()[1])
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in APPS:
        sys.exit(f"usage: python -m bench.servers {{{'|'.join(APPS)}}}")
    serve(sys.argv[1])
