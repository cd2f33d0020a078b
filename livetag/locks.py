"""``FifoLock``: the lock that runs a session's events one at a time.

It behaves as ``asyncio.Lock`` does (one holder; waiters served in arrival order; a
newcomer does not pass ahead of waiters; a waiter cancelled after being woken passes
its turn on), with one more way in: ``try_acquire``, a plain call that takes the lock
when it is free and nobody waits. Nearly every event finds its session's lock free, and
``async with asyncio.Lock()`` makes three coroutines to take and give it back
(``__aenter__``, ``acquire``, ``__aexit__``): on a served event, measured, a few
microseconds of the round trip (each new coroutine's code and objects are cold in the
caches). ``try_acquire`` then ``release`` costs two calls.
"""

from __future__ import annotations

import asyncio
from collections import deque


class FifoLock:
    """A first-in, first-out asyncio lock; see the module docstring. Use it as::

        if not lock.try_acquire():
            await lock.acquire()
        try:
            ...
        finally:
            lock.release()

    or ``async with lock:``. Bound to no loop until it makes a waiter."""

    __slots__ = ("_locked", "_waiters")

    def __init__(self) -> None:
        self._locked = False
        self._waiters: deque[asyncio.Future[None]] | None = None

    def locked(self) -> bool:
        """True while held."""
        return self._locked

    def try_acquire(self) -> bool:
        """Take the lock now if it is free and nobody waits for it; ``False`` otherwise
        (nothing taken: ``await acquire()`` queues)."""
        if self._locked or self._waiters:
            return False
        self._locked = True
        return True

    async def acquire(self) -> None:
        """Take the lock, after the holder and every earlier waiter. Cancelled while
        waiting: not taken (and the turn, if it had come, passes to the next waiter)."""
        if self.try_acquire():
            return
        if self._waiters is None:
            self._waiters = deque()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        except asyncio.CancelledError:
            if not self._locked:  # woken, then cancelled before running: the next one's turn
                self._wake_first()
            raise
        self._locked = True

    def release(self) -> None:
        """Give the lock back and wake the first waiter. ``RuntimeError`` when not held."""
        if not self._locked:
            raise RuntimeError("expected a held lock to release, got a free one")
        self._locked = False
        self._wake_first()

    def _wake_first(self) -> None:
        # Only the first: a cancelled first waiter wakes the next as it leaves (acquire).
        if self._waiters:
            first = self._waiters[0]
            if not first.done():
                first.set_result(None)

    async def __aenter__(self) -> None:
        if not self.try_acquire():
            await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()
