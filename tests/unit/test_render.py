"""Rendering, escaping and element ids."""

from __future__ import annotations

import re

import pytest

from livetag import HTML, Tag
from livetag.dom import LiveTree


def strip_ids(html: str) -> str:
    """The HTML with generated ids removed, so expectations read like plain markup."""
    return re.sub(r' id="lt[0-9a-z]+"', "", html)


# -- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["input", "img", "br", "hr", "meta", "link", "wbr", "source"])
def test_void_elements_have_no_closing_tag(name: str) -> None:
    html = strip_ids(getattr(Tag, name)().render())
    assert html == f"<{name}>"


def test_non_void_empty_element_is_closed() -> None:
    assert strip_ids(Tag.div().render()) == "<div></div>"
    assert strip_ids(Tag.script().render()) == "<script></script>"


def test_boolean_attributes() -> None:
    html = strip_ids(Tag.input(_disabled=True, _checked=False, _required=None, _type="checkbox").render())
    assert html == '<input disabled type="checkbox">'


def test_underscore_keywords_become_dashed_attributes() -> None:
    assert strip_ids(Tag.div(_data_id=3, _aria_label="x").render()) == '<div data-id="3" aria-label="x"></div>'


def test_custom_element_name() -> None:
    assert strip_ids(Tag.my_widget("x").render()) == "<my-widget>x</my-widget>"
    assert Tag.my_widget is Tag.my_widget  # one class per element name


def test_numbers_as_children_and_attribute_values() -> None:
    assert strip_ids(Tag.td(3, " ", 2.5, _colspan=2).render()) == '<td colspan="2">3 2.5</td>'


def test_html_is_inserted_raw_and_str_is_escaped() -> None:
    html = strip_ids(Tag.div(HTML("<b>raw</b>"), "<b>text</b>").render())
    assert html == "<div><b>raw</b>&lt;b&gt;text&lt;/b&gt;</div>"


def test_fragment_renders_its_children_without_wrapper() -> None:
    frag = Tag("a", Tag.b("x"), "c")
    assert strip_ids(frag.render()) == "a<b>x</b>c"
    assert strip_ids(Tag.div(frag).render()) == "<div>a<b>x</b>c</div>"
    assert str(frag) == frag.render()


def test_handlers_render_as_data_lt_and_not_as_attributes() -> None:
    def cb() -> None: ...

    html = Tag.button("b", _onclick=cb).render()
    assert 'data-lt="click"' in html and "onclick" not in html


def test_component_renders_its_element() -> None:
    class Card(Tag.section):
        def init(self) -> None:
            self <= Tag.h2("t")

    assert strip_ids(Card(_class="c").render()) == '<section class="c"><h2>t</h2></section>'


def test_app_renders_as_body() -> None:
    class App(Tag.App):
        def init(self) -> None:
            self <= "hi"

    assert strip_ids(App().render()) == "<body>hi</body>"


# -- escaping ---------------------------------------------------------------------------------


def test_text_is_escaped() -> None:
    html = strip_ids(Tag.p("<script>alert('x')</script> & co").render())
    assert html == "<p>&lt;script&gt;alert('x')&lt;/script&gt; &amp; co</p>"


def test_attribute_values_are_escaped() -> None:
    html = strip_ids(Tag.a(_href='x" onmouseover="alert(1)', _title="<&>").render())
    assert html == '<a href="x&quot; onmouseover=&quot;alert(1)" title="&lt;&amp;&gt;"></a>'


def test_user_id_with_quotes_and_angle_brackets_is_escaped() -> None:
    tag = Tag.div(_id='a"><script>x</script>')
    assert tag.id == 'a"><script>x</script>'
    assert tag.render() == '<div id="a&quot;&gt;&lt;script&gt;x&lt;/script&gt;"></div>'


def test_textarea_value_is_escaped_content() -> None:
    html = Tag.textarea(_value="</textarea><script>x</script>").render()
    assert "<script>" not in html and "</textarea><" not in html
    assert html.endswith(">&lt;/textarea&gt;&lt;script&gt;x&lt;/script&gt;</textarea>")


