"""A real server process stopped (SIGINT, a graceful shutdown) and started again on the
same port with the same store file: the open page's session resumes, its ``States`` and
declared attributes as they were."""

from __future__ import annotations

import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from livetag.testing.wire import Tab

APP = textwrap.dedent("""
    import sys
    from livetag import States, Tag, WebApp

    class Notes(Tag.App):
        persist = ("notes",)

        def init(self):
            self.s = States(count=0)
            self.notes = []
            self <= Tag.button("+", _class="inc", _onclick=self.inc)
            self <= Tag.span(self.s.count, _class="n")
            # Read when rendered (init ran before the snapshot was loaded into the app);
            # reading the count makes it re-render when the count changes.
            self <= Tag.span(lambda: self.s.count and ",".join(self.notes), _class="notes")
            self <= Tag.button("save", _class="dl", _onclick=self.save)

        def save(self):
            self.download(",".join(self.notes).encode(), filename="notes.txt")

        def inc(self):
            self.s.count += 1
            self.notes.append(str(self.s.count))

    store, port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    options = {} if store == "default" else {"store": store}  # run() persists by default
    WebApp(Notes, session_secret=secret, **options).run(host="127.0.0.1", port=port, open_browser=False)
""")


class Server:
    """The app in its own process (stopped by its PID in ``stop``)."""

    def __init__(self, store: Path | str, port: int, secret: str = "a stable secret of this test") -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", APP, str(store), str(port), secret],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_url()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line)

    def _wait_url(self) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if match and match.group(1) != "0":
                return match.group(0)
        raise AssertionError(f"expected the served URL, got {''.join(self.output)!r}")

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        while not self.lines.empty():
            self.output.append(self.lines.get())


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.stop()


@pytest.mark.parametrize("where", ["given", "default"])
async def test_the_page_resumes_its_session_after_a_restart(servers: list[Server], tmp_path: Path, where: str) -> None:
    if where == "default":  # WebApp.run() without store=: the data directory (see tests/conftest.py)
        store = Path(os.environ["XDG_DATA_HOME"]) / "livetag" / "__main__.Notes" / "sessions.sqlite3"
    else:
        store = tmp_path / "data" / "sessions.sqlite3"
    servers.append(Server("default" if where == "default" else store, 0))
    first = servers[0]
    async with Tab(first.url) as t:
        await t.load()
        await t.join()
        for _ in range(3):
            await t.event(t.id(".inc"))
        assert t.text(".n") == "3" and t.text(".notes") == "1,2,3"
        first.stop()
        assert first.proc.returncode == 0
        # The store holds hashes, never the session id or the CSRF token.
        dump = b"".join(bytes(str(row), "utf-8") for row in sqlite3.connect(store).execute("SELECT * FROM snapshots"))
        assert t.session_id.encode() not in dump and t.token.encode() not in dump

        servers.append(Server("default" if where == "default" else store, first.port))
        t.ws = None
        await t.join()  # the same page, its old token and revision: a full render
        assert t.text(".n") == "3" and t.text(".notes") == "1,2,3"
        await t.event(t.id(".inc"))
        assert t.text(".n") == "4" and t.text(".notes") == "1,2,3,4"
        # A download offered by the resumed session, before any page load of it.
        scripts = [js for m in await t.event(t.id(".dl")) for js in m.get("js", [])]
        (url,) = [m.group(1) for js in scripts if (m := re.search(r'livetag\.download\("([^"]+)"\)', js))]
        response = await t.request("GET", first.url.rstrip("/") + url)
        assert response.status_code == 200 and response.content == b"1,2,3,4"

        # A reload keeps the resumed session (no new cookie) with its state.
        cookie = t.session_id
        await t.load()
        assert t.session_id == cookie and t.text(".n") == "4"

        # A second restart: the reloaded page holds the resumed session's own token.
        await t.close()
        t.ws = None
        await t.join()
        servers[1].stop()
        servers.append(Server("default" if where == "default" else store, first.port))
        t.ws = None
        await t.join()
        assert t.text(".n") == "4"
        await t.event(t.id(".inc"))
        assert t.text(".n") == "5"


async def test_a_wrong_token_is_refused_by_a_resumed_session(servers: list[Server], tmp_path: Path) -> None:
    store = tmp_path / "data" / "sessions.sqlite3"
    servers.append(Server(store, 0))
    async with Tab(servers[0].url) as t:
        await t.load()
        await t.join()
        await t.event(t.id(".inc"))
        servers[0].stop()
        servers.append(Server(store, servers[0].port))
        t.ws = None
        with pytest.raises(ConnectionClosed, match="csrf"):
            await t.join(token="not-the-page-token")
