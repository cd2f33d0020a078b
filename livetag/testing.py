"""A browserless test client for livetag apps, in the spirit of Phoenix's LiveViewTest.

``TestClient(App)`` opens a session of ``App`` exactly as a browser tab would (the page
render, a ``join``, events with sequence numbers) and keeps its own copy of the page,
updated only by the patches the session sends. What a test reads is therefore what a
browser would show, and ``assert_synced()`` checks that patches and server agree::

    from livetag.testing import TestClient

    def test_counter():
        with TestClient(Counter) as client:
            client.click("button.inc")
            assert client.text(".value") == "1"

Selectors are CSS (soupsieve). Handlers run for real: synchronous ones in a worker
thread, ``async`` ones and background tasks on the client's own event loop, which runs
only inside client calls; ``advance(seconds)`` lets background work progress.
Requires ``beautifulsoup4`` (``pip install livetag[testing]``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from bs4 import BeautifulSoup, NavigableString, Tag as Node

from .dom.render import render_html
from .dom.tag import Tag
from .execution import init_runs_on_loop
from .protocol import PROTOCOL_VERSION, EventMessage, Join
from .session import AppSource, Client, Session

__all__ = ["Element", "TestClient"]

_CONTROLS = ("input", "textarea", "select")


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
        return _control_value(self._node)

    def __getitem__(self, name: str) -> Any:
        return self._node.get(name)

    def has_class(self, name: str) -> bool:
        return name in (self._node.get("class") or [])

    def __repr__(self) -> str:
        return f"<Element {self.html[:80]}>"


class TestClient:
    """One browser tab on a fresh session of ``app`` (a ``Tag`` class, factory or instance).

    Every method that acts (``click``, ``fill``, ``submit``, ``event``, ``advance``)
    returns once the session has applied the event and the resulting update is in the
    page. ``errors`` collects ``err`` messages; ``scripts`` the ``call_js`` code received.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, app: AppSource, *, debug: bool = True) -> None:
        self._runner = asyncio.Runner()
        #: The page's URL (what ``navigate`` changes the hash of).
        self.url = "http://testserver/"
        self.errors: list[dict[str, Any]] = []
        self.scripts: list[str] = []
        self.statics: list[str] = []
        self._inbox: list[dict[str, Any]] = []
        self._seq = 0
        self._dirty: set[str] = set()
        self._ids: dict[str, Node] = {}
        self.session: Session = self._runner.run(self._open(app, debug))
        self.client: Client = self._runner.run(self._join())

    async def _open(self, app: AppSource, debug: bool) -> Session:
        if not isinstance(app, Tag) and init_runs_on_loop(app):  # as WebApp does
            session = Session(app, debug=debug)
        else:
            session = await asyncio.to_thread(Session, app, debug=debug)
        body, statics = session.render_document()
        self.statics = list(statics)
        self.revision = session.revision
        self.dom = BeautifulSoup(f"<html><head></head>{_as_body(session.app, body)}</html>", "html.parser")
        return session

    async def _join(self) -> Client:
        join = Join(PROTOCOL_VERSION, self.session.csrf_token, None, self.revision)
        client = self.session.join(join, self._sink)
        self._apply_inbox()
        return client

    def _sink(self, message: bytes) -> None:
        self._inbox.append(orjson.loads(message))

    # -- reading ------------------------------------------------------------------------

    @property
    def html(self) -> str:
        """The current ``<body>`` as the page shows it."""
        return str(self.dom.body)

    def find(self, selector: str) -> Element:
        """The first element matching ``selector``; raises ``LookupError`` if none."""
        node = self.dom.body.select_one(selector)
        if node is None:
            raise LookupError(f"expected an element matching {selector!r}, found none in:\n{self.html[:2000]}")
        return Element(node)

    def find_all(self, selector: str) -> list[Element]:
        return [Element(n) for n in self.dom.body.select(selector)]

    def find_text(self, text: str, selector: str = "*") -> Element:
        """The innermost element matching ``selector`` whose text contains ``text``."""
        matches = [n for n in self.dom.body.select(selector) if text in n.get_text()]
        inner = [n for n in matches if not any(text in c.get_text() for c in n.find_all(True))]
        if not inner:
            raise LookupError(f"expected an element containing {text!r}, found none")
        return Element(inner[0])

    def text(self, selector: str = "body") -> str:
        if selector == "body":
            return self.dom.body.get_text()
        return self.find(selector).text

    def exists(self, selector: str) -> bool:
        return self.dom.body.select_one(selector) is not None

    def assert_synced(self) -> None:
        """Raise ``AssertionError`` unless the page equals a fresh render of the server's
        tree (ignoring live input values that only the page knows). Changes not sent yet
        (a throttled background update) are sent first."""
        # The loop is idle between client calls, so no task changes the tree meanwhile;
        # the lock keeps threads out between this flush and the render.
        with self.session.tree.lock:
            self.session.flush()
            server = BeautifulSoup(_as_body(self.session.app, render_html(self.session.app)), "html.parser").body
        self._apply_inbox()
        if _normalise(server) != _normalise(self.dom.body):
            raise AssertionError(f"page and server diverged:\npage:   {self.html}\nserver: {server}")

    # -- acting -------------------------------------------------------------------------

    def click(self, selector: str) -> TestClient:
        """Click the element: ``click`` handlers on it and its ancestors run, innermost
        first (unless one is marked ``stop``); a submit button submits its form, unless a
        ``prevent`` click handler cancelled that default action."""
        node = self._node(selector)
        prevented = self._bubble(node, "click", {})
        if not prevented and node.name == "button" and node.get("type", "submit") == "submit":
            form = node.find_parent("form")
            if form is not None:
                self._fire_submit(form)
        return self

    def fill(self, selector: str, value: str | bool | list[str]) -> TestClient:
        """Type ``value`` into a control (a bool checks a checkbox/radio), then fire its
        ``input`` and ``change`` handlers, as a browser would."""
        node = self._node(selector)
        if node.name not in _CONTROLS:
            raise ValueError(f"expected an input, textarea or select for {selector!r}, got <{node.name}>")
        if isinstance(value, bool):
            if value:
                if node.get("type") == "radio" and node.get("name"):
                    # Checking a radio unchecks the rest of its group, without events.
                    scope = node.find_parent("form") or self.dom.body
                    for other in scope.select(f'input[type=radio][name="{node["name"]}"]'):
                        if other is not node and other.has_attr("checked"):
                            other.attrs.pop("checked", None)
                            self._dirty.add(str(other.get("id")))
                node["checked"] = ""
            else:
                node.attrs.pop("checked", None)
        elif node.name == "textarea":
            node.string = value  # type: ignore[assignment]
        else:
            node["value"] = value  # type: ignore[assignment]
        self._dirty.add(str(node.get("id")))
        for name in ("input", "change"):
            if _has_handler(node, name):
                self._send(node, name, _event_data(node))
        return self

    def submit(self, selector: str = "form") -> TestClient:
        """Submit a form: its ``submit`` handler gets the dict of named fields."""
        node = self._node(selector)
        form = node if node.name == "form" else node.find_parent("form")
        if form is None:
            raise LookupError(f"expected a form at or around {selector!r}")
        self._fire_submit(form)
        return self

    def event(self, selector: str, name: str, value: Any = None, **data: Any) -> TestClient:
        """Fire event ``name`` on one element (like ``livetag.event`` in the browser)."""
        node = self._node(selector)
        payload = dict(data)
        if value is not None:
            payload["value"] = value
        self._send(node, name, payload)
        return self

    def navigate(self, path: str) -> TestClient:
        """Change the URL's hash to ``#path``: a ``hashchange`` (with ``newURL`` and
        ``oldURL``, as the browser's ``HashChangeEvent``) for the page's routers."""
        old_url, self.url = self.url, self.url.split("#", 1)[0] + "#" + path
        body = self.dom.body
        for node in [body, *body.select("[data-lt]")]:  # the app may be the <body> itself
            if _has_handler(node, "hashchange"):
                self._send(node, "hashchange", {"value": "#" + path, "hash": "#" + path,
                                                "newURL": self.url, "oldURL": old_url})
        return self

    def advance(self, seconds: float = 0.1) -> TestClient:
        """Let background tasks, threads and throttled updates run for ``seconds``."""
        self._runner.run(asyncio.sleep(seconds))
        self._apply_inbox()
        return self

    def wait_for(self, predicate: Callable[[TestClient], bool], timeout: float = 5.0) -> TestClient:
        """Advance in small steps until ``predicate(self)`` is true; ``TimeoutError`` after
        ``timeout`` seconds."""
        waited = 0.0
        while not predicate(self):
            if waited >= timeout:
                raise TimeoutError(f"condition still false after {timeout} s; page: {self.html[:2000]}")
            self.advance(0.02)
            waited += 0.02
        return self

    def close(self) -> None:
        """Discard the session (``on_destroy`` runs) and stop the client's loop."""
        if self._runner is None:
            return
        self._runner.run(self._close())
        self._runner.close()
        self._runner = None  # type: ignore[assignment]

    async def _close(self) -> None:
        self.session.close()
        await asyncio.sleep(0)

    def __enter__(self) -> TestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------

    def _node(self, selector: str) -> Node:
        return self.find(selector)._node

    def _bubble(self, node: Node, name: str, data: dict[str, Any]) -> bool:
        """Fire ``name`` from ``node`` up; True when a handler prevented the default."""
        prevented = False
        current: Node | None = node
        while current is not None and current.name not in (None, "[document]", "html"):
            flags = _handler_flags(current, name)
            if flags is not None:
                prevented = prevented or "prevent" in flags
                self._send(current, name, {**_event_data(current), **data})
                if "stop" in flags:
                    break
            current = current.parent
        return prevented

    def _fire_submit(self, form: Node) -> None:
        if _has_handler(form, "submit"):
            self._send(form, "submit", {"value": _form_value(form)})

    def _send(self, node: Node, name: str, data: dict[str, Any]) -> None:
        self._seq += 1
        sync = {}
        for tag_id in self._dirty:
            control = self.dom.body.find(id=tag_id)
            if control is not None:
                sync[tag_id] = _control_value(control)
        self._dirty.clear()
        message = EventMessage(self._seq, str(node.get("id")), name, data, sync)
        self._runner.run(self.session.dispatch(self.client, message))
        self._apply_inbox()

    def _apply_inbox(self) -> None:
        inbox, self._inbox = self._inbox, []
        for message in inbox:
            kind = message["t"]
            if kind in ("up", "joined"):
                self.statics.extend(s for s in message.get("st", ()) if s not in self.statics)
                for op in message["p"]:
                    self._apply(op)
                self.revision = message["rev"]
                self.scripts.extend(message.get("js", ()))
            elif kind == "err":
                self.errors.append(message)
            elif kind not in ("ack", "cookie"):
                raise AssertionError(f"unexpected message {message!r}")

    def _find_id(self, element_id: str) -> Node | None:
        """``document.getElementById``: through an index of the page's ids, rebuilt when it
        misses or is stale (a patch of a long list would otherwise scan the page per op)."""
        node = self._ids.get(element_id)
        # A decomposed node has attrs None (its `.decomposed` would search the whole page).
        if node is not None and node.attrs is not None and node.get("id") == element_id and _attached(node, self.dom):
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

    def _apply(self, op: list[Any]) -> None:
        kind, target_id = op[0], op[1]
        el = self._find_id(target_id)
        if el is None:
            if kind == "-":
                return
            raise AssertionError(f"patch {op!r} names an element the page does not have")
        if kind == "-":
            el.decompose()
        elif kind == "a":
            for name, value in op[2].items():
                if value is None:
                    el.attrs.pop(name, None)
                else:  # a class as the parser gives it (a list), so reads do not depend on the source
                    el[name] = value.split() if name == "class" else value
        elif kind == "t":
            el.clear()
            el.append(NavigableString(op[2]))
        elif kind in ("h", "+"):
            if kind == "h":
                el.clear()
            for node in self._index(_fragment(op[2])):
                el.append(node)
        elif kind == "o":
            new = self._index(_fragment(op[2]))[0]
            if el.name == "body" or el is self.dom.body:
                el.attrs = dict(new.attrs)
                el.clear()
                for node in list(new.contents):
                    el.append(node.extract())
            else:
                el.replace_with(new)
        elif kind == "i":
            self._insert(el, self._index(_fragment(op[3])), op[2])
        elif kind == "m":
            parent = self._find_id(op[2])
            if parent is None:
                raise AssertionError(f"patch {op!r} names a parent the page does not have")
            self._insert(parent, [el.extract()], op[3])
        else:
            raise AssertionError(f"unknown patch operation {op!r}")

    def _insert(self, parent: Node, nodes: list[Any], before_id: str | None) -> None:
        before = self._find_id(before_id) if before_id is not None else None
        if before_id is not None and before is None:
            raise AssertionError(f"patch inserts before #{before_id}, which the page does not have")
        for node in nodes:
            if before is None:
                parent.append(node)
            else:
                before.insert_before(node)


