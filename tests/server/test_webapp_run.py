"""``WebApp(App).run(port=0)`` in a real subprocess: it says where it serves and keeps serving."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from livetag.testing.wire import Tab, element_id, texts

APP = textwrap.dedent("""
    from livetag import Tag, WebApp

    class Hello(Tag.App):
        def init(self):
            self.n = Tag.span("0", _class="n")
            self <= Tag.button("+", _class="inc", _onclick=self.inc)
            self <= self.n

        def inc(self):
            self.n.text = int(self.n.text) + 1

    WebApp(Hello).run(host="127.0.0.1", port=0, open_browser=False)
""")


Served = tuple[subprocess.Popen[str], str, queue.Queue[str]]


@pytest.fixture
def served() -> Iterator[Served]:
    proc = subprocess.Popen([sys.executable, "-c", APP], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        url = None
        output = []
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                if proc.poll() is not None:
                    break
                continue
            output.append(line)
            match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if match and match.group(1) != "0":
                url = match.group(0)
        assert url is not None, f"expected the served URL in the output, got {''.join(output)!r}"
        yield proc, url, lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # by PID: only the process this test started
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_ready(url: str) -> httpx.Response:
    # The URL is logged just before uvicorn starts accepting: the socket is already
    # bound and listening, so a connection is queued rather than refused.
    return httpx.get(url, trust_env=False, timeout=10)


async def test_run_on_port_zero_prints_the_url_and_survives_clients(served: Served) -> None:
    proc, url, _lines = served
    response = wait_ready(url)
    assert response.status_code == 200 and 'class="n"' in response.text

    # A client that vanishes mid-connection does not stop the server.
    t = Tab(url)
    try:
        html = await t.load()
        await t.join()
        t.ws.transport.abort()
        t.ws = None
        await t.join()
        assert texts(await t.event(element_id(html, "inc"))) == ["1"]
        await t.close()
    finally:
        await t.aclose()
    assert proc.poll() is None
    assert wait_ready(url).status_code == 200

    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
