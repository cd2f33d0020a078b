"""livetag's gunicorn worker with a 1 s request-header deadline, so that a test of it
waits one second, not ten: ``gunicorn -k rt_worker.QuickHeaderWorker``."""

from __future__ import annotations

from livetag.server.worker import UvicornWorker


class QuickHeaderWorker(UvicornWorker):
    HEADER_TIMEOUT = 1.0
