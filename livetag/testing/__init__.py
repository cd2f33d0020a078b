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

Sessions that publish and subscribe (``Tag.publish``) talk through the client's
``broker``; ``client.new_session()`` opens another client on the same broker, so a test
can hold a conversation between two sessions (a client handles what the other published
at its next action or ``advance``).

Selectors are CSS (soupsieve). Handlers run for real: synchronous ones in a worker
thread, ``async`` ones and background tasks on the client's own event loop, which runs
only inside client calls; ``advance(seconds)`` lets background work progress.
Requires ``beautifulsoup4`` (``pip install livetag[testing]``).
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import Callable
from typing import Any

import orjson
from bs4 import BeautifulSoup
from bs4 import Tag as Node

from ..clients import Client
from ..dom.files import Download, UploadedFile, attach, safe_filename
from ..dom.render import render_html
from ..dom.tag import Tag
from ..execution import init_runs_on_loop
from ..protocol import PROTOCOL_VERSION, EventMessage, Join
from ..pubsub import Broker, LocalBroker
from ..session import AppSource, Session
from .page import (
    CONTROLS,
    Element,
    Page,
    as_body,
    control_value,
    event_data,
    form_value,
    handler_flags,
    has_handler,
    normalise,
)

__all__ = ["Element", "Page", "TestClient"]


