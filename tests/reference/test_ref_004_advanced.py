"""The code samples of ``reference/004`` ("Advanced Features"), imports changed to livetag
only (the statics sample has no import line; it gets ``from livetag import Tag``)."""

from __future__ import annotations

import re
from typing import Any

from samples import run_sample
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.websockets import WebSocket

from livetag import State, Tag, WebApp
from livetag.testing import TestClient
from livetag.testing.wire import SyncTab, element_id

MULTI_SESSION = '''
from livetag import WebApp, Tag
class MyMultiUserApp(Tag.App):
    def init(self) -> None:
        pass
if __name__ == "__main__":
    # Passing the CLASS enables session isolation
    WebApp(MyMultiUserApp).run()
'''

SESSION_AND_REQUEST = '''
from livetag import Tag
class MyMultiUserApp(Tag.App):
    def init(self) -> None:
        # Access the Starlette session directly!
        username = self.request.session.get("user", "Guest")
        self <= Tag.h2(f"Welcome, {username}!")
    def on_click(self, e):
        # Mutate the session
        self.request.session["last_active"] = "just now"
'''

GLOBAL_STATICS = '''
from livetag import Tag
class StyledComponent(Tag.div):
    statics = [
        Tag.style(" .my-btn { color: lime; } "),
        Tag.link(_rel="stylesheet", _href="https://cdn.example.com/styles.css"),
        Tag.script(_src="https://cdn.example.com/lib.js")
    ]
'''

STATICS_HTML = [
    '<style> .my-btn { color: lime; } </style>',
    '<link rel="stylesheet" href="https://cdn.example.com/styles.css">',
    '<script src="https://cdn.example.com/lib.js"></script>',
]


# -- multi-session ---------------------------------------------------------------------------------


def test_passing_the_class_gives_each_visitor_a_private_instance(live_server) -> None:
    sample = run_sample(MULTI_SESSION, "multi_session")
    webapp = WebApp(sample.MyMultiUserApp)  # what the sample's __main__ block runs
    with live_server(webapp.app) as server, SyncTab(server.url) as alice, SyncTab(server.url) as bob:
        alice.load()
        bob.load()
        alice.load()  # a reload keeps Alice's session
        assert len(webapp.registry) == 2
        apps = [s.app for s in webapp.registry._sessions.values()]
        assert all(isinstance(a, sample.MyMultiUserApp) for a in apps) and apps[0] is not apps[1]
        assert alice.join()["t"] == "joined" and bob.join()["t"] == "joined"


# -- session & request -----------------------------------------------------------------------------


def login(request: Request) -> PlainTextResponse:
    request.session["user"] = request.query_params["user"]
    return PlainTextResponse("ok")


def with_user_session_middleware(app: Any) -> Starlette:
    """The user's own Starlette app with ``SessionMiddleware``, the livetag app mounted at
    ``/app`` and a ``/login?user=...`` route that writes the session."""
    return Starlette(routes=[Route("/login", login), Mount("/app", app=WebApp(app).app)],
                     middleware=[Middleware(SessionMiddleware, secret_key="test-secret")])


def test_request_session_in_init_with_the_users_session_middleware(live_server) -> None:
    sample = run_sample(SESSION_AND_REQUEST, "session_and_request")
    with live_server(with_user_session_middleware(sample.MyMultiUserApp)) as server:
        with SyncTab(server.url + "/app") as guest:
            assert re.search(r">Welcome, Guest!</h2>", guest.load())
        with SyncTab(server.url + "/app") as ada:
            assert ada.http.get(server.url + "/login", params={"user": "Ada <3"}).text == "ok"
            assert re.search(r">Welcome, Ada &lt;3!</h2>", ada.load())


def bound(sample_app: type[Tag], seen: list[Any]) -> type[Tag]:
    """The sample's app with its ``on_click`` bound to a click on the page (the sample
    leaves that to the reader); ``seen`` records what the handler saw."""

    class App(sample_app):  # type: ignore[misc, valid-type]
        def init(self) -> None:
            super().init()
            self["onclick"] = self.clicked

        def clicked(self, e: Any) -> None:
            self.on_click(e)
            seen.append((type(self.request), dict(self.request.session)))

    return App


