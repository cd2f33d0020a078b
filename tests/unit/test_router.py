"""``Router``: patterns, parameters, the not-found page, navigation by code and by hash."""

from __future__ import annotations

import pytest

from livetag import Router, State, Tag
from livetag.dom.router import NotFound, compile_route
from livetag.testing import TestClient


@pytest.mark.parametrize("pattern,path,params", [
    ("/", "/", {}),
    ("/about", "/about", {}),
    ("/about", "/about/", {}),  # a trailing slash is tolerated
    ("/users/:id", "/users/7", {"id": "7"}),
    ("/users/:id/posts/:post_id", "/users/7/posts/x-1", {"id": "7", "post_id": "x-1"}),
    ("/a.b", "/a.b", {}),
])
def test_patterns_that_match(pattern: str, path: str, params: dict[str, str]) -> None:
    match = compile_route(pattern).match(path)
    assert match is not None and match.groupdict() == params


@pytest.mark.parametrize("pattern,path", [
    ("/", "/x"), ("/about", "/abou"), ("/about", "/about/more"), ("/users/:id", "/users/"),
    ("/users/:id", "/users/7/8"), ("/a.b", "/axb"),  # "." is literal
])
def test_patterns_that_do_not_match(pattern: str, path: str) -> None:
    assert compile_route(pattern).match(path) is None


def test_a_pattern_must_start_with_a_slash() -> None:
    with pytest.raises(ValueError, match="starting with '/'"):
        compile_route("users/:id")


class Page(Tag.section):
    """Records its lifecycle in the app's log."""

    def init(self, log: list[str] | None = None, **params: str) -> None:
        self.log = log if log is not None else []
        self.params = params
        self <= Tag.h2(f"{type(self).__name__} {params}")

    def on_mount(self) -> None:
        self.log.append(f"+{type(self).__name__}")

    def on_unmount(self) -> None:
        self.log.append(f"-{type(self).__name__}")


class Home(Page):
    pass


class User(Page):
    pass


class Missing(Page):
    pass


class App(Tag.App):
    def init(self) -> None:
        self.log: list[str] = []
        self.router = Router()
        # Factories: a route may name any callable that returns a tag.
        self.router.add_route("/", lambda: Home(log=self.log))
        self.router.add_route("/users/:id", lambda id: User(log=self.log, id=id))
        self.router.set_not_found(lambda: Missing(log=self.log))
        self <= Tag.button("user 7", _class="u7", _onclick=lambda: self.router.navigate("/users/7"))
        self <= Tag.button("relative", _class="rel", _onclick=lambda: self.router.navigate("users/8"))
        self <= Tag.p(lambda: f"at {self.router.path}", _class="path")
        self <= self.router


def heading(client: TestClient) -> str:
    return client.text("h2")


def test_the_first_route_shows_at_once() -> None:
    with TestClient(App) as client:
        assert heading(client) == "Home {}"
        assert client.text(".path") == "at /"
        assert type(client.session.app.router.page) is Home


def test_navigate_shows_the_page_with_its_parameters_and_updates_the_hash() -> None:
    with TestClient(App) as client:
        client.click("button.u7")
        assert heading(client) == "User {'id': '7'}"
        assert client.text(".path") == "at /users/7"
        assert client.scripts[-1] == 'if (location.hash !== "#/users/7") location.hash = "#/users/7";'
        client.click("button.rel")
        assert client.text(".path") == "at /users/8"
        client.assert_synced()


def test_a_hash_change_shows_the_matching_page() -> None:
    with TestClient(App) as client:
        client.navigate("/users/42")
        assert heading(client) == "User {'id': '42'}"
        client.navigate("/")
        assert heading(client) == "Home {}"
        client.navigate("")  # an empty hash is the root
        assert heading(client) == "Home {}"


def test_an_unknown_path_shows_the_not_found_page() -> None:
    with TestClient(App) as client:
        client.navigate("/nowhere")
        assert heading(client) == "Missing {}"
        assert client.text(".path") == "at /nowhere"


def test_without_a_not_found_page_an_unknown_path_shows_the_default_404() -> None:
    class Bare(Tag.App):
        def init(self) -> None:
            self.router = Router().add_route("/", Home)
            self <= self.router

    with TestClient(Bare) as client:
        client.navigate("/nowhere")
        assert client.find("h1").text == "404 Not Found"
        assert "/nowhere" in client.find(".lt-not-found").text
        client.assert_synced()


def test_percent_encoded_hashes_are_decoded_before_routing() -> None:
    with TestClient(App) as client:
        client.navigate("/users/J%C3%B6rg%20B")  # what location.hash holds for "Jörg B"
        assert heading(client) == "User {'id': 'Jörg B'}"
        assert client.text(".path") == "at /users/Jörg B"


def test_every_navigation_unmounts_the_old_page_and_mounts_the_new_one() -> None:
    with TestClient(App) as client:
        log = client.session.app.log
        client.wait_for(lambda c: len(log) == 1)
        client.click("button.u7")
        client.wait_for(lambda c: len(log) == 3)
        client.navigate("/x")
        client.wait_for(lambda c: len(log) == 5)
        client.navigate("/users/7")
        client.wait_for(lambda c: len(log) == 7)
        assert log == ["+Home", "-Home", "+User", "-User", "+Missing", "-Missing", "+User"]


def test_the_browser_echo_of_a_navigation_does_not_rebuild_the_page() -> None:
    with TestClient(App) as client:
        client.click("button.u7")
        page = client.session.app.router.page
        client.navigate("/users/7")  # the hashchange that location.hash = ... causes
        assert client.session.app.router.page is page


def test_path_is_a_state() -> None:
    router = Router().add_route("/", Home)
    assert isinstance(router.path, State) and router.path == "/"
    router.navigate("/users/1")
    assert router.path == "/users/1"
    assert isinstance(router.page, NotFound) and not router.matched  # the default 404 page
