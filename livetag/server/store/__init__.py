"""Session persistence: the ``SessionStore`` interface.

A *snapshot* is what a session needs to resume after its process is gone (a restart on one
machine, a machine lost in a cluster): opaque bytes produced by the session layer (its
``States`` and declared persistent attributes, with a schema version), stored under a
*key* derived from the session id (never the id itself: a leaked store must not leak
session cookies).

Ownership is fenced by *epochs*, as in Kleppmann's fencing tokens: ``claim`` makes the
caller the session's owner and returns a new epoch, strictly greater than any before it;
``save`` carries the epoch it was claimed with and is refused (``Fenced``) once a later
claim exists, so a paused or partitioned former owner can never overwrite newer state.

Implementations: ``livetag.server.store.sqlite.SQLiteStore`` (one machine, the embedded
default; the standard library's ``sqlite3``) and a Redis one for the cluster. Both run
their I/O off the event loop or asynchronously; every method is a coroutine.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """A stored snapshot. ``data``: the session layer's bytes; ``epoch``: the claim it was
    written under; ``saved_at``: wall-clock seconds (``time.time()``) of the write."""

    data: bytes
    epoch: int
    saved_at: float


class SessionStore(Protocol):
    """Where snapshots live (module docstring). Every method raises
    ``livetag.errors.StoreUnavailable`` when the store cannot be reached."""

    async def claim(self, key: str) -> int:
        """Become the owner of session ``key``: returns a new epoch, greater than every
        epoch returned for ``key`` before (by any process or machine sharing the store)."""

    async def save(self, key: str, data: bytes, *, epoch: int, ttl: float) -> None:
        """Store ``data`` for ``key``, to expire ``ttl`` seconds from now. Raises
        ``livetag.errors.Fenced`` when ``epoch`` is not the latest claimed for ``key``."""

    async def load(self, key: str) -> Snapshot | None:
        """The latest unexpired snapshot of ``key``, or ``None``."""

    async def delete(self, key: str) -> None:
        """Forget ``key`` (the session ended on purpose). Idempotent."""

    async def close(self) -> None:
        """Release connections and files. Idempotent."""
