"""How a refusal ends a connection or a request: the one table from livetag's errors to
WebSocket close codes and HTTP statuses.

Close codes (RFC 6455 section 7.4): 1000-2999 are the protocol's own (1000 normal
closure, 1008 policy violation, 1009 message too big); 4000-4999 are reserved for
applications, and livetag uses 4xxx with the last three digits of the HTTP status that
means the same (4404: not found, the page reloads into a new session; 4410: gone, the
page shows why and stays).

HTTP statuses (RFC 9110): what the HTTP transports (``livetag.server.http``) answer,
with a JSON array of one ``err`` message as body, or one ``bye`` for 409 and 410 (the
client must rejoin or reload).

``livetag/client/src/protocol.js`` names the same values (``CLOSE``, ``HTTP``,
``REFUSED``); ``tests/unit/test_protocol_client.py`` checks both, name for name.
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple

from ..errors import (
    ClientTooSlow,
    MessageTooLarge,
    OriginNotAllowed,
    ProtocolError,
    RateLimited,
    ServerStopping,
    SessionEnded,
    SessionExpired,
    StalePage,
    TooManySessions,
    UnknownClient,
)
from .server_messages import ByeCode, ErrorCode


class CloseCode(enum.IntEnum):
    """WebSocket close codes livetag sends (RFC 6455 section 7.4.1; 4000-4999: ours)."""

    NORMAL = 1000
    POLICY = 1008
    TOO_LARGE = 1009
    SESSION_EXPIRED = 4404
    SESSION_ENDED = 4410


class HttpStatus(enum.IntEnum):
    """HTTP statuses of the HTTP transports' refusals (RFC 9110 section 15)."""

    BAD = 400
    REFUSED = 403
    REJOIN = 409
    ENDED = 410
    TOO_LARGE = 413
    SLOW_DOWN = 429
    STOPPING = 503


class Closing(NamedTuple):
    """How one kind of refusal ends a WebSocket (``close`` with ``reason``; ``None``: the
    exception's ``code``) and answers an HTTP request (``status``). ``close`` is ``None``
    for refusals only HTTP requests meet (a page load, a long-poll)."""

    close: CloseCode | None
    reason: str | None
    status: HttpStatus


#: The table, most specific class first (the first ``isinstance`` match wins).
TABLE: Final[tuple[tuple[type[Exception], Closing], ...]] = (
    (MessageTooLarge, Closing(CloseCode.TOO_LARGE, "message too large", HttpStatus.TOO_LARGE)),
    (StalePage, Closing(CloseCode.POLICY, None, HttpStatus.REFUSED)),
    (ProtocolError, Closing(CloseCode.POLICY, None, HttpStatus.BAD)),
    (OriginNotAllowed, Closing(CloseCode.POLICY, "origin not allowed", HttpStatus.REFUSED)),
    (RateLimited, Closing(CloseCode.POLICY, "rate limit: too many messages", HttpStatus.SLOW_DOWN)),
    (ClientTooSlow, Closing(CloseCode.POLICY, "update queue overflow: client too slow", HttpStatus.REJOIN)),
    (UnknownClient, Closing(CloseCode.POLICY, None, HttpStatus.REJOIN)),
    (SessionEnded, Closing(CloseCode.SESSION_ENDED, None, HttpStatus.ENDED)),
    (SessionExpired, Closing(CloseCode.SESSION_EXPIRED, "session expired", HttpStatus.ENDED)),
    (ServerStopping, Closing(None, None, HttpStatus.STOPPING)),
    (TooManySessions, Closing(None, None, HttpStatus.STOPPING)),
)

#: The ``err`` codes of a join refused because the page is stale (``StalePage``): a
#: fresh page fixes it, so the client reloads instead of retrying.
STALE_PAGE_CODES: Final = frozenset({ErrorCode.CSRF, ErrorCode.VERSION})

#: The HTTP statuses whose body is a ``bye`` (the client must rejoin or reload), not an ``err``.
BYE_STATUSES: Final = frozenset({HttpStatus.REJOIN, HttpStatus.ENDED})

#: The ``bye`` codes the WebSocket closes with other than ``NORMAL`` after sending them.
_BYE_CLOSES: Final[dict[str, tuple[CloseCode, str]]] = {ByeCode.EXPIRED: (CloseCode.SESSION_EXPIRED, "session expired")}


def closing_for(exc: BaseException) -> Closing:
    """The table's row for ``exc`` (an instance of a class of ``livetag.errors``).

    Raises ``LookupError`` for an exception the table does not map: a bug, not a client's
    doing."""
    for kind, closing in TABLE:
        if isinstance(exc, kind):
            return closing
    raise LookupError(f"expected an error of the protocol's table ({', '.join(k.__name__ for k, _ in TABLE)}), "
                      f"got {type(exc).__name__}")


def close_code_for(exc: BaseException) -> tuple[CloseCode, str]:
    """The WebSocket close code and reason (RFC 6455 section 7.4; at most 123 bytes) a
    connection ends with when it is refused for ``exc``. The reason is the table's, else
    the exception's ``code``. Raises ``LookupError`` like ``closing_for``, and for a
    refusal that never ends a WebSocket."""
    closing = closing_for(exc)
    if closing.close is None:
        raise LookupError(f"expected an error that can end a WebSocket, got {type(exc).__name__}")
    return closing.close, closing.reason if closing.reason is not None else str(getattr(exc, "code", ""))


def http_status_for(exc: BaseException) -> HttpStatus:
    """The HTTP status a request refused for ``exc`` is answered with. Raises
    ``LookupError`` like ``closing_for``."""
    return closing_for(exc).status


def close_code_for_bye(code: str) -> tuple[CloseCode, str]:
    """The close code and reason of a WebSocket after the session sent it a ``bye`` with
    ``code``: ``expired`` says the page must reload (4404); any other is a normal end."""
    return _BYE_CLOSES.get(code, (CloseCode.NORMAL, "ended"))
