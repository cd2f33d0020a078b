"""``Directory``: which machines are alive, and which machine owns which session.

Machines (one per server: its supervisor) *join* with a lease: a Redis hash that expires
``lease`` seconds after the last heartbeat, renewed every third of a lease. Each start of
a machine is a new *incarnation* (random), so a machine that restarts with the same id
does not inherit the sessions of its former self: they are claimable at once.

A session's owner is the machine (id and incarnation) named in its ownership record.
``claim`` is one Lua script (``scripts.CLAIM_FREE``): it succeeds only when no *live*
machine other than the claimant owns the session (a missing or expired lease, or another
incarnation, is not live), and then bumps the session's epoch (the same counter and
record as ``RedisStore``, so snapshots are fenced by it). Ownership is not leased per
session (no per-session heartbeats): it lives as long as its machine's lease.

Before sending patches an owner asks whether it still owns the session at its epoch:

- ``holds(claim)`` answers without I/O: yes while this machine's lease has been held
  without a gap since the claim was sent and is not near its end by the local clock
  (nobody can claim a session while its owner's lease lives). ``False`` means "not sure".
- ``owns(claim)`` is ``holds`` and, when that is not sure, one Redis round trip.

Local times are ``time.monotonic()``; a margin of ``DRIFT`` (10 %) of each lease covers
the difference in clock rates between this machine and Redis. Redis's own clock decides
expiry; nothing compares wall clocks of machines.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import secrets
import time

from ...errors import StoreUnavailable
from . import scripts
from .client import Keys, aioredis, as_int, as_text, check_key, connect, mapped, short, stop_task
from .config import DEFAULT_PREFIX
from .store import aclose, milliseconds

log = logging.getLogger("livetag.server.cluster")

#: Part of a lease (and of a claim ttl) kept as a margin against clock rate differences.
DRIFT = 0.1


@dataclasses.dataclass(frozen=True, slots=True)
class Machine:
    """A live machine: ``id`` (configured), ``incarnation`` (random, per start),
    ``relay`` (``host:port`` or ``None``), ``started`` (wall-clock seconds)."""

    id: str
    incarnation: str
    relay: str | None
    started: float


@dataclasses.dataclass(frozen=True, slots=True)
class Owner:
    """A session's ownership: ``machine`` and ``incarnation`` (``None`` when nobody owns
    it: never claimed, released, or claimed outside the directory), ``epoch`` (0 when
    there is no record), ``live`` (the owner's lease is current)."""

    machine: str | None
    incarnation: str | None
    epoch: int
    live: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of ``Directory.claim``. Granted: ``epoch`` is the new epoch and
    ``sent_at`` the monotonic time the claim was sent. Refused: ``owner`` is the live
    owner and ``epoch`` its epoch."""

    key: str
    granted: bool
    epoch: int
    sent_at: float
    owner: Owner | None = None


class Directory:
    """One machine's view of the cluster directory (module docstring).

    ``redis``: a URL (the directory makes and closes its client) or a client the caller
    owns. ``machine_id``: this machine's configured id; ``relay``: where its relay listens
    (``host:port``), published for the other machines. ``lease``, ``claim_ttl``: seconds.
    Methods raise ``StoreUnavailable`` when Redis cannot be reached and ``StoreCorrupt``
    when a key holds what livetag did not write."""

    def __init__(self, redis: str | aioredis.Redis, *, machine_id: str, relay: str | None = None,
                 prefix: str = DEFAULT_PREFIX, lease: float = 10.0, claim_ttl: float = 24 * 3600.0) -> None:
        self._owned = isinstance(redis, str)
        self.redis: aioredis.Redis = connect(redis, name="livetag-directory") if isinstance(redis, str) else redis
        self.keys = Keys(prefix)
        self.machine_id = machine_id
        self.relay = relay
        self.incarnation = secrets.token_hex(8)
        self.started = time.time()
        self.lease = float(lease)
        self._lease_ms = milliseconds(lease, "lease")
        self.claim_ttl = float(claim_ttl)
        self._claim_ms = milliseconds(claim_ttl, "claim_ttl")
        self._scripts = {name: self.redis.register_script(getattr(scripts, name))
                         for name in ("REGISTER", "LEAVE", "MACHINES", "CLAIM_FREE", "OWNER_OF", "OWNS", "RELEASE")}
        self._valid_until = -math.inf  # monotonic: the lease is surely held until then
        self._held_since: float | None = None  # monotonic send time of the heartbeat that (re)made it
        self._heartbeats: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def me(self) -> str:
        return self.keys.machine(self.machine_id)

    # -- membership -----------------------------------------------------------------------

    async def join(self, *, wait: float | None = None) -> None:
        """Register this machine and keep its lease with a heartbeat task until
        ``leave``. A live machine with the same id (a former incarnation killed less
        than a lease ago, or a second machine configured with this id) is waited for up
        to ``wait`` seconds (default: one lease and a second), then ``ValueError``."""
        deadline = time.monotonic() + (self.lease + 1.0 if wait is None else wait)
        while not await self.heartbeat():
            if time.monotonic() > deadline:
                raise ValueError(f"expected machine id {self.machine_id!r} to be free in the cluster, got it held "
                                 "by another live machine (give each machine its own LIVETAG_MACHINE_ID)")
            await asyncio.sleep(min(0.25, self.lease / 4))
        if self._heartbeats is None:
            self._heartbeats = asyncio.get_running_loop().create_task(self._beat(), name="livetag-heartbeat")

    async def heartbeat(self) -> bool:
        """Renew the lease once: ``True`` when it is held now, ``False`` when another live
        incarnation holds this machine id."""
        sent = time.monotonic()
        with mapped("renew this machine's lease", self.me):
            code, other = await self._scripts["REGISTER"](
                keys=[self.me, self.keys.machines],
                args=[self.machine_id, self.incarnation, self.relay or "", self._lease_ms, repr(self.started)])
        code = as_int(code, self.me, "a reply of the register script")
        if code < 0:
            self._valid_until, self._held_since = -math.inf, None
            log.error("machine id %s is held by another live incarnation (%s)", self.machine_id, as_text(other))
            return False
        if code == 0 or self._held_since is None:
            if self._held_since is not None:
                log.warning("this machine's lease had lapsed: its sessions may have been claimed elsewhere")
            self._held_since = sent
        self._valid_until = sent + self.lease * (1 - DRIFT)
        return True

    def start(self) -> None:
        """Keep this machine registered from now on, without waiting for Redis: the first
        heartbeat is sent at once and repeated every third of a lease, whatever fails
        (Redis down at boot, the id held by a former incarnation). ``join`` waits."""
        if self._heartbeats is None:
            self._heartbeats = asyncio.get_running_loop().create_task(self._beat(at_once=True),
                                                                      name="livetag-heartbeat")

    async def _beat(self, at_once: bool = False) -> None:
        trouble: str | None = None
        while True:
            if not at_once:
                await asyncio.sleep(self.lease / 3)
            at_once = False
            problem: str | None
            try:
                problem = None if await self.heartbeat() else "its id is held by another live machine"
            except StoreUnavailable as exc:
                problem = str(exc)
            except Exception as exc:  # a bug must not end the heartbeats for good
                log.exception("heartbeat failed")
                problem = repr(exc)
            if problem is not None and trouble is None:
                log.warning("cannot renew this machine's lease: %s", problem)
            elif problem is None and trouble is not None:
                log.info("this machine's lease is renewed again")
            trouble = problem

    def lease_window(self) -> tuple[float, float]:
        """``(since, until)``: this machine's lease is surely held between these monotonic
        times (``since``: the send time of the heartbeat that made it, after any gap);
        ``(0.0, 0.0)`` when it is not held. What the supervisor shares with its session
        processes (``fence``)."""
        if self._held_since is None or self._valid_until == -math.inf:
            return 0.0, 0.0
        return self._held_since, self._valid_until

    def lease_held(self) -> bool:
        """Whether this machine's lease is surely current, by the local clock (no I/O)."""
        return time.monotonic() < self._valid_until

    async def leave(self) -> None:
        """Stop the heartbeats and delete this machine's lease: its sessions become
        claimable at once (a drain ends with this). Idempotent."""
        task, self._heartbeats = self._heartbeats, None
        if task is not None:
            await stop_task(task)
        self._valid_until, self._held_since = -math.inf, None
        with mapped("remove this machine's lease", self.me):
            await self._scripts["LEAVE"](keys=[self.me, self.keys.machines], args=[self.machine_id, self.incarnation])

    async def stop_heartbeats(self) -> None:
        """Stop renewing without leaving (the lease runs out by itself): what a paused or
        partitioned machine looks like to the others. For tests and drains."""
        task, self._heartbeats = self._heartbeats, None
        if task is not None:
            await stop_task(task)

    async def machines(self) -> list[Machine]:
        """The live machines, this one included once joined; sorted by id."""
        with mapped("list the machines", self.keys.machines):
            flat = await self._scripts["MACHINES"](keys=[self.keys.machines], args=[self.keys.machine_prefix])
        out = []
        for at in range(0, len(flat) - 3, 4):
            mid, inc, relay, started = (as_text(x) for x in flat[at:at + 4])
            try:
                when = float(started)
            except ValueError:
                when = 0.0
            out.append(Machine(mid, inc, relay or None, when))
        return sorted(out, key=lambda m: m.id)

    # -- sessions -------------------------------------------------------------------------

    async def owner_of(self, key: str) -> Owner:
        """Who owns session ``key`` now, and whether that machine is alive."""
        where = self.keys.owner(check_key(key))
        with mapped("read a session's owner", where):
            epoch, machine, inc, live = await self._scripts["OWNER_OF"](keys=[where], args=[self.keys.machine_prefix])
        return Owner(as_text(machine) or None, as_text(inc) or None, as_int(epoch, where, "an integer epoch"),
                     bool(as_int(live, where, "a flag")))

    async def claim(self, key: str) -> Claim:
        """Become the owner of session ``key`` unless another live machine owns it. A
        grant carries a new epoch (greater than any before); a refusal names the owner.
        Raises ``StoreUnavailable`` also when this machine's own lease has lapsed (join
        first; heartbeats must reach Redis)."""
        where = self.keys.owner(check_key(key))
        sent = time.monotonic()
        with mapped("claim a session", where):
            reply = await self._scripts["CLAIM_FREE"](
                keys=[where, self.keys.epochs, self.me],
                args=[self.machine_id, self.incarnation, self._claim_ms, self.keys.machine_prefix])
        code = as_int(reply[0], where, "a reply of the claim script")
        if code < 0:
            raise StoreUnavailable(f"expected this machine ({self.machine_id}) to hold its lease to claim session "
                                   f"{short(key)}, got no live lease: its heartbeats have not reached Redis")
        epoch = as_int(reply[1], where, "an integer epoch")
        if code == 1:
            return Claim(key, True, epoch, sent)
        return Claim(key, False, epoch, math.nan, Owner(as_text(reply[2]), as_text(reply[3]), epoch, True))

    def holds(self, claim: Claim) -> bool:
        """Whether ``claim`` is surely still this machine's, without I/O (module
        docstring); ``False`` means "ask Redis" (``owns``). It vouches for the lease, so
        it cannot see a later claim of the same session by this same machine: the
        machine fences its own former processes (it knows the claims it makes)."""
        now = time.monotonic()
        return (claim.granted and self._held_since is not None and claim.sent_at >= self._held_since
                and now < self._valid_until and now < claim.sent_at + self.claim_ttl * (1 - DRIFT))

    async def owns(self, claim: Claim) -> bool:
        """Whether this machine still owns ``claim.key`` at ``claim.epoch``: ``holds``,
        else one round trip (which also keeps the ownership record another claim ttl).
        Raises ``StoreUnavailable`` only when the answer needed Redis."""
        if self.holds(claim):
            return True
        if not claim.granted:
            return False
        where = self.keys.owner(claim.key)
        with mapped("check a session's owner", where):
            ok = await self._scripts["OWNS"](
                keys=[where], args=[self.machine_id, self.incarnation, str(claim.epoch), self._claim_ms,
                                    self.keys.machine_prefix])
        return bool(as_int(ok, where, "a flag"))

    async def release(self, claim: Claim) -> bool:
        """Give up ``claim``: the session has no owner (its epoch stays; the next claim,
        by any machine, bumps it). ``False`` when it was no longer this machine's."""
        if not claim.granted:
            return False
        where = self.keys.owner(claim.key)
        with mapped("release a session", where):
            done = await self._scripts["RELEASE"](keys=[where],
                                                  args=[self.machine_id, self.incarnation, str(claim.epoch)])
        return bool(as_int(done, where, "a flag"))

    async def close(self) -> None:
        """Stop the heartbeats (the lease runs out; ``leave`` first to end it now) and
        close the client when the directory made it. Idempotent."""
        await self.stop_heartbeats()
        if self._owned and not self._closed:
            self._closed = True
            await aclose(self.redis)
