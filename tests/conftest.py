"""Shared fixtures: a real uvicorn per test on a free port, and Debian's Chromium."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from livetag.runners.serve import BackgroundServer

CHROMIUM = os.environ.get("LIVETAG_TEST_BROWSER", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]


@pytest.fixture(autouse=True)
def _private_data_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``WebApp.run()``, ``livetag run`` and the ``Runner`` keep session snapshots under
    ``$XDG_DATA_HOME``: in tests (and the servers they start), a directory of the run's."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "xdg-data"))
    monkeypatch.delenv("LIVETAG_STORE", raising=False)


@pytest.fixture
def live_server() -> Callable[[Any], AbstractContextManager[BackgroundServer]]:
    """``with live_server(asgi_app) as server:`` serves on 127.0.0.1:<free port>."""
    return lambda app, **options: BackgroundServer(app, **options)


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def example() -> Callable[[str], ModuleType]:
    """``example("todo")`` imports ``examples/todo.py`` afresh (its own ``WebApp``, no
    sessions left over from another test)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


# Module scope, not session: Playwright's sync API runs an event loop in this thread, and
# it must be gone before the asyncio tests of other modules start.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"expected Chromium at {CHROMIUM}; run the README's test command, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own cookies) per test."""
    ctx = browser.new_context()
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()
