"""``Ownership``: the supervisor's answers to "where does session K live?" and "claim K
here", the seam between a machine's web workers (and its relay) and the directory.

The directory (``Directory.owner_of``) is the source of truth; this module adds what the
supervisor knows locally: the claims it made for its session processes. Its two calls:

- ``locate(key)`` -> ``Location``: ``HERE`` (this machine holds a claim on it, at
  ``epoch``), ``ELSEWHERE`` (the live machine ``machine``, whose relay listens at
  ``relay``, owns it at ``epoch``), or ``NOBODY`` (never claimed, released, or its owner's
  lease ran out: a dead machine; claimable here). Raises ``StoreUnavailable`` when Redis
  cannot be reached: nobody can tell, and nobody can claim.
- ``claim(key)`` -> ``Claim`` (granted: a new epoch) or raises ``OwnedElsewhere`` (with
  the owner's ``Location``) or ``StoreUnavailable``.

The supervisor serves both to web workers on its control socket (``supervisor``: ops
``owner`` and ``revive``; the latter is "claim here and restore from the snapshot").

After a gap in this machine's lease (Redis was down longer than a lease, or the machine
was paused), ``reassert`` checks every claim with Redis: one still ours is vouched for
again (its ``sent_at`` moves past the gap, so ``Directory.holds`` answers without I/O);
one whose record Redis lost (restarted without its data) is claimed again (a new epoch);
one another machine took is dropped (its process is fenced: see ``fence``).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
from collections.abc import Callable

from ...errors import StoreUnavailable
from .client import short
from .directory import Claim, Directory

log = logging.getLogger("livetag.server.cluster")


class Where(enum.Enum):
    """Where a session lives, as ``Ownership.locate`` answers."""

    HERE = "here"
    ELSEWHERE = "elsewhere"
    NOBODY = "nobody"


@dataclasses.dataclass(frozen=True, slots=True)
class Location:
    """``where``; ``machine`` and ``relay`` (``host:port``, ``None`` when that machine
    has no relay) for ``ELSEWHERE`` (this machine's id for ``HERE``); ``epoch``: the
    session's current epoch (0: no record)."""

    where: Where
    machine: str | None = None
    relay: str | None = None
    epoch: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"where": self.where.value, "machine": self.machine, "relay": self.relay, "epoch": self.epoch}


class OwnedElsewhere(Exception):
    """A claim refused: a live machine owns the session (``location``)."""

    def __init__(self, key: str, location: Location) -> None:
        super().__init__(f"expected session {short(key)} free to claim, got it owned by machine "
                         f"{location.machine} (epoch {location.epoch})")
        self.location = location


class Ownership:
    """The claims of this machine's sessions (module docstring). ``directory``: this
    machine's, joined (``ClusterMember.directory``)."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.claims: dict[str, Claim] = {}
        #: Told ``(key, claim)`` when ``reassert`` re-claimed or re-vouched a session.
        self.on_change: Callable[[str, Claim], None] | None = None
        #: Told ``(key)`` when ``reassert`` found a session taken by another machine.
        self.on_lost: Callable[[str], None] | None = None

    async def locate(self, key: str) -> Location:
        claim = self.claims.get(key)
        if claim is not None and self.directory.holds(claim):
            return Location(Where.HERE, self.directory.machine_id, self.directory.relay, claim.epoch)
        owner = await self.directory.owner_of(key)
        if not owner.live or owner.machine is None:
            return Location(Where.NOBODY, epoch=owner.epoch)
        if owner.machine == self.directory.machine_id and owner.incarnation == self.directory.incarnation:
            return Location(Where.HERE, owner.machine, self.directory.relay, owner.epoch)
        relay = next((m.relay for m in await self.directory.machines() if m.id == owner.machine), None)
        return Location(Where.ELSEWHERE, owner.machine, relay, owner.epoch)

    async def claim(self, key: str) -> Claim:
        claim = await self.directory.claim(key)
        if not claim.granted:
            owner = claim.owner
            machine = owner.machine if owner is not None else None
            relay = next((m.relay for m in await self.directory.machines() if m.id == machine), None)
            raise OwnedElsewhere(key, Location(Where.ELSEWHERE, machine, relay, claim.epoch))
        self.claims[key] = claim
        return claim

    async def release(self, key: str, epoch: int | None = None) -> None:
        """Give up the claim on ``key`` (its process ended: the session is claimable at
        once elsewhere, from its snapshot); only the claim at ``epoch`` when given (a
        newer claim of this machine stays). Logged, not raised, when Redis is down (the
        claim then lives until this machine's lease ends)."""
        claim = self.claims.get(key)
        if claim is None or (epoch is not None and claim.epoch != epoch):
            return
        del self.claims[key]
        try:
            await self.directory.release(claim)
        except StoreUnavailable as exc:
            log.warning("session %s: claim not released (%s)", short(key), exc)

    def forget(self, key: str) -> None:
        self.claims.pop(key, None)

    async def reassert(self) -> None:
        """Check every claim with Redis after a gap in this machine's lease (module
        docstring). ``StoreUnavailable`` ends it early (called again at the next gap)."""
        for key, claim in list(self.claims.items()):
            if self.directory.holds(claim):
                continue
            sent = time.monotonic()
            owner = await self.directory.owner_of(key)
            if self.claims.get(key) is not claim:
                continue  # released or replaced meanwhile
            mine = owner.machine == self.directory.machine_id and owner.incarnation == self.directory.incarnation
            if mine and owner.epoch == claim.epoch and owner.live:
                claim = dataclasses.replace(claim, sent_at=sent)
            elif owner.epoch == 0 or (owner.machine is None and owner.epoch == claim.epoch):
                try:
                    claim = await self.claim(key)
                except OwnedElsewhere:
                    self.claims.pop(key, None)
                    if self.on_lost is not None:
                        self.on_lost(key)
                    continue
                log.warning("session %s: its ownership record was lost (Redis restarted without its data?): "
                            "claimed again at epoch %d", short(key), claim.epoch)
            else:
                log.warning("session %s: claimed by machine %s (epoch %d) while this machine's lease lapsed",
                            short(key), owner.machine, owner.epoch)
                self.claims.pop(key, None)
                if self.on_lost is not None:
                    self.on_lost(key)
                continue
            self.claims[key] = claim
            if self.on_change is not None:
                self.on_change(key, claim)
