"""Kernel samepage merging (Linux KSM) for session processes.

A session process is a fork of the fork server: it shares the fork server's pages until
it writes to them, and on CPython every object it touches gets its reference count
written, so an idle session process still holds a few MB of copies (see
``docs/benchmarks-runner.md``). Most of those copies are alike from one session process
to the next, and many are byte for byte the fork server's page again once the counts
are back where they were. KSM finds such pages and keeps one copy, write-protected:
the next write to it copies it again (a page fault, about a microsecond).

The fork server marks its memory mergeable (``prctl(PR_SET_MEMORY_MERGE)``, Linux 6.4+);
its children inherit the mark. That alone merges nothing: KSM runs only where the host
turned it on (``/sys/kernel/mm/ksm/run``, root), at the pace the host sets there
(``pages_to_scan``, ``sleep_millisecs``), paid for by the kernel's ``ksmd`` thread. A
process marked on a host without KSM costs nothing. ``docs/runner.md`` says what it
saves and costs, and when to leave it off (``Runner(merge_pages=False)``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

#: ``prctl`` option (``linux/prctl.h``): merge every anonymous mapping of the process,
#: present and future; inherited across ``fork``.
PR_SET_MEMORY_MERGE = 67
PR_GET_MEMORY_MERGE = 68
#: Where the host turns KSM on and off ("1": merging; "0": stopped; "2": unmerge all).
KSM_RUN = Path("/sys/kernel/mm/ksm/run")

log = logging.getLogger("livetag.server.processes.ksm")


def _prctl(option: int, value: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result: int = libc.prctl(option, value, 0, 0, 0)
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return result


def mark_mergeable() -> bool:
    """Mark this process's memory (and that of the processes it forks from now on) as
    mergeable by KSM. ``True`` when marked; ``False`` where the kernel has no per-process
    merging (not Linux, or Linux before 6.4: ``EINVAL``) or refuses it (``EPERM`` under a
    seccomp filter, for instance). Never raises."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        _prctl(PR_SET_MEMORY_MERGE, 1)
    except (OSError, AttributeError) as exc:
        log.debug("memory merging not available: %s", exc)
        return False
    return True


def is_mergeable() -> bool:
    """Whether this process's memory is marked mergeable (``PR_GET_MEMORY_MERGE``);
    ``False`` where the kernel cannot tell."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return _prctl(PR_GET_MEMORY_MERGE, 0) == 1
    except (OSError, AttributeError):
        return False


def ksm_running(path: Path = KSM_RUN) -> bool | None:
    """Whether the host runs KSM (``/sys/kernel/mm/ksm/run`` is ``1``); ``None`` where
    the kernel has no KSM or the file cannot be read."""
    try:
        return path.read_text().strip() == "1"
    except OSError:
        return None


def mark_fork_server() -> None:
    """What the fork server does once preloaded: mark itself, so that every session
    process it forks is marked, and say once in the log whether anything will merge."""
    if not mark_mergeable():
        log.debug("session processes are not marked mergeable (this kernel has no PR_SET_MEMORY_MERGE)")
        return
    if ksm_running():
        log.debug("session processes are marked mergeable; the host runs KSM")
    else:
        log.debug("session processes are marked mergeable; nothing merges until the host turns KSM on "
                  "(echo 1 > %s)", KSM_RUN)
