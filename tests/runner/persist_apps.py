"""The app of the Runner persistence tests: a ``States`` counter, persisted by default
(the store is ``$LIVETAG_STORE`` when set, else the data directory: see tests/conftest.py),
and a ``slow`` button that counts after half a second."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from livetag import Runner, States, Tag


class Clicks(Tag.App):
    def init(self) -> None:
        self.s = States(count=0)
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= Tag.button("+ later", _class="slow", _onclick=self.slow)
        self <= Tag.span(self.s.count, _class="value")
        self <= Tag.span(str(os.getpid()), _class="pid")

    def increment(self, e: Any) -> None:
        self.s.count += 1

    async def slow(self, e: Any) -> None:
        await asyncio.sleep(0.5)
        self.s.count += 1


app = Runner(Clicks, timeout_interaction=20, spare_processes=0,
             persist=os.environ.get("LT_PERSIST", "1") == "1")
