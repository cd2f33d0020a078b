"""Everything about HTTP: routes, cookies, origin checks, limits, transports."""

from __future__ import annotations

from .webapp import WebApp

__all__ = ["WebApp"]
