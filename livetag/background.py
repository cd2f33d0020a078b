"""Asyncio tasks that a session's user code starts, watched for failures nobody sees.

A task created while a session's user code runs (``running_session`` set) that ends
with an exception nobody retrieved (awaited, gathered) is reported to that session's
pages like a failing handler (``TaskOwner.background_failed``), instead of asyncio's
"exception was never retrieved" in the server log only.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, Protocol


class TaskOwner(Protocol):
    """What ``watch_tasks`` reports to: a ``livetag.session.Session``."""

    def background_failed(self, task: asyncio.Task[Any]) -> None: ...


#: The session whose user code is running: asyncio tasks that code creates inherit it,
#: so that one failing with nobody awaiting it is reported to that session's pages.
running_session: contextvars.ContextVar[TaskOwner | None] = contextvars.ContextVar("livetag_session", default=None)


def watch_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop`` report the asyncio tasks that user code of a session creates and that
    fail with nobody retrieving the exception (``Session.background_failed``). Installs
    a task factory wrapping the loop's own (once per loop; any factory set before is kept)."""
    previous = loop.get_task_factory()
    if getattr(previous, "livetag_watch", False):
        return

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        task: asyncio.Future[Any] = (previous(loop, coro, **kwargs) if previous is not None
                                     else asyncio.Task(coro, loop=loop, **kwargs))
        session = running_session.get()
        if session is not None and isinstance(task, asyncio.Task):
            task.add_done_callback(lambda t: _check_later(session, t))
        return task

    factory.livetag_watch = True  # type: ignore[attr-defined]
    loop.set_task_factory(factory)


def _check_later(session: TaskOwner, task: asyncio.Task[Any]) -> None:
    # Whoever awaits the task is woken by a done callback registered after this one:
    # look one turn later, once it had the chance to retrieve the exception.
    task.get_loop().call_soon(_check, session, task)


def _check(session: TaskOwner, task: asyncio.Task[Any]) -> None:
    # asyncio's own "exception was never retrieved" flag; absent: assume retrieved.
    if not task.cancelled() and getattr(task, "_log_traceback", False):
        session.background_failed(task)
