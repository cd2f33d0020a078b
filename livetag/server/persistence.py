"""``Persistence``: snapshot sessions to a ``SessionStore`` and resume them after a restart.

What is saved: ``livetag.dom.snapshot.capture`` of the app (its ``States``/``State``
attributes and the names in its ``persist``), inside an envelope that adds the revision
and the sha256 of the session's CSRF token::

    {"v": 1, "rev": <int>, "root": "<the app's element id>", "statics": ["<digest>", ...],
     "csrf": ["<sha256 hex of a token>", ...], "acks": {"<client id>": <seq>, ...},
     "app": {...snapshot...}}

``root`` and ``statics`` let the open page's first join after a restart morph the right
element and skip the ``<style>``/``<script>`` statics it already holds. ``acks`` is the
last event sequence number applied for each page (client id), captured with the app's
state: a page that reconnects to the resumed session (after a restart, or on another
machine after a failover) re-sends its unacknowledged events; those the snapshot already
holds are acknowledged and skipped, the others applied (exactly once).

When: after an update (``Session.on_flush``), debounced to one save per ``DEBOUNCE``
seconds and only when the bytes changed; once more for every session when the server
stops gracefully (``save_all``). A session discarded on purpose (idle expiry, ``?n``)
has its snapshot deleted.

Keys: ``key(base, session_id)``, the sha256 of the mount point and the id. The store
never holds a session id, so a leaked store gives no cookie; and a key is only found
for an id the server once issued (256 random bits), so a forged cookie finds nothing
and gets a fresh session, as before.

Resuming (``restore``): a request or WebSocket join whose cookie names a session this
process does not hold, and whose snapshot exists, gets a new ``Session`` under that same
id: the app's ``init`` runs, the snapshot is written into it, the session *claims* the
key (a new fencing epoch) and saves under that epoch from then on. The open page's
join carries the old CSRF token: the restored session accepts it by its hash (only the
hash is stored: the store alone never lets anyone act as a page). Its revision jumps by
``REVISION_GAP``, so the page's first join always gets a full render.

A save refused as ``Fenced`` (another process claimed the session since) stops this
process's saves for that session; ``StoreUnavailable`` is logged (once until a save
succeeds again) and retried every ``RETRY_SECONDS``, or sooner at the next change, so
the snapshot catches up once the store is back; a claim that failed is tried again at
the next change (at most every ``CLAIM_RETRY`` seconds), or at once through
``claim_again``. With ``debug``, a value JSON cannot carry is logged with the app's
attribute and the error at every failing save; without, once per session.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import threading
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from ..dom import snapshot
from ..dom.tag import Tag
from ..errors import Fenced, SnapshotError, StoreCorrupt, StoreUnavailable
from ..session import Session
from .store import SessionStore

log = logging.getLogger("livetag.server.persistence")

#: A file path for the snapshot store of ``WebApp.run()`` and the ``Runner``.
STORE_ENV = "LIVETAG_STORE"

#: Seconds between two saves of one session (changes in between are coalesced).
DEBOUNCE = 0.1
#: Seconds before a failed claim is tried again, at the next change.
CLAIM_RETRY = 5.0
#: Seconds before a save the store could not take (``StoreUnavailable``: Redis down) is
#: tried again, changes or not: the snapshot catches up once the store is back.
RETRY_SECONDS = 1.0
#: Envelope version (``snapshot.SCHEMA_VERSION`` versions the app part).
ENVELOPE_VERSION = 1
#: CSRF token hashes a snapshot keeps (the session's own and the latest inherited ones):
#: pages rendered across several restarts without a reload keep working.
MAX_TOKENS = 4
#: How far a restored session's revision jumps past the saved one: more than a page can
#: have advanced beyond the last save, so its join never looks up to date.
REVISION_GAP = 1 << 20


def default_store_path(app: Any) -> Path:
    """Where ``WebApp.run()`` and the ``Runner`` keep snapshots of ``app`` (a class,
    factory or instance) by default: ``$LIVETAG_STORE`` when set, else
    ``$XDG_DATA_HOME/livetag/<module.qualname>/sessions.sqlite3`` (``~/.local/share``
    when ``XDG_DATA_HOME`` is unset)."""
    configured = os.environ.get(STORE_ENV)
    if configured:
        return Path(configured).expanduser()
    cls = app if isinstance(app, type) else type(app) if not callable(app) or isinstance(app, Tag) else app
    name = f"{getattr(cls, '__module__', 'app')}.{getattr(cls, '__qualname__', 'app')}"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "app"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "livetag" / safe / "sessions.sqlite3"


def token_hashes(session: Session) -> list[bytes]:
    """The sha256 of the CSRF tokens the session's open pages may hold: its own, then the
    ones it inherited by a restore (a page rendered before the restart), at most
    ``MAX_TOKENS``."""
    own = hashlib.sha256(session.csrf_token.encode()).digest()
    return [own, *(h for h in session.restored_token_hashes if h != own)][:MAX_TOKENS]


def key(base: str, session_id: str) -> str:
    """The store key of session ``session_id`` of the app mounted at ``base`` (hex sha256)."""
    return hashlib.sha256(b"livetag-session\0" + base.encode() + b"\0" + session_id.encode()).hexdigest()


class _Tracked:
    """What ``Persistence`` knows about one session."""

    __slots__ = ("claim_after", "claiming", "epoch", "failed", "handle", "key", "last", "saving", "stopped",
                 "unsaved")

    def __init__(self, key: str, epoch: int | None) -> None:
        self.key = key
        self.epoch = epoch  # None until a claim succeeded
        self.claiming: asyncio.Task[None] | None = None
        self.claim_after = 0.0  # loop time: after a failed claim, when the next change tries again
        self.last: bytes | None = None  # the bytes last stored
        self.handle: asyncio.TimerHandle | None = None
        self.saving: asyncio.Task[None] | None = None
        self.stopped = False  # fenced, or discarded
        self.failed = False  # a snapshot error was already logged
        self.unsaved = False  # the store could not be reached (logged once), a retry is due


class Persistence:
    """Snapshots of one ``WebApp``'s sessions in ``store``; each expires ``ttl`` seconds
    after its last save. ``debug`` makes snapshot errors loud (module docstring)."""

    def __init__(self, store: SessionStore, *, ttl: float, debug: bool = False) -> None:
        if ttl <= 0:
            raise ValueError(f"expected a snapshot ttl > 0 seconds, got {ttl}")
        self.store = store
        self.ttl = float(ttl)
        self.debug = debug
        self._tracked: weakref.WeakKeyDictionary[Session, _Tracked] = weakref.WeakKeyDictionary()
        self._restoring: dict[str, asyncio.Future[Session | None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.stopping = False
        #: Told when a save was refused as ``Fenced`` (another process or machine owns
        #: the session now): a cluster's session process ends itself from there.
        self.on_fenced: Callable[[Session, Fenced], None] | None = None

    # -- sessions made here ---------------------------------------------------------------

    def attach(self, session: Session, store_key: str) -> None:
        """Snapshot the new ``session`` under ``store_key`` from now on (claims it first).
        Call it on the event loop."""
        tracked = self._track(session, store_key, None)
        tracked.claiming = self._spawn(self._claim(session, tracked))

    def _track(self, session: Session, store_key: str, epoch: int | None) -> _Tracked:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        tracked = self._tracked[session] = _Tracked(store_key, epoch)
        session.on_flush = lambda: self._changed(session)
        return tracked

    async def _claim(self, session: Session, tracked: _Tracked) -> None:
        try:
            tracked.epoch = await self.store.claim(tracked.key)
        except StoreUnavailable as exc:
            if not tracked.claim_after:
                log.warning("session %s: cannot claim its snapshot yet (%s): not saved until the store "
                            "answers", session.log_id, exc)
            tracked.claim_after = asyncio.get_running_loop().time() + CLAIM_RETRY
            return
        finally:
            tracked.claiming = None
        if tracked.claim_after:
            log.info("session %s: claimed its snapshot at last (epoch %d): saved from now on",
                     session.log_id, tracked.epoch)
        self._changed(session)  # anything changed while the claim ran

    def claim_again(self) -> None:
        """Claim now every session whose claim failed (the store answers again: in a
        cluster, the supervisor claimed a session that started while Redis was down).
        Call it on the event loop."""
        for session, tracked in list(self._tracked.items()):
            if tracked.epoch is None and not tracked.stopped and tracked.claiming is None:
                tracked.claiming = self._spawn(self._claim(session, tracked))

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- saving ---------------------------------------------------------------------------

    def _changed(self, session: Session) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() != self._loop_thread:  # a flush from a handler's thread
            loop.call_soon_threadsafe(self._changed, session)
            return
        tracked = self._tracked.get(session)
        if tracked is None or tracked.stopped or tracked.handle is not None:
            return
        if tracked.epoch is None:  # not claimed yet: a failed claim is tried again, not too often
            if tracked.claiming is None and tracked.claim_after and loop.time() >= tracked.claim_after:
                tracked.claiming = self._spawn(self._claim(session, tracked))
            return
        tracked.handle = loop.call_later(DEBOUNCE, self._due, session)

    def _due(self, session: Session) -> None:
        tracked = self._tracked.get(session)
        if tracked is None:
            return
        tracked.handle = None
        if tracked.saving is not None and not tracked.saving.done():
            self._changed(session)  # one save at a time: try again after the debounce
            return
        tracked.saving = self._spawn(self._save(session, tracked))

    def _envelope(self, session: Session) -> bytes:
        with session.tree.lock:  # handlers in threads mutate states under it
            app = snapshot.capture(session.app)
            revision = session.revision
            # The id the open pages know the app by: a restored session's pages may still
            # hold the one from before the restart, until they join.
            restored = session.restored_root
            root = restored[0] if restored is not None and revision < restored[1] + 1 else session.app.id
            statics = sorted(set(session.static_digests()) | session.restored_statics)
            acks = session.acknowledged()
        return orjson.dumps({"v": ENVELOPE_VERSION, "rev": revision, "root": root, "statics": statics,
                             "csrf": [h.hex() for h in token_hashes(session)], "acks": acks,
                             "app": orjson.Fragment(app)})

    async def _save(self, session: Session, tracked: _Tracked) -> None:
        if tracked.stopped or tracked.epoch is None:
            return
        try:
            data = self._envelope(session)
        except SnapshotError as exc:
            if self.debug or not tracked.failed:
                log.error("session %s: cannot snapshot the app: %s", session.log_id, exc)
            tracked.failed = True
            return
        if data == tracked.last:
            return
        try:
            await self.store.save(tracked.key, data, epoch=tracked.epoch, ttl=self.ttl)
        except Fenced as exc:
            tracked.stopped = True
            log.warning("session %s: another process owns it now (%s); this one stops saving it",
                        session.log_id, exc)
            if self.on_fenced is not None:
                self.on_fenced(session, exc)
            return
        except StoreUnavailable as exc:
            log.log(logging.DEBUG if tracked.unsaved else logging.WARNING,
                    "session %s: snapshot not saved (tried again every %g s): %s", session.log_id, RETRY_SECONDS, exc)
            tracked.unsaved = True
            loop = self._loop
            if tracked.handle is None and not self.stopping and loop is not None and not loop.is_closed():
                tracked.handle = loop.call_later(RETRY_SECONDS, self._due, session)
            return
        if tracked.unsaved:
            tracked.unsaved = False
            log.info("session %s: snapshot saved again", session.log_id)
        tracked.last = data

    async def save_all(self) -> None:
        """Save every session now (the server is stopping); no save or delete after it."""
        self.stopping = True
        saves = []
        for session, tracked in list(self._tracked.items()):
            if tracked.handle is not None:
                tracked.handle.cancel()
                tracked.handle = None
            if tracked.saving is not None and not tracked.saving.done():
                await asyncio.gather(tracked.saving, return_exceptions=True)
            saves.append(self._save(session, tracked))
        await asyncio.gather(*saves, return_exceptions=True)
        for tracked in self._tracked.values():
            tracked.stopped = True

    def discarded(self, session: Session) -> None:
        """``session`` ended on purpose (idle expiry, ``?n``): forget its snapshot. While
        the server stops (``save_all``), sessions end without losing theirs."""
        tracked = self._tracked.pop(session, None)
        session.on_flush = None
        if tracked is None:
            return
        if tracked.handle is not None:
            tracked.handle.cancel()
        tracked.stopped = True
        if not self.stopping and tracked.epoch is not None:
            self._spawn(self._delete(tracked.key))

    def forget(self, store_key: str) -> None:
        """Delete the snapshot under ``store_key`` (a session this process does not hold
        was discarded with ``?n``), in the background."""
        if not self.stopping:
            self._spawn(self._delete(store_key))

    async def _delete(self, store_key: str) -> None:
        try:
            await self.store.delete(store_key)
        except StoreUnavailable as exc:
            log.warning("a discarded session's snapshot was not deleted (it expires on its own): %s", exc)

    async def close(self) -> None:
        """Wait for pending writes, then close the store."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.store.close()

    # -- resuming -------------------------------------------------------------------------

    async def restore(self, store_key: str, build: Callable[[], Awaitable[Session | None]],
                      drop: Callable[[Session], None]) -> Session | None:
        """The session resumed from the snapshot under ``store_key``, or ``None`` (no
        snapshot, an unusable one, the store unreachable). ``build()`` makes the session
        (the app's ``init`` runs) or returns ``None`` (no room); ``drop(session)`` undoes
        it when the snapshot does not apply. Concurrent calls for one key share one attempt."""
        pending = self._restoring.get(store_key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Session | None] = asyncio.get_running_loop().create_future()
        self._restoring[store_key] = future
        try:
            session = await self._restore(store_key, build, drop)
            future.set_result(session)
            return session
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters, if any, get it too
            raise
        finally:
            del self._restoring[store_key]

    async def _restore(self, store_key: str, build: Callable[[], Awaitable[Session | None]],
                       drop: Callable[[Session], None]) -> Session | None:
        if self.stopping:
            return None
        try:
            stored = await self.store.load(store_key)
        except (StoreUnavailable, StoreCorrupt) as exc:
            log.warning("cannot look for a session snapshot: %s", exc)
            return None
        if stored is None:
            return None
        try:
            envelope = _open_envelope(stored.data)
        except SnapshotError as exc:
            log.warning("session snapshot %s... ignored: %s", store_key[:8], exc)
            return None
        session = await build()
        if session is None:
            return None
        if session in self._tracked or session.revision > 0:
            return session  # made meanwhile by another request, live already: not restored twice
        try:
            with session.tree.lock:
                snapshot.restore(session.app, envelope.app)
        except SnapshotError as exc:
            log.warning("session snapshot %s... ignored: %s", store_key[:8], exc)
            drop(session)
            return None
        except Exception:
            log.exception("restoring session snapshot %s... failed", store_key[:8])
            drop(session)
            return None
        session.revision = envelope.revision + REVISION_GAP
        session.restored_token_hashes = envelope.csrf
        session.restored_root = (envelope.root, session.revision)
        session.restored_statics = envelope.statics
        session.restored_revision = envelope.revision
        session.resume_clients(envelope.acks)
        tracked = self._track(session, store_key, None)
        tracked.last = stored.data
        await self._claim(session, tracked)
        log.info("session %s resumed from its snapshot (epoch %s)", session.log_id, tracked.epoch or "not claimed yet")
        return session


