"""The production runner: each session in its own OS process (see ``runner``)."""

from __future__ import annotations

from .runner import CLOSE_SESSION_ENDED, Runner

__all__ = ["CLOSE_SESSION_ENDED", "Runner"]
