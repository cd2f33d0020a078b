"""Exception classes of livetag.

Every message says what was expected and what came, so that a log line or a client
error is enough to understand the problem without reading the source.
"""

from __future__ import annotations


class LivetagError(Exception):
    """Base class of every error raised by livetag."""


class TreeError(LivetagError, ValueError):
    """An operation on the tag tree that cannot be done (a cycle, an unknown child...)."""


class ProtocolError(LivetagError, ValueError):
    """A message from a client that does not follow the wire protocol.

    ``code`` is a short machine-readable reason sent back to the client.
    """

    def __init__(self, message: str, code: str = "bad_message") -> None:
        super().__init__(message)
        self.code = code


class MessageTooLarge(ProtocolError):
    """A message longer than the configured limit (RFC 6455 close code 1009, HTTP 413)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"expected a message of at most {limit} bytes, got {size} bytes", "too_large")
        self.size = size
        self.limit = limit


class ForbiddenEvent(ProtocolError):
    """An event that names a tag or an event the live tree does not accept."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "forbidden_event")


class SessionExpired(LivetagError):
    """A request names a session this server does not (or no longer) know."""


class TooManySessions(LivetagError):
    """The cap on live sessions is reached (HTTP 503 with ``Retry-After``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"expected fewer than {limit} live sessions, got {limit}: the server is full")
        self.limit = limit
