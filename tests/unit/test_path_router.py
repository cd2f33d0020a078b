"""``PathRouter``: pages by URL path, query parameters, ``navigate`` events (including
forged ones), dot segments, and ``Query``."""

from __future__ import annotations

import pytest

from livetag import Link, PathRouter, Tag
from livetag.dom.router import MAX_URL_CHARS, Query, normalise_path
from livetag.testing import TestClient


class UserPage(Tag.section):
    def init(self, id: str, query: Query) -> None:
        self <= Tag.span(id, _class="id")
        self <= Tag.span(",".join(query.getlist("tag")), _class="tags")


class Home(Tag.section):
    def init(self) -> None:
        self <= Tag.span("home", _class="home")


class App(Tag.App):
    def init(self) -> None:
        self.router = PathRouter()
        self.router.add_route("/", Home)
        self.router.add_route("/users/:id", UserPage)
        self <= self.router
        self <= Link("seven", "/users/7", _class="seven")


@pytest.mark.parametrize("path,expected", [
    ("/", "/"), ("/a/b", "/a/b"), ("/a/../b", "/b"), ("/../../etc/passwd", "/etc/passwd"),
    ("/a/./b", "/a/b"), ("/a/%2e%2e/b", "/b"), ("/a/..", "/"), ("/a/b/.", "/a/b/"), ("/a//b", "/a//b"),
])
def test_dot_segments_are_resolved_never_above_the_root(path: str, expected: str) -> None:
    assert normalise_path(path) == expected


def test_query_is_a_read_only_multidict() -> None:
    query = Query("tag=a&tag=b&empty=&x=%C3%A9")
    assert query["tag"] == "b" and query.getlist("tag") == ["a", "b"] and query["empty"] == ""
    assert query["x"] == "é" and dict(query) == {"tag": "b", "empty": "", "x": "é"}
    assert query.getlist("missing") == [] and query.get("missing", "d") == "d"
    assert Query("a=1") == Query("a=1") != Query("a=2")
    assert len(Query("&".join(f"k{i}=v" for i in range(1000)))) == 100  # bounded


def test_a_page_by_path_with_decoded_parameters_and_the_query() -> None:
    app = App()
    client = TestClient(app)
    assert app.router.open("/users/a%2Fb", "tag=x&tag=y") is True
    client.advance()
    assert client.text(".id") == "a/b" and client.text(".tags") == "x,y"
    assert app.router.path.get() == "/users/a%2Fb" and app.router.query.getlist("tag") == ["x", "y"]
    assert app.router.open("/nowhere") is False
    client.advance()
    assert client.exists(".lt-not-found")


def test_navigate_events_show_pages_and_dot_segments_stay_in_the_app() -> None:
    app = App()
    client = TestClient(app)
    assert client.exists(".home")
    client.event("[data-lt-router]", "navigate", "/users/7?tag=t")
    assert client.text(".id") == "7" and client.text(".tags") == "t"
    client.event("[data-lt-router]", "navigate", "/x/../users/8")
    assert client.text(".id") == "8"


def test_the_test_client_navigates_a_path_router() -> None:
    client = TestClient(App())
    client.navigate("/users/9?tag=a&tag=b")
    assert client.text(".id") == "9" and client.text(".tags") == "a,b"
    client.navigate("/")
    assert client.exists(".home")


@pytest.mark.parametrize("value", [None, 7, "", "users/7", "/" + "a" * (MAX_URL_CHARS + 10),
                                   {"value": "/users/9"}])
def test_forged_navigate_events_change_nothing(value: object) -> None:
    app = App()
    client = TestClient(app)
    client.event("[data-lt-router]", "navigate", "/users/7")
    client.event("[data-lt-router]", "navigate", value)
    assert client.text(".id") == "7"
    client.assert_synced()


def test_a_navigate_event_outside_the_mount_is_refused() -> None:
    app = App()
    app.router.mount_path = "/sub"
    client = TestClient(app)
    client.event("[data-lt-router]", "navigate", "/sub/users/7")
    assert client.text(".id") == "7"
    for outside in ("/users/8", "/subway/users/8", "/sub/../users/8"):
        client.event("[data-lt-router]", "navigate", outside)
        assert client.text(".id") == "7"


def test_navigate_from_python_shows_the_page_and_pushes_the_url() -> None:
    app = App()
    client = TestClient(app)
    app.router.navigate("users/3?tag=q")
    client.advance()
    assert client.text(".id") == "3" and client.text(".tags") == "q"
    assert app.router.href("/users/3") == "/users/3"


def test_a_huge_path_is_not_found_without_matching() -> None:
    app = App()
    assert app.router.open("/users/" + "7" * MAX_URL_CHARS) is False
    assert isinstance(app.router.page, Tag)


def test_a_hostile_path_reaches_the_browser_as_a_json_string() -> None:
    app = App()
    client = TestClient(app)
    client.event("[data-lt-router]", "navigate", '/"</script><script>alert(1)//\u2028x')
    script = client.scripts[-1]
    assert '"/\\"</script><script>alert(1)//' in script  # one JSON string literal, quotes escaped
    assert client.find(".lt-not-found p").text.startswith('No page at /"</script>')  # text, escaped in HTML
    assert "<script>alert" not in client.html
