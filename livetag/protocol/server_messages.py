"""Server -> client messages: one typed constructor per message, each with ``encode()``.

The shapes are those of ``livetag.protocol.messages``' docstring (the catalogue of both
directions); this module is the only place that writes them. Every message is a
frozen dataclass (immutable, comparable in tests) whose class attribute ``kind`` is its
``MessageType`` and whose ``encode()`` gives the exact bytes the client receives.

The hot path (an update sent to every client of a session after each event) does not
build objects: ``encode_update`` splices pre-serialised parts, so that one patch is
serialised once for all clients that differ only by ``ack``.

This module imports nothing of livetag but ``messages`` (``MessageType``): every layer
may use it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import orjson

from .messages import MessageType


class ErrorCode(enum.StrEnum):
    """The ``code`` of an ``err`` message (and of the HTTP transports' error bodies)."""

    #: An event handler (or a lifecycle hook) raised; the session carries on.
    HANDLER_ERROR = "handler_error"
    #: A reactive child or attribute raised while rendering: the page keeps its last content.
    RENDER_ERROR = "render_error"
    #: An event for a tag or event the live tree does not accept (``ForbiddenEvent``).
    FORBIDDEN_EVENT = "forbidden_event"
    #: A message that does not follow the protocol (``ProtocolError``).
    BAD_MESSAGE = "bad_message"
    #: A message longer than the limit (``MessageTooLarge``).
    TOO_LARGE = "too_large"
    #: The page does not hold the session's CSRF token (``StalePage``).
    CSRF = "csrf"
    #: The page speaks another protocol version (``StalePage``).
    VERSION = "version"
    #: Something else than a ``join`` came first.
    NOT_JOINED = "not_joined"
    #: A ``join`` came on a connection (or in an event batch) already joined.
    ALREADY_JOINED = "already_joined"
    #: The ``Origin`` header names a page that may not drive sessions (``OriginNotAllowed``).
    ORIGIN = "origin"
    #: Too many messages (``RateLimited``).
    RATE_LIMITED = "rate_limited"
    #: The server is stopping (``ServerStopping``).
    STOPPING = "stopping"
    #: The session was resumed from a snapshot older than what the page showed (its
    #: machine died between a change and its snapshot): the page says what was lost.
    RESTORED = "restored"


class ByeCode(enum.StrEnum):
    """The ``code`` of a ``bye`` message: why the server ends a client."""

    #: The session is gone: the page reloads into a new one.
    EXPIRED = "expired"
    #: The session ended for a reason the page shows (a timeout...); it does not reconnect.
    ENDED = "ended"
    #: More than ``MAX_CLIENTS`` pages of the session are open: the oldest stops.
    EVICTED = "evicted"
    #: The server dropped this client (too slow, or unknown): the page joins again.
    REJOIN = "rejoin"


#: The ``err`` codes a page shows to its user (failures of the app's own code); any
#: other goes to the browser's console only.
PAGE_ERRORS: frozenset[ErrorCode] = frozenset({ErrorCode.HANDLER_ERROR, ErrorCode.RENDER_ERROR, ErrorCode.RESTORED})

_JOINED, _ERR, _BYE, _COOKIE = (MessageType.JOINED.value, MessageType.ERROR.value, MessageType.BYE.value,
                                MessageType.COOKIE.value)


def encode(message: dict[str, Any]) -> bytes:
    """Serialise a message given as a plain dict (for tests and tools; the server builds
    the typed messages below)."""
    return orjson.dumps(message)


@dataclass(frozen=True, slots=True)
class Joined:
    """``{"t": "joined", "cid", "ack", "rev", "p": [op...], "st"?: [html...]}``: the answer
    to a ``join`` (and to a ``sync``). ``patch`` is empty when the page is up to date."""

    client_id: str
    ack: int
    revision: int
    patch: list[Any]
    statics: Sequence[str] = ()

    kind: ClassVar[MessageType] = MessageType.JOINED

    def encode(self) -> bytes:
        joined: dict[str, Any] = {"t": _JOINED, "cid": self.client_id, "ack": self.ack, "rev": self.revision,
                                  "p": self.patch}
        if self.statics:
            joined["st"] = self.statics
        return orjson.dumps(joined)


@dataclass(frozen=True, slots=True)
class Update:
    """``{"t": "up", "rev", "ack", "p": [op...], "st"?: [html...], "js"?: [str...]}``.
    Sessions use ``encode_update`` directly (one serialisation for every client)."""

    revision: int
    ack: int
    patch: list[Any]
    statics: Sequence[str] = ()
    scripts: Sequence[str] = ()

    kind: ClassVar[MessageType] = MessageType.UPDATE

    def encode(self) -> bytes:
        return encode_update(self.revision, self.ack, orjson.dumps(self.patch),
                             encode_extras(self.statics, self.scripts))


@dataclass(frozen=True, slots=True)
class Ack:
    """``{"t": "ack", "ack"}``: events up to ``ack`` applied, nothing changed."""

    ack: int

    kind: ClassVar[MessageType] = MessageType.ACK

    def encode(self) -> bytes:
        return encode_ack(self.ack)


@dataclass(frozen=True, slots=True)
class Error:
    """``{"t": "err", "code", "msg", "eid"?, "trace"?}``: a failed event, a failed render or
    a rejected message. ``error_id`` matches the server's log line; ``trace`` is only sent
    with ``debug=True``. Both are omitted when empty."""

    code: ErrorCode | str
    message: str
    error_id: str | None = None
    trace: str | None = None

    kind: ClassVar[MessageType] = MessageType.ERROR

    def encode(self) -> bytes:
        payload: dict[str, Any] = {"t": _ERR, "code": self.code, "msg": self.message}
        if self.error_id:
            payload["eid"] = self.error_id
        if self.trace:
            payload["trace"] = self.trace
        return orjson.dumps(payload)


@dataclass(frozen=True, slots=True)
class Bye:
    """``{"t": "bye", "code", "msg"}``: the server ends this client (see ``ByeCode``)."""

    code: ByeCode | str
    message: str

    kind: ClassVar[MessageType] = MessageType.BYE

    def encode(self) -> bytes:
        return orjson.dumps({"t": _BYE, "code": self.code, "msg": self.message})


@dataclass(frozen=True, slots=True)
class CookieSync:
    """``{"t": "cookie"}``: a handler run over WebSocket changed ``request.session``; a
    WebSocket cannot set cookies, so the page fetches it with ``POST /_lt/cookie``."""

    kind: ClassVar[MessageType] = MessageType.COOKIE

    def encode(self) -> bytes:
        return b'{"t":"%s"}' % _COOKIE.encode()


@dataclass(frozen=True, slots=True)
class Pong:
    """``{"t": "pong"}``: the server is there (the answer to a page's ``ping``)."""

    kind: ClassVar[MessageType] = MessageType.PONG

    def encode(self) -> bytes:
        return PONG_BYTES


PONG_BYTES: Final = b'{"t":"pong"}'

ServerMessage = Joined | Update | Ack | Error | Bye | CookieSync | Pong


def encode_extras(statics: Sequence[str], scripts: Sequence[str]) -> bytes:
    """The optional ``st``/``js`` fields of an update, serialised (``b""`` when empty)."""
    out = b""
    if statics:
        out += b',"st":' + orjson.dumps(statics)
    if scripts:
        out += b',"js":' + orjson.dumps(scripts)
    return out


def encode_ack(ack: int) -> bytes:
    """An ``ack`` message: events up to ``ack`` applied, nothing changed."""
    return b'{"t":"ack","ack":%d}' % ack


def encode_update(revision: int, ack: int, ops_json: bytes, extras: bytes = b"") -> bytes:
    """An ``up`` message from pre-serialised parts (``ops_json``: the JSON array of patch
    operations; ``extras``: from ``encode_extras``), so that one update serialised once
    can be sent to several clients that differ only by ``ack``."""
    return b'{"t":"up","rev":%d,"ack":%d,"p":%s%s}' % (revision, ack, ops_json, extras)
