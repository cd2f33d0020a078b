"""``request.session`` out of the box: Starlette's signed-cookie session, unless the
application already installed its own ``SessionMiddleware`` around livetag."""

from __future__ import annotations

import hashlib
import os
import secrets
from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

SECRET_ENV = "LIVETAG_SESSION_SECRET"
COOKIE = "lt_session"
#: The cookie that names a page's livetag session (one per mount point: see ``session_cookie_name``).
SESSION_COOKIE = "lt_sid"
_MAX_VARIANTS = 16  # (mount point, https) pairs remembered; a server has only a few


class OptionalSessionMiddleware:
    """Add a signed-cookie ``request.session`` where the scope has none yet.

    ``secret`` signs the cookie (itsdangerous, HMAC-SHA1 as in Starlette); default:
    ``$LIVETAG_SESSION_SECRET``, else random per process (sessions then end with it).
    The cookie is ``HttpOnly``, ``SameSite=Lax``, its ``Path`` is the app's mount point
    (two apps on one host keep their cookies apart) and it is ``Secure`` when the request
    came over https (as the ASGI server reports the scheme; see its proxy-header options).
    """

    def __init__(self, app: ASGIApp, secret: str | None = None) -> None:
        self.app = app
        self._secret = secret or os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32)
        self._variants: dict[tuple[str, bool], SessionMiddleware] = {}

    def _middleware(self, scope: Scope) -> SessionMiddleware:
        # Starlette fixes path and Secure per middleware instance: one per combination.
        key = (scope.get("root_path", "").rstrip("/") or "/", scope.get("scheme") in ("https", "wss"))
        middleware = self._variants.get(key)
        if middleware is None:
            middleware = SessionMiddleware(self.app, secret_key=self._secret, session_cookie=COOKIE, path=key[0],
                                           same_site="lax", https_only=key[1])
            if len(self._variants) < _MAX_VARIANTS:
                self._variants[key] = middleware
        return middleware

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "session" not in scope:
            await self._middleware(scope)(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        # Reach the wrapped Starlette app's attributes (routes, state, url_path_for...).
        return getattr(self.app, name)


def session_cookie_name(base: str) -> str:
    """The session cookie of the app mounted at ``base`` (``""``: the root): one name per
    mount point, so that two apps on one host never read each other's sessions."""
    return SESSION_COOKIE if not base else f"{SESSION_COOKIE}_{hashlib.sha256(base.encode()).hexdigest()[:8]}"


def cookie_value(scope: Scope, name: str) -> str | None:
    """The value of cookie ``name`` in the request of ``scope``, parsed as Starlette's
    ``request.cookies`` does, without keeping the parsed cookies on a request object (an
    open WebSocket keeps its request for as long as its page lives)."""
    found = None
    for key, value in scope.get("headers", ()):
        if key == b"cookie":  # several Cookie headers (HTTP/2 may split them): the last wins
            found = cookie_parser(value.decode("latin-1")).get(name, found)
    return found


def set_cookie_header(name: str, value: str, *, path: str, secure: bool) -> tuple[bytes, bytes]:
    """The ``Set-Cookie`` header of a session cookie (``HttpOnly``, ``SameSite=Lax``,
    ``Secure`` on https), as Starlette's ``Response.set_cookie`` writes it."""
    response = Response()
    response.set_cookie(name, value, path=path, httponly=True, samesite="lax", secure=secure)
    return next((k, v) for k, v in response.raw_headers if k == b"set-cookie")
