"""``SQLiteStore``: fencing by epoch, expiry, several processes on one file, and failure
modes (a corrupt or locked file is ``StoreUnavailable``, never a crash)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from livetag.errors import Fenced, StoreUnavailable
from livetag.server.store import SessionStore
from livetag.server.store import sqlite as sqlite_module
from livetag.server.store.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "private" / "sessions.sqlite3")
    yield s  # type: ignore[misc]
    await s.close()


def test_it_is_a_session_store(tmp_path: Path) -> None:
    store: SessionStore = SQLiteStore(tmp_path / "s.db")  # mypy checks the protocol
    assert isinstance(store, SQLiteStore)


async def test_the_file_is_private(store: SQLiteStore) -> None:
    await store.claim("k")
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


async def test_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    s = SQLiteStore(shared / "s.db")
    with pytest.raises(StoreUnavailable, match="private directory"):
        await s.claim("k")
    await s.close()


async def test_claims_increase_and_fence_older_owners(store: SQLiteStore) -> None:
    first = await store.claim("k")
    await store.save("k", b"one", epoch=first, ttl=60)
    loaded = await store.load("k")
    assert loaded is not None and loaded.data == b"one" and loaded.epoch == first
    assert loaded.saved_at <= time.time()

    second = await store.claim("k")
    assert second > first
    with pytest.raises(Fenced) as refused:
        await store.save("k", b"stale", epoch=first, ttl=60)
    assert (refused.value.epoch, refused.value.current) == (first, second)
    loaded = await store.load("k")
    assert loaded is not None and loaded.data == b"one"  # the claim kept the data it guards
    await store.save("k", b"two", epoch=second, ttl=60)
    assert (await store.load("k")).data == b"two"  # type: ignore[union-attr]
    assert await store.claim("other") > second  # one counter for every key


async def test_a_claim_without_save_has_no_snapshot(store: SQLiteStore) -> None:
    await store.claim("k")
    assert await store.load("k") is None
    assert await store.load("never") is None


async def test_snapshots_expire_and_are_swept(store: SQLiteStore) -> None:
    epoch = await store.claim("k")
    await store.save("k", b"short", epoch=epoch, ttl=0.05)
    deadline = time.time() + 0.05
    while time.time() <= deadline + 0.01:
        await asyncio.sleep(0.02)
    assert await store.load("k") is None
    assert await asyncio.to_thread(store.sweep) == 1
    # Swept: the next claim still outnumbers every epoch given before.
    assert await store.claim("k") > epoch


async def test_delete_is_idempotent(store: SQLiteStore) -> None:
    epoch = await store.claim("k")
    await store.save("k", b"x", epoch=epoch, ttl=60)
    await store.delete("k")
    await store.delete("k")
    assert await store.load("k") is None


async def test_a_closed_store_refuses_calls(store: SQLiteStore) -> None:
    await store.close()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.load("k")


async def test_a_corrupt_file_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "private" / "s.db"
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"this is not an sqlite database" * 100)
    path.chmod(0o600)
    s = SQLiteStore(path)
    try:
        with pytest.raises(StoreUnavailable, match="SQLite"):
            await s.claim("k")
        with pytest.raises(StoreUnavailable):
            await s.load("k")
    finally:
        await s.close()


async def test_a_locked_file_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT", 0.2)
    path = tmp_path / "private" / "s.db"
    s = SQLiteStore(path)
    await s.claim("k")  # made, in WAL mode
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process that keeps the write lock
        with pytest.raises(StoreUnavailable, match="locked"):
            await s.claim("k")
        holder.execute("ROLLBACK")
        assert await s.claim("k") > 1  # usable again once the lock is gone
    finally:
        holder.close()
        await s.close()


def _claim_many(path: str, key: str, count: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def run() -> list[int]:
        s = SQLiteStore(path)
        epochs = [await s.claim(key) for _ in range(count)]
        await s.close()
        return epochs
    out.put(asyncio.run(run()))


def _save_stale(path: str, key: str, epoch: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def run() -> str:
        s = SQLiteStore(path)
        try:
            await s.save(key, b"from the old owner", epoch=epoch, ttl=60)
            return "saved"
        except Fenced:
            return "fenced"
        finally:
            await s.close()
    out.put(asyncio.run(run()))


async def test_processes_sharing_a_file_get_distinct_epochs_and_are_fenced(tmp_path: Path) -> None:
    path = str(tmp_path / "private" / "s.db")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_many, args=(path, "k", 25, out)) for _ in range(3)]
    for p in procs:
        p.start()
    try:
        results = [await asyncio.to_thread(out.get, True, 60) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()  # by its PID: only processes this test started
                p.join(5)
    epochs = [e for r in results for e in r]
    assert len(set(epochs)) == 75  # claims never interleave into a shared epoch
    assert all(r == sorted(r) for r in results)

    s = SQLiteStore(path)
    try:
        old = await s.claim("k")
        await s.save("k", b"current", epoch=old, ttl=60)
        newer = await s.claim("k")
        stale = ctx.Process(target=_save_stale, args=(path, "k", old, out))
        stale.start()
        try:
            assert await asyncio.to_thread(out.get, True, 60) == "fenced"
        finally:
            stale.join(30)
        await s.save("k", b"newest", epoch=newer, ttl=60)
        assert (await s.load("k")).data == b"newest"  # type: ignore[union-attr]
    finally:
        await s.close()
    assert os.path.exists(path)


async def test_one_thread_runs_every_call_and_ends_with_the_store(tmp_path: Path) -> None:
    import threading

    def store_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "livetag-store"}

    before = store_threads()  # others' may end meanwhile: only new ones count
    unused = SQLiteStore(tmp_path / "unused" / "s.db")
    await unused.close()  # never called: no thread was started, none is left
    s = SQLiteStore(tmp_path / "private" / "s.db")
    epochs = await asyncio.gather(*[s.claim(f"k{i}") for i in range(20)])  # queued, answered in order
    assert epochs == sorted(epochs) and len(set(epochs)) == 20
    assert len(store_threads() - before) == 1
    assert s.sweep() == 0  # a blocking call, on the same thread (the connection is that thread's)
    await s.close()
    with pytest.raises(StoreUnavailable):
        await s.save("k0", b"x", epoch=epochs[0], ttl=60)
    for _ in range(100):
        if not store_threads() - before:
            break
        await asyncio.sleep(0.01)
    assert not store_threads() - before
    blocking = SQLiteStore(tmp_path / "blocking" / "s.db")
    assert blocking.sweep() == 0
    blocking.close_now()  # without a loop: the same end
    with pytest.raises(StoreUnavailable):
        blocking.sweep()
