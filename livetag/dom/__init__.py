"""The pure layer: tags, rendering, events and the change record. No I/O here."""

from __future__ import annotations

from .events import Event, Handler, prevent, stop
from .render import HTML
from .tag import Tag
from .tree import LiveTree

__all__ = ["Event", "HTML", "Handler", "LiveTree", "Tag", "prevent", "stop"]
