"""Fixtures of the hostile-input tests: tabs (WebSocket or HTTP transport) that are closed
after each test, and a witness session that must come out of every attack intact."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

# The protocol-speaking tab of the server tests is reused here, not copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from sec_client import ClientCodec, HttpTab, Witness  # noqa: E402


@pytest.fixture
async def tab() -> AsyncIterator[Callable[..., HttpTab]]:
    """``tab(url, http=None, codec=None)`` makes an ``HttpTab`` (which also speaks the
    WebSocket protocol); all of them are closed after the test."""
    made: list[HttpTab] = []

    def make(url: str, http: httpx.AsyncClient | None = None, codec: ClientCodec | None = None) -> HttpTab:
        made.append(HttpTab(url, http, codec=codec))
        return made[-1]

    yield make
    for t in made:
        await t.aclose()


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
