"""``HandlerThreads``: where livetag runs synchronous user code, off the event loop.

A minimal executor for one kind of work: short calls whose caller awaits them on an
asyncio loop. Compared with ``loop.run_in_executor`` it skips the ``concurrent.futures``
layer (about half the cost of a hop). Threads start when every running one is busy, so
a handler that blocks (sleep, I/O, a lock) never makes another session's event wait
for a free thread; idle threads beyond ``keep_idle`` exit after ``idle_seconds``.

``inline = True`` runs each call on the caller's thread instead (the ``await`` then
returns without a loop turn). Only for a process that hosts a single session (the
``Runner``'s session processes turn it on): there the process is the isolation and the
supervisor enforces the timeouts, so a thread would only cost memory and a hop. The
default (threads) is what keeps in-process sessions from blocking each other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any


class HandlerThreads:
    """Run ``func(*args)`` in a worker thread: ``await threads.run(func, *args)``.

    Context variables of the caller are visible to ``func``; its exception is raised
    by the ``await``. At most ``max_threads`` run at once; beyond that, calls queue.
    """

    def __init__(self, max_threads: int = 256, keep_idle: int = 4, idle_seconds: float = 30.0) -> None:
        self.max_threads = max_threads
        self.keep_idle = keep_idle
        self.idle_seconds = idle_seconds
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        #: See the module docstring; set once, before any call.
        self.inline = False

    def run(self, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        context = contextvars.copy_context()
        if self.inline:
            settle(future, *_call(context, func, args))
            return future
        with self._lock:
            if self._idle:
                self._idle -= 1  # claimed: the next call will not count on it
            elif self._threads < self.max_threads:
                self._threads += 1
                threading.Thread(target=self._work, name=f"livetag-handler-{self._threads}", daemon=True).start()
        self._jobs.put((loop, future, context, func, args))
        return future

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            try:
                job = jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._idle > self.keep_idle:
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue
            loop, future, context, func, args = job
            _resolve_soon(loop, future, *_call(context, func, args))
            with self._lock:
                self._idle += 1


def _call(context: contextvars.Context, func: Callable[..., Any],
          args: tuple[Any, ...]) -> tuple[Any, BaseException | None]:
    """``(result, None)`` or ``(None, exception)``: what the awaiting coroutine gets."""
    try:
        return context.run(func, *args), None
    except StopIteration as exc:
        # A future cannot hold one (the reasoning of PEP 479): it would never resolve.
        error = RuntimeError(f"{func!r} raised StopIteration")
        error.__cause__ = exc
        return None, error
    except BaseException as exc:
        return None, exc


def _resolve_soon(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
                  exc: BaseException | None) -> None:
    try:
        loop.call_soon_threadsafe(settle, future, result, exc)
    except RuntimeError:  # the loop is closed: nobody waits any more
        pass


def settle(future: asyncio.Future[Any] | concurrent.futures.Future[Any], result: Any,
           exc: BaseException | None) -> None:
    """Give ``future`` (asyncio's or ``concurrent.futures``') its ``result`` or, when
    not ``None``, ``exc``; a future already done (its waiter was cancelled) is left."""
    if future.done():  # the awaiting task was cancelled
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


#: The pool every session uses.
HANDLER_THREADS = HandlerThreads()
