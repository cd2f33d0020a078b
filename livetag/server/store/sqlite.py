"""``SQLiteStore``: session snapshots in one SQLite file (the standard library's ``sqlite3``).

The embedded ``SessionStore`` for one machine: every process serving the app (uvicorn
workers, gunicorn workers, a Runner's session processes) may open the same file. The
database runs in WAL mode (readers never wait for the writer); a claim is one ``BEGIN
IMMEDIATE`` transaction and a save one statement, so two processes never interleave a
read of the epoch with another's write.

Schema: ``snapshots(key PRIMARY KEY, epoch, data, saved_at, expires_at)`` and one
``epochs`` counter. Epochs come from that counter, shared by every key, so a new claim
is greater than any epoch ever returned, even after an expired row was swept away. A
save is one upsert that writes only while the row's epoch is the saver's.

I/O runs in one thread per store (a ``sqlite3`` connection belongs to the thread that
opened it), never on the event loop. (A ``Runner``'s session processes do not open the
file: their supervisor's store does their I/O, see ``processes.store_link``.)

The file is created ``0600`` in a directory made ``0700``; a directory writable by
others is refused.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import os
import queue
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ...errors import Fenced, StoreUnavailable
from ...threads import settle
from . import Snapshot

log = logging.getLogger("livetag.server.store")

T = TypeVar("T")

#: Seconds a claim without any save keeps its row (and so its epoch and the data it
#: guards) before the sweep may remove it.
CLAIM_TTL = 86_400.0
#: Seconds between two sweeps of expired rows (at most; a sweep rides on a write).
SWEEP_INTERVAL = 60.0
#: Seconds a write waits for another process's transaction before giving up.
BUSY_TIMEOUT = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    key TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL,
    data BLOB,
    saved_at REAL NOT NULL DEFAULT 0,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_expiry ON snapshots (expires_at);
CREATE TABLE IF NOT EXISTS epochs (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
INSERT OR IGNORE INTO epochs (id, last) VALUES (1, 0);
"""


def private_file(path: Path) -> None:
    """Make ``path``'s directory (``0700`` when created) and the file itself (``0600``,
    empty when new). Raises ``StoreUnavailable`` when the directory is writable by group
    or others, or belongs to another user (another account could swap the file)."""
    directory = path.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise StoreUnavailable(f"expected a private directory (owned by uid {os.getuid()}, not writable by "
                                   f"others) for the session store, got {directory} "
                                   f"(uid {info.st_uid}, mode {stat.filemode(info.st_mode)})")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StoreUnavailable(f"expected a writable session store file at {path}, got {exc}") from exc


