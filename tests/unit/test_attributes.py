"""Attributes by dict syntax and the class helpers, including what they record."""

from __future__ import annotations

import pytest

from livetag import Tag
from livetag.dom import LiveTree


def mounted(*children: Tag) -> LiveTree:
    """A live tree around ``children``, with the initial state already collected."""

    class App(Tag.App):
        def init(self) -> None:
            self.add(*children)

    tree = LiveTree(App())
    tree.collect()
    return tree


def test_dict_syntax_get_set_delete_contains() -> None:
    div = Tag.div(_data_id=3, _class="a")
    assert div["data-id"] == 3 and div["class"] == "a"
    div["title"] = "t"
    assert "title" in div and div["title"] == "t"
    del div["title"]
    assert "title" not in div and div["title"] is None
    del div["never-set"]  # deleting an absent attribute is not an error
    assert div.attrs == {"data-id": 3, "class": "a"}


def test_attrs_is_a_copy() -> None:
    div = Tag.div(_class="a")
    div.attrs["class"] = "b"
    assert div["class"] == "a"


def test_class_helpers_are_chainable() -> None:
    div = Tag.div()
    assert div.add_class("a", "b").remove_class("a").toggle_class("c") is div
    assert div["class"] == "b c"
    assert div.has_class("b") and div.has_class("c") and not div.has_class("a")
    div.toggle_class("c")
    assert not div.has_class("c")
    div.toggle_class("d", True).toggle_class("b", False)
    assert div["class"] == "d"
    div.remove_class("d")
    assert 'class=' not in div.render()


def test_has_class_matches_whole_names_only() -> None:
    div = Tag.div(_class="button-primary")
    assert not div.has_class("button")
    assert div.has_class("button-primary")


def test_real_changes_are_recorded() -> None:
    div = Tag.div(_class="a")
    tree = mounted(div)
    div.add_class("b")
    assert tree.collect()[0] == [["a", div.id, {"class": "a b"}]]
    div.remove_class("a")
    assert tree.collect()[0] == [["a", div.id, {"class": "b"}]]
    div.toggle_class("b")
    assert tree.collect()[0] == [["a", div.id, {"class": None}]]


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.add_class("a"),
        lambda t: t.add_class("b", "a"),
        lambda t: t.remove_class("zzz"),
        lambda t: t.toggle_class("a", True),
        lambda t: t.toggle_class("zzz", False),
        lambda t: t.__setitem__("class", "a b"),
        lambda t: t.__setitem__("data-n", 1),
        lambda t: t.__delitem__("absent"),
        lambda t: t.__setitem__("absent", None),
    ],
    ids=["add-present", "add-all-present", "remove-absent", "force-on-present", "force-off-absent",
         "same-class-value", "same-value", "delete-absent", "none-on-absent"],
)
def test_no_change_recorded_when_nothing_changed(change) -> None:
    div = Tag.div(_class="a b", _data_n=1)
    tree = mounted(div)
    change(div)
    assert not tree.has_changes
    assert tree.collect() == ([], [])


def test_add_class_with_a_repeated_name_adds_it_once() -> None:
    div = Tag.div()
    div.add_class("x", "x")
    assert div["class"] == "x"


def test_false_on_an_absent_attribute_records_nothing() -> None:
    div = Tag.div()
    tree = mounted(div)
    div["hidden"] = False
    assert tree.collect() == ([], [])


def test_tags_without_attributes_or_with_text_only_children_stay_independent() -> None:
    # They share one empty attribute mapping and keep their text in the constructor's
    # tuple until a change: a change to one must never show on another.
    a, b, c = Tag.td("x"), Tag.td("x"), Tag.td()
    a["title"] = "t"
    a.add_class("k")
    a <= Tag.b("y")
    c.id = "mine"
    b.text = "z"
    assert a.render() == f'<td id="{a.id}" title="t" class="k">x<b id="{a.childs[1].id}">y</b></td>'
    assert b.render() == f'<td id="{b.id}">z</td>'
    assert c.render() == '<td id="mine"></td>'
    assert Tag.td("x").render().endswith(">x</td>") and Tag.td().attrs == {}
    del c["id"]
    assert c.render() == f'<td id="{c.id}"></td>' and c.id.startswith("lt")


def test_the_shared_empty_attributes_refuse_writes() -> None:
    from livetag.dom.node import NO_ATTRS

    with pytest.raises(TypeError, match="_own_attrs"):
        NO_ATTRS["title"] = "x"
    with pytest.raises(TypeError):
        NO_ATTRS.update(title="x")
    with pytest.raises(TypeError):
        NO_ATTRS.setdefault("title", "x")
    assert NO_ATTRS == {}


def test_typing_into_an_input_built_without_attributes() -> None:
    from livetag.testing import TestClient

    seen: list[str] = []

    class App(Tag.App):
        def init(self) -> None:
            self <= Tag.input(_oninput=lambda e: seen.append(e.value))

    with TestClient(App) as client:
        client.fill("input", "hello")
        assert seen == ["hello"] and client.session.app.childs[0]["value"] == "hello"
        client.assert_synced()
