"""Knowing at once that the server is stopping, to end long-polls and SSE streams.

ASGI tells an application that the server stops only through the lifespan protocol, and
only *after* every open request finished: uvicorn (like gunicorn's worker) first waits
for open connections, up to ``timeout_graceful_shutdown`` (none by default: for ever).
An SSE stream never finishes by itself and a long-poll only after ``POLL_SECONDS``, so a
stop would wait for them (or cut them when the timeout passes, logging an error each).

The stop itself is a signal (SIGTERM, SIGINT) that the ASGI server handles. While the
application starts (lifespan startup runs inside uvicorn's signal capture), the handler
installed for each of them is wrapped: the server's handler still runs first, unchanged,
then livetag's callbacks are scheduled on the event loop. When the server restores its
handlers after the stop, the wrapper goes with them. Only the main thread can install
signal handlers; elsewhere (a server run in a thread) nothing is installed and streams
end when the server's own timeout cuts them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("livetag.server.shutdown")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: Listeners (held weakly by their ``_Bound``) to tell when a stop signal comes.
_callbacks: list[_Bound] = []


def on_stop_signal(listener: Any, loop: asyncio.AbstractEventLoop) -> bool:
    """Call ``listener.server_stopping()`` on ``loop`` when the process gets SIGTERM or
    SIGINT, after the handler installed now (the ASGI server's) ran. ``listener`` is held
    weakly. Returns False when no handler could be installed (not the main thread, or no
    Python handler to chain: then nothing handles the signal gracefully anyway)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    _callbacks[:] = [b for b in _callbacks if b.listener() is not None and b.listener() is not listener]
    _callbacks.append(_Bound(listener, loop))
    installed = False
    for sig in _SIGNALS:
        previous = signal.getsignal(sig)
        if isinstance(previous, _Chained):
            installed = True  # already wrapped (several apps in one process)
            continue
        if not callable(previous):
            continue  # SIG_DFL / SIG_IGN: the default kills the process, or nobody stops
        signal.signal(sig, _Chained(previous))
        installed = True
    return installed


class _Bound:
    """A listener and the loop its ``server_stopping`` must run on."""

    def __init__(self, listener: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.listener = weakref.ref(listener)
        self.loop = loop

    def fire(self) -> None:
        listener = self.listener()
        if listener is None or self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(listener.server_stopping)
        except RuntimeError:
            pass  # the loop closed meanwhile


class _Chained:
    """A signal handler: the one it replaced, then every registered listener."""

    def __init__(self, previous: Callable[[int, FrameType | None], Any]) -> None:
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        try:
            self.previous(signum, frame)
        finally:
            log.info("signal %s: ending long-polls and event streams", signal.Signals(signum).name)
            for bound in list(_callbacks):
                bound.fire()
