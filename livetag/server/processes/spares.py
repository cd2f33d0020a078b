"""The spare pool: processes started ahead of need, each waiting for the next new session.

A *spare* is forked (through the fork server, ``forkserver``), runs its event loop and waits; a new
session is handed to it (its ``ProcessConfig`` and listening socket over a socket pair,
``SCM_RIGHTS``), so that a new session costs a message rather than a fork, and the next
spare starts in the background. Spares start at low priority when that can be undone
(see ``priority``) and get the normal one at the handoff. A spare that dies is replaced,
after a growing pause if spares keep dying young. No spare starts while the server is
full or stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .forkserver import ForkedProcess, ForkServer, SharedDoubles
from .priority import restore_priority, start_process
from .process import ProcessConfig, SharedField, StopReason

log = logging.getLogger("livetag.server.processes.supervisor")

#: Seconds between a handoff and the start of the next spare: the new session's first
#: page goes first (a spare's start is mostly a fork and the interpreter's bootstrap).
SPARE_DELAY_SECONDS = 0.02
#: A spare that dies younger than this counts as a failed start: the next one waits
#: 0.5 s, 1 s, 2 s... up to ``SPARE_MAX_BACKOFF_SECONDS``.
SPARE_MIN_LIFE_SECONDS = 5.0
SPARE_MAX_BACKOFF_SECONDS = 30.0


class SpareState(enum.Enum):
    """Life cycle of a spare process, as the supervisor sees it."""

    WAITING = enum.auto()   # forked: finishing its start (``SharedField.BUSY_SINCE`` set), then waiting
    CLOSING = enum.auto()   # killed (too slow to start, server stopping), not dead yet
    TAKEN = enum.auto()     # handed a session: from now on a ``SessionRecord``
    ENDED = enum.auto()     # dead and reaped without having been taken


@dataclass(eq=False)
class Spare:
    """A spare process: ``control`` is the supervisor's end of its socket pair."""

    expected: ProcessConfig
    shared: Any
    control: socket.socket
    niced: bool  # it must be given the normal priority at the handoff
    state: SpareState = SpareState.WAITING
    process: Any = None
    pid: int = 0
    started: float = field(default_factory=time.monotonic)


