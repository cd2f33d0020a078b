"""The ``Runner`` samples of ``reference/001`` and ``reference/003`` (the htagweb README),
imports changed to livetag only, served for real: each sample becomes ``server.py`` in a
temporary directory, run by uvicorn or gunicorn like the README says. The "Instanciate"
sample (``app=Runner( YourApp, ... )``) is pseudo-code: its ``...`` stands for the
parameters the README lists next, and filled in it is the gunicorn sample."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from rt_procs import HERE, ROOT, Server

from livetag import Runner
from livetag.testing.wire import SyncTab

HELLO_WORLD_APP = '''
from livetag import Tag

class App(Tag.div):
    def init(self):
        self<= "hello world"
'''

SAMPLES = {
    # "or, with gunicorn (in a server.py file, as following)"
    "gunicorn": HELLO_WORLD_APP + '''
from livetag import Runner
app=Runner( App )
''',
    # "Example to add a static endpoint"
    "add-route": HELLO_WORLD_APP + '''
from livetag import Runner
from starlette.responses import PlainTextResponse
async def serve(req):
    return PlainTextResponse("body {}")
app=Runner( App, debug=False )
app.add_route("/my.css", serve)
''',
    # "Example to add another htag app on another endpoint"
    "another-app": HELLO_WORLD_APP + '''
from livetag import Runner, Tag

class App2(Tag.div):
    def init(self):
        self <= "the other app"

async def serve(req):
    return await req.app.handle(req, App2 )
app=Runner( App, debug=False )
app.add_route("/my_other_app", serve)
''',
}


def sample_server(serve: Callable[..., Server], tmp_path: Path, name: str, kind: str) -> Server:
    (tmp_path / "server.py").write_text(textwrap.dedent(SAMPLES[name]))
    path = ":".join([str(tmp_path), str(HERE), str(ROOT)])
    return serve(kind, target="server:app", env={"PYTHONPATH": path})


@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn"])
def test_the_hello_world_server_py_sample(serve: Callable[..., Server], tmp_path: Path, kind: str) -> None:
    server = sample_server(serve, tmp_path, "gunicorn", kind)
    tab = SyncTab(server.url)
    html = tab.load()
    assert "hello world" in html
    assert tab.join()["t"] == "joined"
    tab.aclose()


def test_the_static_endpoint_sample(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = sample_server(serve, tmp_path, "add-route", "uvicorn")
    tab = SyncTab(server.url)
    response = tab.request("GET", server.url + "/my.css")
    assert response.status_code == 200 and response.text == "body {}"
    assert "hello world" in tab.load()
    tab.aclose()


def test_the_other_app_sample(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = sample_server(serve, tmp_path, "another-app", "uvicorn")
    other = SyncTab(server.url + "/my_other_app")
    assert "the other app" in other.load()
    assert other.join()["t"] == "joined"
    main = SyncTab(server.url)
    assert "hello world" in main.load()
    other.aclose()
    main.aclose()


def test_the_run_sample_serves_on_the_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # ``Runner( App ).run()`` binds 0.0.0.0:8000, which a test may not take: the sample runs
    # for real up to the server start, which records what it would serve.
    served: list[tuple[str, int]] = []
    monkeypatch.setattr(Runner, "run", lambda self, **kw: served.append((self.host, self.port)))
    namespace: dict[str, object] = {}
    exec(textwrap.dedent(HELLO_WORLD_APP + "\nfrom livetag import Runner\nRunner( App ).run()\n"), namespace)
    assert served == [("0.0.0.0", 8000)]

