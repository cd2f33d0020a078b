"""The ``livetag`` command line, each option and each error, through real processes."""

from __future__ import annotations

import re
import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

import livetag

from .procs import PYTHON, Process, wait_until

ONE_APP = textwrap.dedent('''
    from livetag import Tag


    class Widget(Tag.div):
        """Not an app: never a candidate."""


    class Greeter(Tag.App):
        def init(self):
            self <= Tag.h1("hello from the cli")
            self.value = Tag.span("0", _class="value")
            self <= Tag.button("+", _class="inc", _onclick=self.increment)
            self <= self.value

        def increment(self, e):
            self.value.text = int(self.value.text) + 1
''')

TWO_APPS = textwrap.dedent('''
    from livetag import Tag


    class First(Tag.App):
        def init(self):
            self <= Tag.h1("first app")


    class Second(Tag.App):
        def init(self):
            self <= Tag.h1("second app")
''')

FAILING_INIT = textwrap.dedent('''
    from livetag import Tag


    class Failing(Tag.App):
        def init(self):
            raise ValueError("init exploded <here>")
''')

URL = r"serving (http://[\d.]+:(\d+)/)"


@pytest.fixture
def app_file(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(source: str, name: str = "app.py") -> Path:
        path = tmp_path / name
        path.write_text(source)
        return path
    return write


@pytest.fixture
def cli(run_process: Callable[..., Process], livetag_cli: list[str], tmp_path: Path) -> Callable[..., Process]:
    """``cli("run", "app.py", ...)``: ``python -m livetag ...`` in ``tmp_path``."""
    return lambda *args, **kw: run_process([*livetag_cli, *map(str, args)], cwd=tmp_path, **kw)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other socket listens on for the duration of the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_error_line(proc: Process) -> str:
    """The process's whole output, which must be a single ``livetag: error:`` line."""
    lines = [line for line in proc.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("livetag: error: "), proc.output
    assert "Traceback" not in proc.output
    return lines[0]


# -- version and help ---------------------------------------------------------------------


def test_version(cli: Callable[..., Process]) -> None:
    proc = cli("--version")
    assert proc.wait() == 0
    assert proc.output.strip() == f"livetag {livetag.__version__}"


def test_console_script_is_installed(run_process: Callable[..., Process]) -> None:
    script = Path(PYTHON).parent / "livetag"
    proc = run_process([str(script), "--version"])
    assert proc.wait() == 0 and proc.output.strip() == f"livetag {livetag.__version__}"


def test_no_command_prints_usage_and_fails(cli: Callable[..., Process]) -> None:
    proc = cli()
    assert proc.wait() == 2
    assert "usage: livetag" in proc.output and "run" in proc.output


# -- serving --------------------------------------------------------------------------------


def test_run_port_0_serves_the_single_app_class(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file(ONE_APP)
    proc = cli("run", "app.py", "--port", "0")
    url, port = proc.wait_for(URL).groups()
    assert int(port) > 0 and url.startswith("http://127.0.0.1:")
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200 and "hello from the cli" in response.text


def test_run_explicit_port_and_named_class(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file(TWO_APPS)
    port = free_port()
    proc = cli("run", "app.py:Second", "--port", port)
    url = proc.wait_for(URL).group(1)
    assert url == f"http://127.0.0.1:{port}/"
    assert "second app" in httpx.get(url, timeout=30).text


def test_run_module_import_string(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file(TWO_APPS, name="two_apps.py")  # importable: the command runs in its directory
    proc = cli("run", "two_apps:First", "--port", "0")
    assert "first app" in httpx.get(proc.wait_for(URL).group(1), timeout=30).text


def test_run_host(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file(ONE_APP)
    proc = cli("run", "app.py", "--port", "0", "--host", "0.0.0.0")
    url, port = proc.wait_for(URL).groups()
    assert url.startswith("http://0.0.0.0:")
    assert "hello from the cli" in httpx.get(f"http://127.0.0.1:{port}/", timeout=30).text


def test_debug_shows_escaped_traceback_and_no_debug_hides_it(cli: Callable[..., Process],
                                                            app_file: Callable[..., Path]) -> None:
    app_file(FAILING_INIT)
    debug = cli("run", "app.py", "--port", "0", "--debug")
    page = httpx.get(debug.wait_for(URL).group(1), timeout=30)
    assert page.status_code == 500
    assert "in your code (innermost first)" in page.text and "init exploded &lt;here&gt;" in page.text
    assert "app.py:" in page.text.split("in your code")[1].splitlines()[1]  # the app's frame first

    default = cli("run", "app.py", "--port", "0")  # on the loopback interface: development
    page = httpx.get(default.wait_for(URL).group(1), timeout=30)
    assert page.status_code == 500 and "init exploded &lt;here&gt;" in page.text

    quiet = cli("run", "app.py", "--port", "0", "--no-debug")
    page = httpx.get(quiet.wait_for(URL).group(1), timeout=30)
    assert page.status_code == 500
    assert "Traceback" not in page.text and "exploded" not in page.text
    quiet.wait_for(r"ValueError: init exploded <here>")  # the terminal has it


@pytest.mark.browser
def test_log_level_debug_logs_events_with_duration_and_no_secrets(
        cli: Callable[..., Process], app_file: Callable[..., Path], context: Any) -> None:
    app_file(ONE_APP)
    proc = cli("run", "app.py", "--port", "0", "--log-level", "debug")
    url = proc.wait_for(URL).group(1)
    page = context.new_page()
    page.goto(url)
    page.click("button.inc")
    expect(page.locator(".value")).to_have_text("1")
    proc.wait_for(r"DEBUG:.*livetag\.session: session \w+: click on \w+ took [\d.]+ ms")
    proc.wait_for(r"INFO:.*session \w+ created")
    proc.wait_for(r"INFO:.*websocket connected from 127\.0\.0\.1")
    page.close()
    proc.wait_for(r"INFO:.*websocket disconnected from 127\.0\.0\.1")
    cookie = next(c["value"] for c in context.cookies() if c["name"].startswith("lt_sid"))
    token = re.search(r'data-lt-token="([^"]+)"', httpx.get(url, cookies={"lt_sid": cookie}, timeout=30).text)
    assert cookie not in proc.output
    assert token is not None and token.group(1) not in proc.output


def test_log_level_warning_is_quiet(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file(ONE_APP)
    port = free_port()
    proc = cli("run", "app.py", "--port", port, "--log-level", "warning")
    texts: list[str] = []

    def served() -> bool:
        try:
            texts.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=30).text)
            return True
        except httpx.ConnectError:
            return False

    wait_until(served, message="the app to answer on its port")
    assert "hello from the cli" in texts[-1]
    proc.stop()
    assert "INFO" not in proc.output


# -- errors: one line, no traceback, exit status != 0 ------------------------------------------


def test_missing_file(cli: Callable[..., Process]) -> None:
    proc = cli("run", "nowhere/app.py")
    assert proc.wait() == 2
    assert one_error_line(proc) == "livetag: error: no such file: nowhere/app.py"


@pytest.mark.parametrize("reload", [False, True])
def test_import_error(cli: Callable[..., Process], app_file: Callable[..., Path], reload: bool) -> None:
    app_file("import livetag\nimport no_such_module_here\n")
    proc = cli("run", "app.py", "--port", "0", *(["--reload"] if reload else []))
    assert proc.wait() == 1
    line = [line for line in proc.output.splitlines() if line.startswith("livetag: error:")]
    assert line and "ModuleNotFoundError: No module named 'no_such_module_here' (app.py, line 2)" in line[0], proc.output
    assert "Traceback" not in proc.output
    if not reload:
        one_error_line(proc)


def test_syntax_error(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file("from livetag import Tag\nclass A(Tag.App)\n    pass\n")
    proc = cli("run", "app.py")
    assert proc.wait() == 1
    assert "SyntaxError: expected ':' (app.py, line 2)" in one_error_line(proc)


def test_no_app_class(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file("from livetag import Tag\n\nclass Card(Tag.div):\n    pass\n")
    proc = cli("run", "app.py")
    assert proc.wait() == 2
    assert "expected app.py to define a Tag.App subclass, found none" in one_error_line(proc)


def test_multiple_app_classes_are_listed(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file(TWO_APPS)
    proc = cli("run", "app.py")
    assert proc.wait() == 2
    assert one_error_line(proc) == ("livetag: error: app.py defines 2 Tag.App subclasses: First, Second; "
                                    "name one, e.g. app.py:First")


def test_unknown_attribute(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file(TWO_APPS)
    proc = cli("run", "app.py:Third")
    assert proc.wait() == 2
    assert "to define 'Third'" in one_error_line(proc)


@pytest.mark.parametrize("reload", [False, True])
def test_port_in_use(cli: Callable[..., Process], app_file: Callable[..., Path], busy_port: int, reload: bool) -> None:
    app_file(ONE_APP)
    proc = cli("run", "app.py", "--port", busy_port, *(["--reload"] if reload else []))
    assert proc.wait() == 1
    assert one_error_line(proc) == (f"livetag: error: port {busy_port} on 127.0.0.1 is already in use "
                                    "(choose another with --port, or --port 0 for a free one)")


def test_desktop_refuses_a_public_host(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file(ONE_APP)
    proc = cli("run", "app.py", "--desktop", "--host", "0.0.0.0")
    assert proc.wait() == 2
    assert "loopback" in one_error_line(proc)


def test_desktop_without_browser(cli: Callable[..., Process], app_file: Callable[..., Path], tmp_path: Path) -> None:
    app_file(ONE_APP)
    proc = cli("run", "app.py", "--desktop", env={"LIVETAG_BROWSER": str(tmp_path / "none")})
    assert proc.wait() == 1
    assert "(from LIVETAG_BROWSER), found none" in one_error_line(proc)


def test_bad_port_and_bad_log_level(cli: Callable[..., Process], app_file: Callable[..., Path]) -> None:
    app_file(ONE_APP)
    proc = cli("run", "app.py", "--port", "70000")
    assert proc.wait() == 2
    assert "between 0 and 65535" in one_error_line(proc)
    proc = cli("run", "app.py", "--log-level", "loud")
    assert proc.wait() == 2
    assert "invalid choice: 'loud'" in proc.output


@pytest.mark.parametrize("reload", [False, True])
def test_ctrl_c_stops_cleanly(cli: Callable[..., Process], app_file: Callable[..., Path], reload: bool) -> None:
    import os
    import signal

    app_file(ONE_APP)
    proc = cli("run", "app.py", "--port", "0", *(["--reload"] if reload else []))
    url = proc.wait_for(URL).group(1)
    assert "hello from the cli" in httpx.get(url, timeout=30).text
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait() == 0, proc.output
    assert "Traceback" not in proc.output and "KeyboardInterrupt" not in proc.output
    proc.wait_for(r"Finished server process")
