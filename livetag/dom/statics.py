"""Component statics: what a component class needs in ``<head>``, rendered once.

``class_statics(cls)`` is the HTML of a class's ``statics`` and of the scoped ``styles``
of the class and its bases (see ``livetag.dom.css``); ``title_of(cls)`` the page title
its statics name.
"""

from __future__ import annotations

import re
from typing import Any

from .css import scope_class, scope_css
from .html import HTML
from .render import render_html
from .tag import Tag

_ID_ATTR = re.compile(r' id="lt[0-9a-z]+"')


def class_statics(cls: type[Tag]) -> tuple[str, ...]:
    """The rendered statics of ``cls`` (its ``statics`` and the scoped ``styles`` of it
    and its bases), computed once per class. Generated ids are left out."""
    cached: tuple[str, ...] | None = cls.__dict__.get("_lt_statics_html")
    if cached is not None:
        return cached
    html: list[str] = []
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, Tag)):
            continue
        own = klass.__dict__.get("statics")
        if own:
            for item in own if isinstance(own, (list, tuple)) else [own]:
                html.append(_static_html(item))
        styles = klass.__dict__.get("styles")
        if styles:
            html.append(f"<style>{scope_css(styles, scope_class(klass))}</style>")
    result = tuple(dict.fromkeys(html))
    cls._lt_statics_html = result
    return result


def _static_html(item: Any) -> str:
    if isinstance(item, Tag):
        return _ID_ATTR.sub("", render_html(item))
    if isinstance(item, HTML):
        return str(item)
    raise TypeError("expected statics to be Tags (Tag.style, Tag.link, Tag.script...) or HTML, "
                    f"got {type(item).__name__}")


def title_of(cls: type[Tag]) -> str | None:
    """The text of a ``Tag.title`` in ``cls.statics`` (or its bases), if any; found once
    per class (every page load asks)."""
    cached: tuple[str | None] | None = cls.__dict__.get("_lt_title")
    if cached is not None:
        return cached[0]
    title = None
    for klass in cls.__mro__:
        own = klass.__dict__.get("statics") if isinstance(klass, type) else None
        for item in own if isinstance(own, (list, tuple)) else ([own] if own else []):
            if isinstance(item, Tag) and item.tag_name == "title":
                title = item.text
                break
        if title is not None:
            break
    cls._lt_title = (title,)  # type: ignore[attr-defined]
    return title
