"""The pure layer: tags, rendering, events and the change record. No I/O here."""

from __future__ import annotations

from .events import Event, Handler, prevent, stop
from .html import HTML
from .router import Link, PathRouter, Router
from .state import State, States
from .tag import Tag
from .tree import LiveTree

__all__ = ["HTML", "Event", "Handler", "Link", "LiveTree", "PathRouter", "Router", "State", "States", "Tag", "prevent",
           "stop"]
