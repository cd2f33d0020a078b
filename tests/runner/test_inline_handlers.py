"""``HandlerThreads.inline``: what a Runner session process turns on (synchronous user
code runs on the event loop's thread; the process is the isolation). The default stays
threads, for in-process sessions. No processes here: plain asyncio."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest

from livetag import Tag
from livetag.session import Session
from livetag.threads import HandlerThreads

where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="unset")


def test_inline_calls_run_on_the_callers_thread_and_need_no_loop_turn() -> None:
    threads = HandlerThreads()
    threads.inline = True

    async def main() -> None:
        where.set("caller")
        seen: dict[str, Any] = {}

        def work(x: int) -> int:
            seen["thread"] = threading.get_ident()
            seen["context"] = where.get()
            where.set("changed")  # in a copy, as from a thread: the caller's value stays
            return x * 2

        future = threads.run(work, 21)
        assert future.done()  # ran already: awaiting it does not yield to the loop
        assert await future == 42
        assert seen == {"thread": threading.get_ident(), "context": "caller"}
        assert where.get() == "caller"
        assert threads._threads == 0  # no thread was started

    asyncio.run(main())


def test_inline_exceptions_reach_the_awaiting_caller() -> None:
    threads = HandlerThreads()
    threads.inline = True

    def fail() -> None:
        raise ValueError("boom")

    def stop() -> None:
        raise StopIteration

    async def main() -> None:
        with pytest.raises(ValueError, match="boom"):
            await threads.run(fail)
        with pytest.raises(RuntimeError, match="StopIteration"):  # a future cannot hold one
            await threads.run(stop)

    asyncio.run(main())


def test_the_default_is_a_thread() -> None:
    threads = HandlerThreads()
    assert threads.inline is False

    async def main() -> None:
        assert await threads.run(threading.get_ident) != threading.get_ident()

    asyncio.run(main())


class Sync(Tag.div):
    def init(self) -> None:
        self.thread = 0
        self.steps: list[int] = []

    def handler(self) -> None:
        self.thread = threading.get_ident()

    def generator(self) -> Any:
        for n in range(3):
            self.steps.append(threading.get_ident())
            yield n


def test_a_session_runs_sync_handlers_and_generators_inline_when_switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from livetag.threads import HANDLER_THREADS

    monkeypatch.setattr(HANDLER_THREADS, "inline", True)

    async def main() -> None:
        session = Session(Sync)
        app: Any = session.app
        await session.run_callback(app.handler, ())
        await session.run_callback(app.generator, ())
        loop_thread = threading.get_ident()
        assert app.thread == loop_thread and app.steps == [loop_thread] * 3

    asyncio.run(main())
