"""The wire protocol's catalogue of messages, and the client's decoded and validated.
Twin of ``livetag/client/src/protocol.js`` and ``session.js``.

Every message is one JSON object (orjson) with a type field ``t`` (``MessageType``). The
same messages travel on every transport. This module decodes the client's messages;
``livetag.protocol.server_messages`` builds the server's (one class per shape below);
``livetag.protocol.closing`` says how a refusal ends a connection or a request.

Client -> server
    ``{"t": "join", "v": 1, "token": str, "cid": str | null, "rev": int}``
        Open (or resume) a client of the session. ``token`` is the session's CSRF token,
        ``cid`` the client id the server gave on a previous join (``null`` the first
        time), ``rev`` the revision of the DOM the page holds.
    ``{"t": "ev", "s": int, "id": str, "n": str, "d": {...}, "sync": {id: value}}``
        An event. ``s`` is the client's sequence number (1, 2, ...), ``id`` the target
        element, ``n`` the event name, ``d`` the event fields (``value``, ``checked``,
        ``key``, ``clientX``...), ``sync`` the live value (str, bool for ``checked``, or a
        list of str for a multiple select) of form controls changed since the last event.
    ``{"t": "sync"}``
        The page lost track: send the whole tree again.
    ``{"t": "ping"}``
        The page heard nothing from the server for a while (``Limits.heartbeat``): is
        it still there? Answered with ``pong`` on a WebSocket; on HTTP transports the
        response to the POST that carried it is the answer.

Server -> client
    ``{"t": "joined", "cid": str, "ack": int, "rev": int, "p": [op...], "st": [html...]}``
        ``ack`` is the last event sequence number applied for this client; ``p``
        re-renders the page when the client's ``rev`` was stale, else it is empty;
        ``st`` lists the statics the page lacks. Also the answer to ``sync``.
    ``{"t": "up", "rev": int, "ack": int, "p": [op...], "st": [html...], "js": [str...]}``
        An update: first the statics (``<style>``, ``<link>``, ``<script>``...) to add to
        ``<head>``, then the patch operations (see ``livetag.dom.tree``), then scripts to
        run. ``st`` and ``js`` are omitted when empty.
        Revisions count updates: each client gets every revision once, in order (on
        HTTP transports two responses may cross, so the client reorders them).
    ``{"t": "ack", "ack": int}``
        Acknowledges events that changed nothing.
    ``{"t": "err", "code": str, "msg": str, "eid": str, "trace": str}``
        A failed event (``code`` ``"handler_error"``), a reactive child or attribute
        that raised while rendering (``"render_error"``: the page keeps its last
        content) or a rejected message (``eid``: error id matching the server log;
        ``trace`` only with ``debug=True``).
    ``{"t": "bye", "code": str, "msg": str}``
        The server ends this client (``code`` ``"expired"``: the page must reload; see
        ``ByeCode``).
    ``{"t": "cookie"}``
        A handler run over WebSocket changed ``request.session``: the page fetches the
        cookie with ``POST /_lt/cookie`` (a WebSocket cannot set cookies).
    ``{"t": "pong"}``
        The answer to ``ping``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson

from ..errors import MessageTooLarge, ProtocolError, StalePage

PROTOCOL_VERSION: Final = 1
DEFAULT_MAX_MESSAGE_BYTES: Final = 1 << 20
MAX_SEQ: Final = (1 << 53) - 1
MAX_SYNC_ENTRIES: Final = 1024

_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
_TAG_ID = re.compile(r"[^\s]{1,128}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


class MessageType(enum.StrEnum):
    """The ``t`` field of every message: client -> server, then server -> client."""

    JOIN = "join"
    EVENT = "ev"
    SYNC = "sync"
    PING = "ping"
    JOINED = "joined"
    UPDATE = "up"
    ACK = "ack"
    ERROR = "err"
    BYE = "bye"
    COOKIE = "cookie"
    PONG = "pong"


# Plain strings for the decoder, which runs for every event (an enum member costs a lookup).
_EVENT, _JOIN, _SYNC, _PING = (MessageType.EVENT.value, MessageType.JOIN.value, MessageType.SYNC.value,
                               MessageType.PING.value)


@dataclass(slots=True, frozen=True)
class Join:
    version: int
    token: str
    client_id: str | None
    revision: int


class EventMessage(NamedTuple):
    """One event (built for every event: a named tuple is immutable too, and makes in
    less than half the time of a frozen dataclass, whose ``__init__`` goes through
    ``object.__setattr__`` field by field)."""

    seq: int
    target_id: str
    name: str
    data: dict[str, Any]
    sync: dict[str, str | bool | list[str]]


@dataclass(slots=True, frozen=True)
class Resync:
    pass


@dataclass(slots=True, frozen=True)
class Ping:
    pass


ClientMessage = Join | EventMessage | Resync | Ping

_PING_MESSAGE: Final = Ping()


def _describe(value: Any) -> str:
    """A short, log-safe description of a client value: never more than ~60 chars."""
    if isinstance(value, str):
        return f"a str of {len(value)} chars" if len(value) > 40 else repr(value)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)[:40]
    return f"a {type(value).__name__}"


def _field(msg: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = msg.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _wrong_type(name, what, value)
    return value


def _wrong_type(name: str, what: str, value: Any) -> ProtocolError:
    return ProtocolError(f"expected field {name!r} to be {what}, got {_describe(value)}")


def decode(raw: bytes | str, limit: int = DEFAULT_MAX_MESSAGE_BYTES) -> ClientMessage:
    """Parse and validate one client message.

    ``raw`` is the text of one WebSocket frame or HTTP body. Raises ``MessageTooLarge``
    when it is longer than ``limit`` bytes (checked before parsing), ``ProtocolError``
    when it is not JSON or not one of the shapes in this module's docstring.
    """
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
    if size > limit:
        raise MessageTooLarge(size, limit)
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"expected a JSON object, got invalid JSON ({exc})") from None
    if type(msg) is dict and msg.get("t") == _EVENT:  # nearly every message: one call less
        return _decode_event(msg)
    return validate(msg)


def validate(msg: Any) -> ClientMessage:
    """Validate one already-parsed client message (an element of an HTTP batch, whose
    size was checked as a whole). Raises ``ProtocolError`` like ``decode``."""
    if not isinstance(msg, dict):
        raise ProtocolError(f"expected a JSON object, got {_describe(msg)}")
    kind = msg.get("t")
    if kind == _EVENT:
        return _decode_event(msg)
    if kind == _JOIN:
        return _decode_join(msg)
    if kind == _SYNC:
        return Resync()
    if kind == _PING:
        return _PING_MESSAGE
    raise ProtocolError(f"expected message type 'join', 'ev', 'sync' or 'ping', got {_describe(kind)}")


def _decode_join(msg: dict[str, Any]) -> Join:
    version = _field(msg, "v", int, "the protocol version (int)")
    token = msg.get("token")
    if not isinstance(token, str):
        raise StalePage(f"expected field 'token' to be the CSRF token (str), got {_describe(token)}", "csrf")
    cid = msg.get("cid")
    if cid is not None and not (isinstance(cid, str) and _CLIENT_ID.fullmatch(cid)):
        raise ProtocolError(f"expected field 'cid' to be null or a client id, got {_describe(cid)}")
    rev = _field(msg, "rev", int, "a revision number (int)")
    if not 0 <= rev <= MAX_SEQ:
        raise ProtocolError(f"expected field 'rev' in 0..{MAX_SEQ}, got {rev}")
    return Join(version, token, cid, rev)


def _decode_event(msg: dict[str, Any]) -> EventMessage:
    # Every event comes through here: the typed fields are checked inline (JSON gives
    # exact ints and strs; bool is not an int here).
    seq, target, name = msg.get("s"), msg.get("id"), msg.get("n")
    if type(seq) is not int:
        raise _wrong_type("s", "a sequence number (int)", seq)
    if not 1 <= seq <= MAX_SEQ:
        raise ProtocolError(f"expected field 's' in 1..{MAX_SEQ}, got {seq}")
    if type(target) is not str:
        raise _wrong_type("id", "an element id (str)", target)
    if not _TAG_ID.fullmatch(target):
        raise ProtocolError(f"expected field 'id' to be 1-128 non-space chars, got {_describe(target)}")
    if type(name) is not str:
        raise _wrong_type("n", "an event name (str)", name)
    if not _EVENT_NAME.fullmatch(name):
        raise ProtocolError(f"expected field 'n' to be an event name like 'click', got {_describe(name)}")
    data = msg.get("d", {})
    if not isinstance(data, dict):
        raise ProtocolError(f"expected field 'd' to be an object, got {_describe(data)}")
    sync = msg.get("sync", {})
    if not isinstance(sync, dict):
        raise ProtocolError(f"expected field 'sync' to be an object, got {_describe(sync)}")
    if len(sync) > MAX_SYNC_ENTRIES:
        raise ProtocolError(f"expected at most {MAX_SYNC_ENTRIES} 'sync' entries, got {len(sync)}")
    for key, value in sync.items():
        if isinstance(value, (str, bool)):
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            continue
        raise ProtocolError(f"expected sync value of {key!r} to be str, bool or list of str, got {_describe(value)}")
    return EventMessage(seq, target, name, data, sync)
