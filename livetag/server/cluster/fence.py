"""The session process's side of ownership in a cluster: it saves under its supervisor's
claim (``ClaimedStore``) and sends nothing once the claim is lost (``SessionFence``).

The supervisor claims a session (``Directory.claim``) before its process starts and keeps
four numbers in the memory it shares with that process (``ClaimWindow``): the epoch of the
claim, when it was sent, and since when and until when this machine's lease is surely
held (monotonic clock, shared by all processes of the machine). From them the process
decides without I/O, as ``Directory.holds`` does, that it still owns the session.

``SessionFence.gate`` is ``Session.send_gate``: asked before every update goes out.
When the window vouches for the claim it answers yes. Otherwise it answers no (the update
waits in the tree; events go on being applied, their acknowledgements wait with it) and
asks Redis who owns the session: the same epoch, or no record at all (Redis lost its
data: nobody else claimed it, the supervisor claims it again), and the update goes out;
another epoch, and the process is *fenced*: ``on_fenced`` ends it, the update is never
sent, and the page re-sends the events it has no acknowledgement for to the new owner.

When Redis cannot be reached, a process cannot tell a Redis outage (nobody can claim its
session) from a partition that cuts its machine alone off Redis (another machine may
claim the session once this machine's lease ran out). So past the lease it holds its
updates and asks again every ``UNREACHABLE_RETRY`` seconds: an outage shorter than the
lease goes unnoticed; a longer one pauses this machine's pages (their events wait, none
is lost) until Redis answers. A session that started unclaimed (epoch 0: Redis was
down) has neither record nor snapshot, so no other machine can resume it: its updates go
out, and its supervisor claims it once Redis answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from ...errors import Fenced, StoreUnavailable
from ..store import Snapshot
from . import scripts
from .client import Keys, aioredis, as_int, as_text, mapped, short
from .store import RedisStore

log = logging.getLogger("livetag.server.cluster")

#: Seconds between two questions to Redis while it cannot be reached and the window does
#: not vouch for the claim (updates wait meanwhile).
UNREACHABLE_RETRY = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimWindow:
    """What the supervisor shares with a session process: ``epoch`` of its claim (0: not
    claimed), ``claimed_at`` (monotonic send time of the claim), ``lease_since`` and
    ``lease_until`` (this machine's lease is surely held in between; 0: not held)."""

    epoch: int
    claimed_at: float
    lease_since: float
    lease_until: float

    def holds(self, now: float) -> bool:
        return self.epoch > 0 and 0 < self.lease_since <= self.claimed_at and now < self.lease_until


class ClaimedStore:
    """A session process's ``SessionStore`` in a cluster: ``RedisStore`` whose ``claim``
    is the supervisor's (``current()``: the shared epoch; ``StoreUnavailable`` when 0,
    the supervisor could not claim), and whose ``save`` uses the latest shared epoch (the
    supervisor re-claims after Redis lost its data)."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.current: Callable[[], int] = lambda: 0

    async def claim(self, key: str) -> int:
        epoch = self.current()
        if not epoch:
            raise StoreUnavailable(f"expected the supervisor's claim on session {short(key)}, got none "
                                   "(Redis could not be reached when the session started)")
        return epoch

    async def save(self, key: str, data: bytes, *, epoch: int, ttl: float) -> None:
        """``RedisStore.save`` under the current claim. A session whose ownership record
        is gone (Redis lost its data, or the record expired) is not another's: that
        raises ``StoreUnavailable`` (retried every second and at the next change, once
        the supervisor claimed it again), not ``Fenced``."""
        try:
            await self.store.save(key, data, epoch=self.current() or epoch, ttl=ttl)
        except Fenced as exc:
            if exc.current != 0:
                raise
            raise StoreUnavailable(f"expected the ownership record of session {short(key)} in Redis, got none "
                                   "(Redis lost it?): this machine claims it again") from None

    async def load(self, key: str) -> Snapshot | None:
        return await self.store.load(key)

    async def delete(self, key: str) -> None:
        await self.store.delete(key)

    async def close(self) -> None:
        await self.store.close()


class SessionFence:
    """``gate`` for ``Session.send_gate`` (module docstring). ``redis``: a client;
    ``key``: the session's store key; ``window()``: the shared ``ClaimWindow``;
    ``flush()``: send what the gate held back; ``on_fenced(epoch)``: the session is
    another's now (at ``epoch``)."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str, machine: str, incarnation: str, key: str,
                 window: Callable[[], ClaimWindow], flush: Callable[[], None],
                 on_fenced: Callable[[int], None]) -> None:
        self.keys = Keys(prefix)
        self.redis = redis
        self.machine, self.incarnation, self.key = machine, incarnation, key
        self.window, self.flush, self.on_fenced = window, flush, on_fenced
        self._owner_of = redis.register_script(scripts.OWNER_OF)
        self.fenced = False
        self._checking: asyncio.Task[None] | None = None
        self._retry: asyncio.TimerHandle | None = None  # Redis could not be reached: ask again then
        self._unreachable = False
        self._confirmed = False  # Redis just said yes: the next flush goes out

    def gate(self) -> bool:
        if self.fenced:
            return False
        window = self.window()
        # Epoch 0: a session started unclaimed (Redis was down): no record, no snapshot,
        # so no other machine can resume it; nothing to fence.
        if window.epoch == 0 or window.holds(time.monotonic()):
            return True
        if self._confirmed:
            self._confirmed = False  # one flush per answer: the next asks again
            return True
        if self._checking is None and self._retry is None:
            self._checking = asyncio.get_running_loop().create_task(self._check())
        return False

    async def verify(self) -> bool:
        """Whether this process may serve a new connection (a page load, a join): the
        window vouches for the claim, or Redis does (``_ask``). ``False`` once fenced
        (``on_fenced`` was told), and while Redis cannot be reached past the lease (the
        page retries, here or elsewhere, until a machine can vouch for its session)."""
        if self.fenced:
            return False
        window = self.window()
        if window.epoch == 0 or window.holds(time.monotonic()):
            return True
        try:
            verdict = await self._ask()
        except StoreUnavailable:
            return False
        except Exception:  # a corrupt record, a bug: logged; the send gate asks again
            log.exception("checking the ownership of session %s failed", short(self.key))
            return True
        if verdict is not None:
            self._fence(verdict)
        return not self.fenced

    async def _check(self) -> None:
        try:
            verdict = await self._ask()
        except StoreUnavailable:
            # Hold on and ask again: the flush then comes back through ``gate``.
            self._retry = asyncio.get_running_loop().call_later(UNREACHABLE_RETRY, self._ask_again)
            return
        except Exception:  # a bug must not hold updates forever: fail open, logged
            log.exception("checking the ownership of session %s failed", short(self.key))
            verdict = None
        finally:
            self._checking = None
        if verdict is not None:
            self._fence(verdict)
            return
        self._confirmed = True
        self.flush()

    def _ask_again(self) -> None:
        self._retry = None
        if not self.fenced:
            self.flush()

    def _fence(self, epoch: int) -> None:
        if self.fenced:
            return
        self.fenced = True
        log.warning("session %s: machine %s lost it (now epoch %d, this process had %d): this process "
                    "sends nothing more and ends", short(self.key), self.machine, epoch, self.window().epoch)
        self.on_fenced(epoch)

    async def _ask(self) -> int | None:
        """``None`` when this process may send (it owns the session, or nobody else
        does); else the epoch of the new owner. Raises ``StoreUnavailable`` when Redis
        cannot be reached (logged once per outage)."""
        where = self.keys.owner(self.key)
        try:
            with mapped("check a session's owner", where):
                epoch, machine, incarnation, _live = await self._owner_of(keys=[where],
                                                                          args=[self.keys.machine_prefix])
        except StoreUnavailable as exc:
            if not self._unreachable:
                log.warning("session %s: cannot check its ownership (%s): its updates wait until Redis "
                            "answers (another machine may claim it once this machine's lease ran out)",
                            short(self.key), exc)
            self._unreachable = True
            raise
        if self._unreachable:
            log.info("session %s: Redis answers again", short(self.key))
        self._unreachable = False
        current = as_int(epoch, where, "an integer epoch")
        mine = self.window().epoch
        if current == 0 or current == mine:
            return None  # no record (Redis lost it: the supervisor claims it again), or ours
        if as_text(machine) == self.machine and as_text(incarnation) == self.incarnation and current > mine:
            return None  # this machine claimed it again (``Ownership.reassert``): the window follows
        return current

    async def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._checking is not None:
            self._checking.cancel()
            with contextlib.suppress(BaseException):
                await self._checking


def window_of(shared: Any, fields: tuple[int, int, int, int]) -> Callable[[], ClaimWindow]:
    """A reader of the ``ClaimWindow`` in ``shared`` (a sequence of doubles) at indexes
    ``fields`` (epoch, claimed at, lease since, lease until)."""
    epoch, claimed, since, until = fields

    def read() -> ClaimWindow:
        return ClaimWindow(int(shared[epoch]), shared[claimed], shared[since], shared[until])

    return read
