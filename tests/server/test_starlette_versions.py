"""livetag next to an application's own Starlette code, on every Starlette the pyproject
allows: 0.x as htag 2 users have it (``@app.route``, removed in 1.0) and 1.x. ``scripts/test``
runs this file on the newest Starlette and, through ``scripts/floor``, on the lowest."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest
import starlette
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from livetag import Tag, WebApp
from livetag.runners.serve import BackgroundServer
from livetag.testing.wire import Tab, element_id, texts

Serve = Callable[..., AbstractContextManager[BackgroundServer]]


class Counter(Tag.App):
    def init(self) -> None:
        self.count = 0
        self.value = Tag.span("0", _class="value")
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= self.value

    def increment(self) -> None:
        self.count += 1
        self.value.text = self.count
        # request.session: Starlette's signed cookie, a plain dict on 0.x
        self.request.session["clicks"] = self.count


async def drive(url: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        tab = Tab(url, http)
        html = await tab.load()
        await tab.join()
        assert texts(await tab.event(element_id(html, "inc"))) == ["1"]
        await tab.aclose()


@pytest.mark.skipif(not hasattr(Starlette, "route"), reason=f"Starlette {starlette.__version__} has no @app.route")
async def test_next_to_starlette_0x_routes_of_the_application(live_server: Serve) -> None:
    app = Starlette()

    @app.route("/api")
    async def api(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app.mount("/ui", WebApp(Counter).app)
    with live_server(app) as server:
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(server.url + "/api")).json() == {"ok": True}
        await drive(server.url + "/ui/")


async def test_mounted_with_the_api_both_majors_share(live_server: Serve) -> None:
    app = Starlette()
    app.add_route("/api", lambda request: JSONResponse({"version": starlette.__version__}))
    app.mount("/ui", WebApp(Counter).app)
    with live_server(app) as server:
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(server.url + "/api")).json() == {"version": starlette.__version__}
        await drive(server.url + "/ui/")


@pytest.mark.skipif(not hasattr(Starlette, "route"), reason=f"Starlette {starlette.__version__} has no @app.route")
async def test_routes_added_to_livetags_own_app_on_starlette_0x(live_server: Serve) -> None:
    app = WebApp(Counter).app  # deployment.md's `app = WebApp(MyApp).app`, then the user's routes

    @app.route("/api")
    async def api(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    with live_server(app) as server:
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(server.url + "/api")).json() == {"ok": True}
        await drive(server.url + "/")