def click_the_page(page: SyncTab) -> dict[str, Any]:
    body = re.search(r'<body id="([^"]+)"', page.load()).group(1)
    page.join()
    page.send(page.ev(body, "click"))
    seq = page.seq
    # The acknowledgement of the click: an update, or a bare acknowledgement when nothing changed.
    return page.until(lambda m: m["t"] == "err" or (m["t"] in ("up", "ack") and m["ack"] >= seq))


def test_request_session_in_an_event_handler_with_the_users_session_middleware(live_server) -> None:
    sample = run_sample(SESSION_AND_REQUEST, "session_and_request")
    seen: list[Any] = []
    app = bound(sample.MyMultiUserApp, seen)
    with live_server(with_user_session_middleware(app)) as server, SyncTab(server.url + "/app") as page:
        answer = click_the_page(page)
        assert answer["t"] != "err", answer
        assert seen == [(WebSocket, {"last_active": "just now"})]


def test_request_session_out_of_the_box(live_server) -> None:
    sample = run_sample(SESSION_AND_REQUEST, "session_and_request")
    seen: list[Any] = []
    with live_server(WebApp(bound(sample.MyMultiUserApp, seen)).app) as server, SyncTab(server.url) as page:
        answer = click_the_page(page)
        assert re.search(r">Welcome, Guest!</h2>", page.html)
        assert answer["t"] != "err", answer
        assert seen == [(WebSocket, {"last_active": "just now"})]


class MountSeesRequest(Tag.App):
    def init(self) -> None:
        self.kind = State("not mounted")
        self <= Tag.p(self.kind, _class="kind")

    def on_mount(self) -> None:
        self.kind.set(type(self.request).__name__)


def test_request_is_set_in_lifecycle_hooks(live_server) -> None:
    with live_server(WebApp(MountSeesRequest).app) as server, SyncTab(server.url) as page:
        kind = element_id(page.load(), "kind")
        page.join()
        update = page.until(lambda m: m["t"] == "up" and any(op[1] == kind for op in m["p"]))
        assert ["t", kind, "WebSocket"] in update["p"]


# -- global statics ---------------------------------------------------------------------------------


def statics_app(component: type[Tag]) -> type[Tag]:
    class App(Tag.App):
        def init(self) -> None:
            self.show = State(False)
            self <= component("first")
            self <= component("second")
            self <= Tag.div(lambda: component("from a lambda") if self.show else None)
            self.lazy = Tag.div(_class="lazy")
            self <= self.lazy
            self <= Tag.button("add", _class="add", _onclick=lambda: self.lazy.add(component("lazy")))

    return App


def test_statics_are_in_the_head_once_however_many_instances(live_server) -> None:
    sample = run_sample(GLOBAL_STATICS, "global_statics")
    with live_server(WebApp(statics_app(sample.StyledComponent)).app) as server, SyncTab(server.url) as page:
        head = page.load().split("</head>")[0]
        for static in STATICS_HTML:
            assert head.count(static) == 1, static


def test_statics_of_components_created_later_or_by_lambdas_are_sent_once() -> None:
    sample = run_sample(GLOBAL_STATICS, "global_statics")

    class Lazy(Tag.App):
        def init(self) -> None:
            self.show = State(False)
            self <= Tag.div(lambda: sample.StyledComponent("lambda", _class="styled") if self.show else None)
            self <= Tag.button("show", _class="show", _onclick=lambda: self.show.set(True))
            self <= Tag.button("add", _class="add",
                               _onclick=lambda: self.add(sample.StyledComponent("lazy", _class="styled")))

    with TestClient(Lazy) as client:
        assert client.statics == []
        client.click("button.show")  # created by a reactive lambda
        assert client.statics == STATICS_HTML
        client.click("button.add")
        client.click("button.add")
        assert client.statics == STATICS_HTML
        assert [e.text for e in client.find_all(".styled")] == ["lambda", "lazy", "lazy"]
