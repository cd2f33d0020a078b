"""ChromeApp with Debian's Chromium under a private Xvfb, driven through its DevTools port."""

from __future__ import annotations

import os
import re
import signal
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from livetag.errors import BrowserNotFound
from livetag.runners.browser import find_browser

from .procs import CHROMIUM, PYTHON, Process, kill_pid, pid_alive, wait_until

pytestmark = pytest.mark.browser

APP = textwrap.dedent('''
    from livetag import ChromeApp, Tag


    class Clicker(Tag.App):
        def init(self):
            self.count = 0
            self <= Tag.h1("desktop clicker")
            self.value = Tag.span("0", _class="value")
            self <= Tag.button("+", _class="inc", _onclick=self.increment)
            self <= self.value

        def increment(self, e):
            self.count += 1
            self.value.text = self.count


    if __name__ == "__main__":
        ChromeApp(Clicker, width=600, height=800, browser_args=["--remote-debugging-port=0"]).run()
''')

WINDOW_LINE = r"window opened: \S+ \(pid (\d+), profile (\S+)\)"


class Window:
    """What a ChromeApp process printed about its window: browser pid, profile, DevTools."""

    def __init__(self, proc: Process) -> None:
        found = proc.wait_for(WINDOW_LINE)
        self.pid = int(found.group(1))
        self.profile = Path(found.group(2))
        port_file = self.profile / "DevToolsActivePort"  # Chromium writes it for port 0
        wait_until(lambda: port_file.exists() and port_file.read_text().strip(), message="the DevTools port file")
        self.devtools = f"http://127.0.0.1:{port_file.read_text().split()[0]}"


@pytest.fixture
def desktop(tmp_path: Path, xvfb: str, run_process: Callable[..., Process]) -> Iterator[Callable[..., tuple[Process, Window]]]:
    """Start a ChromeApp script (or command) on the Xvfb display; the browser is killed by
    PID at teardown if a test left it running."""
    windows: list[Window] = []

    def start(args: list[str] | None = None, env: dict[str, str] | None = None) -> tuple[Process, Window]:
        script = tmp_path / "desktop_app.py"
        script.write_text(APP)
        proc = run_process(args or [PYTHON, str(script)], cwd=tmp_path,
                           env={"DISPLAY": xvfb, "LIVETAG_BROWSER": CHROMIUM, **(env or {})})
        window = Window(proc)
        windows.append(window)
        return proc, window

    yield start
    for window in windows:
        kill_pid(window.pid)


def connect(browser: Any, window: Window) -> tuple[Any, Any]:
    """Playwright attached to the app window over CDP: (cdp browser, the app's page)."""
    cdp = browser.browser_type.connect_over_cdp(window.devtools)
    wait_until(lambda: cdp.contexts and cdp.contexts[0].pages, message="the app window's page")
    page = cdp.contexts[0].pages[0]
    page.set_default_timeout(20_000)
    return cdp, page


def test_window_shows_app_at_size_click_and_close_exits_0(desktop: Any, browser: Any) -> None:
    proc, window = desktop()
    cdp, page = connect(browser, window)
    expect(page.locator("h1")).to_have_text("desktop clicker")
    outer_w, outer_h, inner_w, inner_h = page.evaluate("[outerWidth, outerHeight, innerWidth, innerHeight]")
    assert abs(outer_w - 600) <= 40 and abs(outer_h - 800) <= 60, (outer_w, outer_h)
    assert 500 <= inner_w <= outer_w and 600 <= inner_h <= outer_h, (inner_w, inner_h)
    assert page.evaluate("location.hostname") == "127.0.0.1"
    page.click("button.inc")
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("2")

    page.close()  # the app's only window: Chromium exits, then the server stops
    assert proc.wait() == 0, proc.output
    assert not window.profile.exists()
    assert not pid_alive(window.pid)
    assert "window closed; server stopped" in proc.output
    assert "Traceback" not in proc.output
    cdp.close()


def test_browser_close_through_cdp_exits_0(desktop: Any, browser: Any) -> None:
    proc, window = desktop()
    cdp, page = connect(browser, window)
    expect(page.locator("h1")).to_have_text("desktop clicker")
    session = cdp.new_browser_cdp_session()
    try:
        session.send("Browser.close")
    except Exception:
        pass  # the connection may drop before the answer
    assert proc.wait() == 0, proc.output
    assert not window.profile.exists()


