"""The code samples of ``reference/001`` and ``reference/003`` (the htagweb README: the
same samples twice), imports changed to livetag only.

Every sample there hosts its app with ``Runner``; the apps themselves are tested here,
the ``Runner`` samples (real uvicorn and gunicorn) in ``tests/runner/test_reference_samples.py``."""

from __future__ import annotations

import re

from samples import run_sample

from livetag import WebApp
from livetag.testing import TestClient
from livetag.testing.wire import SyncTab

HELLO_WORLD_APP = '''
from livetag import Tag

class App(Tag.div):
    def init(self):
        self<= "hello world"
'''

def test_hello_world_app_renders_in_a_div_root() -> None:
    sample = run_sample(HELLO_WORLD_APP, "hello_world")
    app = sample.App()
    assert re.fullmatch(r'<div id="[^"]+">hello world</div>', app.render())
    with TestClient(sample.App) as client:
        assert client.text() == "hello world"
        client.assert_synced()


def test_hello_world_app_is_served_by_webapp(live_server) -> None:
    sample = run_sample(HELLO_WORLD_APP, "hello_world")
    with live_server(WebApp(sample.App).app) as server, SyncTab(server.url) as page:
        html = page.load()
        assert re.search(r'<body><div id="[^"]+">hello world</div></body>', html)
        assert page.join()["t"] == "joined"
