"""User code as a type checker sees it: ``mypy`` (strict, see pyproject.toml) checks this
file with ``livetag/``, so that ``Tag.<element>``, ``class Card(Tag.div)`` and
``class Page(Tag.App)`` keep type-checking in users' code. Never run, never collected."""

from __future__ import annotations

from typing import Any

from livetag import State, Tag


class Card(Tag.div):
    styles = ":host { padding: 1em }"

    def init(self, title: str, *children: Any) -> None:
        self.title_ = Tag.h2(title)
        self <= self.title_
        self.add(*children)
        self.widget: Tag = Tag.my_widget("custom elements are Tags too")


class Page(Tag.App):
    def init(self) -> None:
        self.count = State(0)
        self.value = Tag.span(self.count, _class="value")
        with Card("counter"):
            Tag.button("+", _onclick=self.increment)
        self <= self.value

    def increment(self, event: Any) -> None:
        self.count.set(self.count.get() + 1)
        section: Tag = Tag.section(Card("more"))
        self.add(section)


def build() -> Tag:
    page = Page()
    card: Tag.div = Card("x")
    page <= card
    return page