class SQLiteStore:
    """A ``SessionStore`` in the SQLite file ``path`` (made if missing, with its private
    directory; see ``private_file``). Opening is lazy: the first call opens the file and
    raises ``StoreUnavailable`` if it is not a usable database (corrupt, locked, not
    writable); so does any later call that fails. Safe to share between processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._thread = _StoreThread()
        self._db: sqlite3.Connection | None = None
        self._last_sweep = 0.0
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- the SessionStore protocol ----------------------------------------------------------

    async def claim(self, key: str) -> int:
        return await self._run(self._claim, key)

    async def save(self, key: str, data: bytes, *, epoch: int, ttl: float) -> None:
        await self._run(self._save, key, data, epoch, ttl)

    async def load(self, key: str) -> Snapshot | None:
        return await self._run(self._load, key)

    async def delete(self, key: str) -> None:
        await self._run(self._delete, key)

    async def close(self) -> None:
        if not self._mark_closed():
            return
        await self._thread.stop_after(self._close_db)

    def close_now(self) -> None:
        """``close`` for code without an event loop (blocks until pending calls ended)."""
        if not self._mark_closed():
            return
        self._thread.stop_after_now(self._close_db)

    def _mark_closed(self) -> bool:
        """Mark the store closed; ``False`` when it already was (closing is idempotent)."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            return True

    # -- the store's thread -----------------------------------------------------------------

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        if self._closed:  # set before the thread stops taking calls
            raise StoreUnavailable(f"expected an open session store, got {self!r} closed")
        return await self._thread.run(self._call, func, *args)

    def _call(self, func: Callable[..., T], *args: object) -> T:
        try:
            return func(self._connection(), *args)
        except (Fenced, StoreUnavailable):
            raise
        except sqlite3.Error as exc:
            # A broken connection stays broken: reopen on the next call.
            self._close_db()
            raise StoreUnavailable(f"expected a usable SQLite session store at {self.path}, got "
                                   f"{type(exc).__name__}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            private_file(self.path)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=True)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL stays consistent
                db.executescript(_SCHEMA)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _close_db(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    @staticmethod
    @contextlib.contextmanager
    def _transaction(db: sqlite3.Connection) -> Iterator[None]:
        db.execute("BEGIN IMMEDIATE")  # the write lock now: no other writer between read and write
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _claim(self, db: sqlite3.Connection, key: str) -> int:
        now = time.time()
        with self._transaction(db):
            (epoch,) = db.execute("UPDATE epochs SET last = last + 1 WHERE id = 1 RETURNING last").fetchone()
            db.execute("INSERT INTO snapshots (key, epoch, data, saved_at, expires_at) VALUES (?, ?, NULL, 0, ?) "
                       "ON CONFLICT (key) DO UPDATE SET epoch = excluded.epoch, "
                       "expires_at = max(expires_at, excluded.expires_at)", (key, epoch, now + CLAIM_TTL))
        return int(epoch)

    def _save(self, db: sqlite3.Connection, key: str, data: bytes, epoch: int, ttl: float) -> None:
        now = time.time()
        # One statement, so one implicit transaction: the row is written only while its
        # epoch is ours (no row: the claim's row expired and nobody claimed since).
        while not db.execute("INSERT INTO snapshots (key, epoch, data, saved_at, expires_at) VALUES (?, ?, ?, ?, ?) "
                             "ON CONFLICT (key) DO UPDATE SET data = excluded.data, saved_at = excluded.saved_at, "
                             "expires_at = excluded.expires_at WHERE snapshots.epoch = excluded.epoch",
                             (key, epoch, data, now, now + ttl)).rowcount:
            row = db.execute("SELECT epoch FROM snapshots WHERE key = ?", (key,)).fetchone()
            if row is not None:
                raise Fenced(key, epoch, int(row[0]))
            # Deleted between the two statements: the next upsert inserts.
        if now - self._last_sweep > SWEEP_INTERVAL:
            self._last_sweep = now
            swept = db.execute("DELETE FROM snapshots WHERE expires_at < ?", (now,)).rowcount
            if swept:
                log.info("%d expired session snapshot(s) removed", swept)

    def _load(self, db: sqlite3.Connection, key: str) -> Snapshot | None:
        row = db.execute("SELECT data, epoch, saved_at FROM snapshots WHERE key = ? AND expires_at >= ? "
                         "AND data IS NOT NULL", (key, time.time())).fetchone()
        if row is None:
            return None
        data, epoch, saved_at = row
        if not isinstance(data, bytes):  # a row written by something else
            log.warning("session snapshot %s... is not a blob: ignored", key[:8])
            return None
        return Snapshot(data, int(epoch), float(saved_at))

    def _delete(self, db: sqlite3.Connection, key: str) -> None:
        db.execute("DELETE FROM snapshots WHERE key = ?", (key,))

    def sweep(self) -> int:
        """Remove expired rows now (blocking; tests and tools). Returns how many."""
        def run(db: sqlite3.Connection) -> int:
            return int(db.execute("DELETE FROM snapshots WHERE expires_at < ?", (time.time(),)).rowcount)
        swept: int = self._thread.call_now(self._call, run)
        return swept


class _StoreThread:
    """The store's one thread (a ``sqlite3`` connection belongs to the thread that opened
    it), started on the first call: calls run in order, each answered on the caller's
    loop (``run``) or to a blocked caller (``call_now``). Leaner than a one-worker
    ``ThreadPoolExecutor``: a call costs about half the CPU (no ``concurrent.futures``
    layer between the loop and the thread). ``stop_after``/``stop_after_now`` queue a
    last call: from then on no call is taken (``StoreUnavailable``) and the thread ends
    once the last one ran."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], _Answer] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = False
        self._open = True

    def run(self, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._put(func, args, _on_loop(future))
        return future

    def call_now(self, func: Callable[..., T], *args: Any) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._put(func, args, functools.partial(settle, future))
        return future.result()

    async def stop_after(self, func: Callable[[], None]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._last(func, _on_loop(future)):
            await future

    def stop_after_now(self, func: Callable[[], None]) -> None:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        if self._last(func, functools.partial(settle, future)):
            future.result()

    def _last(self, func: Callable[[], None], answer: _Answer) -> bool:
        """Queue ``func`` as the last call; ``False`` when nothing ever ran (no thread)."""
        with self._lock:
            self._open = False
            if not self._started:
                return False
            self._jobs.put((func, (), answer))
            self._jobs.put(None)
            return True

    def _put(self, func: Callable[..., Any], args: tuple[Any, ...], answer: _Answer) -> None:
        with self._lock:
            if not self._open:
                raise StoreUnavailable("expected an open session store, got it closed")
            if not self._started:
                self._started = True
                threading.Thread(target=self._work, name="livetag-store", daemon=True).start()
            self._jobs.put((func, args, answer))

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            func, args, answer = job
            try:
                result, exc = func(*args), None
            except BaseException as error:  # handed to the caller, raised there
                result, exc = None, error
            answer(result, exc)


_Answer = Callable[[Any, "BaseException | None"], None]


def _on_loop(future: asyncio.Future[Any]) -> _Answer:
    """An answer that settles ``future`` on its loop (from the store's thread)."""
    loop = future.get_loop()

    def answer(result: Any, exc: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(settle, future, result, exc)

    return answer
