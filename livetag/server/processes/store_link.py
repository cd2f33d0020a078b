"""Snapshots of session processes, written through the supervisor's store.

A ``Runner`` on one machine keeps snapshots in one SQLite file. Its session processes do
not open that file: a SQLite connection costs a process ~1.2 MB of private memory
(measured by ``bench/runner_stages.py``), about a sixth of an idle session process.
Each session process holds instead one *store link* to the supervisor, whose own
``SQLiteStore`` (one connection, one thread) does every read and write:

- session side: ``SupervisorStore``, a ``SessionStore`` (``livetag.server.store``) that
  sends each call over the link, one at a time, and waits for its answer;
- supervisor side: ``serve``, which answers the calls of one link from its store.

The link is a connection to the supervisor's control socket that asked
``{"op": "store"}`` (``control``); the supervisor accepts it from a live session
process only (``Supervisor.store_link``) and answers ``{"ok": true}``. Then each
request is one ``bridge`` frame ``{"call": "claim" | "save" | "load" | "delete", "key":
str, ...}`` (``save`` adds ``epoch``, ``ttl`` and the snapshot as the frame's raw part,
``body``) and each answer one frame: ``{"epoch": int}`` (claim), ``{}`` (save, delete),
``{"found": false}`` or ``{"found": true, "epoch", "saved_at", "body"}`` (load), or an
error: ``{"error": "fenced", "epoch", "current"}`` (raised again as ``Fenced``),
``{"error": "unavailable" | "invalid", "msg"}`` (raised as ``StoreUnavailable``).

The session opens its link when it starts (``connect``): a supervisor that shuts down
stops accepting control connections first, then waits for its sessions' last saves,
which go through links opened before. A cluster's session processes write to Redis
themselves (``livetag.server.cluster``); links are for one machine.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ...errors import Fenced, StoreUnavailable
from ..store import SessionStore, Snapshot
from . import bridge

log = logging.getLogger("livetag.server.processes.store_link")

#: The control request that turns a control connection into a store link.
OP = "store"
#: Seconds a call waits for its answer (the supervisor's store waits up to
#: ``store.sqlite.BUSY_TIMEOUT`` for the file's write lock, queued behind other calls).
CALL_TIMEOUT = 30.0
#: The longest key a link carries (``persistence.key`` makes 64 hex characters).
MAX_KEY = 256
_CALLS = frozenset({"claim", "save", "load", "delete"})


class SupervisorStore:
    """A ``SessionStore`` answered by the supervisor over its control socket at
    ``control_path`` (module docstring). ``control_path`` may be set after construction
    (a ``WebApp`` built ahead of its session, in the fork server, learns it on
    assignment); ``""``: no supervisor, every call raises ``StoreUnavailable``.

    A failed connection is opened again at the next call. Every method raises
    ``StoreUnavailable`` when the supervisor cannot be reached or did not answer within
    ``CALL_TIMEOUT`` seconds."""

    def __init__(self, control_path: str = "") -> None:
        self.control_path = control_path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock: asyncio.Lock | None = None  # made on first use: on the loop that uses it
        self._closed = False

    def __repr__(self) -> str:
        return f"SupervisorStore({self.control_path!r})"

    # -- the SessionStore protocol --------------------------------------------------------

    async def claim(self, key: str) -> int:
        reply = await self._call({"call": "claim", "key": key})
        return _int(reply, "epoch")

    async def save(self, key: str, data: bytes, *, epoch: int, ttl: float) -> None:
        await self._call({"call": "save", "key": key, "epoch": epoch, "ttl": ttl, "body": data})

    async def load(self, key: str) -> Snapshot | None:
        reply = await self._call({"call": "load", "key": key})
        if not reply.get("found"):
            return None
        body, saved_at = reply.get("body"), reply.get("saved_at")
        if not isinstance(body, bytes) or not isinstance(saved_at, (int, float)):
            raise StoreUnavailable(f"expected a snapshot from the supervisor, got {sorted(reply)}")
        return Snapshot(body, _int(reply, "epoch"), float(saved_at))

    async def delete(self, key: str) -> None:
        await self._call({"call": "delete", "key": key})

    async def close(self) -> None:
        self._closed = True
        self._disconnect()

    # -- the link -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the link now (a session process's start), if it is not open. Raises
        ``StoreUnavailable``."""
        async with self._serialized():
            await self._connected()

    def _serialized(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _connected(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._closed:
            raise StoreUnavailable(f"expected an open session store, got {self!r} closed")
        if self._reader is not None and self._writer is not None and not self._writer.is_closing():
            return self._reader, self._writer
        if not self.control_path:
            raise StoreUnavailable("expected the control socket of a supervisor, got none (not a Runner session)")
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self.control_path), CALL_TIMEOUT)
            writer.write(bridge.encode({"op": OP}))
            reply = await asyncio.wait_for(bridge.read_frame(reader), CALL_TIMEOUT)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:  # FrameError is an OSError
            if writer is not None:
                writer.close()
            raise StoreUnavailable(f"expected the supervisor's store at {self.control_path}, got {exc!r}") from exc
        if not reply.get("ok"):
            writer.close()
            raise StoreUnavailable(f"the supervisor refused a store link: {reply.get('msg', reply)}")
        self._reader, self._writer = reader, writer
        return reader, writer

    def _disconnect(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()

    async def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        async with self._serialized():  # one call in flight: answers come in order
            reader, writer = await self._connected()
            try:
                writer.write(bridge.encode(request))
                reply = await asyncio.wait_for(bridge.read_frame(reader), CALL_TIMEOUT)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                # An answer may still come on this connection: it is not used again.
                self._disconnect()
                raise StoreUnavailable(f"the supervisor's store did not answer a {request['call']}: {exc!r}") from exc
        error = reply.get("error")
        if error is None:
            return reply
        if error == "fenced":
            raise Fenced(request["key"], _int(reply, "epoch"), _int(reply, "current"))
        raise StoreUnavailable(f"the supervisor's store failed a {request['call']}: {reply.get('msg', error)}")


def _int(reply: dict[str, Any], name: str) -> int:
    value = reply.get(name)
    if type(value) is not int:
        raise StoreUnavailable(f"expected {name!r} to be an int in the supervisor's answer, got {type(value).__name__}")
    return value


# -- supervisor side ------------------------------------------------------------------------


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, store: SessionStore,
                who: str) -> None:
    """Answer the calls of one store link from ``store`` until the peer goes away or
    sends a frame that is not one (``bridge.FrameError``: the link is closed). A call
    that is malformed is answered ``invalid`` and the link goes on."""
    while True:
        try:
            request = await bridge.read_frame(reader)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if isinstance(exc, bridge.FrameError):
                log.warning("store link of %s: %s; closing it", who, exc)
            return
        writer.write(bridge.encode(await answer(store, request)))
        await writer.drain()


