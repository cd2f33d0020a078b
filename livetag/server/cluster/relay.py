"""The relay: a web worker on one machine reaches a session process on another.

A session lives in one process on one machine (its owner). A request or socket of that
session that reaches another machine's web worker is relayed: the worker opens a TCP
connection to the owner's relay address (``ClusterConfig.relay``), both sides prove they
know the cluster secret, the worker names the session, and from then on the connection
carries exactly what the session's unix socket carries (``processes.bridge`` frames), so
the worker's bridge code runs unchanged over it.

Owner side: ``RelayServer`` (started by the supervisor, so it outlives web workers).
Worker side: ``open_remote_session(address, secret, base, sid)``.

Handshake (every frame is ``!H`` length + payload, at most ``MAX_HANDSHAKE_FRAME`` bytes;
the proofs within ``HANDSHAKE_SECONDS``, the request within ``IDLE_SECONDS`` after them;
``K`` = HMAC-SHA256(secret, "livetag relay v1"), so the secret itself never keys anything
that crosses the wire)::

    worker -> owner   MAGIC | nw                      nw: 32 fresh random bytes
    owner  -> worker  MAGIC | no | HMAC(K, "owner"  | nw | no)
    worker -> owner   HMAC(K, "worker" | nw | no)     (the connection is authenticated)
      ... a warm connection waits here, IDLE_SECONDS at most ...
    worker -> owner   HMAC(K, "request" | nw | no | request) | request
    owner  -> worker  status byte (0: connected) | message (UTF-8, for the log)

``request`` is JSON ``{"base": mount path, "sid": session id}``. A web worker keeps a
few authenticated connections per owner ready (``RelayPool``), so a relayed request waits
only for its request frame's round trip; each connection still carries one session
socket. The owner proves itself before the worker says which session it wants (the session id is a bearer credential);
each side's proof covers the other's fresh nonce, so a recorded handshake cannot be
replayed, and the labels differ, so a proof cannot be reflected back. Proofs are compared
in constant time. The owner maps (base, sid) to the session's socket with its own key
(``processes.paths.session_name``: 32 hex digits), so a request cannot name any other
file; the socket must exist in this supervisor's sockets directory.

The relay authenticates but does not encrypt: the bytes relayed are HTTP requests with
their cookies. Run it on a private network (or a VPN/WireGuard link) between machines.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import hashlib
import hmac
import logging
import os
import re
import secrets
import socket
import stat
import struct
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ...errors import RelayUnavailable
from .config import parse_relay

log = logging.getLogger("livetag.server.cluster.relay")

MAGIC = b"LTR1"
NONCE = 32
MAC = 32
#: Largest handshake frame, in bytes (a request is a mount path and a session id).
MAX_HANDSHAKE_FRAME = 1024
#: Seconds a peer has to complete the handshake (a slow peer holds nothing longer).
HANDSHAKE_SECONDS = 5.0
#: Seconds an authenticated connection may wait for its request (a worker's warm one).
IDLE_SECONDS = 30.0
#: Warm connections a web worker keeps per owner machine (``RelayPool``; 0: none).
WARM_SPARES = 2
#: Seconds between taking a warm connection and starting to replace it.
REFILL_DELAY = 0.02
#: Seconds a relayed connection stays open after its session's end, for the peer to close it.
LINGER_SECONDS = 5.0
#: Bytes read at once while splicing, and the streams' buffer limit.
CHUNK = 256 << 10
#: Longest mount path and session id accepted in a request.
MAX_BASE = 512
MAX_SID = 128
_SID = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_HEAD = struct.Struct("!H")


class Status(enum.IntEnum):
    """The owner's answer to a request, after the proofs."""

    CONNECTED = 0
    REFUSED = 1      # a request that is not one (malformed JSON, bad base or sid)
    NO_SESSION = 2   # no live session of that name on this machine
    UNAVAILABLE = 3  # the session's socket refused the connection


class HandshakeError(ConnectionError):
    """A handshake that failed: a peer without the secret, a malformed or oversized frame,
    a deadline passed, a refused request. The message says what was expected and what
    came, never the secret."""


