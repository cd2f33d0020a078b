"""``request.session`` out of the box: Starlette's signed-cookie session, unless the
application already installed its own ``SessionMiddleware`` around livetag."""

from __future__ import annotations

import os
import secrets
from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

SECRET_ENV = "LIVETAG_SESSION_SECRET"
COOKIE = "lt_session"


class OptionalSessionMiddleware:
    """Add a signed-cookie ``request.session`` where the scope has none yet.

    ``secret`` signs the cookie (itsdangerous, HMAC-SHA1 as in Starlette); default:
    ``$LIVETAG_SESSION_SECRET``, else random per process (sessions then end with it).
    """

    def __init__(self, app: ASGIApp, secret: str | None = None) -> None:
        self.app = app
        secret = secret or os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32)
        self._with_session = SessionMiddleware(app, secret_key=secret, session_cookie=COOKIE, same_site="lax")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "session" not in scope:
            await self._with_session(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        # Reach the wrapped Starlette app's attributes (routes, state, url_path_for...).
        return getattr(self.app, name)
