"""The fork server's warm-up of the page and WebSocket paths (``preload``), on a
built-in app (``warmup``): what it runs, session processes inherit specialised."""

from __future__ import annotations

import logging
from typing import Any

from . import process
from .appref import AppRef
from .warmup import get_page, warm_up_app, websocket_clicks


async def load_pages(options: dict[str, Any], count: int, websockets: int = 0) -> None:
    """Load ``count`` pages of a built-in app (never the user's) as a session process
    does: a ``WebApp`` of ``options``, a ``BoundRegistry``, the request relayed over a
    socket pair (``bridge``); join the first ``websockets`` of them and click
    (``websocket_clicks``; not in parano or HTTP-only mode); then close them. Raises
    ``RuntimeError`` when a page is not served or an event not answered."""
    from ..webapp import WebApp

    app = warm_up_app()
    disabled = logging.root.manager.disable
    logging.disable(max(disabled, logging.INFO))  # "session created": not a session anyone opened
    try:
        warm = WebApp(app, **options)
        # A host with no listener and no lifeline: the warm-up relays its requests itself.
        host = process.SessionHost(process.ProcessConfig("", AppRef("", "")), None,  # type: ignore[arg-type]
                                   [0.0] * len(process.SharedField), None, warm)  # type: ignore[arg-type]
        async with warm.lifespan():
            for n in range(count):
                warm.registry = process.BoundRegistry(app, debug=warm.debug, session_id=f"warm-up-{n}", host=host)
                page = await get_page(warm, "/")
                if n < websockets and not warm.parano and not warm.http_only:  # sealed, or no WebSocket
                    await websocket_clicks(warm, page, warm.registry.session_id, 5)
                warm.registry.close_all()
    finally:
        logging.disable(disabled)
