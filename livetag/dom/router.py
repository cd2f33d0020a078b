"""``Router``: a hash-based single-page router component (``/#/users/7``).

The browser keeps the path in ``location.hash``, so Back/Forward, bookmarks and deep
links work without any server route; the router listens to ``hashchange`` and shows the
page whose pattern matches, unmounting the previous one.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import orjson

from .events import Event
from .state import State
from .tag import Tag

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
