"""The code samples of ``reference/002`` ("Production Deployment"), imports changed to
livetag only."""

from __future__ import annotations

import re
import sys
from types import ModuleType

import pytest
from samples import run_sample
from starlette.applications import Starlette

from livetag.testing.wire import SyncTab

PRODUCTION_ENTRYPOINT = '''
# app.py
from livetag import Tag

class MyApp(Tag.App):
    def init(self):
        self <= Tag.h1("Production App")

# Create the WebApp runner (production: debug=False)
from livetag import WebApp
app = WebApp(MyApp, debug=False).app
'''

PARANO = '''
# Create the WebApp runner with payload obfuscation
from livetag import WebApp
app = WebApp(MyApp, debug=False, parano=True).app
'''

EMBEDDING = '''
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from livetag import WebApp
from my_htag_app import MyApp

main_app = Starlette()

# Wrap your htag App in a WebApp
htag_app = WebApp(MyApp)

# Mount or include routes
main_app.mount("/htag", htag_app.app)
'''

EMBEDDING_HEALTH_ROUTE = '''
@main_app.route("/health")
def health(request):
    return JSONResponse({"status": "ok"})
'''


def test_production_entrypoint_is_an_asgi_app_any_server_can_run(live_server) -> None:
    sample = run_sample(PRODUCTION_ENTRYPOINT, "app")
    with live_server(sample.app) as server, SyncTab(server.url) as page:
        html = page.load()
        assert re.search(r"<h1 id=\"[^\"]+\">Production App</h1>", html)
        assert "<title>MyApp</title>" in html and "data-lt-debug" not in html
        assert page.join()["t"] == "joined"


def test_parano_mode_serves_the_app(live_server) -> None:
    # The sample follows the entrypoint in the document and reuses its MyApp.
    sample = run_sample(PRODUCTION_ENTRYPOINT + PARANO, "app_parano")
    with live_server(sample.app) as server, SyncTab(server.url) as page:
        assert re.search(r"<h1 id=\"[^\"]+\">Production App</h1>", page.load())
    # The encrypted transport itself is issue 4's (tests/server, tests/security).


@pytest.fixture
def my_htag_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The user's module the embedding sample imports ``MyApp`` from: the production app."""
    module = run_sample(PRODUCTION_ENTRYPOINT, "my_htag_app")
    monkeypatch.setitem(sys.modules, "my_htag_app", module)
    return module


def test_embedding_in_an_existing_starlette_app(live_server, my_htag_app: ModuleType) -> None:
    sample = run_sample(EMBEDDING, "embedding")
    # The sample's health route, registered the way Starlette >= 1.0 spells it (see below).
    sample.main_app.add_route("/health", lambda request: sample.JSONResponse({"status": "ok"}))
    with live_server(sample.main_app) as server, SyncTab(server.url + "/htag") as page:
        assert "Production App" in page.load()
        assert page.join()["t"] == "joined"
        assert page.http.get(server.url + "/health").json() == {"status": "ok"}
        assert page.http.get(server.url + "/").status_code == 404  # the main app's own routes only


@pytest.mark.skipif(not hasattr(Starlette, "route"),
                    reason="Starlette >= 1.0 removed the Starlette.route() decorator the sample uses "
                           "(a change of Starlette, not of livetag)")
def test_embedding_with_a_health_route(live_server, my_htag_app: ModuleType) -> None:
    sample = run_sample(EMBEDDING + EMBEDDING_HEALTH_ROUTE, "embedding_health")
    with live_server(sample.main_app) as server, SyncTab(server.url + "/htag") as page:
        assert "Production App" in page.load()
        assert page.http.get(server.url + "/health").json() == {"status": "ok"}
