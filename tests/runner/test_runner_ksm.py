"""Session processes marked mergeable by the kernel's samepage merging (``ksm``),
under a real uvicorn. What merging saves is measured by ``bench/runner.py`` (it needs
the host's KSM turned on, a machine-wide setting no test changes); these tests check
the mark, which is livetag's part."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rt_procs import Server

from livetag.server.processes import ksm
from livetag.testing.wire import SyncTab

Serve = Callable[..., Server]


def merge_any(pid: int) -> bool:
    text = Path(f"/proc/{pid}/ksm_stat").read_text()
    found = re.search(r"^ksm_merge_any: (yes|no)$", text, re.M)
    assert found, f"expected a ksm_merge_any line in /proc/{pid}/ksm_stat, got {text!r}"
    return found.group(1) == "yes"


def _kernel_reports_the_mark() -> bool:
    try:
        return "ksm_merge_any" in Path("/proc/self/ksm_stat").read_text()
    except OSError:
        return False


needs_mark = pytest.mark.skipif(not _kernel_reports_the_mark(),
                                reason="this kernel has no per-process KSM mark in /proc/<pid>/ksm_stat (Linux 6.8+)")


def a_session_pid(server: Server) -> int:
    tab = SyncTab(server.url)
    tab.load()
    return int(tab.text(".pid"))


@needs_mark
def test_session_processes_are_marked_mergeable_by_default(serve: Serve) -> None:
    server = serve()
    pid = a_session_pid(server)
    assert merge_any(pid)
    assert not merge_any(server.pid)  # the web worker is not: only the fork server's children


@needs_mark
def test_merge_pages_false_leaves_session_processes_unmarked(serve: Serve) -> None:
    server = serve(env={"LT_MERGE": "0"})
    assert not merge_any(a_session_pid(server))


def test_ksm_running_reads_the_hosts_switch(tmp_path: Path) -> None:
    switch = tmp_path / "run"
    assert ksm.ksm_running(switch) is None  # no KSM in this kernel
    switch.write_text("0\n")
    assert ksm.ksm_running(switch) is False
    switch.write_text("1\n")
    assert ksm.ksm_running(switch) is True
    switch.write_text("2\n")  # unmerging everything: not running
    assert ksm.ksm_running(switch) is False


def test_the_mark_holds_for_processes_forked_after_it() -> None:
    # In a child interpreter: a mark on this test process would outlive the test.
    script = """
import os
from livetag.server.processes import ksm
before = ksm.is_mergeable()
marked = ksm.mark_mergeable()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, b"1" if ksm.is_mergeable() else b"0")
    os._exit(0)
os.waitpid(pid, 0)
print(before, marked, ksm.is_mergeable(), os.read(r, 1) == b"1")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    before, marked, after, child = out.stdout.split()
    assert before == "False"
    if marked == "False":
        pytest.skip("this kernel has no PR_SET_MEMORY_MERGE (Linux 6.4+)")
    assert (after, child) == ("True", "True")
