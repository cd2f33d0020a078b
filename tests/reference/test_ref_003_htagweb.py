"""The code samples of ``reference/001`` and ``reference/003`` (the htagweb README: the
same samples twice), imports changed to livetag only.

Every sample there hosts its app with ``Runner``, the process-per-session runner of
issue 6; the apps themselves belong to this programming model and are tested here."""

from __future__ import annotations

import re

import pytest
from ref_client import Page, run_sample

from livetag import WebApp
from livetag.testing import TestClient

HELLO_WORLD_APP = '''
from livetag import Tag

class App(Tag.div):
    def init(self):
        self<= "hello world"
'''

HELLO_WORLD_RUNNER = '''
from livetag import Runner
Runner( App ).run()
'''

GUNICORN_SERVER = '''
from livetag import Runner
app=Runner( App )
'''

INSTANCIATE = '''
from livetag import Runner
from yourcode import YourApp # <-- your htag class

app=Runner( YourApp, ... )
if __name__=="__main__":
    app.run()
'''

ADD_ROUTES = '''
from starlette.responses import PlainTextResponse
async def serve(req):
    return PlainTextResponse("body {}")
app=Runner( App, debug=False )
app.add_route("/my.css", serve)
'''

ANOTHER_APP = '''
async def serve(req):
    return await req.app.handle(req, App2 )
app=Runner( App, debug=False )
app.add_route("/my_other_app", serve)
'''

RUNNER_REASON = "Runner (each session in its own process, add_route, handle) is issue 6"


def test_hello_world_app_renders_in_a_div_root() -> None:
    sample = run_sample(HELLO_WORLD_APP, "hello_world")
    app = sample.App()
    assert re.fullmatch(r'<div id="[^"]+">hello world</div>', app.render())
    with TestClient(sample.App) as client:
        assert client.text() == "hello world"
        client.assert_synced()


def test_hello_world_app_is_served_by_webapp(live_server) -> None:
    sample = run_sample(HELLO_WORLD_APP, "hello_world")
    with live_server(WebApp(sample.App).app) as server, Page(server.url) as page:
        html = page.load()
        assert re.search(r'<body><div id="[^"]+">hello world</div></body>', html)
        assert page.join()["t"] == "joined"


@pytest.mark.parametrize("sample", [HELLO_WORLD_RUNNER, GUNICORN_SERVER, INSTANCIATE, ADD_ROUTES, ANOTHER_APP],
                         ids=["run", "gunicorn", "instanciate", "add-route", "another-app"])
def test_runner_samples(sample: str) -> None:
    pytest.skip(RUNNER_REASON)
