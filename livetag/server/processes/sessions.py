"""The supervisor's session table: one ``SessionRecord`` per session process, its life
cycle (``ProcessState``), how it ended (``EndReason``, kept as a tombstone so that the
pages of that session are told in plain words), and the signals that end it.

Records are keyed by ``name``, the HMAC of (mount path, session id): the supervisor never
keys anything by a raw session id.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import signal
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .appref import AppRef
from .process import SharedField, StopReason

log = logging.getLogger("livetag.server.processes.supervisor")

#: Seconds a process asked to close cleanly (SIGTERM) gets before SIGKILL.
TERM_GRACE_SECONDS = 5.0
#: How many ended sessions are remembered (to tell their pages why), and for how long.
MAX_TOMBSTONES = 10_000
TOMBSTONE_SECONDS = 24 * 3600.0


class ProcessState(enum.Enum):
    """Life cycle of a session process, as the supervisor sees it."""

    STARTING = enum.auto()  # handed to the fork server
    LIVE = enum.auto()      # running (its socket accepts connections)
    CLOSING = enum.auto()   # asked to stop (SIGTERM or SIGKILL sent), not dead yet
    ENDED = enum.auto()     # dead and reaped


class EndReason(enum.Enum):
    """Why a session process ended. ``code`` is what its pages are told: ``"ended"``
    (show the message, do not reconnect) or ``"expired"`` (reload into a new session)."""

    TIMEOUT = ("ended", "This session was stopped: an action took longer than {timeout:g} s. "
                        "Reload the page to start again.")
    MEMORY = ("ended", "This session was stopped: it used more than {memory} MB of memory. "
                       "Reload the page to start again.")
    INACTIVITY = ("ended", "This session ended after {inactivity:g} s without activity. "
                           "Reload the page to start a new one.")
    CRASHED = ("ended", "This session ended unexpectedly. Reload the page to start again.")
    REPLACED = ("ended", "This session was opened again in another page with other parameters.")
    DISCARDED = ("expired", "the session ended")
    EXPIRED = ("expired", "the session expired")
    SHUTDOWN = ("expired", "the server stopped")
    #: In a cluster: another machine owns the session now (its process was fenced).
    MOVED = ("expired", "the session moved to another server")

    @property
    def code(self) -> str:
        return self.value[0]


#: What a process asked to close cleanly is told (``SharedField.STOP_REASON``).
STOP_REASONS = {EndReason.INACTIVITY: StopReason.INACTIVITY, EndReason.REPLACED: StopReason.REPLACED,
                EndReason.DISCARDED: StopReason.DISCARDED, EndReason.SHUTDOWN: StopReason.SHUTDOWN}
#: Ends that are the normal course of things (logged at INFO; the others at WARNING).
EXPECTED_ENDS = (EndReason.EXPIRED, EndReason.SHUTDOWN, EndReason.DISCARDED, EndReason.REPLACED,
                 EndReason.INACTIVITY, EndReason.MOVED)


class ServerFull(Exception):
    """No session process can be started: ``max_sessions`` live, every one joined."""


@dataclass(eq=False)
class SessionRecord:
    """One session process. ``options``: (debug, parano, http_only); ``shared``: the
    doubles it shares with the supervisor (indexed by ``SharedField``)."""

    name: str
    base: str
    query: tuple[tuple[str, str], ...]
    app: AppRef
    options: tuple[bool, bool, bool]
    shared: Any
    state: ProcessState = ProcessState.STARTING
    reason: EndReason | None = None
    process: Any = None
    pid: int = 0
    socket_ino: int = 0
    started: float = field(default_factory=time.monotonic)
    term_deadline: float = 0.0

    @property
    def log_id(self) -> str:
        return self.name[:8]


def normalised_query(query: str) -> tuple[tuple[str, str], ...]:
    """The page's query parameters in a canonical order, without ``n`` (new session)."""
    return tuple(sorted((k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "n"))


class SessionTable:
    """The live sessions (``sessions``: name -> record), those asked to stop and not yet
    dead (``closing``), those being created (``creating``: waiters of a second page load
    of the same session), and tombstones of the ended ones. ``socket_dir``: where the
    sessions' sockets are (``s/``), removed when their session ends."""

    def __init__(self, socket_dir: Path) -> None:
        self.socket_dir = socket_dir
        self.sessions: dict[str, SessionRecord] = {}
        self.closing: set[SessionRecord] = set()
        self.creating: dict[str, asyncio.Future[SessionRecord]] = {}
        self.tombstones: OrderedDict[str, tuple[EndReason, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.sessions)

    @staticmethod
    def alive(record: SessionRecord) -> bool:
        return record.state in (ProcessState.STARTING, ProcessState.LIVE) and record.process is not None \
            and record.process.exitcode is None

    def add(self, record: SessionRecord) -> None:
        """``record`` is live under its name (a process it replaces is closing)."""
        old = self.sessions.get(record.name)
        if old is not None and old is not record:
            self.closing.add(old)
        self.sessions[record.name] = record
        self.tombstones.pop(record.name, None)

    def ended(self, record: SessionRecord) -> bool:
        """The process of ``record`` is dead: mark it, remember why, remove its socket.
        Returns ``False`` when it was already marked."""
        if record.state is ProcessState.ENDED:
            return False
        code = record.process.exitcode
        if record.reason is None:
            record.reason = EndReason.EXPIRED if code == 0 else EndReason.CRASHED
        record.state = ProcessState.ENDED
        self.closing.discard(record)
        with contextlib.suppress(Exception):
            record.process.close()
        if self.sessions.get(record.name) is record:
            del self.sessions[record.name]
            self.tombstones[record.name] = (record.reason, time.monotonic())
            self.trim_tombstones()
            with contextlib.suppress(OSError):
                path = self.socket_dir / record.name
                if os.stat(path).st_ino == record.socket_ino:
                    os.unlink(path)
        level = logging.INFO if record.reason in EXPECTED_ENDS else logging.WARNING
        log.log(level, "session process %d of %s ended (%s, exit code %s)", record.pid, record.log_id,
                record.reason.name.lower(), code)
        return True

    def trim_tombstones(self) -> None:
        now = time.monotonic()
        while self.tombstones:
            name, (_, when) = next(iter(self.tombstones.items()))
            if len(self.tombstones) <= MAX_TOMBSTONES and now - when < TOMBSTONE_SECONDS:
                break
            del self.tombstones[name]

    @staticmethod
    def signal(record: SessionRecord, sig: int) -> None:
        # Only a process we started and have not seen die: its pid cannot have been reused.
        if record.process is not None and record.process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, sig)

    def kill(self, record: SessionRecord, reason: EndReason) -> None:
        """SIGKILL the process of ``record`` (the first reason given stands)."""
        if record.state is not ProcessState.CLOSING:  # else the first reason stands
            record.reason = reason
        record.state = ProcessState.CLOSING
        self.closing.add(record)
        self.signal(record, signal.SIGKILL)

    def terminate(self, record: SessionRecord, reason: EndReason, grace: float = TERM_GRACE_SECONDS) -> None:
        """Ask the process to close its session cleanly (``on_destroy`` runs): SIGTERM,
        then SIGKILL after ``grace`` seconds (see ``kill_overdue``)."""
        if record.state is ProcessState.CLOSING:
            return
        record.reason = reason
        record.state = ProcessState.CLOSING
        record.term_deadline = time.monotonic() + grace
        record.shared[SharedField.STOP_REASON] = STOP_REASONS.get(reason, StopReason.SHUTDOWN)
        self.closing.add(record)
        if reason in (EndReason.REPLACED, EndReason.DISCARDED) and self.sessions.get(record.name) is record:
            del self.sessions[record.name]  # its successor takes the name
        self.signal(record, signal.SIGTERM)

    def kill_overdue(self, now: float) -> None:
        """SIGKILL the processes asked to close cleanly that did not within their grace."""
        for record in list(self.closing):
            if record.term_deadline and now > record.term_deadline and record.state is ProcessState.CLOSING:
                record.term_deadline = 0.0
                self.signal(record, signal.SIGKILL)

    def make_room(self) -> None:
        """The server is full: end the oldest session process no page ever joined (a page
        load that went no further, see ``SharedField.JOINED``), else raise ``ServerFull``."""
        unjoined = [r for r in self.sessions.values()
                    if r.state is ProcessState.LIVE and not r.shared[SharedField.JOINED]]
        if not unjoined:
            raise ServerFull()
        oldest = min(unjoined, key=lambda r: r.started)
        log.info("server full: ending session process %d of %s, which no page joined", oldest.pid, oldest.log_id)
        self.terminate(oldest, EndReason.DISCARDED)  # out of ``sessions`` at once: its successor takes the place
