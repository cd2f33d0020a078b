"""Imported once by the fork server (``zygote``): livetag, the session
process code and the apps named in ``$LIVETAG_RUNNER_PRELOAD``, so that each session
process starts as a fork of an interpreter that has everything loaded. Then a warm-up:
the ``WebApp`` most sessions will use is built (``$LIVETAG_RUNNER_EXPECTED``) and the
framework's page and WebSocket paths (``forkwarm``) run a few times with a built-in app
(never the user's code), so that session processes inherit it built and its code
already specialised by the interpreter instead of each writing (so copying) those pages
themselves. Last,
``gc.freeze()``: the preloaded objects move to a permanent generation that the collector
never writes to, so forked processes keep sharing their memory pages (copy-on-write),
and (``$LIVETAG_RUNNER_MERGE_PAGES``) its memory is marked mergeable, so that where the
host runs KSM the pages they do copy are merged again (``ksm``).

What a session process still writes to (and so copies) of the fork server's memory is
mostly reference counts and the interpreter's inline caches of the objects its code
touches: see ``docs/benchmarks-runner.md`` ("where it goes").
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from typing import Any

import orjson

from . import direct, forkserver, ksm, process  # noqa: F401 - the import is the point too: WebApp, Starlette, ctypes...
from .appref import AppRef
from .config import EXPECTED_ENV, LOG_LEVEL_ENV, MERGE_PAGES_ENV, PRELOAD_ENV, SYS_PATH_ENV
from .forkwarm import load_pages
from .warmup import get_page

#: Page loads of the warm-up (the interpreter specialises a function after a few calls).
WARM_UP_PAGES = 10
#: Of which joined over a WebSocket handed over as a worker hands one (``direct``), and
#: clicked: the event path too is specialised before the fork.
WARM_UP_WEBSOCKETS = 10
#: glibc ``mallopt`` parameter: how many malloc arenas threads may spread over.
M_ARENA_MAX = -8
MALLOC_ARENAS = 2

log = logging.getLogger("livetag.server.processes.preload")


def _limit_malloc_arenas() -> None:
    # Each thread that allocates may otherwise get an arena of its own (up to 8 per
    # CPU), and a session process pays for every page of it that gets touched. Session
    # processes run their handlers inline; this bounds what an app's own threads cost.
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _preload() -> None:
    paths = os.environ.get(SYS_PATH_ENV)
    if paths:
        sys.path[:] = orjson.loads(paths)
    _limit_malloc_arenas()
    level = os.environ.get(LOG_LEVEL_ENV)
    if level:
        from ..logs import configure_logging

        configure_logging(level)
    try:
        # What a session process would otherwise import after the fork, each on its own
        # (time, and memory that is not shared): uvloop, the cookie session.
        import starlette.middleware.sessions  # noqa: F401
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover
        pass
    direct.preload()  # uvicorn's WebSocket protocol, for the WebSockets handed over
    for data in orjson.loads(os.environ.get(PRELOAD_ENV, "[]")):
        try:
            AppRef.from_json(data).resolve()
        except Exception as exc:  # the session process reports it when it needs the app
            log.warning("could not preload %s: %s", data.get("qualname"), exc)
    expected = os.environ.get(EXPECTED_ENV)
    try:
        _warm_up(process.ProcessConfig.from_json(expected.encode()) if expected else None)
    except Exception as exc:  # an optimisation only: session processes do without
        log.warning("the fork server's warm-up failed: %s", exc)
    # No gc.collect() first: the memory it would free becomes holes that each session
    # process then fills, copying the pages around them (the advice of gc.freeze's docs).
    gc.freeze()
    if os.environ.get(MERGE_PAGES_ENV) == "1":
        ksm.mark_fork_server()  # its children inherit the mark


def _warm_up(expected: process.ProcessConfig | None) -> None:
    """Build the expected ``WebApp`` (and its Starlette stack: one request for the client
    script), then load ``WARM_UP_PAGES`` pages of a built-in app (``load_pages``). On a
    loop of its own, closed after; handlers inline (no thread may outlive this: the fork
    server forks)."""
    from ...threads import HANDLER_THREADS

    async def run() -> None:
        options: dict[str, Any] = {}
        if expected is not None:
            webapp = process.prebuild_webapp(expected)
            await get_page(webapp, "/_lt/livetag.js")
            options = page_options(expected)
        await load_pages(options, WARM_UP_PAGES, WARM_UP_WEBSOCKETS)
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()

    HANDLER_THREADS.inline = True
    loop: asyncio.AbstractEventLoop
    try:  # the loop session processes run (what it creates lazily is then shared)
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        HANDLER_THREADS.inline = False


def page_options(config: process.ProcessConfig) -> dict[str, Any]:
    """The ``WebApp`` options of ``config`` that change the page path."""
    return {"debug": config.debug, "parano": config.parano, "http_only": config.http_only}


_preload()
