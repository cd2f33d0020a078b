"""``LiveTree.collect()``: the smallest correct patch, never an element twice."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from livetag import HTML, Tag
from livetag.dom import LiveTree

ID = re.compile(r' id="([^"]+)"')


class App(Tag.App):
    def init(self) -> None:
        self.title = Tag.h1("Title")
        self.items = Tag.ul(*(Tag.li(f"item {i}", _class="item") for i in range(3)))
        self.box = Tag.div(Tag.p("para", Tag.b("bold")), _class="box")
        self.add(self.title, self.items, self.box)


@pytest.fixture
def live() -> tuple[App, LiveTree]:
    app = App()
    tree = LiveTree(app)
    assert tree.collect() == ([], [])  # mounting records nothing
    return app, tree


def rendered_ids(ops: list[Any]) -> Counter[str]:
    """How often each element appears in the patch (as a target or inside sent HTML)."""
    seen: Counter[str] = Counter()
    for op in ops:
        if op[0] in ("h", "+", "o"):
            seen.update(ID.findall(op[2]))
        if op[0] in ("h", "t", "o"):
            seen[op[1]] += 1  # the children of op[1] are (re)written
    return seen


def assert_each_element_once(ops: list[Any]) -> None:
    twice = {k: v for k, v in rendered_ids(ops).items() if v > 1}
    assert not twice, f"elements rendered more than once: {twice} in {ops}"
    written = {i for op in ops if op[0] in ("h", "+", "o") for i in ID.findall(op[2])}
    for op in ops:
        if op[0] in ("a", "t", "h"):
            assert op[1] not in written, f"{op} targets an element that the patch already renders"


def test_attribute_change_sends_only_that_attribute(live) -> None:
    app, tree = live
    app.box["title"] = "hello"
    ops, js = tree.collect()
    assert ops == [["a", app.box.id, {"title": "hello"}]] and js == []


def test_attribute_removal_and_boolean(live) -> None:
    app, tree = live
    del app.box["class"]
    app.title["hidden"] = True
    ops, _ = tree.collect()
    assert sorted(ops, key=repr) == sorted([["a", app.box.id, {"class": None}], ["a", app.title.id, {"hidden": ""}]],
                                           key=repr)


def test_several_changes_of_one_tag_are_one_op(live) -> None:
    app, tree = live
    app.box["title"] = "a"
    app.box["title"] = "b"
    app.box.add_class("x")
    ops, _ = tree.collect()
    assert ops == [["a", app.box.id, {"class": "box x", "title": "b"}]]


def test_text_change_sends_text(live) -> None:
    app, tree = live
    app.title.text = "New <title>"
    ops, _ = tree.collect()
    assert ops == [["t", app.title.id, "New <title>"]]  # raw text: the client sets textContent


def test_clear_with_tags_sends_the_children_html(live) -> None:
    app, tree = live
    app.box.clear(Tag.i("x"), HTML("<u>y</u>"))
    ops, _ = tree.collect()
    assert len(ops) == 1 and ops[0][0] == "h" and ops[0][1] == app.box.id
    assert re.sub(ID, "", ops[0][2]) == "<i>x</i><u>y</u>"


def test_append_sends_only_the_new_child(live) -> None:
    app, tree = live
    new = Tag.li("item 3")
    app.items <= new
    ops, _ = tree.collect()
    assert ops == [["+", app.items.id, new.render()]]
    assert "item 0" not in ops[0][2]


def test_several_appends_are_one_op_in_order(live) -> None:
    app, tree = live
    a, b = Tag.li("a"), Tag.li("b")
    app.items.add(a, "text", b)
    ops, _ = tree.collect()
    assert ops == [["+", app.items.id, a.render() + "text" + b.render()]]


def test_remove_sends_minus(live) -> None:
    app, tree = live
    first = app.items.childs[0]
    first.remove()
    ops, _ = tree.collect()
    assert ops == [["-", first.id]]
    last = app.items.childs[-1]
    app.items.remove(last)
    assert tree.collect()[0] == [["-", last.id]]


def test_append_then_remove_in_one_cycle_sends_nothing(live) -> None:
    app, tree = live
    li = Tag.li("temp")
    app.items <= li
    li.remove()
    ops, _ = tree.collect()
    assert ops == []


def test_changes_inside_a_new_tag_are_part_of_its_html(live) -> None:
    app, tree = live
    li = Tag.li("new")
    app.items <= li
    li["class"] = "fresh"
    li <= Tag.b("more")
    ops, _ = tree.collect()
    assert ops == [["+", app.items.id, li.render()]]
    assert 'class="fresh"' in ops[0][2] and "more" in ops[0][2]


def test_moving_a_tag_removes_then_appends(live) -> None:
    app, tree = live
    moved = app.items.childs[1]
    app.box <= moved
    ops, _ = tree.collect()
    assert ops == [["-", moved.id], ["+", app.box.id, moved.render()]]
    assert_each_element_once(ops)


def test_changes_under_a_reset_parent_are_covered(live) -> None:
    app, tree = live
    p = app.box.childs[0]
    p["class"] = "x"  # recorded, then covered by the parent's re-render
    app.box.clear(p, Tag.span("s"))
    p <= "more"
    ops, _ = tree.collect()
    assert len(ops) == 1 and ops[0][:2] == ["h", app.box.id]
    assert_each_element_once(ops)


def test_changes_to_detached_tags_produce_nothing(live) -> None:
    app, tree = live
    gone = app.items.childs[0]
    gone["title"] = "changed before removal"
    gone.remove()
    assert tree.collect()[0] == [["-", gone.id]]
    gone["title"] = "changed after removal"
    gone <= Tag.b("x")
    gone.text = "y"
    never_mounted = Tag.div()
    never_mounted["class"] = "z"
    assert not tree.has_changes
    assert tree.collect() == ([], [])


def test_detached_subtree_is_unindexed(live) -> None:
    app, tree = live
    b = app.box.find_tag(app.box.childs[0].childs[1].id)
    assert b is not None and tree.index[b.id] is b
    app.box.remove()
    assert b.id not in tree.index and app.box.id not in tree.index


def test_reattached_tag_is_live_again(live) -> None:
    app, tree = live
    box = app.box
    box.remove()
    tree.collect()
    app <= box
    tree.collect()
    box["title"] = "t"
    assert tree.collect()[0] == [["a", box.id, {"title": "t"}]]


def test_mixed_changes_never_render_an_element_twice(live) -> None:
    app, tree = live
    items = app.items
    new = Tag.li("new")
    items <= new
    new["title"] = "t"
    new <= Tag.span("inner")
    items.childs[0]["class"] = "changed"
    items.childs[1].text = "renamed"
    items["class"] = "list"
    p = app.box.childs[0]
    p.childs[1]["class"] = "b"
    p.clear("replaced", Tag.i("i"))
    app.box["title"] = "box"
    app.title.text = "T"
    app.title.text = "T2"
    ops, _ = tree.collect()
    assert_each_element_once(ops)
    kinds = Counter(op[0] for op in ops)
    assert kinds == {"a": 3, "t": 2, "+": 1, "h": 1}, ops


def test_fragment_changes_rerender_the_host_element(live) -> None:
    app, tree = live
    frag = Tag("a", Tag.b("b"))
    app.box <= frag
    tree.collect()
    frag <= "c"
    ops, _ = tree.collect()
    assert len(ops) == 1 and ops[0][:2] == ["h", app.box.id]
    assert ops[0][2].endswith("a" + frag.childs[1].render() + "c")


def test_call_js_rides_along(live) -> None:
    app, tree = live
    app.title.call_js("console.log(1)")
    assert tree.collect() == ([], ["console.log(1)"])
    pending = Tag.div()
    pending.call_js("x()")  # before mounting: sent once it is in the tree
    assert tree.collect() == ([], [])
    app <= pending
    ops, js = tree.collect()
    assert js == ["x()"] and ops[0][0] == "+"


def test_on_change_is_called_once_per_cycle() -> None:
    calls = []
    app = App()
    tree = LiveTree(app, on_change=lambda: calls.append(1))
    app.title.text = "a"
    app.box["x"] = 1
    assert calls == [1]
    tree.collect()
    app.box["x"] = 2
    assert calls == [1, 1]


def test_ten_thousand_rows_appended_to_a_live_table() -> None:
    class Table(Tag.App):
        def init(self) -> None:
            self.body = Tag.tbody()
            self <= Tag.table(self.body)

    app = Table()
    tree = LiveTree(app)
    for i in range(10_000):
        app.body <= Tag.tr(Tag.td(i))
    ops, _ = tree.collect()
    assert len(ops) == 1 and ops[0][0] == "+" and ops[0][2].count("<tr ") == 10_000
    assert len(tree.index) == 3 + 20_000
    row = app.body.childs[5000]
    row["class"] = "sel"
    assert tree.collect()[0] == [["a", row.id, {"class": "sel"}]]
    assert len(app.render()) > 10_000


def test_setting_the_same_text_records_nothing(live) -> None:
    app, tree = live
    app.title.text = "Title"
    assert tree.collect() == ([], [])


def test_a_change_recorded_during_collect_is_not_lost() -> None:
    # A render that mutates another tag stands in, deterministically, for a background
    # thread mutating the tree while the session thread runs collect().
    def sneaky() -> str:
        other["title"] = "changed during collect"
        return "x"

    class A(Tag.App):
        def init(self) -> None:
            self.host = Tag.section()
            self <= self.host

    other = Tag.p()
    app = A()
    app <= other
    tree = LiveTree(app)
    app.host <= Tag.div(sneaky)
    tree.collect()
    assert tree.has_changes
    assert tree.collect()[0] == [["a", other.id, {"title": "changed during collect"}]]


def test_text_over_text_is_one_set_text_and_html_text_is_not_plain(live) -> None:
    app, tree = live
    for i in range(3):
        app.title.text = i  # text in place of text, several times before a collect
    ops, _ = tree.collect()
    assert ops == [["t", app.title.id, "2"]] and app.title.childs == ["2"]
    app.title.text = HTML("<i>x</i>")  # raw HTML is not text: the element's HTML is sent
    ops, _ = tree.collect()
    assert ops == [["h", app.title.id, "<i>x</i>"]]


def test_text_of_a_fragment_rerenders_its_host(live) -> None:
    app, tree = live
    fragment = Tag("a", "b")
    app.box <= fragment
    tree.collect()
    fragment.text = "c"
    ops, _ = tree.collect()
    assert [op[:2] for op in ops] == [["h", app.box.id]] and "c" in ops[0][2] and "ab" not in ops[0][2]
