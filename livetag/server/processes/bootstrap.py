"""How the supervisor comes up and goes: its entry point and its tie to the server.

Started by the first web worker (``supervisor_client``) as
``python -c "from livetag.server.processes.bootstrap import main; main()"`` with its
``SupervisorConfig`` as JSON on stdin, in a session of its own (the web worker's sockets
are never inherited and terminal signals do not reach it). It lives as long as the
server's *anchor* process (the gunicorn master, the uvicorn process): see ``anchor``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import orjson

from ..logs import configure_logging
from .appref import ROLE_ENV
from .config import LOG_LEVEL_ENV, MERGE_PAGES_ENV, PRELOAD_ENV, SYS_PATH_ENV, SupervisorConfig
from .supervisor import Supervisor

log = logging.getLogger("livetag.server.processes.supervisor")


def main() -> None:
    """Entry point of the supervisor process (see the module docstring); never returns."""
    config = SupervisorConfig.from_json(sys.stdin.buffer.read())
    sys.stdin.close()
    os.environ[ROLE_ENV] = "supervisor"
    os.environ[PRELOAD_ENV] = orjson.dumps(list(config.preload)).decode()
    os.environ[SYS_PATH_ENV] = orjson.dumps(list(config.sys_path)).decode()  # Python 3.11's fork server ignores it
    os.environ[MERGE_PAGES_ENV] = "1" if config.merge_pages else "0"
    if config.log_level:
        os.environ[LOG_LEVEL_ENV] = config.log_level
        configure_logging(config.log_level)
    sys.path[:] = config.sys_path
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    code = 0
    try:
        loop.run_until_complete(Supervisor(config).run(config.ready_fd))
    except BaseException:
        log.exception("the session supervisor failed")
        code = 1
    finally:
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)
