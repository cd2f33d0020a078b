"""Browser fixtures: pages that fail the test on any uncaught JavaScript error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lt_browser import SOCKET_CONTROL


@pytest.fixture
def new_page(context: Any) -> Iterator[Callable[[], Any]]:
    """``new_page()`` opens a tab in the test's context (shared cookies). Uncaught page
    errors fail the test."""
    errors: list[str] = []

    def make() -> Any:
        page = context.new_page()
        page.add_init_script(SOCKET_CONTROL)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    assert errors == [], f"uncaught JavaScript errors: {errors}"


@pytest.fixture
def page(new_page: Callable[[], Any]) -> Any:
    return new_page()
