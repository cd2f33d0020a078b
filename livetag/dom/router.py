"""Single-page routers: ``Router``, hash-based (``/#/users/7``, htag's), and
``PathRouter``, on real URLs (``/users/7``) and the History API.

``Router``: the browser keeps the path in ``location.hash``, so Back/Forward, bookmarks
and deep links work without any server route; the router listens to ``hashchange`` and
shows the page whose pattern matches, unmounting the previous one.

``PathRouter``: the server serves the app's page for every path under its mount and
renders the matching page in the initial HTML (``open``, called by the server on a page
load; 404 when nothing matches). In the page, ``client/src/router.js`` turns clicks on
links under the mount and Back/Forward into a ``navigate`` event to the router (the
whole URL path, mount prefix included); the router checks it, shows the page and makes
every page of the session show that URL (``history.pushState`` when it differs).
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

import orjson

from .events import Event
from .state import State
from .tag import Tag, current_request

PageFactory = Callable[..., Tag]
_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


def compile_route(pattern: str) -> re.Pattern[str]:
    """``"/users/:id"`` -> a regex matching ``/users/7`` with group ``id`` = ``"7"``.

    Raises ``ValueError`` when ``pattern`` does not start with ``/``."""
    if not pattern.startswith("/"):
        raise ValueError(f"expected a route pattern starting with '/', got {pattern!r}")
    parts = _PARAM.split(pattern)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(f"^{regex}/?$")


class NotFound(Tag.div):
    """The page a router shows when no route matches (``set_not_found`` replaces it)."""

    def init(self, path: str | None = None) -> None:
        self["class"] = "lt-not-found"
        self <= Tag.h1("404 Not Found")
        self <= Tag.p(f"No page at {path}" if path else "No page here")


def _path_keyword(factory: PageFactory | None, path: str) -> dict[str, str]:
    """``{"path": path}`` when ``factory`` accepts a ``path`` keyword (htag passes it)."""
    if factory is None:
        return {"path": path}
    target = factory.init if isinstance(factory, type) and issubclass(factory, Tag) else factory
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return {}
    if "path" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return {"path": path}
    return {}


class Router(Tag.div):
    """Shows one page at a time, chosen by the URL's hash.

    ``add_route("/users/:id", Page)`` (parameters are passed to the page as keyword
    arguments, as strings), ``set_not_found(Component)`` (it gets ``path=`` when it takes
    it; the default is ``NotFound``, a "404 Not Found" page), ``navigate("/users/7")``.
    ``path`` is a ``State`` holding the current path (``"/"`` when the hash is empty).
    """

    def init(self, *children: Any) -> None:
        self.routes: list[tuple[re.Pattern[str], PageFactory]] = []
        self.not_found: PageFactory | None = None
        self.path = State("/")
        self.page: Tag | None = None
        self.matched = False  # the page shown is a route's, not the not-found page
        self["onhashchange"] = self._hash_changed
        self.add(*children)

    def add_route(self, pattern: str, page: PageFactory) -> Router:
        self.routes.append((compile_route(pattern), page))
        if not self.matched:
            self._show(self.path.get(), force=True)
        return self

    def set_not_found(self, page: PageFactory) -> Router:
        self.not_found = page
        if not self.matched:
            self._show(self.path.get(), force=True)
        return self

    def navigate(self, path: str) -> None:
        """Show ``path`` and record it in the browser history."""
        if not path.startswith("/"):
            path = "/" + path
        self._show(path)
        target = orjson.dumps("#" + path).decode()
        self.call_js(f"if (location.hash !== {target}) location.hash = {target};")

    def _hash_changed(self, event: Event) -> None:
        value = event.value if isinstance(event.value, str) else ""
        # Browsers percent-encode the hash (a space is %20): route on the decoded path.
        path = unquote(value[1:] if value.startswith("#") else value)
        self._show(path or "/")

    def _show(self, path: str, force: bool = False) -> None:
        if not force and path == self.path.get() and self.page is not None:
            return
        self.matched = False
        for regex, factory in self.routes:
            match = regex.match(path)
            if match:
                page = factory(**match.groupdict())
                self.matched = True
                break
        else:
            page = (self.not_found or NotFound)(**_path_keyword(self.not_found, path))
        self.path.set(path)
        self.page = page
        self.clear(page)


# -- path routing (the History API) -------------------------------------------------------

#: Longest URL (path + query, characters) a path router accepts; a longer one is not found.
MAX_URL_CHARS = 4096
#: Most query parameters a path router parses from one URL (further ones are dropped).
MAX_QUERY_FIELDS = 100
#: The event the page sends to a path router: a link click or Back/Forward.
NAVIGATE_EVENT = "navigate"
#: The attribute that marks a path router in the page (``client/src/router.js`` looks for it).
ROUTER_ATTRIBUTE = "data-lt-router"

log = logging.getLogger("livetag.dom.router")


class Query(Mapping[str, str]):
    """The query parameters of a URL, read-only: ``query["page"]`` is the last value of
    ``page`` (as Starlette's ``QueryParams``), ``query.getlist("tag")`` all of them, in
    order. Parsed as ``application/x-www-form-urlencoded`` (WHATWG URL), blank values kept;
    at most ``MAX_QUERY_FIELDS`` fields."""

    def __init__(self, query: str | Iterable[tuple[str, str]] = "") -> None:
        if isinstance(query, str):
            query = parse_qsl(query, keep_blank_values=True)[:MAX_QUERY_FIELDS]
        self._items: tuple[tuple[str, str], ...] = tuple(query)
        self._last = dict(self._items)

    def __getitem__(self, key: str) -> str:
        return self._last[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._last)

    def __len__(self) -> int:
        return len(self._last)

    def getlist(self, key: str) -> list[str]:
        """Every value of ``key``, in URL order (``[]`` when absent)."""
        return [v for k, v in self._items if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(key, value)`` pair, in URL order."""
        return list(self._items)

    def __str__(self) -> str:
        return urlencode(self._items)

    def __repr__(self) -> str:
        return f"Query({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Query):
            return self._items == other._items
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]


