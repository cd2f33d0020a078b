"""Fragments (``Tag()``), window events (``onhashchange``) and custom events fired from
JavaScript (``livetag.event(id, name, value)``)."""

from __future__ import annotations

from typing import Any

import pytest

from livetag import Event, State, Tag
from livetag.dom import LiveTree
from livetag.testing import TestClient


def mount(app: Tag) -> LiveTree:
    tree = LiveTree(app)
    app.render()
    assert tree.collect() == ([], [])
    return tree


# -- fragments -----------------------------------------------------------------------------------


def test_a_fragment_renders_its_children_only() -> None:
    b = Tag.b("x")
    frag = Tag(b, "y & z")
    assert frag.tag_name is None
    assert frag.render() == f'<b id="{b.id}">x</b>y &amp; z'
    div = Tag.div("a", frag, "c")
    assert div.render() == f'<div id="{div.id}">a<b id="{b.id}">x</b>y &amp; zc</div>'
    assert div.text == "ax" + "y & zc"


def test_a_fragment_component_renders_without_a_wrapper() -> None:
    class Pair(Tag):
        def init(self, a: str, b: str) -> None:
            self <= Tag.dt(a)
            self <= Tag.dd(b)

    dl = Tag.dl(Pair("k", "v"))
    assert "<dl" in dl.render() and "<dt" in dl.render() and dl.render().count("<") == 6  # dl, dt, dd + closings


def test_a_change_inside_a_fragment_re_renders_its_host() -> None:
    frag = Tag(Tag.b("x"))
    host = Tag.div(frag)
    app = Tag.App(Tag.p("other"), host)
    tree = mount(app)
    frag <= Tag.i("new")
    ops = tree.collect()[0]
    assert len(ops) == 1 and ops[0][:2] == ["h", host.id] and "<i id=" in ops[0][2]


def test_nested_fragments_patch_the_nearest_element() -> None:
    inner = Tag("a")
    outer = Tag(inner)
    host = Tag.section(outer)
    tree = mount(Tag.App(Tag.div(host)))
    inner <= "b"
    [op] = tree.collect()[0]
    assert op[0] in ("t", "h") and op[1:] == [host.id, "ab"]  # the section's content, as text
    inner.clear("c")
    [op] = tree.collect()[0]
    assert op[0] in ("t", "h") and op[1:] == [host.id, "c"]


def test_an_element_inside_a_fragment_is_patched_directly() -> None:
    b = Tag.b("x")
    host = Tag.div(Tag(b))
    tree = mount(Tag.App(host))
    b.text = "y"
    b["title"] = "t"
    assert sorted(tree.collect()[0]) == [["a", b.id, {"title": "t"}], ["t", b.id, "y"]]


def test_removing_from_a_fragment_re_renders_its_host() -> None:
    b = Tag.b("x")
    host = Tag.div(Tag(b, Tag.i("i")))
    tree = mount(Tag.App(host))
    b.remove()
    ops = tree.collect()[0]
    assert ops[0][:2] == ["h", host.id] and "<b" not in ops[0][2]


def test_a_fragment_at_the_root_cannot_be_patched() -> None:
    frag = Tag(Tag.b("x"))
    LiveTree(frag)
    with pytest.raises(ValueError, match="fragment inside an element"):
        frag <= "more"


class Lists(Tag.App):
    """A reactive list inside a fragment, between two static items."""

    def init(self) -> None:
        self.items = State(["a", "b"])
        self <= Tag.ul(Tag.li("first"), Tag(lambda: [Tag.li(i, key=i) for i in self.items]), Tag.li("last"),
                       _class="list")
        self <= Tag.button("add", _class="add", _onclick=lambda: self.items.append(f"n{len(self.items)}"))
        self <= Tag.button("flip", _class="flip", _onclick=lambda: self.items.reverse())


def test_a_reactive_list_inside_a_fragment_updates_the_page() -> None:
    with TestClient(Lists) as client:
        client.click("button.add")
        client.click("button.flip")
        assert [li.text for li in client.find_all("ul.list li")] == ["first", "n2", "b", "a", "last"]
        client.assert_synced()
        assert client.errors == []


# -- window events and custom events -------------------------------------------------------------


class Events(Tag.App):
    def init(self) -> None:
        self.got: list[tuple[str, Any]] = []
        self.out = Tag.div(_class="out", _oncustom=self.custom)
        self.out["onhashchange"] = self.hash
        self.out["onmy-event"] = self.custom
        self <= self.out
        self <= Tag.div(_class="other", _onhashchange=self.hash)

    def custom(self, e: Event) -> None:
        self.got.append((e.name, e.value))
        self.out.text = f"{e.name}: {e.value!r}"

    def hash(self, e: Event) -> None:
        self.got.append((f"hash on {e.target['class']}", e.value))


def test_onhashchange_reaches_every_tag_that_listens() -> None:
    with TestClient(Events) as client:
        assert client.find(".out")["data-lt"] == "custom hashchange my-event"
        client.navigate("/x/1")
        assert client.session.app.got == [("hash on out", "#/x/1"), ("hash on other", "#/x/1")]


@pytest.mark.parametrize("value", ["text", 42, 1.5, True, None, [1, "a"], {"width": 10, "nested": {"a": [1]}}])
def test_a_custom_event_carries_any_json_value(value: Any) -> None:
    with TestClient(Events) as client:
        client.event(".out", "custom", value)
        assert client.session.app.got == [("custom", value)]
        assert client.text(".out") == f"custom: {value!r}"


def test_custom_event_names_may_have_dashes() -> None:
    with TestClient(Events) as client:
        client.event(".out", "my-event", "v")
        assert client.session.app.got == [("my-event", "v")]


def test_an_event_without_a_handler_is_refused() -> None:
    with TestClient(Events) as client:
        client.event(".other", "custom", "v")
        assert client.session.app.got == []
        assert [e["code"] for e in client.errors] == ["forbidden_event"]


def test_custom_event_fields_besides_value_are_readable() -> None:
    seen: list[Any] = []

    class App(Tag.App):
        def init(self) -> None:
            self <= Tag.div(_class="t", _onping=lambda e: seen.append((e.value, e.detail, e.client_x)))

    with TestClient(App) as client:
        client.event(".t", "ping", "v", detail={"a": 1}, clientX=3)
        assert seen == [("v", {"a": 1}, 3)]
