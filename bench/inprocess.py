"""In-process CPU and memory micro-benchmarks of livetag's own work (no server, no
socket): what a change to the runtime costs or saves, measured in CPU time, which stays
meaningful on a shared machine where wall-clock times do not.

Usage: ``.venv/bin/python -m bench.inprocess [counter counter-async counter-method
counter-method-thread counter-held counter-target counter-lambda list list-keyed table memory
...] [--events N]``; every measure when none is named.

- ``counter`` / ``counter-async``: ``N`` click events through ``Session.dispatch`` (as a
  WebSocket transport calls it, a sink that keeps nothing); process CPU µs per event
  (all threads: a plain ``def`` handler's worker thread included), and how much of it
  the worker threads used. ``counter-method``: a handler that calls a method of the app
  (on the loop); ``counter-method-thread``: the same marked ``@in_thread`` (a thread hop);
  ``counter-held``: a handler that edits a tag the app holds (``self.value.add(...)``);
  ``counter-target``: one that edits its event's target (``e.target.add(...)``);
  ``counter-lambda``: a lambda that sets a ``State`` (``self.count.set(self.count + 1)``).
- ``list`` / ``list-keyed``: the 1,000-row reactive list of ``bench/peers/apps.py``,
  one item changed per event; process CPU ms per event.
- ``table``: ``Tag.table`` of 8,000 and 2,000 rows x 3 cells built then ``str()``-ed,
  CPU ms (least of 5), as ``bench/peers/buildrender.py`` does.
- ``memory``: ``tracemalloc`` bytes per joined ``Session`` of the counter app (200
  sessions), with the largest allocation sites.

The figures are for comparing one commit with the next on the same machine; the peer
benchmark (``bench/run.py --peers``) is the one that compares frameworks.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.peers.apps import make_apps  # noqa: E402
from livetag import State, Tag, in_thread  # noqa: E402
from livetag.dom.tag import iter_subtree  # noqa: E402
from livetag.protocol import PROTOCOL_VERSION, EventMessage, Join  # noqa: E402
from livetag.session import Session  # noqa: E402

APPS = make_apps(Tag, State)


class CounterMethod(APPS["counter"]):  # type: ignore[misc, valid-type]
    """The counter whose handler calls a method of the app (``self.show()``)."""

    def increment(self, e: Any) -> None:
        self.count += 1
        self.show()

    def show(self) -> None:
        self.value.text = self.count


class CounterMethodThread(CounterMethod):
    """The same handler marked ``@in_thread``: where it ran before livetag followed calls
    of the app's own methods (``livetag.waiting``): the thread hop's cost."""

    @in_thread
    def increment(self, e: Any) -> None:
        self.count += 1
        self.show()


class CounterHeld(APPS["counter"]):  # type: ignore[misc, valid-type]
    """The counter whose handler edits a tag the app holds with its methods
    (``self.value.clear(); self.value.add(...)``): on the loop while ``self.value`` is a
    tag (``livetag.waiting.loop_guards``)."""

    def increment(self, e: Any) -> None:
        self.count += 1
        self.value.clear()
        self.value.add(str(self.count))


class CounterTarget(APPS["counter"]):  # type: ignore[misc, valid-type]
    """The counter whose handler edits its event's target (``e.target.add(...)``, htag's
    idiom): on the loop while the target is a tag whose ``add`` is livetag's."""

    def increment(self, e: Any) -> None:
        self.count += 1
        e.target.add("+")
        e.target.clear()


class CounterLambda(Tag.App):  # type: ignore[misc, name-defined]
    """The counter as htag's documentation writes it: a ``State`` shown as is, and a
    lambda handler that sets it (``lambda e: self.count.set(self.count + 1)``)."""

    def init(self) -> None:
        self.count = State(0)
        self <= Tag.button("+", _class="inc", _onclick=lambda e: self.count.set(self.count + 1))
        self <= Tag.span(self.count, _class="value")


APPS["counter-method"] = CounterMethod
APPS["counter-method-thread"] = CounterMethodThread
APPS["counter-held"] = CounterHeld
APPS["counter-target"] = CounterTarget
APPS["counter-lambda"] = CounterLambda
COUNTERS = ("counter", "counter-async", "counter-method", "counter-method-thread", "counter-held", "counter-target",
            "counter-lambda")
#: Events are timed in this many blocks; the least CPU per event is reported.
BLOCKS = 5