def relay_key(secret: str) -> bytes:
    """The key of every proof, derived from the cluster secret."""
    return hmac.new(secret.encode(), b"livetag relay v1", hashlib.sha256).digest()


def _proof(key: bytes, label: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, label + b"".join(parts), hashlib.sha256).digest()


def _frame(payload: bytes) -> bytes:
    return _HEAD.pack(len(payload)) + payload


async def _read(reader: asyncio.StreamReader, what: str) -> bytes:
    try:
        head = await reader.readexactly(_HEAD.size)
        (size,) = _HEAD.unpack(head)
        if size > MAX_HANDSHAKE_FRAME:
            raise HandshakeError(f"expected a {what} frame of at most {MAX_HANDSHAKE_FRAME} bytes, got {size}")
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise HandshakeError(f"expected a {what} frame, got end of stream after {len(exc.partial)} bytes") from None


def check_request(request: Any) -> tuple[str, str]:
    """``(base, sid)`` of a decoded request; raises ``HandshakeError`` for anything else
    (a base that is not an absolute path or empty, ``..`` or NUL in it, a sid that is not
    a session id)."""
    if not isinstance(request, dict) or set(request) != {"base", "sid"}:
        raise HandshakeError(f"expected a request {{base, sid}}, got {type(request).__name__}")
    base, sid = request["base"], request["sid"]
    if (not isinstance(base, str) or len(base) > MAX_BASE or (base and not base.startswith("/"))
            or "\x00" in base or "/../" in base + "/" or "/./" in base + "/"):
        raise HandshakeError(f"expected a mount path ('' or '/...', at most {MAX_BASE} characters, no '..'), "
                             f"got {str(base)[:80]!r}")
    if not isinstance(sid, str) or not _SID.fullmatch(sid):
        raise HandshakeError(f"expected a session id of 1 to {MAX_SID} letters, digits, '-' or '_', "
                             f"got {str(sid)[:80]!r}")
    return base, sid


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def is_remote(writer: asyncio.StreamWriter) -> bool:
    """Whether a session stream goes through the relay (TCP) rather than a local socket."""
    sock = writer.get_extra_info("socket")
    return sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6)


# -- worker side --------------------------------------------------------------------------


class _Stale(HandshakeError):
    """A warm connection the owner closed meanwhile (restarted, idle too long)."""


