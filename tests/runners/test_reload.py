"""Hot reload through real processes: the CLI supervisor, its server processes, a browser."""

from __future__ import annotations

import os
import signal
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from .procs import PYTHON, Process, pid_alive, wait_until

APP = textwrap.dedent('''
    from livetag import Tag


    class Hot(Tag.App):
        def init(self):
            self.count = 0
            self <= Tag.h1("{title}")
            self.value = Tag.span("0", _class="value")
            self <= Tag.button("+", _class="inc", _onclick=self.increment)
            self <= self.value

        def increment(self, e):
            self.count += {step}
            self.value.text = self.count
''')

URL = r"serving (http://127\.0\.0\.1:\d+/)"
WATCHING = r"watching .* for changes"
WORKER = r"Started server process \[(\d+)\]"


def write_app(path: Path, title: str, step: int = 1, extra: str = "") -> None:
    path.write_text(APP.replace("{title}", title).replace("{step}", str(step)) + extra)


def worker_pids(proc: Process) -> list[int]:
    import re

    return [int(pid) for pid in re.findall(WORKER, proc.output)]


@pytest.mark.browser
def test_edit_refreshes_open_page_then_syntax_error_then_fix(tmp_path: Path, run_process: Callable[..., Process],
                                                              livetag_cli: list[str], context: Any) -> None:
    app = tmp_path / "hot_app.py"
    write_app(app, "version one")
    proc = run_process([*livetag_cli, "run", str(app), "--port", "0", "--reload"], cwd=tmp_path)
    url = proc.wait_for(URL).group(1)
    proc.wait_for(WATCHING)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    expect(page.locator("h1")).to_have_text("version one")
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("1")

    # 1. an edit: the open page refreshes itself, on the same port, and works
    write_app(app, "version two", step=10)
    expect(page.locator("h1")).to_have_text("version two")
    assert page.url == url
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("10")

    # 2. a syntax error: in the terminal and in the page
    write_app(app, "version three", extra="\nbroken = (\n")
    proc.wait_for(r"SyntaxError: '\(' was never closed")
    expect(page.locator("#lt-load-error")).to_contain_text("SyntaxError")
    expect(page.locator("pre")).to_contain_text("broken = (")
    assert page.url == url

    # 3. the fix: the page recovers by itself, no restart by hand
    write_app(app, "version four")
    expect(page.locator("h1")).to_have_text("version four")
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("1")
    assert proc.popen.poll() is None
    wait_until(lambda: len(set(worker_pids(proc))) == 4, message="four server processes' starts in the log")


def test_script_run_reload_keeps_port_0_and_stops_workers_on_sigterm(
        tmp_path: Path, run_process: Callable[..., Process]) -> None:
    """``WebApp(App).run(port=0, reload=True)`` from a script, polled without a browser."""
    app = tmp_path / "script_app.py"
    main = '\n\nif __name__ == "__main__":\n    from livetag import WebApp\n    WebApp(Hot, debug=True).run(port=0, reload=True, open_browser=False)\n'
    write_app(app, "script one", extra=main)
    proc = run_process([PYTHON, str(app)], cwd=tmp_path)
    url = proc.wait_for(URL).group(1)
    proc.wait_for(WATCHING)
    assert "script one" in httpx.get(url, timeout=30).text

    write_app(app, "script two", extra=main)
    wait_until(lambda: "script two" in _get(url), message="the edited app to be served on the same port")
    # Its log line can reach us after its first answer (the output is read by a thread).
    wait_until(lambda: len(worker_pids(proc)) == 2, message="the new server process's start in the log")
    workers = worker_pids(proc)
    assert not pid_alive(workers[0])

    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait() == 0, proc.output
    wait_until(lambda: not pid_alive(workers[1]), message="the server process to stop with the supervisor")
    assert "Traceback" not in proc.output


def test_server_process_stops_when_supervisor_is_killed(tmp_path: Path, run_process: Callable[..., Process],
                                                        livetag_cli: list[str]) -> None:
    app = tmp_path / "orphan_app.py"
    write_app(app, "orphan")
    proc = run_process([*livetag_cli, "run", str(app), "--port", "0", "--reload"], cwd=tmp_path)
    url = proc.wait_for(URL).group(1)
    assert "orphan" in httpx.get(url, timeout=30).text
    worker = worker_pids(proc)[0]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_until(lambda: not pid_alive(worker), message="the orphaned server process to notice and exit")


def test_error_page_websocket_sends_the_page_to_reload(tmp_path: Path, run_process: Callable[..., Process],
                                                      livetag_cli: list[str]) -> None:
    """While the code is broken, /_lt/ws answers 'session expired' (close 4404), so an open
    page reloads itself into the error page; HTTP answers 503 with the escaped traceback."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    app = tmp_path / "ws_app.py"
    write_app(app, "fine")
    proc = run_process([*livetag_cli, "run", str(app), "--port", "0", "--reload", "--no-debug"], cwd=tmp_path)
    url = proc.wait_for(URL).group(1)
    proc.wait_for(WATCHING)
    write_app(app, "<broken>", extra="\nraise RuntimeError('<b>boom</b>')\n")
    proc.wait_for(r"RuntimeError: <b>boom</b>")
    wait_until(lambda: _status(url) == 503, message="the error page")
    page = httpx.get(url, timeout=30).text
    assert "<b>boom</b>" not in page and "&lt;b&gt;boom" in page  # escaped
    assert "Traceback" not in page  # --no-debug: the traceback stays in the terminal

    with connect(url.replace("http", "ws") + "_lt/ws", open_timeout=30) as ws:
        message = ws.recv(timeout=30)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
        code = ws.close_code
    assert '"expired"' in message and code == 4404


def _status(url: str) -> int:
    """The status of GET ``url``, or 0 when the connection was cut: a server process being
    replaced closes the connections it accepted but had not read yet, as uvicorn does."""
    try:
        return httpx.get(url, timeout=30).status_code
    except httpx.HTTPError:
        return 0


def _get(url: str) -> str:
    try:
        return httpx.get(url, timeout=30).text
    except httpx.HTTPError:
        return ""