class SparePool:
    """Keeps ``count`` spares waiting. ``forks``: the fork server;
    ``executor``: the one thread that starts processes; ``base_priority``: the supervisor's nice
    value (what a session gets); ``has_room``: whether a new session could still start
    (no spare is started otherwise). Set before use: ``loop`` and ``low_priority`` (the
    nice value spares start at, ``None``: as born) by ``Supervisor.run``; ``expected``:
    the configuration the next spare builds its ``WebApp`` for (the last session's);
    ``stopping`` once the server stops."""

    def __init__(self, forks: ForkServer, executor: ThreadPoolExecutor, count: int,
                 base_priority: int, has_room: Callable[[], bool], expected: ProcessConfig | None) -> None:
        self.forks = forks
        self.executor = executor
        self.count = count
        self.base_priority = base_priority
        self.has_room = has_room
        self.expected = expected
        self.low_priority: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False
        self.spares: list[Spare] = []
        self.starting: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.failures = 0

    def waiting(self) -> list[Spare]:
        return [s for s in self.spares if s.state is SpareState.WAITING]

    def stop(self) -> None:
        """The server stops: start no more spares."""
        self.stopping = True
        if self.timer is not None:
            self.timer.cancel()

    def kill_all(self) -> None:
        for spare in list(self.spares):
            self.kill(spare)  # a spare holds no session: nothing to close cleanly

    async def hand(self, config: ProcessConfig, listener: socket.socket) -> tuple[Any, Any] | None:
        """Give ``config`` and ``listener`` to a live spare. Returns (process, shared) of
        the spare, now a session process; ``None`` when no spare could take it."""
        assert self.loop is not None
        if not self.waiting() and self.starting is not None:
            # A spare is being forked right now: nearer than a fork of our own (the
            # fork server's thread takes one start at a time anyway).
            with contextlib.suppress(Exception):
                await asyncio.shield(self.starting)
        for spare in self.waiting():
            if spare.process.exitcode is not None:
                continue  # dead: its sentinel callback replaces it
            now = time.monotonic()
            spare.shared[SharedField.BUSY_SINCE] = now  # from now on the session's start: same timeout
            spare.shared[SharedField.LAST_ACTIVE] = now
            spare.shared[SharedField.STOP_REASON] = StopReason.SHUTDOWN
            if spare.niced:
                # It serves a user now: normal priority, before it wakes up (raised while
                # it runs, it would take this CPU from the supervisor at once).
                try:
                    restore_priority(spare.pid, self.base_priority)
                except OSError as exc:  # never a user's session at low priority
                    log.warning("spare process %d could not get its priority back (%s): not used", spare.pid, exc)
                    self.kill(spare)
                    continue
            try:
                socket.send_fds(spare.control, [config.to_json()], [listener.fileno()])
            except OSError as exc:
                log.info("spare process %d could not take a session (%s): another one is used", spare.pid, exc)
                self.kill(spare)
                continue
            spare.state = SpareState.TAKEN
            self.spares.remove(spare)
            self.loop.remove_reader(spare.process.sentinel)  # the session's record watches it now
            spare.control.close()
            self.refill(SPARE_DELAY_SECONDS)
            return spare.process, spare.shared
        return None

    def refill(self, delay: float = 0.0) -> None:
        """Start a spare (after ``delay`` s) if fewer than ``count`` wait, no start is
        under way and a session could still take one (not full)."""
        if (self.stopping or self.loop is None or self.starting is not None or self.timer is not None
                or len(self.waiting()) >= self.count or self.expected is None or not self.has_room()):
            return
        if delay > 0:
            self.timer = self.loop.call_later(delay, self._refill_now)
        else:
            self.starting = self.loop.create_task(self._start())

    def _refill_now(self) -> None:
        self.timer = None
        self.refill()

    async def _start(self) -> None:
        assert self.loop is not None and self.expected is not None
        try:
            shared = SharedDoubles(len(SharedField))
            shared[SharedField.BUSY_SINCE] = time.monotonic()  # its start has the interaction timeout too
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            ours.setblocking(False)
            spare = Spare(self.expected, shared, ours, niced=self.low_priority is not None)
            try:
                process = ForkedProcess(self.forks, "spare", spare.expected.to_json(), theirs, shared,
                                        self.base_priority if spare.niced else None)
                await self.loop.run_in_executor(self.executor, start_process, process, None, self.low_priority)
            except BaseException:
                ours.close()
                raise
            finally:
                theirs.close()
            spare.process, spare.pid = process, process.pid
            self.spares.append(spare)
            self.loop.add_reader(process.sentinel, self._exited, spare)
            log.debug("spare process %d started", spare.pid)
            if self.stopping or not self.has_room():
                # The server filled up (or began to stop) while it started: it could
                # only wait, holding memory, for a session that has no room.
                self.kill(spare)
        except Exception:
            log.exception("could not start a spare process")
            self.failures += 1
        finally:
            self.starting = None
        self.refill(self.backoff())

    def backoff(self) -> float:
        if not self.failures:
            return 0.0
        return min(SPARE_MAX_BACKOFF_SECONDS, 0.5 * 2.0 ** (self.failures - 1))

    def kill(self, spare: Spare) -> None:
        if spare.state is SpareState.WAITING:
            spare.state = SpareState.CLOSING
            if spare.process is not None and spare.process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):  # ours, not seen dead: not a reused pid
                    os.kill(spare.pid, signal.SIGKILL)

    def _exited(self, spare: Spare) -> None:
        """The spare process ``spare`` is dead (its sentinel became readable)."""
        assert self.loop is not None
        self.loop.remove_reader(spare.process.sentinel)
        expected = spare.state is SpareState.CLOSING
        spare.state = SpareState.ENDED
        if spare in self.spares:
            self.spares.remove(spare)
        spare.control.close()
        code = spare.process.exitcode
        with contextlib.suppress(Exception):
            spare.process.close()
        if self.stopping:
            return
        if time.monotonic() - spare.started < SPARE_MIN_LIFE_SECONDS:
            self.failures += 1
        else:
            self.failures = 0
        log.log(logging.INFO if expected else logging.WARNING, "spare process %d ended (exit code %s): "
                "starting another%s", spare.pid, code,
                f" in {self.backoff():g} s" if self.backoff() else "")
        self.refill(self.backoff())