def mount_base(request: Any = None) -> str:
    """The path where the app is mounted (``""`` at the root, else ``"/sub"``), read
    from ``request`` (default: the request of the code being run, ``Tag.request``):
    its ASGI ``root_path``."""
    if request is None:
        request = current_request.get()
    scope = getattr(request, "scope", None)
    root = scope.get("root_path", "") if isinstance(scope, dict) else ""
    return root.rstrip("/") if isinstance(root, str) else ""


def request_location(request: Any = None) -> tuple[str, str] | None:
    """``(path, query)`` of ``request`` (default: ``Tag.request``) relative to its mount:
    ``("/users/7", "tab=posts")``; ``None`` without an HTTP request (a test client, a
    WebSocket, an event POST)."""
    if request is None:
        request = current_request.get()
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict) or scope.get("type") != "http" or scope.get("method") not in ("GET", "HEAD"):
        return None
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else quote(str(scope.get("path", "/")), safe="/%")
    base = mount_base(request)
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base):]
    query = scope.get("query_string", b"")
    return path or "/", query.decode("latin-1") if isinstance(query, bytes) else ""


def normalise_path(path: str) -> str:
    """``path`` with its dot segments removed (RFC 3986 section 5.2.4, as a browser
    resolves ``/a/../b``), never above ``/``; empty segments are kept."""
    out: list[str] = []
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment in (".", "%2e", "%2E"):
            if last:
                out.append("")
        elif segment.lower() in ("..", ".%2e", "%2e.", "%2e%2e"):
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _factory_keywords(factory: PageFactory | None, path: str, query: Query) -> dict[str, Any]:
    """``path=`` and ``query=`` for a page factory that accepts them."""
    target: Any = NotFound if factory is None else factory
    if isinstance(target, type) and issubclass(target, Tag):
        target = target.init
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return {}
    every = any(p.kind is p.VAR_KEYWORD for p in params.values())
    out: dict[str, Any] = {}
    if every or "path" in params:
        out["path"] = path
    if every or "query" in params:
        out["query"] = query
    return out


