"""The test client's copy of a page: a DOM (BeautifulSoup) changed only by patches.

``Page`` applies ``livetag.protocol.patch`` operations exactly as the browser's
``patch`` module does (same op codes, same order rules), and reads forms as the
browser's ``forms`` module does: the live value of a control, the ``sync`` map, a
form's submitted fields. ``Element`` is a read-only view of one of its elements.
"""

from __future__ import annotations

from typing import Any

from bs4 import BeautifulSoup
from bs4 import Tag as Node
from bs4.element import NavigableString

from ..protocol.patch import OpCode

CONTROLS = ("input", "textarea", "select")


class Element:
    """A read-only view of one element of the client's page."""

    def __init__(self, node: Node) -> None:
        self._node = node

    @property
    def id(self) -> str:
        return str(self._node.get("id", ""))

    @property
    def tag_name(self) -> str:
        return self._node.name

    @property
    def text(self) -> str:
        return self._node.get_text()

    @property
    def html(self) -> str:
        return str(self._node)

    @property
    def value(self) -> Any:
        return control_value(self._node)

    def __getitem__(self, name: str) -> Any:
        return self._node.get(name)

    def has_class(self, name: str) -> bool:
        return name in (self._node.get("class") or [])

    def __repr__(self) -> str:
        return f"<Element {self.html[:80]}>"


class Page:
    """A page as a browser holds it: ``dom`` (the document), changed by ``apply``."""

    def __init__(self, body_html: str) -> None:
        self.dom = BeautifulSoup(f"<html><head></head>{body_html}</html>", "html.parser")
        self._ids: dict[str, Node] = {}

    @classmethod
    def from_document(cls, html: str) -> Page:
        """The page of a whole served document (``<!doctype html><html>...``), as a
        browser parses it (``livetag.testing.wire`` loads pages this way)."""
        page = cls.__new__(cls)
        page.dom = BeautifulSoup(html, "html.parser")
        page._ids = {}
        return page

    @property
    def body(self) -> Node:
        """The ``<body>`` (a page always has one: ``Page`` makes it)."""
        body = self.dom.body
        assert body is not None, "expected the page to have a <body>"
        return body

    def find_id(self, element_id: str) -> Node | None:
        """``document.getElementById``: through an index of the page's ids, rebuilt when it
        misses or is stale (a patch of a long list would otherwise scan the page per op)."""
        node = self._ids.get(element_id)
        # A decomposed node has attrs None (its `.decomposed` would search the whole page).
        if node is not None and node.attrs is not None and node.get("id") == element_id and attached(node, self.dom):
            return node
        self._ids = {}
        for el in self.dom.find_all(id=True):
            self._ids.setdefault(str(el["id"]), el)
        return self._ids.get(element_id)

    def _index(self, nodes: list[Any]) -> list[Any]:
        for node in nodes:
            if isinstance(node, Node):
                if node.get("id"):
                    self._ids[str(node["id"])] = node
                for el in node.find_all(id=True):
                    self._ids[str(el["id"])] = el  # new elements win over stale entries
        return nodes

    def apply(self, op: list[Any]) -> None:
        """Apply one patch operation; ``AssertionError`` when it names an element the
        page does not have (the server and the page diverged)."""
        kind, target_id = op[0], op[1]
        el = self.find_id(target_id)
        if el is None:
            if kind == OpCode.REMOVE:
                return
            raise AssertionError(f"patch {op!r} names an element the page does not have")
        if kind == OpCode.REMOVE:
            el.decompose()
        elif kind == OpCode.SET_ATTRS:
            for name, value in op[2].items():
                if value is None:
                    el.attrs.pop(name, None)
                else:  # a class as the parser gives it (a list), so reads do not depend on the source
                    el[name] = value.split() if name == "class" else value
        elif kind == OpCode.SET_TEXT:
            el.clear()
            el.append(NavigableString(op[2]))
        elif kind in (OpCode.SET_HTML, OpCode.APPEND):
            if kind == OpCode.SET_HTML:
                el.clear()
            for node in self._index(fragment(op[2])):
                el.append(node)
        elif kind == OpCode.MORPH:
            new = self._index(fragment(op[2]))[0]
            if el.name == "body" or el is self.dom.body:
                el.attrs = dict(new.attrs)
                el.clear()
                for node in list(new.contents):
                    el.append(node.extract())
            else:
                el.replace_with(new)
        elif kind == OpCode.INSERT:
            self._insert(el, self._index(fragment(op[3])), op[2])
        elif kind == OpCode.MOVE:
            parent = self.find_id(op[2])
            if parent is None:
                raise AssertionError(f"patch {op!r} names a parent the page does not have")
            self._insert(parent, [el.extract()], op[3])
        else:
            raise AssertionError(f"unknown patch operation {op!r}")

    def _insert(self, parent: Node, nodes: list[Any], before_id: str | None) -> None:
        before = self.find_id(before_id) if before_id is not None else None
        if before_id is not None and before is None:
            raise AssertionError(f"patch inserts before #{before_id}, which the page does not have")
        for node in nodes:
            if before is None:
                parent.append(node)
            else:
                before.insert_before(node)


