"""Life cycles as explicit state machines: an enum of states and the table of allowed
transitions, as Starlette's ``WebSocketState`` but with the transitions checked.

    class DoorState(enum.Enum):
        OPEN = enum.auto()
        SHUT = enum.auto()

    DOOR = Transitions("a door", {DoorState.OPEN: {DoorState.SHUT}, DoorState.SHUT: {DoorState.OPEN}})
    self.state = DOOR.check(self.state, DoorState.SHUT)   # InvalidTransition if not allowed

Used by the WebSocket connection (``livetag.server.websocket``), the HTTP mailbox
(``livetag.server.channel``) and a session's client (``livetag.session``). This module
imports nothing of livetag but its errors: every layer may use it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

from .errors import InvalidTransition

S = TypeVar("S", bound=enum.Enum)


class Transitions(Generic[S]):
    """The transitions a life cycle allows: ``allowed[state]`` lists the states that may
    follow ``state`` (a state absent from the table, or mapped to nothing, is final).
    ``what`` names the thing in error messages (``"a WebSocket connection"``)."""

    __slots__ = ("_allowed", "what")

    def __init__(self, what: str, allowed: Mapping[S, Iterable[S]]) -> None:
        self.what = what
        self._allowed: dict[S, frozenset[S]] = {state: frozenset(after) for state, after in allowed.items()}

    def allows(self, current: S, new: S) -> bool:
        return new in self._allowed.get(current, ())

    def check(self, current: S, new: S) -> S:
        """``new``, when the table allows ``current -> new``; else raises ``InvalidTransition``
        naming both states and those that were allowed."""
        if new not in self._allowed.get(current, ()):
            allowed = sorted(s.name for s in self._allowed.get(current, ()))
            raise InvalidTransition(self.what, current.name, new.name,
                                    " or ".join(allowed) if allowed else "nothing (it is final)")
        return new
