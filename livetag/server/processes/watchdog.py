"""The supervisor's watchdog: what a session process cannot enforce on itself, checked
from outside, a few times per ``timeout_interaction``.

- an interaction (event handler, ``init``) running longer than ``timeout_interaction``:
  SIGKILL (``EndReason.TIMEOUT``); a spare too slow to start: SIGKILL;
- a heartbeat (``SharedField.HEARTBEAT``, written by the process's event loop every
  ``heartbeat`` s) older than ``timeout_interaction`` plus one beat: the loop is frozen
  (SIGSTOP), starved or blocked: SIGKILL;
- no activity for ``timeout_inactivity`` s (when set): SIGTERM, a clean close;
- an RSS above ``max_memory_mb`` (checked every 0.5 s): SIGKILL (``EndReason.MEMORY``);
- a process asked to close cleanly still alive after its grace: SIGKILL;
- every ``FILES_CHECK_SECONDS``, the ``check_files`` hook (the supervisor's files).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

from .process import SharedField
from .sessions import EndReason, ProcessState, SessionTable
from .spares import SparePool

log = logging.getLogger("livetag.server.processes.supervisor")

#: Longest interval between two heartbeats of a session process's event loop.
HEARTBEAT_SECONDS = 5.0
#: How often the supervisor checks that its files are in place.
FILES_CHECK_SECONDS = 1.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def heartbeat_for(timeout_interaction: float) -> float:
    """How often session processes' loops tick (``SharedField.HEARTBEAT``): a loop silent for
    ``timeout_interaction`` (plus one tick) is frozen or blocked, and killed."""
    return max(0.05, min(HEARTBEAT_SECONDS, timeout_interaction / 4))


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (``/proc/<pid>/statm``); 0.0 when unknown."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_SIZE / (1 << 20)
    except (OSError, IndexError, ValueError):
        return 0.0


class Watchdog:
    """Checks ``table``'s sessions and ``spares``' spares (see the module docstring).
    ``check_files`` runs every ``FILES_CHECK_SECONDS`` unless ``files_paused()``."""

    def __init__(self, table: SessionTable, spares: SparePool, *, timeout_interaction: float, heartbeat: float,
                 timeout_inactivity: float, max_memory_mb: float | None, check_files: Callable[[], None],
                 files_paused: Callable[[], bool]) -> None:
        self.table = table
        self.spares = spares
        self.timeout_interaction = timeout_interaction
        self.heartbeat = heartbeat
        self.timeout_inactivity = timeout_inactivity
        self.max_memory_mb = max_memory_mb
        self.check_files = check_files
        self.files_paused = files_paused
        self._next_memory = 0.0
        self._next_files = 0.0

    async def run(self) -> None:
        """Check until cancelled; a failing check is logged, never ends the watchdog."""
        tick = max(0.02, min(0.25, self.timeout_interaction / 8))
        while True:
            await asyncio.sleep(tick)
            try:
                self.check(time.monotonic())
            except Exception:
                log.exception("supervisor watchdog failed")

    def check(self, now: float) -> None:
        if now >= self._next_files and not self.files_paused():
            self._next_files = now + FILES_CHECK_SECONDS
            self.check_files()
        check_memory = self.max_memory_mb is not None and now >= self._next_memory
        if check_memory:
            self._next_memory = now + 0.5
        table = self.table
        for record in list(table.sessions.values()):
            if record.state is not ProcessState.LIVE:
                continue
            busy = record.shared[SharedField.BUSY_SINCE]
            beat = record.shared[SharedField.HEARTBEAT]
            if busy and now - busy > self.timeout_interaction:
                log.warning("session process %d of %s: an interaction passed %gs: killing it", record.pid,
                            record.log_id, self.timeout_interaction)
                table.kill(record, EndReason.TIMEOUT)
            elif beat and now - beat > self.timeout_interaction + self.heartbeat:
                # Wall time: a stopped (SIGSTOP) or starved process, an event in flight
                # or not, is as unresponsive as one spinning in a handler.
                log.warning("session process %d of %s: its event loop has not run for %gs (frozen or "
                            "blocked): killing it", record.pid, record.log_id, now - beat)
                table.kill(record, EndReason.TIMEOUT)
            elif (self.timeout_inactivity and not busy
                  and now - record.shared[SharedField.LAST_ACTIVE] > self.timeout_inactivity):
                table.terminate(record, EndReason.INACTIVITY)
            elif check_memory and rss_mb(record.pid) > self.max_memory_mb:  # type: ignore[operator]
                log.warning("session process %d of %s: over %s MB: killing it", record.pid, record.log_id,
                            self.max_memory_mb)
                table.kill(record, EndReason.MEMORY)
        table.kill_overdue(now)
        for spare in self.spares.waiting():
            busy = spare.shared[SharedField.BUSY_SINCE]
            if busy and now - busy > self.timeout_interaction:
                log.warning("spare process %d did not start within %gs: killing it", spare.pid,
                            self.timeout_interaction)
                self.spares.kill(spare)