class Files:
    """What a ``TestClient`` session has in place of a server's uploads and downloads:
    uploads waiting for their event, and every download offered (``downloads``, oldest
    first: ``Download`` objects with ``source``, ``filename``, ``media_type``)."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[str, list[UploadedFile]]] = {}
        self.downloads: list[Download] = []
        self._ids = itertools.count(1)

    def add(self, target_id: str, files: list[UploadedFile]) -> str:
        upload_id = f"test-upload-{next(self._ids)}"
        self.pending[upload_id] = (target_id, files)
        return upload_id

    def claim(self, upload_id: str, target_id: str) -> list[UploadedFile]:
        found = self.pending.get(upload_id)
        return list(found[1]) if found is not None and found[0] == target_id else []

    def release(self, upload_id: str) -> None:
        _, files = self.pending.pop(upload_id, ("", []))
        for file in files:
            file.close()

    def offer(self, download: Download) -> str:
        self.downloads.append(download)
        return f"/_lt/download/test-{len(self.downloads)}"


class TestClient:
    """One browser tab on a fresh session of ``app`` (a ``Tag`` class, factory or instance).

    Every method that acts (``click``, ``fill``, ``submit``, ``event``, ``advance``)
    returns once the session has applied the event and the resulting update is in the
    page. ``errors`` collects ``err`` messages; ``scripts`` the ``call_js`` code received;
    ``downloads`` what ``Tag.download`` offered (``Download`` objects).
    """

    __test__ = False  # not a pytest test class

    def __init__(self, app: AppSource, *, debug: bool = True, broker: Broker | None = None) -> None:
        self._runner = asyncio.Runner()
        self.app = app
        self.debug = debug
        #: Where this client's session publishes and subscribes (``Tag.publish``): shared
        #: with the clients opened by ``new_session``.
        self.broker: Broker = broker if broker is not None else LocalBroker()
        #: The page's URL (what ``navigate`` changes the hash of).
        self.url = "http://testserver/"
        self.errors: list[dict[str, Any]] = []
        self.scripts: list[str] = []
        self.statics: list[str] = []
        self._inbox: list[dict[str, Any]] = []
        self._seq = 0
        self._dirty: set[str] = set()
        self.session: Session = self._runner.run(self._open(app, debug))
        self.files = Files()
        attach(self.session.tree, self.files)
        self.client: Client = self._runner.run(self._join())

    async def _open(self, app: AppSource, debug: bool) -> Session:
        if not isinstance(app, Tag) and init_runs_on_loop(app):  # as WebApp does
            session = Session(app, debug=debug, broker=self.broker)
        else:
            session = await asyncio.to_thread(Session, app, debug=debug, broker=self.broker)
        body, statics = session.render_document()
        self.statics = list(statics)
        self.revision = session.revision
        self.page = Page(as_body(session.app, body))
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
    def dom(self) -> BeautifulSoup:
        """The page's document (BeautifulSoup), as the patches left it."""
        return self.page.dom

    @property
    def html(self) -> str:
        """The current ``<body>`` as the page shows it."""
        return str(self.page.body)

    def find(self, selector: str) -> Element:
        """The first element matching ``selector``; raises ``LookupError`` if none."""
        node = self.page.body.select_one(selector)
        if node is None:
            raise LookupError(f"expected an element matching {selector!r}, found none in:\n{self.html[:2000]}")
        return Element(node)

    def find_all(self, selector: str) -> list[Element]:
        return [Element(n) for n in self.page.body.select(selector)]

    def find_text(self, text: str, selector: str = "*") -> Element:
        """The innermost element matching ``selector`` whose text contains ``text``."""
        matches = [n for n in self.page.body.select(selector) if text in n.get_text()]
        inner = [n for n in matches if not any(text in c.get_text() for c in n.find_all(True))]
        if not inner:
            raise LookupError(f"expected an element containing {text!r}, found none")
        return Element(inner[0])

    def text(self, selector: str = "body") -> str:
        if selector == "body":
            return self.page.body.get_text()
        return self.find(selector).text

    def exists(self, selector: str) -> bool:
        return self.page.body.select_one(selector) is not None

    def assert_synced(self) -> None:
        """Raise ``AssertionError`` unless the page equals a fresh render of the server's
        tree (ignoring live input values that only the page knows). Changes not sent yet
        (a throttled background update) are sent first."""
        # The loop is idle between client calls, so no task changes the tree meanwhile;
        # the lock keeps threads out between this flush and the render.
        with self.session.tree.lock:
            self.session.flush()
            server = Page(as_body(self.session.app, render_html(self.session.app))).body
        self._apply_inbox()
        if normalise(server) != normalise(self.page.body):
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
        if node.name not in CONTROLS:
            raise ValueError(f"expected an input, textarea or select for {selector!r}, got <{node.name}>")
        if isinstance(value, bool):
            if value:
                if node.get("type") == "radio" and node.get("name"):
                    # Checking a radio unchecks the rest of its group, without events.
                    scope = node.find_parent("form") or self.page.body
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
            if has_handler(node, name):
                self._send(node, name, event_data(node))
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

    def upload(self, selector: str, files: dict[str, bytes] | list[tuple[str, bytes, str]]) -> TestClient:
        """Choose ``files`` (``{name: content}``, or ``(name, content, content type)``
        tuples) in the ``<input type="file">`` at ``selector`` (or the one inside a
        ``FileDrop`` there): its ``change`` handler runs with them in ``event.files``,
        as after a browser's upload. Raises ``AssertionError`` when there is no file input."""
        node = self._node(selector)
        if not (node.name == "input" and node.get("type") == "file"):
            node = node.find("input", attrs={"type": "file"})  # type: ignore[assignment]
        if node is None:
            raise AssertionError(f"expected an <input type=file> at or inside {selector!r}, found none")
        items = [(n, d, "application/octet-stream") for n, d in files.items()] if isinstance(files, dict) else files
        uploaded = [UploadedFile(safe_filename(name), len(data), kind, io.BytesIO(data)) for name, data, kind in items]
        self._send(node, "change", {"files": self.files.add(str(node.get("id")), uploaded)})
        return self

    @property
    def downloads(self) -> list[Download]:
        return self.files.downloads

    def navigate(self, path: str) -> TestClient:
        """Go to ``path`` as the browser would: for a page with a ``PathRouter``
        (``[data-lt-router]``), a link click's ``navigate`` event with ``path`` (a URL path
        with an optional ``?query``, under the app's mount); for hash routers, the URL's hash
        becomes ``#path`` and they get a ``hashchange`` (with ``newURL`` and ``oldURL``, as
        the browser's ``HashChangeEvent``)."""
        path_routers = self.page.body.select("[data-lt-router]")
        for node in path_routers:
            self._send(node, "navigate", {"value": path})
        if path_routers:
            return self
        old_url, self.url = self.url, self.url.split("#", 1)[0] + "#" + path
        body = self.page.body
        for node in [body, *body.select("[data-lt]")]:  # the app may be the <body> itself
            if has_handler(node, "hashchange"):
                self._send(node, "hashchange", {"value": "#" + path, "hash": "#" + path,
                                                "newURL": self.url, "oldURL": old_url})
        return self

    def advance(self, seconds: float = 0.1) -> TestClient:
        """Let background tasks, threads and throttled updates run for ``seconds``; then
        handle the messages published to this session meanwhile (by other clients)."""
        self._runner.run(self._advance(seconds))
        self._apply_inbox()
        return self

    async def _advance(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.session.settle()

    def new_session(self, app: AppSource | None = None) -> TestClient:
        """Another client, on a new session of the same app (or ``app``), sharing this
        client's broker: what one publishes, the other's subscribers get (at its next
        action or ``advance``). Close it too (``with``)."""
        return TestClient(self.app if app is None else app, debug=self.debug, broker=self.broker)

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
            flags = handler_flags(current, name)
            if flags is not None:
                prevented = prevented or "prevent" in flags
                self._send(current, name, {**event_data(current), **data})
                if "stop" in flags:
                    break
            current = current.parent
        return prevented

    def _fire_submit(self, form: Node) -> None:
        if has_handler(form, "submit"):
            self._send(form, "submit", {"value": form_value(form)})

    def _send(self, node: Node, name: str, data: dict[str, Any]) -> None:
        self._seq += 1
        sync = {}
        for tag_id in self._dirty:
            control = self.page.body.find(id=tag_id)
            if control is not None:
                sync[tag_id] = control_value(control)
        self._dirty.clear()
        message = EventMessage(self._seq, str(node.get("id")), name, data, sync)
        self._runner.run(self._dispatch(message))
        self._apply_inbox()

    async def _dispatch(self, message: EventMessage) -> None:
        await self.session.dispatch(self.client, message)
        await self.session.settle()  # what the handler published to this very session

    def _apply_inbox(self) -> None:
        inbox, self._inbox = self._inbox, []
        for message in inbox:
            kind = message["t"]
            if kind in ("up", "joined"):
                self.statics.extend(s for s in message.get("st", ()) if s not in self.statics)
                for op in message["p"]:
                    self.page.apply(op)
                self.revision = message["rev"]
                self.scripts.extend(message.get("js", ()))
            elif kind == "err":
                self.errors.append(message)
            elif kind not in ("ack", "cookie"):
                raise AssertionError(f"unexpected message {message!r}")