def _thread_cpu() -> float:
    """CPU seconds of every thread but this one (the handler workers)."""
    total = 0.0
    me = threading.get_native_id()
    for task in Path("/proc/self/task").iterdir():
        if int(task.name) == me:
            continue
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / 100  # utime + stime, clock ticks
    return total


async def _open(name: str) -> tuple[Session, Any]:
    app = APPS[name]
    session = await asyncio.to_thread(Session, app) if name != "counter-async" else Session(app)
    session.render_document()
    client = session.join(Join(PROTOCOL_VERSION, session.csrf_token, None, session.revision), lambda m: None)
    return session, client


def _target(session: Session, css_class: str) -> str:
    for tag in iter_subtree(session.app):
        if css_class in str(tag.attrs.get("class", "")).split():
            return tag.id
    raise LookupError(css_class)


async def events(name: str, count: int) -> dict[str, float]:
    session, client = await _open(name)
    target = _target(session, "inc" if name.startswith("counter") else "change")
    seq = 0

    async def run(n: int) -> None:
        nonlocal seq
        for _ in range(n):
            seq += 1
            await session.dispatch(client, EventMessage(seq, target, "click", {}, {}))

    await run(max(20, count // 10))  # warm up: threads started, caches filled
    blocks: list[tuple[float, float]] = []
    for _ in range(BLOCKS):  # the least CPU of a few blocks: other work on the machine only adds
        gc.collect()
        threads0, cpu0 = _thread_cpu(), time.process_time()
        await run(count // BLOCKS)
        blocks.append((time.process_time() - cpu0, _thread_cpu() - threads0))
    session.close()
    cpu, threads = min(blocks)
    per = count // BLOCKS
    return {"cpu_us": cpu / per * 1e6, "thread_us": threads / per * 1e6,
            "median_us": statistics.median(b[0] for b in blocks) / per * 1e6}


def table(rows: int, repeats: int = 5) -> tuple[float, float]:
    builds, renders = [], []
    for _ in range(repeats):
        gc.collect()
        t0 = time.process_time()
        built = Tag.table(Tag.tbody([Tag.tr([Tag.td(f"r{i}c{j}") for j in range(3)]) for i in range(rows)]))
        t1 = time.process_time()
        str(built)
        t2 = time.process_time()
        builds.append((t1 - t0) * 1e3)
        renders.append((t2 - t1) * 1e3)
        del built
    return min(builds), min(renders)


async def memory(sessions: int = 200, top: int = 12) -> None:
    kept: list[Any] = []
    for _ in range(20):  # warm up: classes, caches, statics
        kept.append(await _open("counter"))
    gc.collect()
    tracemalloc.start(8)
    before = tracemalloc.take_snapshot()
    for _ in range(sessions):
        kept.append(await _open("counter"))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    diff = after.compare_to(before, "lineno")
    total = sum(d.size_diff for d in diff)
    print(f"memory: {total / sessions / 1024:.2f} KiB per joined session (tracemalloc, {sessions} sessions)")
    for stat in diff[:top]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / sessions:8.0f} B  {stat.count_diff / sessions:5.1f} blocks  "
              f"{Path(frame.filename).name}:{frame.lineno}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("measures", nargs="*",
                        default=[*COUNTERS, "list", "list-keyed", "table", "memory"])
    parser.add_argument("--events", type=int, default=20000, help="events per counter measure")
    args = parser.parse_args()
    for measure in args.measures:
        if measure in COUNTERS:
            r = asyncio.run(events(measure, args.events))
            print(f"{measure}: {r['cpu_us']:.1f} µs CPU per event, least of {BLOCKS} blocks (median "
                  f"{r['median_us']:.1f}; worker threads {r['thread_us']:.1f} µs)")
        elif measure in ("list", "list-keyed"):
            r = asyncio.run(events(measure, 250))
            print(f"{measure}: {r['cpu_us'] / 1000:.2f} ms CPU per event, least of {BLOCKS} blocks "
                  f"(median {r['median_us'] / 1000:.2f})")
        elif measure == "table":
            for rows in (8000, 2000):
                build, render = table(rows)
                print(f"table {rows}x3: {build + render:.1f} ms CPU (build {build:.1f} + render {render:.1f})")
        elif measure == "memory":
            asyncio.run(memory())
        else:
            parser.error(f"unknown measure {measure!r}")


if __name__ == "__main__":
    main()
