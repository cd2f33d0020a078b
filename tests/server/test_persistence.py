"""``livetag.server.persistence`` around a real ``Session`` and a real ``SQLiteStore``:
debounced saves, snapshot errors, fencing, restore, envelope checks."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from livetag import States, Tag
from livetag.errors import StoreUnavailable
from livetag.server.persistence import Persistence, key
from livetag.server.store.sqlite import SQLiteStore
from livetag.session import Session


class Counted(SQLiteStore):
    """An SQLiteStore that counts its saves (every call still reaches the file)."""

    saves = 0

    async def save(self, key: str, data: bytes, *, epoch: int, ttl: float) -> None:
        self.saves += 1
        await super().save(key, data, epoch=epoch, ttl=ttl)


class Counter(Tag.App):
    def init(self) -> None:
        self.s = States(count=0)
        self <= Tag.span(self.s.count, _class="value")


async def settle(persistence: Persistence) -> None:
    """Wait until no save is due or running."""
    for _ in range(200):
        await asyncio.sleep(0.02)
        pending = [t for t in persistence._tracked.values() if t.handle is not None or
                   (t.saving is not None and not t.saving.done()) or t.claiming is not None]
        if not pending and not persistence._tasks:
            return
    raise AssertionError("expected the saves to settle")


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = Counted(tmp_path / "p" / "s.db")
    yield s
    await s.close()


async def test_a_burst_of_changes_is_one_save(store: Counted) -> None:
    persistence = Persistence(store, ttl=60)
    session = Session(Counter)
    persistence.attach(session, key("", "sid"))
    await settle(persistence)
    first = store.saves
    assert first == 1  # the initial state, once claimed
    for _ in range(50):
        session.app.s.count += 1
        session.flush()
    await settle(persistence)
    assert store.saves - first == 1
    loaded = await store.load(key("", "sid"))
    assert loaded is not None and orjson.loads(loaded.data)["app"]["states"]["s"]["count"] == 50
    session.flush()  # nothing changed: nothing written
    await settle(persistence)
    assert store.saves - first == 1


async def test_restore_builds_the_session_and_accepts_the_old_token(store: Counted) -> None:
    persistence = Persistence(store, ttl=60)
    old = Session(Counter)
    persistence.attach(old, key("", "sid"))
    old.app.s.count = 7
    old.flush()
    await settle(persistence)

    fresh = Persistence(store, ttl=60)  # another process
    made: list[Session] = []

    async def build() -> Session:
        made.append(Session(Counter))
        return made[-1]

    session = await fresh.restore(key("", "sid"), build, lambda s: None)
    assert session is made[0] and session.app.s.count == 7
    assert session.check_token(old.csrf_token) and not session.check_token("other")
    assert session.revision > old.revision
    # The old owner is fenced from now on, and stops.
    old.app.s.count = 8
    old.flush()
    await settle(persistence)
    assert persistence._tracked[old].stopped
    loaded = await store.load(key("", "sid"))
    assert orjson.loads(loaded.data)["app"]["states"]["s"]["count"] == 7  # type: ignore[union-attr]
    assert await fresh.restore(key("", "unknown"), build, lambda s: None) is None and len(made) == 1


async def test_values_json_cannot_carry_are_logged_and_nothing_is_written(
        store: Counted, caplog: pytest.LogCaptureFixture) -> None:
    persistence = Persistence(store, ttl=60, debug=True)
    session = Session(Counter)
    persistence.attach(session, key("", "sid"))
    await settle(persistence)
    session.app.s.count = {1, 2}.__iter__()  # an iterator: no JSON for it
    session.flush()
    await settle(persistence)
    assert "Counter.s" in caplog.text and "cannot snapshot" in caplog.text
    loaded = await store.load(key("", "sid"))
    assert orjson.loads(loaded.data)["app"]["states"]["s"]["count"] == 0  # type: ignore[union-attr]


async def test_an_unreachable_store_leaves_the_session_running(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "open").mkdir(mode=0o777)
    (tmp_path / "open").chmod(0o777)  # refused: others could swap the file
    store = SQLiteStore(tmp_path / "open" / "s.db")
    persistence = Persistence(store, ttl=60)
    session = Session(Counter)
    persistence.attach(session, key("", "sid"))
    await settle(persistence)
    assert "not saved until the store answers" in caplog.text
    session.app.s.count = 1
    session.flush()
    assert session.app.s.count == 1
    with pytest.raises(StoreUnavailable):
        await store.load("k")
    (tmp_path / "open").chmod(0o700)  # the store answers again: the claim is made, the state saved
    persistence.claim_again()
    await settle(persistence)
    stored = await store.load(key("", "sid"))
    assert stored is not None and b'"count":1' in stored.data
    await persistence.close()
    await store.close()


class Outage(SQLiteStore):
    """An SQLiteStore whose saves fail as a Redis that is down does, while ``down``."""

    down = False
    refused = 0

    async def save(self, key: str, data: bytes, *, epoch: int, ttl: float) -> None:
        if self.down:
            self.refused += 1
            raise StoreUnavailable("the test's store is down")
        await super().save(key, data, epoch=epoch, ttl=ttl)


async def test_a_snapshot_the_store_could_not_take_catches_up_once_it_is_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="livetag.server.persistence")
    store = Outage(tmp_path / "o" / "s.db")
    persistence = Persistence(store, ttl=60)
    session = Session(Counter)
    persistence.attach(session, key("", "sid"))
    await settle(persistence)
    store.down = True
    session.app.s.count = 5
    session.flush()
    for _ in range(300):  # retried while it is down, logged once
        if store.refused >= 2:
            break
        await asyncio.sleep(0.02)
    assert store.refused >= 2 and caplog.text.count("snapshot not saved") == 1
    store.down = False  # and no change since: the retry alone saves it
    for _ in range(300):
        loaded = await store.load(key("", "sid"))
        if loaded is not None and orjson.loads(loaded.data)["app"]["states"]["s"]["count"] == 5:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("expected the snapshot of 5 once the store is back")
    await settle(persistence)
    refused = store.refused
    await asyncio.sleep(0.05)
    assert store.refused == refused and "snapshot saved again" in caplog.text
    await store.close()


def test_a_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ttl"):
        Persistence(SQLiteStore("/nonexistent/x.db"), ttl=0)


async def test_no_saves_after_the_final_one(store: Counted, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    persistence = Persistence(store, ttl=60)
    session = Session(Counter)
    persistence.attach(session, key("", "sid"))
    await settle(persistence)
    session.app.s.count = 3
    session.flush()
    await persistence.save_all()  # the server stops: saved now, not after the debounce
    loaded = await store.load(key("", "sid"))
    assert orjson.loads(loaded.data)["app"]["states"]["s"]["count"] == 3  # type: ignore[union-attr]
    saves = store.saves
    session.app.s.count = 4
    session.flush()
    persistence.discarded(session)  # closing at shutdown keeps the snapshot
    await settle(persistence)
    assert store.saves == saves and await store.load(key("", "sid")) is not None


async def test_an_expired_session_loses_its_snapshot(store: Counted) -> None:
    from livetag.server.registry import SessionRegistry

    persistence = Persistence(store, ttl=60)
    registry = SessionRegistry(Counter, debug=False)
    registry.on_discard = persistence.discarded
    sid, session = registry.create()
    persistence.attach(session, key("", sid))
    await settle(persistence)
    assert await store.load(key("", sid)) is not None
    await asyncio.sleep(0.01)
    assert registry.expire(0.001) == 1  # idle, no page connected
    await settle(persistence)
    assert await store.load(key("", sid)) is None


class Listener(Tag.App):
    def init(self) -> None:
        self.subscribe("news", lambda message: None)


async def test_a_resumed_session_hears_the_topics_its_app_subscribes_to() -> None:
    from livetag.pubsub import LocalBroker
    from livetag.server.registry import SessionRegistry

    broker = LocalBroker()
    registry = SessionRegistry(Listener, debug=False, broker=broker)
    session = registry.adopt("an-id-issued-before-a-restart")
    assert broker.topics() == ["news"]
    session.close()
    assert broker.topics() == []


async def test_a_corrupt_record_is_no_snapshot(tmp_path: Path) -> None:
    from livetag.errors import StoreCorrupt

    class Corrupt(SQLiteStore):
        async def load(self, key: str) -> Any:
            raise StoreCorrupt("session:x", "a hash", "a string")

    store = Corrupt(tmp_path / "c" / "s.db")
    made: list[Session] = []

    async def build() -> Session:
        made.append(Session(Counter))
        return made[-1]

    assert await Persistence(store, ttl=60).restore(key("", "sid"), build, lambda s: None) is None
    assert made == []
    await store.close()


async def test_the_snapshot_keeps_each_pages_last_applied_event(store: Counted) -> None:
    persistence = Persistence(store, ttl=60)
    old = Session(Counter)
    old.resume_clients({"page-a": 5, "page-b": 2})  # as if those pages had sent events
    fenced: list[int] = []
    persistence.on_fenced = lambda session, exc: fenced.append(exc.current)
    persistence.attach(old, key("", "sid"))
    old.app.s.count = 3
    old.flush()
    await settle(persistence)
    loaded = await store.load(key("", "sid"))
    assert loaded is not None and orjson.loads(loaded.data)["acks"] == {"page-a": 5, "page-b": 2}

    async def build() -> Session:
        return Session(Counter)

    session = await Persistence(store, ttl=60).restore(key("", "sid"), build, lambda s: None)
    assert session is not None and session.acknowledged() == {"page-a": 5, "page-b": 2}
    old.app.s.count = 4  # the former owner is fenced: told once, by the hook
    old.flush()
    await settle(persistence)
    assert len(fenced) == 1 and fenced[0] > 0


@pytest.mark.parametrize("acks", [[1], {"c": "5"}, {"c": -1}, {"c": True}, {"": 1}, {"c" * 65: 1}])
async def test_malformed_acknowledgements_make_the_snapshot_unusable(store: Counted, acks: Any) -> None:
    good = Persistence(store, ttl=60)
    session = Session(Counter)
    good.attach(session, key("", "sid"))
    await settle(good)
    loaded = await store.load(key("", "sid"))
    assert loaded is not None
    envelope = {**orjson.loads(loaded.data), "acks": acks}
    await store.save(key("", "sid"), orjson.dumps(envelope), epoch=loaded.epoch, ttl=60)

    async def build() -> Session:
        raise AssertionError("an unusable snapshot builds nothing")

    assert await Persistence(store, ttl=60).restore(key("", "sid"), build, lambda s: None) is None


def test_a_page_that_never_reloads_keeps_its_token_through_any_number_of_restores() -> None:
    import hashlib

    from livetag.server.persistence import MAX_TOKENS, token_hashes

    def digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    inherited = (digest("page"),)  # the token the open page was rendered with
    for _ in range(MAX_TOKENS + 3):  # restore after restore; each restored session has a new token
        session = Session(Counter)
        session.restored_token_hashes = inherited
        assert session.check_token("page")  # the page joins the restored session
        assert not session.check_token("forged")
        inherited = tuple(token_hashes(session))
    assert digest("page") in inherited and len(inherited) <= MAX_TOKENS
