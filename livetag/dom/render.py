"""Serialisation: a tag tree to HTML text.

``render_html(node)`` is the HTML of a subtree; reactive children and attributes are
evaluated as ``livetag.dom.reactive`` says. Text and attribute values are escaped
(``livetag.dom.html``); ``HTML`` children are written raw, as is the text of
``<script>``/``<style>`` (with ``</`` written ``<\\/``).
"""

from __future__ import annotations

from typing import Any, Literal

from .html import RAW_TEXT_ELEMENTS, VOID_ELEMENTS, escape_attr, escape_text, render_raw_text, render_text
from .node import Node, _ids
from .reactive import AttrSlot, ChildSlot

HANDLER_ATTR = "data-lt"  # the attribute the client reads: "click submit.prevent"


def render_into(node: Node, out: list[str]) -> None:
    """Append the HTML of ``node``'s subtree to ``out``."""
    name = node.tag_name
    if name is None:
        _render_children_into(node, out)
        return
    if node._attrs or node._handlers:
        out.append(f"<{name}{render_attrs(node)}>")
    else:  # no attribute, so no id of the user's: the generated one needs no escaping
        lt_id = node._lt_id
        if not lt_id:  # Node._generated_id, written out: a page renders thousands
            made = "lt%x" % next(_ids)  # noqa: UP031
            if not node._lt_id:  # no call since the test: see Node._generated_id
                node._lt_id = made
            lt_id = node._lt_id
        out.append(f'<{name} id="{lt_id}">')
    if name in _SPECIAL:  # one lookup for the common case, which is none of them
        if name in VOID_ELEMENTS:
            return
        if name == "textarea" and "value" in node._attrs:
            out.append(escape_text(str(node._attrs["value"] or "")))
        else:
            _render_children_into(node, out)
    else:
        # render_child, written out for the common children (a page has thousands)
        for child in node._children:
            if type(child) is str:
                out.append(escape_text(child) if "&" in child or "<" in child or ">" in child else child)
            elif isinstance(child, Node):
                render_into(child, out)
            else:
                render_child(child, out)
    close = _CLOSE.get(name)
    if close is None:
        close = _CLOSE[name] = f"</{name}>"
    out.append(close)


#: Elements render_into renders otherwise than as a start tag, children, an end tag.
_SPECIAL = VOID_ELEMENTS | RAW_TEXT_ELEMENTS | {"textarea"}
#: End tags by element name, made once (a table has thousands of ``</td>``).
_CLOSE: dict[str, str] = {}


def _render_children_into(node: Node, out: list[str]) -> None:
    raw = node.tag_name in RAW_TEXT_ELEMENTS
    for child in node._children:
        render_child(child, out, raw)


def render_html(tag: Node) -> str:
    """The HTML of ``tag``'s subtree, escaped (``HTML`` children excepted)."""
    out: list[str] = []
    render_into(tag, out)
    return "".join(out)


def render_children_html(tag: Node) -> str:
    out: list[str] = []
    _render_children_into(tag, out)
    return "".join(out)


def render_attrs(tag: Node) -> str:
    """The attributes of ``tag`` as rendered on its start tag, starting with ``id``."""
    parts = [' id="', escape_attr(tag.id), '"']
    for name, value in tag._attrs.items():
        if name == "id":
            continue
        if isinstance(value, AttrSlot):
            value.refresh()
            value = value.value
        rendered = render_attr_value(value)
        if rendered is None:
            continue
        if rendered is True:
            parts.append(" " + name)
        else:
            parts.append(f' {name}="{escape_attr(rendered)}"')
    if tag._handlers:
        parts.append(f' {HANDLER_ATTR}="{handler_spec(tag)}"')
    return "".join(parts)


def handler_spec(tag: Node) -> str | None:
    """The value of ``tag``'s ``data-lt`` attribute: ``"click submit.prevent"``."""
    handlers = tag._handlers
    if not handlers:
        return None
    return " ".join(name + h.flags for name, h in handlers.items())


def render_child(child: Any, out: list[str], raw: bool = False) -> None:
    """Append the HTML of one entry of a tag's children: a tag, a reactive slot
    (re-evaluated) or text. ``raw``: the parent is a ``<script>``/``<style>``, whose
    text is not escaped (see ``render_raw_text``)."""
    text = render_raw_text if raw else render_text
    if isinstance(child, Node):
        render_into(child, out)
    elif isinstance(child, ChildSlot):
        for node in child.current():
            if isinstance(node, Node):
                render_into(node, out)
            else:
                out.append(text(node))
    else:
        out.append(text(child))


def render_attr_value(value: Any) -> str | Literal[True] | None:
    """``True`` -> ``True`` (boolean attribute), ``False``/``None`` -> ``None`` (omitted),
    anything else -> its ``str``."""
    if value is True:
        return True
    if value is None or value is False:
        return None
    return value if isinstance(value, str) else str(value)
