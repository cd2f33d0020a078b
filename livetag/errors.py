"""Exception classes of livetag.

Every message says what was expected and what came, so that a log line or a client
error is enough to understand the problem without reading the source.
"""

from __future__ import annotations

import os


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


class UploadTooLarge(MessageTooLarge):
    """An upload past a size limit: one file (``max_upload_bytes``) or everything a
    session holds at once (``max_session_upload_bytes``), HTTP 413."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        ProtocolError.__init__(self, f"expected {what} of at most {limit} bytes, got {size} bytes or more",
                               "too_large")
        self.size = size
        self.limit = limit


class ForbiddenEvent(ProtocolError):
    """An event that names a tag or an event the live tree does not accept."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "forbidden_event")


class StalePage(ProtocolError):
    """A page that does not hold the session's CSRF token (``code`` ``"csrf"``) or speaks
    another protocol version (``"version"``): it is stale, a fresh page fixes it. Refused
    with WebSocket close code 1008 or HTTP 403 (``livetag.protocol.closing``)."""

    def __init__(self, message: str, code: str = "csrf") -> None:
        if code not in ("csrf", "version"):
            raise ValueError(f"expected the code 'csrf' or 'version', got {code!r}")
        super().__init__(message, code)


# -- refusals of a transport: what a request or connection is turned away for -----------
# ``code`` is the machine-readable reason the client gets; ``livetag.protocol.closing``
# maps each class to its WebSocket close code and HTTP status.


class Refused(LivetagError):
    """Base class of the refusals a transport answers before the session sees the message."""

    code = "refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class OriginNotAllowed(Refused):
    """The ``Origin`` header names a page that may not drive sessions (HTTP 403, close 1008)."""

    code = "origin"

    def __init__(self, message: str = "origin not allowed") -> None:
        super().__init__(message)


class RateLimited(Refused):
    """A session sent more messages than its token bucket allows (HTTP 429 with
    ``Retry-After: retry_after`` seconds, close 1008)."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnknownClient(Refused):
    """A request names a client (``cid``) the server dropped or never knew: the page must
    join again (HTTP 409 with a ``bye`` ``"rejoin"``)."""

    code = "rejoin"


class ClientTooSlow(UnknownClient):
    """A client that did not read its updates fast enough and was dropped (close 1008
    over WebSocket, HTTP 409 ``"rejoin"`` over HTTP)."""


class ServerStopping(Refused):
    """The server is stopping: the page reconnects to the next one (HTTP 503 with
    ``Retry-After``)."""

    code = "stopping"

    def __init__(self, message: str = "the server is stopping: connect again") -> None:
        super().__init__(message)


class InvalidTransition(LivetagError, RuntimeError):
    """A life cycle (a connection, a mailbox, a client) asked to go from one state to a
    state its table does not allow from there: a bug in livetag, never a client's doing."""

    def __init__(self, what: str, current: object, new: object, allowed: object) -> None:
        super().__init__(f"expected {what} in state {current} to go to {allowed}, got a transition to {new}")
        self.current = current
        self.new = new


class AsyncioOutsideLoop(LivetagError, RuntimeError):
    """Plain ``def`` code running in a worker thread called asyncio, which needs the
    event loop (see ``livetag.execution``)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"expected asyncio to be called from code on the event loop, got a call from {name}, "
            "a plain def running in a worker thread (plain code that does not name asyncio itself "
            "runs off the loop so that it may block): declare it 'async def', or mark it "
            "@livetag.on_loop if it never blocks"
        )


class SessionExpired(LivetagError):
    """A request names a session this server does not (or no longer) know: the page
    reloads into a new one (HTTP 410, close 4404, ``bye`` ``"expired"``)."""

    code = "expired"

    def __init__(self, message: str = "session expired") -> None:
        super().__init__(message)


class SessionEnded(SessionExpired):
    """The process of a session ended (timeout, crash, memory...): the page shows why and
    does not reconnect (HTTP 410, close 4410, ``bye`` ``"ended"``)."""

    code = "ended"


class TooManySessions(LivetagError):
    """The cap on live sessions is reached (HTTP 503 with ``Retry-After``)."""

    code = "full"

    def __init__(self, limit: int) -> None:
        super().__init__(f"expected fewer than {limit} live sessions, got {limit}: the server is full")
        self.limit = limit


class PubSubLimit(LivetagError):
    """A session went past a publish/subscribe bound (``livetag.pubsub``): too many
    topics or subscriptions, or publishing faster than allowed."""


class NotInSession(LivetagError, RuntimeError):
    """``tag.publish(...)`` or ``tag.download(...)`` on a tag that is in no live session's
    tree (not yet added to the app's tree, removed from it, or an app no ``WebApp``,
    ``Runner`` or ``TestClient`` serves)."""


# -- runners: what the command line turns into one-line messages ------------------------
# Each class carries ``exit_status``, the process exit status the command line uses for
# it: ``2`` for a wrong argument (like ``argparse``), ``1`` for a failure at run time.


class RunnerError(LivetagError):
    """Base class of the runners' errors; ``str(error)`` is a complete one-line message."""

    exit_status = 1