class _Envelope:
    __slots__ = ("acks", "app", "csrf", "revision", "root", "statics")

    def __init__(self, app: bytes, csrf: tuple[bytes, ...], revision: int, root: str,
                 statics: frozenset[str], acks: dict[str, int]) -> None:
        self.app, self.csrf, self.revision, self.root, self.statics = app, csrf, revision, root, statics
        self.acks = acks


def _open_envelope(data: bytes) -> _Envelope:
    """Parse stored bytes (module docstring). Raises ``SnapshotError``."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"expected a JSON snapshot envelope, got invalid bytes ({exc})") from None
    if not isinstance(document, dict) or document.get("v") != ENVELOPE_VERSION:
        version = document.get("v") if isinstance(document, dict) else type(document).__name__
        raise SnapshotError(f"expected snapshot envelope version {ENVELOPE_VERSION}, got {version!r}")
    revision, csrf, app = document.get("rev"), document.get("csrf"), document.get("app")
    if not isinstance(revision, int) or isinstance(revision, bool) or not 0 <= revision < 1 << 52:
        raise SnapshotError(f"expected a revision (int >= 0), got {revision!r}")
    expected = f"expected 1 to {MAX_TOKENS} sha256 of CSRF tokens (64 hex digits each), got another value"
    if not isinstance(csrf, list) or not 0 < len(csrf) <= MAX_TOKENS or \
            not all(isinstance(h, str) and len(h) == 64 for h in csrf):
        raise SnapshotError(expected)
    try:
        digests = tuple(bytes.fromhex(h) for h in csrf)
    except ValueError:
        raise SnapshotError(expected) from None
    if not isinstance(app, dict):
        raise SnapshotError(f"expected the app's snapshot object, got {type(app).__name__}")
    root = document.get("root")
    if not isinstance(root, str) or not 0 < len(root) <= 256:
        raise SnapshotError("expected the app's element id (1 to 256 characters), got another value")
    statics = document.get("statics", [])
    if not isinstance(statics, list) or len(statics) > 10_000 or not all(isinstance(d, str) for d in statics):
        raise SnapshotError("expected a list of static digests, got another value")
    acks = document.get("acks", {})  # absent in snapshots of before it was kept
    if not isinstance(acks, dict) or len(acks) > 1000 or not all(
            isinstance(c, str) and 0 < len(c) <= 64 and isinstance(n, int) and not isinstance(n, bool)
            and 0 <= n < 1 << 52 for c, n in acks.items()):
        raise SnapshotError("expected the pages' acknowledged sequence numbers ({client id: int}), got another value")
    return _Envelope(orjson.dumps(app), digests, revision, root, frozenset(statics), acks)
