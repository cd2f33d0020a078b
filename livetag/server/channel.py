"""``Mailbox``: the server side of a client reached over plain HTTP (SSE or long-poll).

A WebSocket can be written to at any time; an HTTP client cannot. Messages for it wait
in a bounded mailbox until an SSE stream, a long-poll or an event response takes them.
A client that stops collecting overflows its mailbox and is dropped, never buffered
without bound.

Life cycle of a mailbox (``MailboxState``, transitions checked)::

    PENDING --its client joined--> OPEN --overflow, swept, replaced--> DROPPED   (final)
    PENDING --dropped before its join finished--> DROPPED
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from typing import Any

from ..clients import Client, Sink
from ..lifecycle import Transitions
from ..session import Session


class MailboxState(enum.Enum):
    """Where a mailbox is in its life cycle (module docstring)."""

    #: Created for a join that is running: messages are kept, no client yet.
    PENDING = enum.auto()
    #: Its client joined: it collects what the session sends.
    OPEN = enum.auto()
    #: Its client was dropped: its messages are forgotten; its next request must rejoin.
    DROPPED = enum.auto()


MAILBOX_LIFECYCLE: Transitions[MailboxState] = Transitions("an HTTP mailbox", {
    MailboxState.PENDING: {MailboxState.OPEN, MailboxState.DROPPED},
    MailboxState.OPEN: {MailboxState.DROPPED},
})
_DROPPED = MailboxState.DROPPED


class Mailbox:
    """Messages waiting for one HTTP client of ``session``; ``sink`` (its ``put``) is
    what the session writes to."""

    def __init__(self, session: Session, limit: int, byte_limit: int = 4 << 20) -> None:
        self.session = session
        self.client: Client | None = None
        self.limit = limit
        self.byte_limit = byte_limit
        self._bytes = 0
        self.state = MailboxState.PENDING
        self.last_seen = time.monotonic()
        self._messages: deque[bytes] = deque()
        self._ready = asyncio.Event()
        # One bound method, kept: ``Session.leave`` recognises a client's sink by
        # identity, and ``self.put`` is a new object at every attribute access.
        self.sink: Sink = self.put

    @property
    def dropped(self) -> bool:
        """Its client was dropped (too slow, silent, or replaced): it must join again."""
        return self.state is _DROPPED

    def attach(self, client: Client) -> None:
        """``client`` joined through this mailbox (``session.join`` gave it ``sink``)."""
        self.state = MAILBOX_LIFECYCLE.check(self.state, MailboxState.OPEN)
        self.client = client

    def put(self, message: bytes) -> None:
        if self.state is _DROPPED:
            return
        if self._messages and (len(self._messages) >= self.limit or self._bytes + len(message) > self.byte_limit):
            # Too slow: forget it; its next request gets "rejoin" and a full render.
            self.close()
        else:
            self._messages.append(message)
            self._bytes += len(message)
            self._ready.set()

    def close(self) -> None:
        """Drop this client: its messages are forgotten, the session stops writing to it,
        a stream or long-poll waiting on it wakes up (and ends with "rejoin"). Closing a
        dropped mailbox does nothing."""
        if self.state is _DROPPED:
            return
        self.state = MAILBOX_LIFECYCLE.check(self.state, MailboxState.DROPPED)
        self._messages.clear()
        self._bytes = 0
        if self.client is not None:
            self.session.leave(self.client, self.sink)
        self._ready.set()

    def take(self) -> list[bytes]:
        """Every waiting message, oldest first."""
        self.last_seen = time.monotonic()
        messages = list(self._messages)
        self._messages.clear()
        self._bytes = 0
        self._ready.clear()
        return messages

    def wake(self) -> None:
        """Wake a stream or long-poll waiting on this mailbox (it rechecks why it waits)."""
        self._ready.set()

    async def wait(self, timeout: float, server: Any = None) -> list[bytes]:
        """Messages as soon as there are any, or ``[]`` after ``timeout`` seconds, or at
        once when ``server.stopping`` is (or becomes, with ``wake``) true.

        A wake-up whose messages another request took first (the response of an event
        POST) keeps waiting: an empty answer before the deadline is a wasted round trip."""
        self.last_seen = time.monotonic()
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._messages and self.state is not _DROPPED and not (server is not None and server.stopping):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), remaining)
            except TimeoutError:
                break
        return self.take()


def json_array(messages: list[bytes]) -> bytes:
    """Already-encoded JSON messages as one JSON array."""
    return b"[" + b",".join(messages) + b"]"
