"""What kernel samepage merging (Linux KSM) does to idle ``Runner`` session processes.

Used by ``bench/runner.py`` with its 200 idle sessions alive. Session processes are
marked mergeable by default (``Runner(merge_pages=True)``, ``livetag.server.processes.ksm``);
whether anything merges is the host's setting (``/sys/kernel/mm/ksm/``), which needs
root. When this process may write it (``KsmHost.available``), ``measure``:

1. turns KSM on at a fast pace (``FAST``: the kernel's ``ksmd`` then uses most of a
   CPU) and waits until the merged pages stop growing (two full scans at least);
2. takes the session processes' PSS and Private_Dirty, and ``ksmd``'s CPU to get there;
3. sets the kernel's default pace (``DEFAULT_PACE``) and takes ``ksmd``'s CPU over
   ``STEADY_SECONDS`` with nothing changing (the price of keeping sessions merged);
4. joins and clicks sessions that were merged: the first event's round trip (it writes
   to merged pages, each write a copy again) and their memory after it, against as many
   sessions of the same age joined and clicked before KSM was turned on;

then puts every setting back as it found it (KSM stopped again unmerges what it merged:
``run`` = 2 before 0). Nothing is asserted.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

KSM = Path("/sys/kernel/mm/ksm")
SETTINGS = ("run", "pages_to_scan", "sleep_millisecs")
#: Pages per wake-up and milliseconds between: fast, to converge within a minute or two.
FAST = {"pages_to_scan": "5000", "sleep_millisecs": "20"}
#: The kernel's own defaults (``mm/ksm.c``): a host that only turned ``run`` on.
DEFAULT_PACE = {"pages_to_scan": "100", "sleep_millisecs": "20"}
CONVERGE_LIMIT = 300.0
STEADY_SECONDS = 20.0


class KsmHost:
    """The host's KSM settings, changed for a measurement and put back after."""

    def __init__(self, root: Path = KSM) -> None:
        self.root = root
        self.saved: dict[str, str] = {}

    @property
    def available(self) -> bool:
        return all(os.access(self.root / name, os.W_OK) for name in SETTINGS)

    def read(self, name: str) -> str:
        return (self.root / name).read_text().strip()

    def write(self, name: str, value: str) -> None:
        (self.root / name).write_text(value)

    def __enter__(self) -> KsmHost:
        self.saved = {name: self.read(name) for name in SETTINGS}
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved.get("run") != "1":
            self.write("run", "2")  # unmerge what this run merged: the host is as it was
        for name in ("pages_to_scan", "sleep_millisecs", "run"):
            if name in self.saved:
                self.write(name, self.saved[name])


def ksmd_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "ksmd":
                    return int(entry.name)
            except OSError:
                continue
    return None


class IdlePage(Protocol):
    """A loaded page of a session never joined (``bench.runner.Page``)."""

    pid: int

    def join(self) -> None: ...

    def click(self) -> float: ...


def measure(pages: Sequence[IdlePage], rollup: Callable[[int], dict[str, int]], cpu_seconds: Callable[[int], float],
            log: Callable[[str], None]) -> dict[str, Any]:
    """``pages``: one per idle session process; ``rollup(pid)``: its ``smaps_rollup`` in
    KiB; ``cpu_seconds(pid)``: user + system CPU so far. ``{"skipped": why}`` when the
    host's KSM cannot be set."""
    clicked = min(10, len(pages) // 2)
    before, pages = pages[:clicked], pages[clicked:]  # the baseline: joined while nothing is merged
    pids = [page.pid for page in pages]
    host = KsmHost()
    ksmd = ksmd_pid()
    if not host.available or ksmd is None:
        return {"skipped": "the host's KSM settings (/sys/kernel/mm/ksm/) cannot be written by this process"}
    out: dict[str, Any] = {"pace": dict(FAST), "default_pace": dict(DEFAULT_PACE), "sessions": len(pids)}
    out["unmerged_first_click_s"] = [_first_click(page) for page in before]
    with host:
        for name, value in FAST.items():
            host.write(name, value)
        scans0, cpu0, t0 = int(host.read("full_scans")), cpu_seconds(ksmd), time.monotonic()
        host.write("run", "1")
        history: list[int] = []
        while time.monotonic() - t0 < CONVERGE_LIMIT:
            time.sleep(2.0)
            history.append(int(host.read("pages_sharing")))
            scans = int(host.read("full_scans")) - scans0
            if scans >= 2 and len(history) >= 3 and history[-1] <= history[-3] * 1.01:
                break
        out["converge_seconds"] = time.monotonic() - t0
        out["converge_cpu_seconds"] = cpu_seconds(ksmd) - cpu0
        out["full_scans"] = int(host.read("full_scans")) - scans0
        out["pages_sharing"] = int(host.read("pages_sharing"))
        out["pages_shared"] = int(host.read("pages_shared"))
        rows = [rollup(pid) for pid in pids]
        out["pss_mean_kib"] = statistics.mean(r["Pss"] for r in rows)
        out["pss_max_kib"] = max(r["Pss"] for r in rows)
        out["private_mean_kib"] = statistics.mean(r["Private_Dirty"] for r in rows)
        log(f"KSM: merged in {out['converge_seconds']:.0f} s, PSS {out['pss_mean_kib'] / 1024:.2f} MB")
        for name, value in DEFAULT_PACE.items():
            host.write(name, value)
        cpu1 = cpu_seconds(ksmd)
        time.sleep(STEADY_SECONDS)
        out["steady_cpu_share"] = (cpu_seconds(ksmd) - cpu1) / STEADY_SECONDS
        out["steady_seconds"] = STEADY_SECONDS
        out["first_click_s"] = [_first_click(page) for page in pages[:clicked]]
        time.sleep(1.0)
        clicked_rows = [rollup(pid) for pid in pids[:clicked]]
        out["clicked_pss_mean_kib"] = statistics.mean(r["Pss"] for r in clicked_rows)
        out["clicked_private_mean_kib"] = statistics.mean(r["Private_Dirty"] for r in clicked_rows)
        out["clicked"] = clicked
    return out


def _first_click(page: IdlePage) -> float:
    page.join()
    return page.click()
