"""``UvicornWorker`` for gunicorn with livetag's connection bounds:
``gunicorn -k livetag.server.worker.UvicornWorker ...`` (see ``livetag.server.connections``).

gunicorn's command line cannot pass uvicorn settings; a worker class carries them. This
one sets what ``WebApp.run()`` sets: WebSocket frames up to ``max_message_bytes``
(default 1 MiB: subclass and set ``MAX_MESSAGE_BYTES`` for another limit),
``limit_concurrency`` from the descriptor limit, the keep-alive timeout, and the
request-header deadline (``HEADER_TIMEOUT`` seconds), with no WebSocket compression.
"""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn.workers import UvicornWorker as _UvicornWorker

from .connections import HEADER_TIMEOUT, configure, quiet_transport_access_log, uvicorn_settings
from .limits import Limits


class UvicornWorker(_UvicornWorker):
    """uvicorn's gunicorn worker, bounded as livetag's own runners bound uvicorn."""

    MAX_MESSAGE_BYTES: ClassVar[int] = Limits.max_message_bytes
    HEADER_TIMEOUT: ClassVar[float] = HEADER_TIMEOUT
    # Not a ClassVar: uvicorn's worker declares it an instance variable (mypy refuses the override).
    CONFIG_KWARGS: dict[str, Any] = {"loop": "auto", "ws_per_message_deflate": False}  # noqa: RUF012

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # uvicorn's worker builds its Config from CONFIG_KWARGS in __init__: fill it first.
        type(self).CONFIG_KWARGS = {**uvicorn_settings(self.MAX_MESSAGE_BYTES), **type(self).CONFIG_KWARGS}
        super().__init__(*args, **kwargs)
        configure(self.config, self.HEADER_TIMEOUT)
        quiet_transport_access_log()
