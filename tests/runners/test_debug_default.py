"""Where debug is on by default: ``.run()`` on a loopback host is development; a host
reachable by others, or a ``WebApp`` given ``debug=``, keeps what it has."""

from __future__ import annotations

from typing import Any

import pytest

import livetag.runners.apps as apps
from livetag import Tag, WebApp


class App(Tag.App):
    pass


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    monkeypatch.setattr(apps, "serve", lambda app, **options: calls.append(app))
    return calls


@pytest.mark.parametrize(("host", "given", "expected"), [
    ("127.0.0.1", None, True), ("localhost", None, True), ("::1", None, True),
    ("0.0.0.0", None, False), ("127.0.0.1", False, False), ("0.0.0.0", True, True),
])
def test_run_turns_debug_on_on_a_loopback_host_unless_given(served: list[Any], host: str, given: bool | None,
                                                            expected: bool) -> None:
    webapp = WebApp(App) if given is None else WebApp(App, debug=given)
    assert webapp.debug is bool(given)  # as an ASGI app (gunicorn, mounted): production unless given
    webapp.run(host=host, port=0, open_browser=False)
    assert served == [webapp]
    assert webapp.debug is expected and webapp.registry.debug is expected
