"""The apps of the peers run, written once for livetag and htag 2: the same class
bodies, only the import differs (``make_apps(Tag, State)``). NiceGUI has its own
programming model; its versions are in ``nicegui_apps.py``.

- ``counter``: ``examples/counter.py`` (plain ``def`` handlers).
- ``counter-async``: the same with ``async def`` handlers.
- ``counter-method``: the same with plain handlers that call a method of the app
  (``self.count += 1; self.show()``), as real handlers call things.
- ``list``: 1,000 ``<li>`` from ``lambda: [Tag.li(x) for x in self.items]`` over a
  ``State`` list; each click of ``button.change`` changes one item.
- ``list-keyed``: the same with ``key=`` on each ``<li>``.
- ``table``: a table of ``TABLE_ROWS`` rows x 3 cells built in ``init`` (the page load
  builds and renders it).
"""

from __future__ import annotations

import os
from typing import Any

LIST_ROWS = 1000
#: Rows of the table app (``LIVETAG_BENCH_TABLE_ROWS`` overrides, for the linearity check).
TABLE_ROWS = int(os.environ.get("LIVETAG_BENCH_TABLE_ROWS", "8000"))


def make_apps(Tag: Any, State: Any) -> dict[str, Any]:
    """The app classes, built with this framework's ``Tag`` and ``State``."""

    class Counter(Tag.App):  # type: ignore[misc, name-defined]
        def init(self) -> None:
            self.count = 0
            self.value = Tag.span(self.count, _class="value")
            self <= Tag.h1("Counter")
            self <= Tag.button("-", _class="dec", _onclick=self.decrement)
            self <= self.value
            self <= Tag.button("+", _class="inc", _onclick=self.increment)

        def increment(self, e: Any) -> None:
            self.count += 1
            self.value.text = self.count

        def decrement(self, e: Any) -> None:
            self.count -= 1
            self.value.text = self.count

    class CounterAsync(Counter):
        async def increment(self, e: Any) -> None:
            self.count += 1
            self.value.text = self.count

        async def decrement(self, e: Any) -> None:
            self.count -= 1
            self.value.text = self.count

    class CounterMethod(Counter):
        def increment(self, e: Any) -> None:
            self.count += 1
            self.show()

        def decrement(self, e: Any) -> None:
            self.count -= 1
            self.show()

        def show(self) -> None:
            self.value.text = self.count

    class ItemList(Tag.App):  # type: ignore[misc, name-defined]
        def init(self) -> None:
            self.changes = 0
            self.items = State([f"row {i}" for i in range(LIST_ROWS)])
            self <= Tag.button("change a row", _class="change", _onclick=self.change)
            self <= Tag.ul(lambda: [Tag.li(x) for x in self.items])

        def change(self, e: Any) -> None:
            self.changes += 1
            i = (self.changes * 7919) % LIST_ROWS  # every row in turn, no hot row
            self.items[i] = f"row {i} changed {self.changes}"

    class KeyedList(ItemList):
        def init(self) -> None:
            self.changes = 0
            self.items = State([f"row {i}" for i in range(LIST_ROWS)])
            self <= Tag.button("change a row", _class="change", _onclick=self.change)
            self <= Tag.ul(lambda: [Tag.li(x, key=i) for i, x in enumerate(self.items)])

    class Table(Tag.App):  # type: ignore[misc, name-defined]
        def init(self) -> None:
            self <= Tag.table(Tag.tbody([Tag.tr([Tag.td(f"r{i}c{j}") for j in range(3)])
                                         for i in range(TABLE_ROWS)]))

    return {"counter": Counter, "counter-async": CounterAsync, "counter-method": CounterMethod, "list": ItemList,
            "list-keyed": KeyedList, "table": Table}
