"""``livetag.locks.FifoLock``: asyncio.Lock's behaviour, and a free lock taken by a plain call."""

from __future__ import annotations

import asyncio

import pytest

from livetag.locks import FifoLock


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


def test_a_free_lock_is_taken_by_a_plain_call_and_a_held_one_is_not() -> None:
    lock = FifoLock()
    assert lock.try_acquire() and lock.locked()
    assert not lock.try_acquire()
    lock.release()
    assert not lock.locked() and lock.try_acquire()


def test_releasing_a_free_lock_raises() -> None:
    with pytest.raises(RuntimeError, match="expected a held lock"):
        FifoLock().release()


def test_waiters_take_the_lock_one_at_a_time_in_arrival_order() -> None:
    async def main() -> list[str]:
        lock, order, inside = FifoLock(), [], []

        async def worker(name: str) -> None:
            async with lock:
                inside.append(name)
                assert len(inside) == 1, inside  # mutual exclusion
                await asyncio.sleep(0)
                order.append(name)
                inside.remove(name)

        assert lock.try_acquire()
        tasks = [asyncio.create_task(worker(str(i))) for i in range(5)]
        await asyncio.sleep(0.01)
        assert order == []  # all waiting behind the holder
        lock.release()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return order

    assert run(main()) == ["0", "1", "2", "3", "4"]


def test_a_newcomer_does_not_pass_ahead_of_a_woken_waiter() -> None:
    async def main() -> list[str]:
        lock, order = FifoLock(), []
        assert lock.try_acquire()

        async def waiter() -> None:
            await lock.acquire()
            order.append("waiter")
            lock.release()

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        lock.release()  # the waiter is woken but has not run yet
        assert not lock.try_acquire()  # someone waits: a plain call does not barge in
        await lock.acquire()
        order.append("newcomer")
        lock.release()
        await asyncio.wait_for(task, 5)
        return order

    assert run(main()) == ["waiter", "newcomer"]


def test_a_waiter_cancelled_while_waiting_never_holds_the_lock() -> None:
    async def main() -> tuple[bool, list[str]]:
        lock, order = FifoLock(), []
        assert lock.try_acquire()

        async def waiter(name: str) -> None:
            await lock.acquire()
            order.append(name)
            lock.release()

        first = asyncio.create_task(waiter("first"))
        second = asyncio.create_task(waiter("second"))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        lock.release()
        await asyncio.wait_for(second, 5)
        return first.cancelled(), order

    assert run(main()) == (True, ["second"])


def test_a_waiter_cancelled_after_its_turn_came_passes_the_turn_on() -> None:
    async def main() -> tuple[bool, list[str], bool]:
        lock, order = FifoLock(), []
        assert lock.try_acquire()

        async def waiter(name: str) -> None:
            await lock.acquire()
            order.append(name)
            lock.release()

        first = asyncio.create_task(waiter("first"))
        second = asyncio.create_task(waiter("second"))
        await asyncio.sleep(0)
        lock.release()  # wakes the first...
        first.cancel()  # ...which is cancelled before it runs
        await asyncio.wait_for(second, 5)
        return first.cancelled(), order, lock.locked()

    assert run(main()) == (True, ["second"], False)


def test_an_exception_inside_async_with_releases_the_lock() -> None:
    async def main() -> bool:
        lock = FifoLock()
        with pytest.raises(ValueError):
            async with lock:
                raise ValueError("boom")
        return lock.locked()

    assert run(main()) is False
