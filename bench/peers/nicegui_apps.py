"""The apps of ``apps.py`` written with NiceGUI (run by the NiceGUI environment's
Python): ``.venv``-free; ``bench/.venvs/nicegui/bin/python -m bench.peers.nicegui_apps
NAME`` prints ``PORT <n>``.

NiceGUI builds pages from elements inside a ``@ui.page`` function (one client, i.e.
one session, per page load) and sends element dicts to a Vue app over socket.io. The
same apps in its idiom:

- ``counter``: ``ui.label`` + two ``ui.button`` with plain ``def`` handlers setting the
  label's text (``counter-async``: ``async def`` handlers).
- ``list``: 1,000 ``<li>`` built by a ``@ui.refreshable`` function over a Python list,
  re-run by ``rows.refresh()`` after one item changed: NiceGUI's equivalent of
  ``lambda: [Tag.li(x) for x in self.items]``. NiceGUI has no keyed reconciliation.
- ``table``: ``TABLE_ROWS`` ``<tr>`` x 3 ``<td>`` elements (text elements with the tag
  ``td``, as ``ui.label`` is one with ``div``).

Served by ``ui.run_with`` on a FastAPI app with NiceGUI's defaults (its GZip middleware
included), under the benchmark's uvicorn settings (``serve.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI  # type: ignore[import-not-found]
from nicegui import ui  # type: ignore[import-not-found]
from nicegui.elements.mixins.text_element import TextElement  # type: ignore[import-not-found]

from bench.peers.apps import LIST_ROWS, TABLE_ROWS
from bench.peers.serve import serve


class Text(TextElement):
    """An element with text and any tag (``ui.label`` is the one with ``div``)."""

    def __init__(self, tag: str, text: str) -> None:
        super().__init__(tag=tag, text=text)


def counter(use_async: bool = False) -> None:
    @ui.page("/")
    def index() -> None:
        count = 0
        Text("h1", "Counter")
        if use_async:
            async def decrement() -> None:
                nonlocal count
                count -= 1
                value.text = str(count)

            async def increment() -> None:
                nonlocal count
                count += 1
                value.text = str(count)
        else:
            def decrement() -> None:  # type: ignore[misc]
                nonlocal count
                count -= 1
                value.text = str(count)

            def increment() -> None:  # type: ignore[misc]
                nonlocal count
                count += 1
                value.text = str(count)
        ui.button("-", on_click=decrement).classes("dec")
        value = Text("span", str(count)).classes("value")
        ui.button("+", on_click=increment).classes("inc")


def item_list() -> None:
    @ui.page("/")
    def index() -> None:
        items = [f"row {i}" for i in range(LIST_ROWS)]
        changes = 0

        @ui.refreshable
        def rows() -> None:
            with ui.element("ul"):
                for x in items:
                    Text("li", x)

        def change() -> None:
            nonlocal changes
            changes += 1
            i = (changes * 7919) % LIST_ROWS
            items[i] = f"row {i} changed {changes}"
            rows.refresh()

        ui.button("change a row", on_click=change).classes("change")
        rows()


def table() -> None:
    @ui.page("/")
    def index() -> None:
        with ui.element("table"), ui.element("tbody"):
            for i in range(TABLE_ROWS):
                with ui.element("tr"):
                    for j in range(3):
                        Text("td", f"r{i}c{j}")


APPS: dict[str, Callable[[], Any]] = {
    "counter": counter, "counter-async": lambda: counter(use_async=True), "list": item_list, "table": table,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in APPS:
        sys.exit(f"usage: python -m bench.peers.nicegui_apps {{{'|'.join(APPS)}}}")
    APPS[sys.argv[1]]()
    host = FastAPI()
    ui.run_with(host, show_welcome_message=False)
    serve(host)
