"""Log in with OAuth2 / OpenID Connect (authlib's Starlette client) under ``Runner``.

The login routes run in the web workers; the app runs in each session's own process and
reads the user from ``self.request.session`` (one signed cookie, the same secret
everywhere). Configure the provider with environment variables:

    OAUTH_METADATA_URL   its discovery document (.../.well-known/openid-configuration)
    OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET
    LIVETAG_SESSION_SECRET   signs the session cookie (set it in production)

Run: ``python examples/oauth.py``, or ``gunicorn -w 2 -k uvicorn.workers.UvicornWorker
--preload oauth:app`` from this folder. Needs ``pip install authlib httpx``.
"""

from __future__ import annotations

import os
from typing import Any

from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from livetag import Runner, Tag

oauth = OAuth()
oauth.register(
    "provider",
    server_metadata_url=os.environ.get("OAUTH_METADATA_URL", "http://127.0.0.1:9000/.well-known/openid-configuration"),
    client_id=os.environ.get("OAUTH_CLIENT_ID", "livetag-demo"),
    client_secret=os.environ.get("OAUTH_CLIENT_SECRET", "change-me"),
    client_kwargs={"scope": "openid profile email"},
)


class App(Tag.App):
    """Greets the logged-in user; counts clicks per session (in its own process)."""

    # Scoped to the app (livetag.dom.css); system fonts, visible focus, WCAG AA contrast.
    styles = """
        & { max-width: 44rem; margin: 0 auto; padding: 2rem 1rem; background: #f3f4f6; color: #111827;
            font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif }
        h1 { margin: 0 0 1rem; color: #1e3a8a }
        button { font: inherit; padding: .4rem 1rem; border: 1px solid #1d4ed8; border-radius: 8px;
                 background: #1d4ed8; color: #fff; cursor: pointer }
        button:hover { background: #1e40af }
        button:disabled { border-color: #9ca3af; background: #9ca3af; color: #111827; cursor: default }
        input { font: inherit; padding: .4rem .7rem; border: 1px solid #6b7280; border-radius: 8px }
        a { color: #1d4ed8 }
        :focus-visible { outline: 3px solid #2563eb; outline-offset: 2px }
    """

    def init(self) -> None:
        user = self.request.session.get("user") if self.request is not None else None
        self.clicks = 0
        if user is None:
            self <= Tag.p("You are not logged in.", _class="who")
            self <= Tag.a("Log in", _href="/login", _class="login")
            return
        self <= Tag.p(f"Hello {user.get('name') or user.get('sub')}", _class="who")
        self <= Tag.p(user.get("email", ""), _class="email")
        self.count = Tag.span("0", _class="count")
        self <= Tag.button("click", _class="click", _onclick=self.click)
        self <= self.count
        self <= Tag.a("Log out", _href="/logout", _class="logout")

    def click(self, e: Any) -> None:
        self.clicks += 1
        self.count.text = f"{self.clicks} by {self.request.session['user'].get('email', '?')}"


async def login(request: Request) -> Response:
    return await oauth.provider.authorize_redirect(request, str(request.url_for("auth")))


async def auth(request: Request) -> Response:
    try:
        token = await oauth.provider.authorize_access_token(request)
    except OAuthError as exc:
        return Response(f"login failed: {exc.error}", status_code=400, media_type="text/plain")
    user = token.get("userinfo") or await oauth.provider.userinfo(token=token)
    request.session["user"] = {k: user.get(k) for k in ("sub", "name", "email")}
    # Other query parameters: the session's app is made again, and its init sees the user.
    return RedirectResponse("/?in", status_code=303)


async def logout(request: Request) -> Response:
    request.session.pop("user", None)
    return RedirectResponse("/", status_code=303)


app = Runner(App)
app.add_route("/login", login)
app.add_route("/auth", auth, name="auth")
app.add_route("/logout", logout)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
