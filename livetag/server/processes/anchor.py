"""The supervisor's tie to its server: the *anchor* process (the gunicorn master, the
uvicorn process) whose end ends the supervisor and every session."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

log = logging.getLogger("livetag.server.processes.supervisor")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: an existence check, nothing is delivered
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def watch_anchor(loop: asyncio.AbstractEventLoop, anchor: int, gone: Callable[[], None]) -> None:
    """Call ``gone()`` (on ``loop``) once process ``anchor`` has ended; at once if it has."""
    try:
        fd = os.pidfd_open(anchor)
    except (OSError, AttributeError):
        if not pid_alive(anchor):
            gone()
            return
        loop.create_task(_poll_anchor(anchor, gone))
        return

    def ended() -> None:
        loop.remove_reader(fd)
        os.close(fd)
        log.info("the server process %d ended: closing every session", anchor)
        gone()

    loop.add_reader(fd, ended)


async def _poll_anchor(anchor: int, gone: Callable[[], None]) -> None:  # pragma: no cover - kernels without pidfd
    while pid_alive(anchor):
        await asyncio.sleep(1.0)
    gone()