def attached(node: Node, dom: BeautifulSoup) -> bool:
    while node.parent is not None:
        node = node.parent
    return node is dom


def as_body(app: Any, html: str) -> str:
    """``html`` (an app's rendering) as a ``<body>``: an app that is not one is put in one."""
    return html if app.tag_name == "body" else f"<body>{html}</body>"


def fragment(html: str) -> list[Any]:
    holder = BeautifulSoup(f"<lt-fragment>{html}</lt-fragment>", "html.parser").find("lt-fragment")
    assert isinstance(holder, Node)
    return [node.extract() for node in list(holder.contents)]


def handler_flags(node: Node, name: str) -> list[str] | None:
    spec = node.get("data-lt") if hasattr(node, "get") else None
    if not spec:
        return None
    for entry in str(spec).split():
        event, *flags = entry.split(".")
        if event == name:
            return flags
    return None


def has_handler(node: Node, name: str) -> bool:
    return handler_flags(node, name) is not None


def control_value(node: Node) -> Any:
    if node.name == "input" and node.get("type") in ("checkbox", "radio"):
        return node.has_attr("checked")
    if node.name == "textarea":
        return node.get_text()
    if node.name == "select":
        if node.has_attr("multiple"):
            return [o.get("value", o.get_text()) for o in node.select("option[selected]")]
        if node.has_attr("value"):
            return node["value"]
        chosen = node.select_one("option[selected]") or node.select_one("option")
        return chosen.get("value", chosen.get_text()) if chosen is not None else ""
    return node.get("value", "")


def event_data(node: Node) -> dict[str, Any]:
    if node.name in (*CONTROLS, "button"):
        data: dict[str, Any] = {"value": control_value(node) if node.name != "button" else node.get("value", "")}
        if node.get("type") in ("checkbox", "radio"):
            data["checked"] = node.has_attr("checked")
        return data
    return {}


def form_value(form: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for el in form.select("input, textarea, select"):
        name = str(el.get("name") or "")
        if not name or el.has_attr("disabled") or el.get("type") in ("file", "submit", "button"):
            continue
        if el.get("type") == "checkbox":
            out[name] = el.has_attr("checked")
        elif el.get("type") == "radio":
            if el.has_attr("checked") or name not in out:
                out[name] = el.get("value", "on") if el.has_attr("checked") else None
        else:
            out[name] = control_value(el)
    return out


def normalise(node: Node) -> str:
    # Live values are the page's business; compare structure, text and other attributes.
    copy = BeautifulSoup(str(node), "html.parser")
    for el in copy.select("input, textarea"):
        el.attrs.pop("value", None)
        el.attrs.pop("checked", None)
        if el.name == "textarea":
            el.clear()
    return str(copy)
