"""OS priorities of the processes the supervisor starts: a spare's start is background
work from end to end (the supervisor's thread that asks for it and the fork server at a
lower nice value, the spare itself as ``SCHED_IDLE``), and a session gets the normal
priority back. Only when a lowered priority can be raised again (``priority_restorable``);
else everything runs at the priority it was born with.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any

#: How much the fork server (and the supervisor's thread while it asks for a spare)
#: lower their priority (nice increment), when that can be undone.
SPARE_NICE = 10


def priority_restorable() -> bool:
    """True when a lowered priority (a higher nice value, ``SCHED_IDLE``) can be raised
    back by this user (``CAP_SYS_NICE``, or an ``RLIMIT_NICE`` that allows it): then
    spares start at low priority and get the normal one back at the handoff. On Linux
    both are per thread, so the probe (in a thread of its own) leaves this process as
    it was."""
    if not sys.platform.startswith("linux"):
        return False
    result: list[bool] = []

    def probe() -> None:
        tid = threading.get_native_id()
        try:
            base = os.getpriority(os.PRIO_PROCESS, tid)
            if base >= 19 or os.sched_getscheduler(tid) != os.SCHED_OTHER:
                result.append(False)
                return
            os.setpriority(os.PRIO_PROCESS, tid, base + 1)
            os.setpriority(os.PRIO_PROCESS, tid, base)
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="livetag-priority-probe")
    thread.start()
    thread.join()
    return bool(result and result[0])


def start_fork_server(forks: Any, priority: int | None) -> None:
    """Start the fork server ``forks`` (``forkserver.ForkServer``, from a thread of the
    executor), at nice value ``priority`` (None: this one), which every process forked
    from it inherits."""
    tid = threading.get_native_id()
    own = os.getpriority(os.PRIO_PROCESS, tid)
    if priority is not None:
        os.setpriority(os.PRIO_PROCESS, tid, priority)  # per thread: this one only, and what it starts
    try:
        forks.start()
    finally:
        if priority is not None:
            os.setpriority(os.PRIO_PROCESS, tid, own)


def start_process(process: Any, priority: int | None, own_priority: int | None) -> None:
    """Start ``process`` through the fork server (this thread at nice value
    ``own_priority`` meanwhile: a spare's start is background work from end to end);
    then give it nice value ``priority`` (None: leave it as born)."""
    tid = threading.get_native_id()
    own = os.getpriority(os.PRIO_PROCESS, tid)
    if own_priority is not None:
        os.setpriority(os.PRIO_PROCESS, tid, own_priority)
    try:
        process.start()
    finally:
        if own_priority is not None:
            os.setpriority(os.PRIO_PROCESS, tid, own)
    if priority is not None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, process.pid, priority)


def restore_priority(pid: int, nice: int) -> None:
    """Give process ``pid`` the normal policy (``SCHED_OTHER``) and nice value ``nice``: a
    spare that now serves a user. Raises ``OSError`` when the kernel refuses."""
    os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
    os.setpriority(os.PRIO_PROCESS, pid, nice)