class PortInUse(RunnerError, OSError):
    """``host:port`` is already bound by another socket (``errno`` is ``EADDRINUSE``).

    Also an ``OSError``, so code that caught the bind failure before keeps working."""

    def __init__(self, host: str, port: int, errno: int) -> None:
        OSError.__init__(self, errno, f"port {port} on {host} is already in use "
                                      "(choose another with --port, or --port 0 for a free one)")
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return str(self.strerror)


class AppLoadError(RunnerError):
    """The app named by an import string could not be loaded."""


class AppFileNotFound(AppLoadError):
    """The ``.py`` file of an import string does not exist."""

    exit_status = 2


class AppImportFailed(AppLoadError):
    """Importing the app's module raised; ``__cause__`` is what it raised."""


class AppNotFound(AppLoadError):
    """The module defines no ``Tag.App`` subclass, or not the attribute that was named."""

    exit_status = 2


class AmbiguousApp(AppLoadError):
    """The module defines several ``Tag.App`` subclasses and none was named.

    ``candidates`` lists their names, in definition order."""

    exit_status = 2

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class BrowserNotFound(RunnerError):
    """No Chromium-family browser (Chromium, Chrome, Edge, Brave) could be found."""


# -- the process-per-session Runner ------------------------------------------------------


class SessionProcessError(LivetagError):
    """Base class of the ``Runner``'s own errors."""


class UnsafeDirectory(SessionProcessError, PermissionError):
    """The private directory exists but is not ours alone (owner, mode or a symlink)."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"expected {path} to be a directory owned by uid {os.getuid()} with mode 0700, got {why}")
        self.path = path


class SupervisorUnavailable(SessionProcessError, ConnectionError):
    """The session supervisor could not be reached or started."""


class ForkServerError(SessionProcessError, OSError):
    """livetag's fork server (the zygote session processes are forked from) could not
    start, or could not fork a process."""


class AppNotImportable(SessionProcessError, ValueError):
    """An app class that a session process cannot import by name (defined in a function,
    or in a module that is not on ``sys.path``)."""


# -- shared state and persistence --------------------------------------------------------


class Fenced(LivetagError):
    """A write by an owner whose claim on a session was superseded: the store holds epoch
    ``current`` and the writer came with the older ``epoch``. The writer must stop acting
    for the session (another process or machine owns it now)."""

    def __init__(self, key: str, epoch: int, current: int) -> None:
        super().__init__(f"expected epoch {current} (the current owner's) for session {key[:8]}..., got {epoch}")
        self.key = key
        self.epoch = epoch
        self.current = current


class StoreUnavailable(LivetagError, ConnectionError):
    """The session store or message broker cannot be reached (Redis down, a locked or
    unwritable SQLite file). What needs it fails with this; the session itself goes on."""


class SnapshotError(LivetagError, ValueError):
    """A session snapshot that cannot be taken (a persistent value JSON cannot carry) or
    applied (another app's, another schema version's, or damaged bytes)."""


class StoreCorrupt(LivetagError, ValueError):
    """A record of the session store that livetag did not write as it reads it: a key
    holding another Redis type, a field that does not parse, a layout version of another
    livetag. Nothing is overwritten; the session starts without its snapshot."""

    def __init__(self, where: str, expected: str, got: str) -> None:
        super().__init__(f"expected {expected} at {where} in the session store, got {got}")
        self.where = where


class RelayUnavailable(LivetagError, ConnectionError):
    """The machine that owns a session could not be reached through its relay (down,
    unreachable, a peer without the cluster secret, or no such session there). The web
    worker reports it to the page as a session that ended."""

    def __init__(self, address: str, why: str) -> None:
        super().__init__(f"expected the relay at {address} to connect the session, got {why}")
        self.address = address
