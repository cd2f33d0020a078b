"""Apps served by the Runner tests (importable by name: session processes import them).

``app`` is configured from the environment so that real uvicorn / gunicorn processes
can serve it as ``runner_apps:app``: ``LT_TIMEOUT`` (timeout_interaction, s),
``LT_INACTIVITY`` (timeout_inactivity, s), ``LT_MEMORY`` (max_memory_mb),
``LT_HTTP_ONLY`` (1/0), ``LT_DESTROYED`` (a file each ``on_destroy`` appends to),
``LT_MAX_SESSIONS`` (max_sessions), ``LT_SPARES`` (spare_processes), ``LT_NAP_FLAG`` (the
file whose creation ends the synchronous ``nap`` handler), ``LT_JOIN_GRACE`` (join_grace),
``LT_SESSION_BURST`` / ``LT_SESSION_RATE`` (the new-session budget per address).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from livetag import Runner, Tag


class Counter(Tag.App):
    """A counter that shows the pid of its process and the page's query parameters."""

    def init(self) -> None:
        self.count = 0
        params = dict(self.request.query_params) if self.request is not None else {}
        params.pop("n", None)
        self.value = Tag.span("0", _class="value")
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= self.value
        self <= Tag.span(str(os.getpid()), _class="pid")
        self <= Tag.span(repr(sorted(params.items())), _class="query")
        self <= Tag.button("sleep", _class="sleep", _onclick=self.sleep)
        self <= Tag.button("spin", _class="spin", _onclick=self.spin)
        self <= Tag.button("block", _class="block", _onclick=self.block)
        self <= Tag.button("hog", _class="hog", _onclick=self.hog)
        self <= Tag.button("remember", _class="remember", _onclick=self.remember)
        self <= Tag.button("nap", _class="nap", _onclick=self.nap)
        seen = self.request.session.get("remembered") if self.request is not None else None
        self <= Tag.span(str(seen), _class="remembered")

    def increment(self, e: Any) -> None:
        self.count += 1
        self.value.text = self.count

    async def sleep(self, e: Any) -> None:
        await asyncio.sleep(3600)

    async def spin(self, e: Any) -> None:
        while True:  # a CPU spin on the event loop itself
            pass

    def block(self, e: Any) -> None:
        ctypes.CDLL(None).sleep(3600)  # a blocking C call

    def hog(self, e: Any) -> None:
        self._hog = bytearray(400 << 20)
        for i in range(0, len(self._hog), 4096):
            self._hog[i] = 1
        time.sleep(30)

    def nap(self, e: Any) -> None:
        """Synchronous, blocking: until the test creates ``$LT_NAP_FLAG`` (60 s at most)."""
        flag = os.environ.get("LT_NAP_FLAG", "")
        deadline = time.monotonic() + 60
        while not os.path.exists(flag) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.value.text = "napped"

    def remember(self, e: Any) -> None:
        self.request.session["remembered"] = f"n{self.count}"

    def on_destroy(self) -> None:
        path = os.environ.get("LT_DESTROYED")
        if path:
            with open(path, "a") as f:
                f.write(f"{os.getpid()}\n")


class Ticker(Tag.App):
    """Changes the page from a background task, with no user event."""

    def init(self) -> None:
        self.ticks = Tag.span("0", _class="ticks")
        self <= self.ticks

    async def on_mount(self) -> None:
        for n in range(1, 100000):
            await asyncio.sleep(0.1)
            self.ticks.text = n


class Hello(Tag.div):
    """A root that is not ``Tag.App``."""

    def init(self) -> None:
        self <= Tag.span("hello other", _class="other")
        self <= Tag.span(str(os.getpid()), _class="pid")


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"remembered": request.session.get("remembered"), "pid": os.getpid()})


async def other(request: Request) -> Any:
    return await request.app.handle(request, Hello, http_only=True)


async def ticker(request: Request) -> Any:
    return await request.app.handle(request, Ticker)


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


app = Runner(Counter, debug=True, timeout_interaction=_env("LT_TIMEOUT", 60),
             timeout_inactivity=_env("LT_INACTIVITY", 0),
             max_memory_mb=_env("LT_MEMORY", 0) or None, http_only=os.environ.get("LT_HTTP_ONLY") == "1",
             max_sessions=int(_env("LT_MAX_SESSIONS", 1000)), spare_processes=int(_env("LT_SPARES", 1)),
             join_grace=_env("LT_JOIN_GRACE", 30), new_session_burst=int(_env("LT_SESSION_BURST", 100)),
             new_sessions_per_second=_env("LT_SESSION_RATE", 10),
             direct_websockets=os.environ.get("LT_DIRECT", "1") == "1",
             merge_pages=os.environ.get("LT_MERGE", "1") == "1")
app.add_route("/whoami", whoami)
app.add_route("/other", other)
app.add_route("/ticker", ticker)
