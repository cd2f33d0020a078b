"""A single-page app on real URLs: ``/``, ``/about``, ``/users/7``, ``/search?q=...``.

A page load of any of them is rendered by the server (404 for a path no route has);
links then navigate without reloading, and Back/Forward work.

Run: python examples/paths.py (127.0.0.1:8000), or livetag run examples/paths.py --port 0
"""

from __future__ import annotations

from urllib.parse import quote

from livetag import Link, PathRouter, Tag, WebApp
from livetag.dom.router import Query

USERS = {"1": "Ada Lovelace", "2": "Alan Turing", "7": "Grace Hopper"}


class Home(Tag.section):
    def init(self) -> None:
        self <= Tag.h2("Home")
        self <= Tag.p("Pick a user:")
        self <= Tag.ul(Tag.li(Link(name, f"/users/{uid}", _class="user-link")) for uid, name in USERS.items())


class About(Tag.section):
    def init(self) -> None:
        self <= Tag.h2("About")
        self <= Tag.p("Each page has its own URL: reload it, bookmark it, share it.")


class UserPage(Tag.section):
    """``/users/:id``: the router passes ``id`` (a string); ``query`` is the URL's."""

    def init(self, id: str, query: Query) -> None:
        name = USERS.get(id)
        self <= Tag.h2(name or f"No user {id}", _class="user-name")
        self <= Tag.p(f"user id: {id}", _class="user-id")
        tab = query.get("tab", "profile")
        self <= Tag.p(f"tab: {tab}", _class="tab")
        self <= Link("posts", f"/users/{quote(id, safe='')}?tab=posts", _class="posts")


class Search(Tag.section):
    def init(self, query: Query) -> None:
        self <= Tag.h2("Search")
        words = query.getlist("q")
        self <= Tag.p(f"searching for: {', '.join(words) or 'nothing'}", _class="searched")


class Missing(Tag.section):
    def init(self, path: str) -> None:
        self <= Tag.h2("Not found", _class="missing")
        self <= Tag.p(f"Nothing at {path}.")
        self <= Link("back home", "/")


class PathsApp(Tag.App):
    statics = [Tag.title("livetag paths")]
    # Scoped to the app (livetag.dom.css); system fonts, visible focus, WCAG AA contrast.
    styles = """
        & { max-width: 44rem; margin: 0 auto; padding: 2rem 1rem; background: #f3f4f6; color: #111827;
            font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif }
        h1 { margin: 0 0 1rem; color: #1e3a8a }
        button { font: inherit; padding: .4rem 1rem; border: 1px solid #1d4ed8; border-radius: 8px;
                 background: #1d4ed8; color: #fff; cursor: pointer }
        button:hover { background: #1e40af }
        button:disabled { border-color: #9ca3af; background: #9ca3af; color: #111827; cursor: default }
        input { font: inherit; padding: .4rem .7rem; border: 1px solid #6b7280; border-radius: 8px }
        a { color: #1d4ed8 }
        :focus-visible { outline: 3px solid #2563eb; outline-offset: 2px }
        nav { display: flex; align-items: center; gap: 1rem; padding-bottom: .75rem; border-bottom: 1px solid #d1d5db }
        a.active { font-weight: 700; color: #111827; text-decoration: none }
        .path { color: #4b5563; font-family: ui-monospace, monospace }
    """

    def init(self) -> None:
        self.router = PathRouter()
        self.router.add_route("/", Home)
        self.router.add_route("/about", About)
        self.router.add_route("/users/:id", UserPage)
        self.router.add_route("/search", Search)
        self.router.set_not_found(Missing)
        path = self.router.path  # a State: the lambdas below re-render when it changes
        self <= Tag.nav(
            Link("Home", "/", _class=lambda: "home active" if path == "/" else "home"),
            Link("About", "/about", _class=lambda: "about active" if path == "/about" else "about"),
            Link("Search", "/search?q=livetag", _class="search"),
            Tag.button("Grace", _class="grace", _type="button", _onclick=lambda: self.router.navigate("/users/7")),
        )
        self <= Tag.p(lambda: f"path: {path}", _class="path")
        self <= self.router


webapp = WebApp(PathsApp)
app = webapp.app

if __name__ == "__main__":  # or: livetag run examples/paths.py --port 0
    webapp.run()