def test_escaping_of_updates_too() -> None:
    class App(Tag.App):
        def init(self) -> None:
            self.p = Tag.p("x")
            self <= self.p

    app = App()
    tree = LiveTree(app)
    app.p <= Tag.b("<i>")
    app.p["title"] = '"q"'
    ops, _ = tree.collect()
    dumped = repr(ops)
    assert "&lt;i&gt;" in dumped and "<i>" not in dumped
    # Attribute values travel as data (the client calls setAttribute): not HTML-escaped.
    assert ["a", app.p.id, {"title": '"q"'}] in ops


# -- ids ----------------------------------------------------------------------------------------


def test_generated_ids_are_unique_short_and_not_memory_addresses() -> None:
    tags = [Tag.div() for _ in range(2000)]
    ids = [t.id for t in tags]
    assert len(set(ids)) == len(ids)
    for tag in tags[:200]:
        assert re.fullmatch(r"lt[0-9a-z]{1,12}", tag.id)
        assert format(id(tag), "x") not in tag.id and str(id(tag)) not in tag.id
    assert all(f'id="{t.id}"' in t.render() for t in tags[:10])


def test_generated_id_is_stable() -> None:
    tag = Tag.div()
    first = tag.id
    Tag.section(tag)
    tag["class"] = "x"
    assert tag.id == first and tag.render().startswith(f'<div id="{first}"')


def test_user_set_id_is_honoured_and_patches_target_it() -> None:
    class App(Tag.App):
        def init(self) -> None:
            self.box = Tag.div("x", _id="box")
            self <= self.box

    app = App()
    tree = LiveTree(app)
    assert app.box.id == "box" and 'id="box"' in app.render()
    assert app.render().count(" id=") == 2  # the body and the box, no second id on the box
    assert app.find_tag("box") is app.box
    app.box["class"] = "c"
    app.box.text = "y"
    assert tree.collect()[0] == [["a", "box", {"class": "c"}], ["t", "box", "y"]]


def test_changing_a_user_id_renames_then_targets_the_new_id() -> None:
    class App(Tag.App):
        def init(self) -> None:
            self.box = Tag.div(_id="old")
            self <= self.box

    app = App()
    tree = LiveTree(app)
    app.box["id"] = "new"
    app.box <= "x"
    ops, _ = tree.collect()
    assert ops == [["a", "old", {"id": "new"}], ["+", "new", "x"]]
    assert app.find_tag("new") is app.box and app.find_tag("old") is None
    del app.box["id"]
    ops, _ = tree.collect()
    generated = app.box.id
    assert generated.startswith("lt") and ops == [["a", "new", {"id": generated}]]
    assert app.find_tag(generated) is app.box


def test_setting_the_same_user_id_records_nothing() -> None:
    class App(Tag.App):
        def init(self) -> None:
            self.box = Tag.div(_id="box")
            self <= self.box

    app = App()
    tree = LiveTree(app)
    app.box["id"] = "box"
    assert tree.collect() == ([], [])


def test_a_generated_id_is_made_once_on_first_use_and_kept() -> None:
    a, b = Tag.li("x"), Tag.li("x")
    html = a.render()  # rendering makes it
    assert html == f'<li id="{a.id}">x</li>' and a.id == a.id and a.id.startswith("lt")
    assert b.id != a.id and b.render() == f'<li id="{b.id}">x</li>'
    b.id = "mine"
    b.id = None  # back to the generated one, the same as before
    assert b.render().startswith(f'<li id="{b.id}">') and b.id != "mine"


def test_threads_reading_the_id_of_a_new_tag_at_once_see_the_same_id() -> None:
    import threading

    tags = [Tag.span() for _ in range(3000)]
    seen: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def read(out: list[str]) -> None:
        start.wait()
        out.extend(t.id for t in tags)

    threads = [threading.Thread(target=read, args=(out,)) for out in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen[0] == seen[1] == [t.id for t in tags]
    assert len(set(seen[0])) == len(tags)