@dataclasses.dataclass(slots=True)
class _Link:
    """An authenticated connection to an owner, not yet given a session."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    mine: bytes
    theirs: bytes
    born: float

    def usable(self, max_age: float) -> bool:
        return (time.monotonic() - self.born < max_age and not self.reader.at_eof()
                and not self.writer.is_closing())


async def _authenticate(address: str, key: bytes) -> _Link:
    host, port = parse_relay(address)
    reader, writer = await asyncio.open_connection(host, port, limit=CHUNK)
    try:
        _nodelay(writer)
        mine = secrets.token_bytes(NONCE)
        writer.write(_frame(MAGIC + mine))
        hello = await _read(reader, "owner hello")
        if len(hello) != len(MAGIC) + NONCE + MAC or not hello.startswith(MAGIC):
            raise HandshakeError(f"expected the owner's hello of {len(MAGIC) + NONCE + MAC} bytes, got {len(hello)}")
        theirs, proof = hello[len(MAGIC):-MAC], hello[-MAC:]
        if not hmac.compare_digest(proof, _proof(key, b"owner", mine, theirs)):
            raise HandshakeError("expected the owner to prove the cluster secret, got a wrong proof")
        writer.write(_frame(_proof(key, b"worker", mine, theirs)))
        return _Link(reader, writer, mine, theirs, time.monotonic())
    except BaseException:
        writer.close()
        raise


async def _ask(link: _Link, key: bytes, base: str, sid: str) -> None:
    request = orjson.dumps({"base": base, "sid": sid})
    link.writer.write(_frame(_proof(key, b"request", link.mine, link.theirs, request) + request))
    try:
        answer = await _read(link.reader, "owner answer")
    except HandshakeError as exc:
        raise _Stale(str(exc)) from None
    if not answer:
        raise HandshakeError("expected the owner's answer, got an empty frame")
    if answer[0] != Status.CONNECTED:
        raise HandshakeError(f"the owner refused: {answer[1:200].decode(errors='replace')}")


class RelayPool:
    """Warm connections of one event loop (a web worker's): up to ``spares``
    authenticated, idle connections per owner, so that a relayed request does not wait
    for a TCP connect and the proofs (each connection still serves one session socket).
    A connection older than ``max_age`` seconds (the owner closes idle ones after
    ``IDLE_SECONDS``) is dropped, not used."""

    def __init__(self, spares: int | None = None, max_age: float = IDLE_SECONDS / 2) -> None:
        self.spares = WARM_SPARES if spares is None else spares
        self.max_age = max_age
        self.idle: dict[tuple[str, bytes], collections.deque[_Link]] = {}
        self._filling: dict[tuple[str, bytes], asyncio.Task[None]] = {}

    def take(self, address: str, key: bytes) -> _Link | None:
        links = self.idle.get((address, key))
        while links:
            link = links.popleft()
            if link.usable(self.max_age):
                return link
            link.writer.close()
        return None

    def refill(self, address: str, key: bytes) -> None:
        """Top the idle connections to ``address`` up to ``spares``, in the background."""
        slot = (address, key)
        if self.spares <= 0 or slot in self._filling:
            return
        self._filling[slot] = asyncio.get_running_loop().create_task(self._fill(slot))

    async def _fill(self, slot: tuple[str, bytes]) -> None:
        try:
            # After the request that took a connection, not during it: on the same CPUs
            # the handshake would slow the very request it is meant to speed up.
            await asyncio.sleep(REFILL_DELAY)
            links = self.idle.setdefault(slot, collections.deque())
            while sum(link.usable(self.max_age) for link in links) < self.spares:
                async with asyncio.timeout(HANDSHAKE_SECONDS):
                    links.append(await _authenticate(*slot))
        except (TimeoutError, OSError, HandshakeError) as exc:
            log.debug("relay: no warm connection to %s: %s", slot[0], exc)
        finally:
            self._filling.pop(slot, None)

    async def close(self) -> None:
        for task in list(self._filling.values()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for links in self.idle.values():
            for link in links:
                link.writer.close()
        self.idle.clear()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RelayPool] = weakref.WeakKeyDictionary()


def pool() -> RelayPool:
    """The running loop's ``RelayPool``."""
    loop = asyncio.get_running_loop()
    found = _pools.get(loop)
    if found is None:
        found = _pools[loop] = RelayPool()
    return found


async def open_remote_session(address: str, secret: str, base: str, sid: str,
                              timeout: float = HANDSHAKE_SECONDS, *, warm: bool = True
                              ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream to session ``sid`` (mounted at ``base``) on the machine whose relay
    listens at ``address`` (``host:port``): it speaks what the session's unix socket
    speaks (``processes.bridge``). ``warm``: take an authenticated connection from the
    loop's ``RelayPool`` when there is one (and keep the pool topped up). Raises
    ``RelayUnavailable`` when the owner cannot be reached in ``timeout`` seconds, fails
    to prove the secret, or has no such session."""
    parse_relay(address)
    key = relay_key(secret)
    warm_pool = pool() if warm else None
    link = warm_pool.take(address, key) if warm_pool is not None else None
    try:
        async with asyncio.timeout(timeout):
            if link is not None:
                try:
                    await _ask(link, key, base, sid)
                except (_Stale, OSError):  # closed meanwhile: a fresh one below
                    link.writer.close()
                    link = None
            if link is None:
                link = await _authenticate(address, key)
                await _ask(link, key, base, sid)
    except (TimeoutError, OSError, HandshakeError) as exc:
        if link is not None:
            link.writer.close()
        why = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else str(exc)
        raise RelayUnavailable(address, why) from None
    if warm_pool is not None:  # only for an owner that answered: a dead one is not hammered
        warm_pool.refill(address, key)
    return link.reader, link.writer


# -- owner side ---------------------------------------------------------------------------


class _Throttle:
    """At most one log line per ``every`` seconds per kind; counts what it held back."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}

    def __call__(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self.last.get(kind, -self.every) < self.every:
            self.held[kind] = self.held.get(kind, 0) + 1
            return
        self.last[kind] = now
        held = self.held.pop(kind, 0)
        suffix = f" ({held} more since the last such line)" if held else ""
        log.warning(message + suffix, *args)


class RelayServer:
    """The relay listener of one machine (``listen``: host and port; port 0 picks a
    free one, see ``port``): accepts peers that prove the cluster secret and
    splices each one to the session socket it names. ``sockets``: the directory of this
    supervisor's session sockets; ``name_of(base, sid)``: a session's socket name there
    (``processes.paths.session_name`` with the supervisor's key). Lives in the supervisor,
    so web workers come and go under it."""

    def __init__(self, listen: tuple[str, int], secret: str, sockets: Callable[[], Path],
                 name_of: Callable[[str, str], str], *, handshake_seconds: float = HANDSHAKE_SECONDS,
                 idle_seconds: float = IDLE_SECONDS, max_peers: int = 4096) -> None:
        self.listen = listen
        self.key = relay_key(secret)
        self.sockets = sockets
        self.name_of = name_of
        self.handshake_seconds = handshake_seconds
        self.idle_seconds = idle_seconds
        self.max_peers = max_peers
        self._server: asyncio.Server | None = None
        self._peers: set[asyncio.Task[None]] = set()
        self._throttle = _Throttle()
        #: Connections accepted, refused at the handshake, and spliced so far.
        self.connections = 0
        self.refused = 0
        self.spliced = 0

    @property
    def port(self) -> int:
        """The port listened on (useful with port 0)."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen. Raises ``OSError`` when the address cannot be bound."""
        host, port = self.listen
        self._server = await asyncio.start_server(self._accept, host, port, limit=CHUNK, reuse_address=True,
                                                  backlog=512)
        log.info("relay listening on %s:%d", host, self.port)

    async def close(self) -> None:
        """Stop listening and cut every relayed connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._peers):
            task.cancel()
        for task in list(self._peers):
            with contextlib.suppress(BaseException):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._peers) >= self.max_peers:
            self._throttle("full", "relay: refused a peer from %s: %d connections already", _peer(writer),
                           self.max_peers)
            writer.close()
            return
        self._peers.add(task)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        finally:
            self._peers.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _nodelay(writer)
        try:
            async with asyncio.timeout(self.handshake_seconds):
                nonces = await self._authenticate(reader, writer)
        except (TimeoutError, HandshakeError, OSError) as exc:
            self.refused += 1
            why = f"no handshake within {self.handshake_seconds:g} s" if isinstance(exc, TimeoutError) else str(exc)
            self._throttle("auth", "relay: refused a peer from %s: %s", _peer(writer), why)
            return
        try:
            async with asyncio.timeout(self.idle_seconds):
                request = await _read(reader, "request")
        except TimeoutError:
            return  # a warm connection its worker did not need: not an attack
        except (HandshakeError, OSError) as exc:
            if not reader.at_eof():  # else the worker closed it: not an attack either
                self.refused += 1
                self._throttle("auth", "relay: refused a peer from %s: %s", _peer(writer), exc)
            return
        try:
            async with asyncio.timeout(self.handshake_seconds):
                path = await self._request(writer, nonces, request)
                if path is None:
                    return
                try:
                    inner_reader, inner_writer = await asyncio.open_unix_connection(str(path), limit=CHUNK)
                except OSError as exc:
                    await self._answer(writer, Status.UNAVAILABLE, f"the session's socket refused: {exc.strerror}")
                    return
                await self._answer(writer, Status.CONNECTED, "")
        except (TimeoutError, HandshakeError, OSError) as exc:
            self.refused += 1
            why = f"no handshake within {self.handshake_seconds:g} s" if isinstance(exc, TimeoutError) else str(exc)
            self._throttle("auth", "relay: refused a peer from %s: %s", _peer(writer), why)
            return
        self.spliced += 1
        await splice(reader, writer, inner_reader, inner_writer)

    async def _authenticate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        """The proofs; returns both nonces (the worker's, then ours)."""
        hello = await _read(reader, "worker hello")
        if len(hello) != len(MAGIC) + NONCE or not hello.startswith(MAGIC):
            raise HandshakeError(f"expected a hello of {len(MAGIC) + NONCE} bytes starting with {MAGIC!r}, "
                                 f"got {len(hello)} bytes")
        theirs, mine = hello[len(MAGIC):], secrets.token_bytes(NONCE)
        writer.write(_frame(MAGIC + mine + _proof(self.key, b"owner", theirs, mine)))
        await writer.drain()
        proof = await _read(reader, "worker proof")
        if len(proof) != MAC or not hmac.compare_digest(proof, _proof(self.key, b"worker", theirs, mine)):
            raise HandshakeError("expected the worker to prove the cluster secret, got a wrong proof")
        return theirs + mine

    async def _request(self, writer: asyncio.StreamWriter, nonces: bytes, frame: bytes) -> Path | None:
        proof, request = frame[:MAC], frame[MAC:]
        if len(proof) != MAC or not hmac.compare_digest(proof, _proof(self.key, b"request", nonces, request)):
            raise HandshakeError("expected a request signed for this connection, got a wrong signature")
        try:
            base, sid = check_request(orjson.loads(request))
        except (orjson.JSONDecodeError, HandshakeError) as exc:
            # An authenticated peer with a bad request: a bug, not an attack; said to it.
            await self._answer(writer, Status.REFUSED, str(exc))
            raise HandshakeError(f"an authenticated peer sent a bad request: {exc}") from None
        directory = self.sockets()
        path = directory / self.name_of(base, sid)
        # The name is 32 hex digits of an HMAC (no separators); check it stayed here anyway.
        if path.parent != directory or not _is_socket(path):
            await self._answer(writer, Status.NO_SESSION, "no such session on this machine")
            log.info("relay: %s asked for a session this machine does not hold", _peer(writer))
            return None
        return path

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: Status, message: str) -> None:
        writer.write(_frame(bytes([status]) + message.encode()[:MAX_HANDSHAKE_FRAME - 1]))
        await writer.drain()


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


async def splice(outer_reader: asyncio.StreamReader, outer_writer: asyncio.StreamWriter,
                 inner_reader: asyncio.StreamReader, inner_writer: asyncio.StreamWriter,
                 linger: float = LINGER_SECONDS) -> None:
    """Copy bytes both ways until the session's side ends: the peer's end of stream is
    passed on as an end of stream (the session process sees its client go, as over its
    unix socket). The session's end of stream is passed on as a half-close too, and the
    peer (which closes once it has read the session's ``END``) ends the connection; what
    it still sends meanwhile is read and dropped, for ``linger`` seconds at most. Closing
    a TCP socket with unread bytes resets the connection, and the peer could then lose
    the answer it had not read yet (an upload refused before its body came)."""

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, half_close: bool) -> None:
        try:
            while True:
                data = await src.read(CHUNK)
                if not data:
                    break
                dst.write(data)
                await dst.drain()
            if half_close and dst.can_write_eof():
                dst.write_eof()
                return
        except (ConnectionError, OSError):
            pass
        if not half_close:
            return
        dst.close()

    up = asyncio.ensure_future(pump(outer_reader, inner_writer, True))
    try:
        await pump(inner_reader, outer_writer, False)
    finally:
        up.cancel()
        with contextlib.suppress(BaseException):
            await up
        inner_writer.close()
    try:
        if not outer_writer.is_closing() and outer_writer.can_write_eof():
            outer_writer.write_eof()
            async with asyncio.timeout(linger):
                while await outer_reader.read(CHUNK):
                    pass
    except (TimeoutError, ConnectionError, OSError):
        pass
    finally:
        outer_writer.close()
