"""The tag API that htag code relies on, at the level of the tree and its patches: the
element id as an assignable attribute, the tag API kept out of the element factory, and
framework internals kept out of the component's namespace."""

from __future__ import annotations

from typing import Any

import pytest

from livetag import State, Tag
from livetag.dom import LiveTree
from livetag.errors import TreeError
from livetag.testing import TestClient


def test_assigning_id_renames_the_element_in_the_page() -> None:
    class Page(Tag.App):
        def init(self) -> None:
            self.card = Tag.div("card")
            Tag.button("rename", _onclick=self.rename)

        def rename(self) -> None:
            self.card.id = "profile-ada"

    with TestClient(Page) as client:
        client.click("button")
        assert client.find("#profile-ada").text == "card"
        client.assert_synced()
        assert client.session.tree.index["profile-ada"] is client.session.app.card


def test_a_component_may_set_its_own_id_in_init() -> None:
    class Profile(Tag.div):
        def init(self, user_id: str) -> None:
            self.id = user_id
            Tag.h2(f"User {user_id}")

    profile = Profile(user_id="ada")
    assert profile.id == "ada" and profile["id"] == "ada" and profile.render().startswith('<div id="ada"')
    profile.id = None
    assert profile.id.startswith("lt")


def test_an_id_already_in_the_page_is_refused() -> None:
    app = Tag.App(Tag.div(_id="taken"), free := Tag.div())
    LiveTree(app)
    with pytest.raises(TreeError, match="taken"):
        free.id = "taken"
    assert free.id.startswith("lt")


def test_tag_api_names_are_not_element_factories() -> None:
    for name in ("add", "remove", "clear", "update", "text", "render", "root", "childs"):
        with pytest.raises(AttributeError, match=f"Tag.{name} is the"):
            getattr(Tag, name)
    assert Tag.sl_button().tag == "sl-button" and Tag.text_area().tag == "text-area"


def test_a_component_with_its_own_render_walk_and_handler_methods_still_updates() -> None:
    class Tabs(Tag.App):
        def init(self) -> None:
            self.current = 0
            self.render()

        def render(self) -> None:  # htag apps rebuild themselves with a method of this name
            self.clear()
            for i in range(3):
                self <= Tag.button(f"tab {i}", _class="on" if i == self.current else None, _onclick=self.handler(i))

        def handler(self, i: int):  # type: ignore[no-untyped-def]
            def select() -> None:
                self.current = i
                self.render()
            return select

        def walk(self) -> str:
            return "my walk"

    with TestClient(Tabs) as client:
        client.click("button:nth-of-type(3)")
        assert client.find(".on").text == "tab 2"
        client.assert_synced()
        assert str(client.session.app).startswith("<body")


def test_operators_build_lists_to_add() -> None:
    a, b, c = Tag.b("a"), Tag.i("b"), Tag.u("c")
    assert a + b == [a, b] and a + [b, c] == [a, b, c] and [a, b] + c == [a, b, c]
    div = Tag.div()
    div <= a + b
    assert div.childs == [a, b]
    with pytest.raises(TypeError, match="<="):
        div << c


def test_update_throttle_sends_at_once_or_later() -> None:
    class Clock(Tag.App):
        def init(self) -> None:
            self.n = State(0)
            Tag.span(self.n)

    with TestClient(Clock) as client:
        app = client.session.app
        app.n.set(1)
        app.update(throttle=0)
        client.advance(0.01)
        assert client.text("span") == "1"
        with pytest.raises(ValueError, match="throttle"):
            app.update(throttle=-1)


@pytest.mark.parametrize("wrap", [lambda x: x, lambda x: [x], lambda x: (x,)])
def test_a_child_given_to_a_new_tag_moves_there_from_its_parent(wrap: Any) -> None:
    moved, kept = Tag.td("a"), Tag.td("b")
    old_row = Tag.tr(moved, kept)
    row = Tag.tr(wrap(moved), ["x", Tag.td("c"), 3, None])
    assert moved.parent is row and old_row.childs == [kept]
    assert [c if isinstance(c, str) else c.tag for c in row.childs] == ["td", "x", "td", "3"]
    assert all(c.parent is row for c in row.childs if isinstance(c, Tag))
    twice = Tag.tr([moved, moved])  # the same tag twice is added once, at its last place
    assert twice.childs == [moved] and row.childs[0] != moved