class PathRouter(Tag.div):
    """Shows one page at a time, chosen by the URL's path: real URLs (``/users/7``) on
    the History API, served by the server on a page load.

    ``add_route("/users/:id", Page)``: ``Page(id="7")`` for ``/users/7`` (parameters are
    percent-decoded strings; patterns match the path as the URL spells it, relative to
    where the app is mounted). A page whose ``init`` takes ``query`` (or ``path``) gets
    it. ``set_not_found(Component)`` replaces ``NotFound``; a page load of a path no
    route matches answers HTTP 404 with that page. ``navigate("/users/7?tab=posts")``
    shows a page and pushes its URL. ``path`` is a ``State`` of the current path;
    ``query`` the current ``Query`` (reading it in a render registers a dependency);
    ``href("/users/7")`` the URL of a path, with the mount prefix.

    In the page, a click on a link to a path under the app's mount (same origin, no
    ``target``, no ``download``, no modifier key, no ``data-lt-reload``) does not reload:
    the URL is pushed and this router shows the page; Back/Forward do the same.
    """

    def init(self, *children: Any) -> None:
        self.routes: list[tuple[re.Pattern[str], PageFactory]] = []
        self.not_found: PageFactory | None = None
        self.path = State("/")
        self._query: State = State(Query())
        self.page: Tag | None = None
        self.matched = False
        self.mount_path = mount_base()
        location = request_location()
        self._location = location if location is not None else ("/", "")
        self[ROUTER_ATTRIBUTE] = "path"
        self["on" + NAVIGATE_EVENT] = self._navigated
        self.add(*children)

    @property
    def query(self) -> Query:
        """The current URL's query parameters."""
        value: Query = self._query.get()
        return value

    def href(self, path: str) -> str:
        """The URL of ``path`` (relative to the mount): ``"/sub/users/7"`` when mounted
        at ``/sub``."""
        return self.mount_path + (path if path.startswith("/") else "/" + path)

    def add_route(self, pattern: str, page: PageFactory) -> PathRouter:
        self.routes.append((compile_route(pattern), page))
        if not self.matched:
            self._show(*self._location, force=True)
        return self

    def set_not_found(self, page: PageFactory) -> PathRouter:
        self.not_found = page
        if not self.matched:
            self._show(*self._location, force=True)
        return self

    def navigate(self, url: str) -> None:
        """Show the page of ``url`` (a path relative to the mount, with an optional
        query: ``"/users/7?tab=posts"``) and push it on the browser's history."""
        path, _, query = url.partition("?")
        self._show(normalise_path(path if path.startswith("/") else "/" + path), query)
        self._push()

    def open(self, path: str, query: str = "", base: str | None = None) -> bool:
        """Show the page of ``path`` (relative to the mount) for a page load; ``True``
        when a route matched (``False``: the not-found page, HTTP 404)."""
        if base is not None:
            self.mount_path = base
        if len(path) + len(query) > MAX_URL_CHARS:
            self._show("/", "", force=True, too_long=True)
        elif self._show(normalise_path(path), query):
            self._push()  # other pages of this session follow (this one's URL is right)
        return self.matched

    def _navigated(self, event: Event) -> None:
        value = event.value
        if not isinstance(value, str) or not value.startswith("/") or len(value) > MAX_URL_CHARS + len(self.mount_path):
            log.warning("navigate event refused: expected a URL path of at most %d characters", MAX_URL_CHARS)
            return
        path, _, query = value.partition("#")[0].partition("?")
        path = normalise_path(path)
        if self.mount_path:
            if path != self.mount_path and not path.startswith(self.mount_path + "/"):
                log.warning("navigate event refused: the path is outside this app's mount")
                return
            path = path[len(self.mount_path):] or "/"
        if self._show(path, query):
            self._push()

    def _push(self) -> None:
        url = self.href(self.path.get())
        query = str(self.query)
        target = orjson.dumps(url + ("?" + query if query else "")).decode()
        # Compared as the browser spells it: a pushed URL only when it differs. Resolved
        # against the origin, so that a path such as //host/x stays a path of this origin.
        self.call_js(f"{{const u=new URL(location.origin+{target});"
                     "if(u.pathname+u.search!==location.pathname+location.search)history.pushState(null,'',u.href);}")

    def _show(self, path: str, query: str, force: bool = False, too_long: bool = False) -> bool:
        """Show the page of ``path`` and ``query``; ``False`` when it was already shown."""
        parsed = Query(query)
        if not force and path == self.path.get() and parsed == self.query and self.page is not None:
            return False
        self._location = (path, query)
        self.matched = False
        page: Tag | None = None
        for regex, factory in [] if too_long else self.routes:
            match = regex.match(path)
            if match:
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                page = factory(**params, **_factory_keywords(factory, path, parsed))
                self.matched = True
                break
        if page is None:
            shown = path if len(path) <= 200 else path[:200] + "..."
            page = (self.not_found or NotFound)(**_factory_keywords(self.not_found, unquote(shown), parsed))
        self.path.set(path)
        self._query.set(parsed)
        self.page = page
        self.clear(page)
        return True


class Link(Tag.a):
    """A link to a page of the app's path router: ``Link("Alice", "/users/7")`` is
    ``<a href="/users/7">`` (with the mount prefix: ``/sub/users/7``); clicked, it
    navigates without reloading the page. The prefix comes from the request being
    served (``Tag.request``); code without one (a thread of its own) writes
    ``Tag.a(_href=router.href("/users/7"))``."""

    def init(self, content: Any, to: str) -> None:
        self["href"] = mount_base() + (to if to.startswith("/") else "/" + to)
        self.add(content)


def path_routers(tags: Iterable[Any]) -> list[PathRouter]:
    """The path routers among ``tags`` (a live tree's index values)."""
    return [t for t in tags if isinstance(t, PathRouter)]
