"""HTML escaping and the ``HTML`` marker for trusted markup.

Escaping follows the HTML Living Standard's serialisation rules: in text, ``&``, ``<``
and ``>`` are escaped; in double-quoted attribute values, ``&``, ``"``, ``<`` and ``>``
are (``<``/``>`` are not required there, but escaping them keeps the output safe when a
value is later copied into another context).
"""

from __future__ import annotations

from typing import Final

VOID_ELEMENTS: Final = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]
)
#: Elements whose text the HTML parser reads raw (no character references): escaping
#: their text would corrupt the JavaScript or CSS inside.
RAW_TEXT_ELEMENTS: Final = frozenset({"script", "style"})


class HTML(str):
    """A string of markup that livetag inserts as is, without escaping.

    Only wrap markup you produced or sanitised yourself: ``HTML(user_input)`` is an XSS
    hole by definition.
    """

    __slots__ = ()


def escape_text(value: str) -> str:
    """Escape ``value`` for use as element text content."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    return value


def escape_attr(value: str) -> str:
    """Escape ``value`` for use inside a double-quoted attribute value."""
    value = escape_text(value)
    if '"' in value:
        value = value.replace('"', "&quot;")
    return value


def render_raw_text(value: object) -> str:
    """Render a non-tag child of ``<script>``/``<style>``: not escaped (the parser reads
    it raw), except that ``</`` becomes ``<\\/`` and ``<!--`` becomes ``<\\!--``, so the
    text can neither close the element nor switch the parser into its escaped states.
    Both rewrites mean the same inside JavaScript and CSS strings. ``HTML`` is kept as is."""
    if isinstance(value, HTML):
        return str.__str__(value)
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if "<" in text:
        text = text.replace("</", "<\\/").replace("<!--", "<\\!--")
    return text


def render_text(value: object) -> str:
    """Render a non-tag child: ``HTML`` raw, ``None`` empty, anything else escaped."""
    if isinstance(value, HTML):
        return str.__str__(value)
    if value is None:
        return ""
    return escape_text(value if isinstance(value, str) else str(value))
