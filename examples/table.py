"""A reactive table of 1,000 rows: click a column header to sort (again to reverse),
type in the box to filter.

The rows are one reactive child (a lambda reading the sort and filter states) that
returns the same row tags in another order or subset, so a sort sends only the rows
that move and a filter only the rows that leave or come back.

Run: python examples/table.py (127.0.0.1:8000), or livetag run examples/table.py --port 0
"""

from __future__ import annotations

import random
from typing import Any

from livetag import States, Tag, WebApp

COLUMNS = (("id", "#"), ("name", "Name"), ("city", "City"), ("score", "Score"))
_FIRST = "Ada Alan Grace Linus Guido Barbara Ken Dennis Margaret Edsger Donald John Frances Radia".split()
_LAST = "Lovelace Turing Hopper Torvalds Rossum Liskov Thompson Ritchie Hamilton Dijkstra Knuth Backus Allen Perlman".split()
_CITIES = "Paris London Berlin Oslo Lisbon Madrid Rome Vienna Prague Dublin".split()


def make_people(count: int = 1000, seed: int = 42) -> list[dict[str, Any]]:
    """``count`` rows, the same ones for a given ``seed``."""
    rnd = random.Random(seed)
    return [
        {"id": i, "name": f"{rnd.choice(_FIRST)} {rnd.choice(_LAST)}", "city": rnd.choice(_CITIES),
         "score": rnd.randint(0, 1000)}
        for i in range(1, count + 1)
    ]


class Table(Tag.App):
    statics = [Tag.title("livetag table")]
    styles = """
        table { border-collapse: collapse; font: 14px sans-serif }
        th { cursor: pointer; user-select: none; text-align: left }
        th, td { padding: 2px 10px; border-bottom: 1px solid #ddd }
        th.sorted { background: #eef }
    """

    def init(self, count: int = 1000) -> None:
        self.people = make_people(count)
        # One row tag per person, made once: the reactive child below returns these same
        # objects, which is what lets livetag match them and send only the differences.
        self.rows = {p["id"]: self.make_row(p) for p in self.people}
        self.s = States(sort="id", descending=False, query="")
        headers = [
            Tag.th(label, lambda key=key: self.arrow(key), _data_key=key, _onclick=self.sort_by,
                   _class=lambda key=key: "sorted" if self.s.sort == key else None)
            for key, label in COLUMNS
        ]
        self <= Tag.input(_type="search", _class="filter", _placeholder="filter by name or city",
                          _autocomplete="off", _oninput=self.filter)
        self <= Tag.p(lambda: f"{len(self.visible())} of {len(self.people)} rows", _class="count")
        self <= Tag.table(Tag.thead(Tag.tr(headers)), Tag.tbody(lambda: [self.rows[p["id"]] for p in self.visible()]))

    @staticmethod
    def make_row(person: dict[str, Any]) -> Tag:
        return Tag.tr(*(Tag.td(person[key], _class=key) for key, _ in COLUMNS), _data_id=person["id"])

    def visible(self) -> list[dict[str, Any]]:
        """The people matching the filter, sorted (reads the states: callers re-render)."""
        query = str(self.s.query).strip().lower()
        people = [p for p in self.people if query in p["name"].lower() or query in p["city"].lower()]
        key = str(self.s.sort)
        # Ties keep id order, so that the order is fully defined.
        return sorted(people, key=lambda p: (p[key], p["id"]), reverse=bool(self.s.descending))

    def arrow(self, key: str) -> str:
        if self.s.sort != key:
            return ""
        return " ▼" if self.s.descending else " ▲"

    def sort_by(self, e) -> None:
        key = e.target["data-key"]
        if self.s.sort == key:
            self.s.descending = not self.s.descending
        else:
            self.s.load({"sort": key, "descending": False})

    def filter(self, e) -> None:
        self.s.query = str(e.value or "")


webapp = WebApp(Table)
app = webapp.app

if __name__ == "__main__":  # or: livetag run examples/table.py --port 0
    webapp.run()
