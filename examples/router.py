"""A single-page app with a hash router: three pages (one with a parameter), a
not-found page, links and buttons that navigate. Back/Forward and deep links such as
``/#/users/7`` work.

Run: python examples/router.py (127.0.0.1:8000), or livetag run examples/router.py --port 0
"""

from __future__ import annotations


from livetag import Router, Tag, WebApp

USERS = {"1": "Ada Lovelace", "2": "Alan Turing", "7": "Grace Hopper"}


class Home(Tag.section):
    def init(self) -> None:
        self <= Tag.h2("Home")
        self <= Tag.p("Pick a user:")
        self <= Tag.ul(Tag.li(Tag.a(name, _href=f"#/users/{uid}", _class="user-link")) for uid, name in USERS.items())


class About(Tag.section):
    def init(self) -> None:
        self <= Tag.h2("About")
        self <= Tag.p("Pages are chosen by the URL's hash, so the browser's history works.")


class UserPage(Tag.section):
    """``/users/:id``: the router passes ``id`` (a string) to ``init``."""

    def init(self, id: str) -> None:
        name = USERS.get(id)
        self <= Tag.h2(name or f"No user {id}")
        self <= Tag.p(f"user id: {id}", _class="user-id")


class NotFound(Tag.section):
    def init(self) -> None:
        self <= Tag.h2("Not found")
        self <= Tag.a("back home", _href="#/")


class RouterApp(Tag.App):
    statics = [Tag.title("livetag router")]
    styles = """
        nav a, nav button { margin-right: .5em }
        a.active { font-weight: bold }
    """

    def init(self) -> None:
        self.router = Router()
        self.router.add_route("/", Home)
        self.router.add_route("/about", About)
        self.router.add_route("/users/:id", UserPage)
        self.router.set_not_found(NotFound)
        path = self.router.path  # a State: the lambdas below re-render when it changes
        self <= Tag.nav(
            Tag.a("Home", _href="#/", _class=lambda: "home active" if path == "/" else "home"),
            Tag.a("About", _href="#/about", _class=lambda: "about active" if path == "/about" else "about"),
            Tag.button("Grace", _class="grace", _onclick=lambda: self.router.navigate("/users/7")),
            Tag.button("Broken link", _class="broken", _onclick=lambda: self.router.navigate("/nowhere")),
        )
        self <= Tag.p(lambda: f"path: {path}", _class="path")
        self <= self.router


webapp = WebApp(RouterApp)
app = webapp.app

if __name__ == "__main__":  # or: livetag run examples/router.py --port 0
    webapp.run()
