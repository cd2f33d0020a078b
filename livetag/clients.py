"""A session's clients: the pages (browser tabs) a ``livetag.session.Session`` serves.

A client's life cycle (``ClientState``)::

    DISCONNECTED --join--> CONNECTED --leave--> DISCONNECTED   (kept: a page resumes it)
    CONNECTED --join again (a new connection of the same page)--> CONNECTED
    CONNECTED or DISCONNECTED --bye / forgotten--> ENDED        (final)

What a session sends a client goes through its *sink*, a non-blocking callable taking
one encoded message (built by ``livetag.protocol.server_messages``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from .lifecycle import Transitions
from .protocol.server_messages import Bye

Sink = Callable[[bytes], None]
#: Told the ``Bye`` with which the session ended a client (after its sink got the bytes).
ByeHook = Callable[[Bye], None]


class ClientState(enum.Enum):
    """Where a client (a page) of a session is in its life cycle (module docstring)."""

    #: Known (its events are counted), no connection: updates are not rendered for it.
    DISCONNECTED = enum.auto()
    #: A transport delivers its messages through ``sink``.
    CONNECTED = enum.auto()
    #: Told ``bye`` or forgotten: final.
    ENDED = enum.auto()


CLIENT_LIFECYCLE: Transitions[ClientState] = Transitions("a session's client", {
    ClientState.DISCONNECTED: {ClientState.CONNECTED, ClientState.ENDED},
    ClientState.CONNECTED: {ClientState.CONNECTED, ClientState.DISCONNECTED, ClientState.ENDED},
})


class Client:
    """One page (browser tab) of a session: its id, the last event applied, its state
    and, while ``CONNECTED`` (only then), its sink."""

    __slots__ = ("_on_bye", "cid", "last_seq", "sink", "state")

    def __init__(self, cid: str) -> None:
        self.cid = cid
        self.last_seq = 0
        self.state = ClientState.DISCONNECTED
        self.sink: Sink | None = None  # not None exactly while CONNECTED
        self._on_bye: ByeHook | None = None

    @property
    def connected(self) -> bool:
        return self.state is ClientState.CONNECTED

    def connect(self, sink: Sink, on_bye: ByeHook | None = None) -> None:
        """Deliver to ``sink`` from now on (a new connection replaces an older one)."""
        self.state = CLIENT_LIFECYCLE.check(self.state, ClientState.CONNECTED)
        self.sink = sink
        self._on_bye = on_bye

    def disconnect(self) -> None:
        """The connection went away; the client is kept so that its page may resume."""
        self.state = CLIENT_LIFECYCLE.check(self.state, ClientState.DISCONNECTED)
        self.sink = None
        self._on_bye = None

    def end(self, bye: Bye | None = None) -> None:
        """End the client: a connected one is sent ``bye`` first (and its ``on_bye`` told).
        Ending an ended client does nothing."""
        if self.state is ClientState.ENDED:
            return
        sink, on_bye = self.sink, self._on_bye
        self.state = CLIENT_LIFECYCLE.check(self.state, ClientState.ENDED)
        self.sink = None
        self._on_bye = None
        if sink is not None and bye is not None:
            sink(bye.encode())
            if on_bye is not None:
                on_bye(bye)