async def answer(store: SessionStore, request: dict[str, Any]) -> dict[str, Any]:
    """The answer to one call (module docstring)."""
    call, key = request.get("call"), request.get("key")
    if call not in _CALLS:
        return _invalid(f"expected a call among {sorted(_CALLS)}, got {str(call)[:40]!r}")
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY:
        return _invalid(f"expected 'key' to be a str of 1-{MAX_KEY} chars, got {type(key).__name__}")
    try:
        if call == "claim":
            return {"epoch": await store.claim(key)}
        if call == "load":
            snapshot = await store.load(key)
            if snapshot is None:
                return {"found": False}
            return {"found": True, "epoch": snapshot.epoch, "saved_at": snapshot.saved_at, "body": snapshot.data}
        if call == "delete":
            await store.delete(key)
            return {}
        epoch, ttl, body = request.get("epoch"), request.get("ttl"), request.get("body")
        if type(epoch) is not int or not isinstance(ttl, (int, float)) or isinstance(ttl, bool) \
                or not ttl > 0 or not isinstance(body, bytes):
            return _invalid("expected a save with 'epoch' (int), 'ttl' (seconds > 0) and the snapshot as body")
        await store.save(key, body, epoch=epoch, ttl=float(ttl))
        return {}
    except Fenced as exc:
        return {"error": "fenced", "epoch": exc.epoch, "current": exc.current}
    except StoreUnavailable as exc:
        return {"error": "unavailable", "msg": str(exc)}
    except Exception as exc:  # the store broke its contract: this call fails, the link goes on
        log.exception("store link: a %s failed", call)
        return {"error": "unavailable", "msg": f"{type(exc).__name__}: {exc}"}


def _invalid(why: str) -> dict[str, Any]:
    return {"error": "invalid", "msg": why}
