"""Logging of the runners: the same as ``livetag.server.logs``, where it lives (server
processes set it up too, and ``server/`` never imports ``runners/``). Kept so that
``livetag.runners.logs`` imports (tests, ``docs/security.md``) keep working."""

from __future__ import annotations

from ..server.logs import (
                           LOG_LEVELS,
                           LOG_QUEUE_SIZE,
                           RedactSecrets,
                           TransportLog,
                           configure_logging,
                           level_number,
                           redact_uvicorn_logs,
                           write_logs_off_the_loop,
)

__all__ = ["LOG_LEVELS", "LOG_QUEUE_SIZE", "RedactSecrets", "TransportLog", "configure_logging", "level_number",
           "redact_uvicorn_logs", "write_logs_off_the_loop"]