def test_sigterm_closes_window_and_removes_profile(desktop: Any, browser: Any) -> None:
    proc, window = desktop()
    _cdp, page = connect(browser, window)
    expect(page.locator("h1")).to_have_text("desktop clicker")
    assert pid_alive(window.pid)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait() == 0, proc.output
    wait_until(lambda: not pid_alive(window.pid), message="the browser process to be gone")
    assert not window.profile.exists()
    assert "stopped; window closed" in proc.output
    assert "Traceback" not in proc.output


def test_sigint_closes_window_too(desktop: Any, browser: Any) -> None:
    proc, window = desktop()
    connect(browser, window)
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait() == 0, proc.output
    wait_until(lambda: not pid_alive(window.pid), message="the browser process to be gone")
    assert not window.profile.exists()
    assert "Traceback" not in proc.output


def test_cli_desktop_reload_refreshes_window_and_close_exits_0(
        desktop: Any, browser: Any, tmp_path: Path, livetag_cli: list[str]) -> None:
    """``livetag run app.py --desktop --reload``: an edit refreshes the open window; closing
    it stops the supervisor and its server process."""
    script = tmp_path / "desktop_app.py"
    proc, window = desktop([*livetag_cli, "run", str(script), "--desktop", "--reload"],
                           env={"LIVETAG_BROWSER_ARGS": "--remote-debugging-port=0"})
    proc.wait_for(r"watching .* for changes")
    cdp, page = connect(browser, window)
    expect(page.locator("h1")).to_have_text("desktop clicker")
    url = page.url
    script.write_text(APP.replace("desktop clicker", "edited while open"))
    expect(page.locator("h1")).to_have_text("edited while open")
    assert page.url == url
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("1")
    workers = [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", proc.output)]
    assert len(workers) == 2

    page.close()
    assert proc.wait() == 0, proc.output
    assert not window.profile.exists()
    wait_until(lambda: not any(pid_alive(pid) for pid in workers), message="the server processes to stop")
    assert "Traceback" not in proc.output
    cdp.close()


def test_script_reload_sigterm_closes_window_and_stops_server(desktop: Any, browser: Any, tmp_path: Path) -> None:
    """``ChromeApp(App).run(reload=True)`` from a script whose call is not even guarded by
    ``if __name__ == "__main__"`` (the server processes import it: ``run`` does nothing there)."""
    source = APP.replace('if __name__ == "__main__":\n    ', "").replace(".run()", ".run(reload=True)")
    (tmp_path / "reload_app.py").write_text(source)
    proc, window = desktop([PYTHON, str(tmp_path / "reload_app.py")])
    proc.wait_for(r"watching .* for changes")
    _cdp, page = connect(browser, window)
    expect(page.locator("h1")).to_have_text("desktop clicker")
    workers = [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", proc.output)]
    assert len(workers) == 1

    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait() == 0, proc.output
    wait_until(lambda: not pid_alive(window.pid), message="the browser process to be gone")
    wait_until(lambda: not pid_alive(workers[0]), message="the server process to stop")
    assert not window.profile.exists()
    assert "Traceback" not in proc.output


def test_missing_browser_is_one_line_without_traceback(tmp_path: Path, run_process: Callable[..., Process]) -> None:
    script = tmp_path / "desktop_app.py"
    script.write_text(APP)
    proc = run_process([PYTHON, str(script)], env={"LIVETAG_BROWSER": str(tmp_path / "no-such-browser")})
    assert proc.wait() == 1
    assert proc.output.strip().splitlines() == [
        f"livetag: error: expected an executable browser at '{tmp_path / 'no-such-browser'}' "
        "(from LIVETAG_BROWSER), found none"]


def test_find_browser_reports_none_with_the_web_runner_offer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LIVETAG_BROWSER", raising=False)
    with pytest.raises(BrowserNotFound) as info:
        find_browser(candidates=[str(tmp_path / "nothing-here")])
    assert "livetag run app.py" in str(info.value) and "\n" not in str(info.value)
    assert find_browser(CHROMIUM) == CHROMIUM