def _attached(node: Node, dom: BeautifulSoup) -> bool:
    while node.parent is not None:
        node = node.parent
    return node is dom


def _as_body(app: Tag, html: str) -> str:
    return html if app.tag_name == "body" else f"<body>{html}</body>"


def _fragment(html: str) -> list[Any]:
    holder = BeautifulSoup(f"<lt-fragment>{html}</lt-fragment>", "html.parser").find("lt-fragment")
    return [node.extract() for node in list(holder.contents)]


def _handler_flags(node: Node, name: str) -> list[str] | None:
    spec = node.get("data-lt") if hasattr(node, "get") else None
    if not spec:
        return None
    for entry in str(spec).split():
        event, *flags = entry.split(".")
        if event == name:
            return flags
    return None


def _has_handler(node: Node, name: str) -> bool:
    return _handler_flags(node, name) is not None


def _control_value(node: Node) -> Any:
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


def _event_data(node: Node) -> dict[str, Any]:
    if node.name in (*_CONTROLS, "button"):
        data: dict[str, Any] = {"value": _control_value(node) if node.name != "button" else node.get("value", "")}
        if node.get("type") in ("checkbox", "radio"):
            data["checked"] = node.has_attr("checked")
        return data
    return {}


def _form_value(form: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for el in form.select("input, textarea, select"):
        name = el.get("name")
        if not name or el.has_attr("disabled") or el.get("type") in ("file", "submit", "button"):
            continue
        if el.get("type") == "checkbox":
            out[name] = el.has_attr("checked")
        elif el.get("type") == "radio":
            if el.has_attr("checked") or name not in out:
                out[name] = el.get("value", "on") if el.has_attr("checked") else None
        else:
            out[name] = _control_value(el)
    return out


def _normalise(node: Node) -> str:
    # Live values are the page's business; compare structure, text and other attributes.
    copy = BeautifulSoup(str(node), "html.parser")
    for el in copy.select("input, textarea"):
        el.attrs.pop("value", None)
        el.attrs.pop("checked", None)
        if el.name == "textarea":
            el.clear()
    return str(copy)
