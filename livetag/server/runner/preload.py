"""Imported once by the fork server (``set_forkserver_preload``): livetag, the session
process code and the apps named in ``$LIVETAG_RUNNER_PRELOAD``, so that each session
process starts as a fork of an interpreter that has everything loaded. Then
``gc.freeze()``: the preloaded objects move to a permanent generation that the collector
never writes to, so forked processes keep sharing their memory pages (copy-on-write).
"""

from __future__ import annotations

import gc
import logging
import os

import orjson

from . import process  # noqa: F401  (the import is the point: WebApp, Starlette, uvloop...)
from .appref import AppRef

PRELOAD_ENV = "LIVETAG_RUNNER_PRELOAD"
LOG_LEVEL_ENV = "LIVETAG_RUNNER_LOG_LEVEL"

log = logging.getLogger("livetag.server.runner.preload")


def _preload() -> None:
    level = os.environ.get(LOG_LEVEL_ENV)
    if level:
        from ...runners.logs import configure_logging

        configure_logging(level)
    try:
        import uvloop  # noqa: F401
        import starlette.middleware.sessions  # noqa: F401
        import multiprocessing.sharedctypes, multiprocessing.popen_forkserver  # noqa  TEMP
    except ImportError:  # pragma: no cover
        pass
    for data in orjson.loads(os.environ.get(PRELOAD_ENV, "[]")):
        try:
            AppRef.from_json(data).resolve()
        except Exception as exc:  # the session process reports it when it needs the app
            log.warning("could not preload %s: %s", data.get("qualname"), exc)
    from ._prof import patch_forkserver
    patch_forkserver()
    from ._prof import snapshot
    snapshot()
    gc.collect()
    gc.freeze()


_preload()
