"""``SupervisorConfig``: what a web worker starts the supervisor with, typed.

Built by ``Runner`` (``Runner.supervisor_config``), completed by ``supervisor_client``
when it spawns the supervisor (``base``, ``anchor``, ``sys_path``, ``ready_fd``), sent as
JSON on the supervisor's stdin (``to_json`` / ``from_json``) and read by
``bootstrap.main``. Frozen: nothing changes it once the supervisor runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

# What the supervisor tells its fork server (``preload``, imported there and only there:
# the import is the preload) through the environment.
#: The apps to import (JSON list of ``AppRef``).
PRELOAD_ENV = "LIVETAG_RUNNER_PRELOAD"
LOG_LEVEL_ENV = "LIVETAG_RUNNER_LOG_LEVEL"
#: The web worker's ``sys.path`` (JSON), so that the fork server finds the app's module
#: where the worker did (Python 3.11's fork server does not apply the parent's).
SYS_PATH_ENV = "LIVETAG_RUNNER_SYS_PATH"
#: The ``ProcessConfig`` (JSON, no session id) sessions most likely get.
EXPECTED_ENV = "LIVETAG_RUNNER_EXPECTED"
#: "1": the fork server marks its memory, so its children's, mergeable (``ksm``).
MERGE_PAGES_ENV = "LIVETAG_RUNNER_MERGE_PAGES"

#: The environment variable ``Runner(drain_timeout=None)`` reads (seconds).
DRAIN_TIMEOUT_ENV = "LIVETAG_DRAIN_TIMEOUT"
#: Seconds a stopping server gives its session processes by default (see ``drain_timeout``).
DEFAULT_DRAIN_TIMEOUT = 5.0


def drain_timeout(value: float | None = None, environ: Mapping[str, str] | None = None) -> float:
    """The drain deadline in seconds: ``value``, else ``$LIVETAG_DRAIN_TIMEOUT``, else
    ``DEFAULT_DRAIN_TIMEOUT``. Raises ``ValueError`` for anything but a finite number of
    seconds from 0 to 3600."""
    env = os.environ if environ is None else environ
    where = "drain_timeout"
    if value is None and env.get(DRAIN_TIMEOUT_ENV):
        where, raw = f"${DRAIN_TIMEOUT_ENV}", env[DRAIN_TIMEOUT_ENV]
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected {where} as seconds, got {raw[:20]!r}") from None
    seconds = DEFAULT_DRAIN_TIMEOUT if value is None else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds) \
            or not 0 <= seconds <= 3600:
        raise ValueError(f"expected {where} as seconds from 0 to 3600, got {seconds!r}")
    return float(seconds)


@dataclass(frozen=True)
class SupervisorConfig:
    """The supervisor's configuration. Times in seconds, memory in MB.

    ``timeout_interaction``: an event handler (or ``init``, or a spare's start) running
    longer gets its process killed; ``timeout_inactivity``: a session without activity
    that long is closed (0: never); ``max_memory_mb``: RSS above which a session process
    is killed (``None``: no bound); ``max_sessions``: session processes at most;
    ``spare_processes``: processes started ahead of need; ``limits``: ``Limits`` keyword
    arguments for each session's ``WebApp``; ``allowed_origins`` / ``allowed_hosts``: as
    ``WebApp``'s (``None``: its default); ``session_secret``: signs ``request.session``
    (``None``: the supervisor makes one); ``preload``: ``AppRef.to_json()`` of the apps the
    fork server imports (the first: what the next spare expects); ``log_level``: a level
    name or ``None``; ``options``: (debug, parano, http_only) of the Runner;
    ``new_sessions``: (per second, burst) of the per-address budget of new sessions;
    ``store``: the SQLite file sessions are snapshotted to (``None``: not persisted),
    ``snapshot_ttl``: seconds a snapshot outlives its last save.
    ``cluster``: ``ClusterConfig.to_dict()`` of the cluster this server joins, or ``None``.
    ``drain_timeout``: seconds the stopping supervisor gives its session processes to
    finish their event and save their session before it kills them.
    ``merge_pages``: session processes are marked mergeable by the kernel's samepage
    merging (``ksm``).
    Set when spawned: ``base`` (the server's private directory), ``anchor`` (the pid
    whose end ends the supervisor), ``sys_path`` (the web worker's), ``ready_fd`` (where
    the supervisor writes its ``{"pid", "instance"}`` line once ready)."""

    timeout_interaction: float = 60.0
    timeout_inactivity: float = 0.0
    max_memory_mb: float | None = None
    max_sessions: int = 1000
    spare_processes: int = 1
    limits: dict[str, Any] = field(default_factory=dict)
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] | None = None
    session_secret: str | None = None
    preload: tuple[dict[str, Any], ...] = ()
    log_level: str | None = None
    options: tuple[bool, bool, bool] = (False, False, False)
    new_sessions: tuple[float, int] = (0.0, 1)
    store: str | None = None
    snapshot_ttl: float = 3600.0
    cluster: dict[str, Any] | None = None
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    merge_pages: bool = True
    base: str = ""
    anchor: int = 0
    sys_path: tuple[str, ...] = ()
    ready_fd: int | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> SupervisorConfig:
        """Raises ``ValueError`` (``orjson.JSONDecodeError`` included), ``KeyError`` or
        ``TypeError`` for a message that is not a configuration."""
        f = orjson.loads(data)
        hosts = f.get("allowed_hosts")
        debug, parano, http_only = (bool(x) for x in f.get("options", (False, False, False)))
        rate, burst = f.get("new_sessions") or (0.0, 1)
        return cls(timeout_interaction=float(f["timeout_interaction"]),
                   timeout_inactivity=float(f.get("timeout_inactivity") or 0.0),
                   max_memory_mb=f.get("max_memory_mb"),  # as given: its messages say "200 MB", not "200.0 MB"
                   max_sessions=int(f["max_sessions"]), spare_processes=max(0, int(f.get("spare_processes", 1))),
                   limits=dict(f.get("limits") or {}),
                   allowed_origins=tuple(str(o) for o in f.get("allowed_origins", ())),
                   allowed_hosts=None if hosts is None else tuple(str(h) for h in hosts),
                   session_secret=f.get("session_secret") or None, preload=tuple(f.get("preload") or ()),
                   log_level=f.get("log_level") or None, options=(debug, parano, http_only),
                   new_sessions=(float(rate), int(burst)), store=f.get("store") or None,
                   snapshot_ttl=float(f.get("snapshot_ttl") or 3600.0),
                   cluster=dict(f["cluster"]) if f.get("cluster") else None,
                   drain_timeout=float(f.get("drain_timeout", DEFAULT_DRAIN_TIMEOUT)),
                   merge_pages=bool(f.get("merge_pages", True)), base=str(f.get("base", "")),
                   anchor=int(f.get("anchor", 0)),
                   sys_path=tuple(str(p) for p in f.get("sys_path", ())), ready_fd=f.get("ready_fd"))
