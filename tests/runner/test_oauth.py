"""``examples/oauth.py`` under a real uvicorn, logging in against a small OAuth2 /
OpenID Connect provider started here on 127.0.0.1 (discovery, authorize, token,
userinfo, JWKS; id_token signed RS256). The login is walked with httpx following
redirects, then the session's own process greets the user and handles events."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from rt_procs import ROOT, Server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from livetag.runners.serve import BackgroundServer
from livetag.testing.wire import SyncTab, texts

CLIENT_ID, CLIENT_SECRET = "livetag-test", secrets.token_urlsafe(16)
USER = {"sub": "u-42", "name": "Ada Lovelace", "email": "ada@example.org"}


class Provider:
    """A minimal OIDC provider that approves every authorization request."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.issuer = ""
        self.app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
            Route("/userinfo", self.userinfo),
            Route("/jwks", self.jwks),
        ])

    async def discovery(self, request: Request) -> Response:
        i = self.issuer
        return JSONResponse({"issuer": i, "authorization_endpoint": f"{i}/authorize", "token_endpoint": f"{i}/token",
                             "userinfo_endpoint": f"{i}/userinfo", "jwks_uri": f"{i}/jwks",
                             "response_types_supported": ["code"], "subject_types_supported": ["public"],
                             "id_token_signing_alg_values_supported": ["RS256"],
                             "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q.get("nonce"), "redirect_uri": q["redirect_uri"]}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))  # (no python-multipart needed)
        auth = request.headers.get("authorization", "")
        basic = httpx.BasicAuth(CLIENT_ID, CLIENT_SECRET)._auth_header
        if auth != basic and (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self.codes.pop(str(form.get("code")), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, **USER}
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
        access = secrets.token_urlsafe(16)
        self.tokens.add(access)
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
                             "scope": "openid profile email"})

    async def userinfo(self, request: Request) -> Response:
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return JSONResponse({"error": "invalid_token"}, 401)
        return JSONResponse(USER)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    with BackgroundServer(p.app) as server:
        p.issuer = server.url
        yield p


def test_login_with_authlib_under_the_runner(serve: Callable[..., Server], provider: Provider) -> None:
    server = serve(target="oauth:app", env={
        "PYTHONPATH": f"{ROOT / 'examples'}:{ROOT}", "OAUTH_METADATA_URL": f"{provider.issuer}/.well-known/openid-configuration",
        "OAUTH_CLIENT_ID": CLIENT_ID, "OAUTH_CLIENT_SECRET": CLIENT_SECRET})
    with httpx.Client(trust_env=False, timeout=30, follow_redirects=True) as http:
        tab = SyncTab(server.url, http=http)
        tab.load()
        assert tab.text(".who") == "You are not logged in."
        response = http.get(server.url + "/login")  # -> provider -> /auth -> /?in
        assert response.status_code == 200, response.text
        assert [r.url.host + ":" + str(r.url.port) for r in response.history][:2] == [
            f"127.0.0.1:{server.port}", httpx.URL(provider.issuer).host + ":" + str(httpx.URL(provider.issuer).port)]
        tab.path = "/"
        tab.load("in")
        assert tab.text(".who") == "Hello Ada Lovelace" and tab.text(".email") == USER["email"]
        tab.join()  # the session's process reads request.session in a handler too
        assert texts(tab.click(".click")) == [f"1 by {USER['email']}"]
        tab.close()
        http.get(server.url + "/logout")
        tab.load()
        assert tab.text(".who") == "You are not logged in."
