"""Fixtures of the hostile-input tests: tabs (``livetag.testing.wire.Tab``, any transport)
that are closed after each test, and a witness session that must come out of every attack
intact."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from hostile import Witness

from livetag.testing.wire import AesGcm, Tab


@pytest.fixture
async def tab() -> AsyncIterator[Callable[..., Tab]]:
    """``tab(url, http=None, codec=None)`` makes a ``Tab``; all of them (and the HTTP
    clients given to them) are closed after the test."""
    made: list[Tab] = []

    def make(url: str, http: httpx.AsyncClient | None = None, codec: AesGcm | None = None) -> Tab:
        made.append(Tab(url, http, codec=codec))
        return made[-1]

    yield make
    for t in made:
        await t.aclose()
        await t.http.aclose()  # a shared client too, as before: closing twice is harmless


@pytest.fixture
async def witness() -> AsyncIterator[Callable[[str], Witness]]:
    """``await witness(url).start()``: a live session opened before an attack."""
    made: list[Witness] = []

    def make(url: str) -> Witness:
        made.append(Witness(url))
        return made[-1]

    yield make
    for w in made:
        await w.aclose()
