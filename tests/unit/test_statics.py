"""Scoped ``styles`` (``scope_css``) and component ``statics``: collected once per class,
from every component that enters the tree, sent once per session."""

from __future__ import annotations

import pytest

from livetag import HTML, State, Tag
from livetag.dom import LiveTree
from livetag.dom.css import scope_css
from livetag.dom.statics import class_statics, title_of
from livetag.server.page import render_page
from livetag.session import Session
from livetag.testing import TestClient

S = "lt-X"


# -- scope_css -----------------------------------------------------------------------------------


@pytest.mark.parametrize("css,scoped", [
    ("h1 { color: red }", "h1.lt-X,.lt-X h1{color: red}"),
    ("h1, .a p { x: y }", "h1.lt-X,.lt-X h1,.lt-X.a p,.lt-X .a p{x: y}"),
    ("a:hover { x: y }", "a.lt-X:hover,.lt-X a:hover{x: y}"),
    ("p::first-line, li:nth-child(2n+1) { x: y }", "p.lt-X::first-line,.lt-X p::first-line,li.lt-X:nth-child(2n+1),.lt-X li:nth-child(2n+1){x: y}"),
    ("a:not(.b, .c) { x: y }", "a.lt-X:not(.b, .c),.lt-X a:not(.b, .c){x: y}"),  # a comma inside () is not a list
    ("ul > li + li ~ li { x: y }", "ul.lt-X > li + li ~ li,.lt-X ul > li + li ~ li{x: y}"),
    ("div p { x: y }", "div.lt-X p,.lt-X div p{x: y}"),
    (":host { x: y }", ".lt-X{x: y}"),
    (":host(.on) span { x: y }", ".lt-X.on span{x: y}"),
    (":host:hover { x: y }", ".lt-X:hover{x: y}"),
    ("& { x: y }", ".lt-X{x: y}"),
    ("&.on { x: y }", ".lt-X.on{x: y}"),
    ("& > li { x: y }", ".lt-X > li{x: y}"),
    ("/* note, { } */ p { x: y } /* end */", "p.lt-X,.lt-X p{x: y}"),
    ('a[title="a, b"] { x: y }', 'a.lt-X[title="a, b"],.lt-X a[title="a, b"]{x: y}'),
    ('p::after { content: "} {, /* not a comment */" }', 'p.lt-X::after,.lt-X p::after{content: "} {, /* not a comment */"}'),
    ("p { color: red; }  h2 { x: y }", "p.lt-X,.lt-X p{color: red;}h2.lt-X,.lt-X h2{x: y}"),
])
def test_scope_css_rules(css: str, scoped: str) -> None:
    """A rule matches the component's element itself and what is inside it (htag)."""
    assert scope_css(css, S) == scoped


def test_media_queries_are_scoped_inside() -> None:
    css = "@media (max-width: 600px) { h1, :host { x: y } @supports (display: grid) { p { z: w } } }"
    assert scope_css(css, S) == "@media (max-width: 600px){h1.lt-X,.lt-X h1,.lt-X{x: y}@supports (display: grid){p.lt-X,.lt-X p{z: w}}}"


def test_keyframes_font_face_and_imports_are_kept_as_they_are() -> None:
    css = ("@import url(x.css); @keyframes spin { from { transform: rotate(0) } to { transform: rotate(1turn) } }"
           " @font-face { font-family: F; src: url(f.woff) } h1 { animation: spin 1s }")
    assert scope_css(css, S) == (
        "@import url(x.css);@keyframes spin{from { transform: rotate(0) } to { transform: rotate(1turn) }}"
        "@font-face{font-family: F; src: url(f.woff)}h1.lt-X,.lt-X h1{animation: spin 1s}"
    )


def test_an_unbalanced_block_raises() -> None:
    with pytest.raises(ValueError, match="closing"):
        scope_css("h1 { color: red", S)


# -- styles on components ------------------------------------------------------------------------


class Card(Tag.div):
    styles = "h2 { color: red }"

    def init(self, title: str) -> None:
        self <= Tag.h2(title)


class FancyCard(Card):
    styles = ":host { border: 1px solid }"


class PlainSubclass(Card):
    pass


def test_a_styled_component_gets_its_scope_class_after_init() -> None:
    card = Card("t", _class="mine")
    assert card["class"] == "mine lt-Card"
    assert FancyCard("t")["class"] == "lt-Card lt-FancyCard"
    assert PlainSubclass("t")["class"] == "lt-Card"


def test_class_statics_hold_the_scoped_styles_of_the_class_and_its_bases() -> None:
    assert class_statics(Card) == ("<style>h2.lt-Card,.lt-Card h2{color: red}</style>",)
    assert class_statics(FancyCard) == ("<style>h2.lt-Card,.lt-Card h2{color: red}</style>", "<style>.lt-FancyCard{border: 1px solid}</style>")
    assert class_statics(PlainSubclass) == class_statics(Card)
    assert class_statics(Card) is class_statics(Card)  # computed once per class


# -- statics -------------------------------------------------------------------------------------


class Widget(Tag.span):
    statics = [
        Tag.style(".w > b { color: lime }"),
        Tag.link(_rel="stylesheet", _href="/w.css?a=1&b=2"),
        Tag.script("function widgetHello(a, b) { return a < b && b > 0 ? '</script>' : 'x'; }"),
    ]


class Single(Tag.b):
    statics = Tag.script(_src="/single.js")  # one tag, not a list


class Raw(Tag.i):
    statics = [HTML("<meta name='x' content='y'>")]


def test_statics_render_without_generated_ids_and_keep_script_and_style_text_intact() -> None:
    assert class_statics(Widget) == (
        "<style>.w > b { color: lime }</style>",
        '<link rel="stylesheet" href="/w.css?a=1&amp;b=2">',
        "<script>function widgetHello(a, b) { return a < b && b > 0 ? '<\\/script>' : 'x'; }</script>",
    )
    assert class_statics(Single) == ('<script src="/single.js"></script>',)
    assert class_statics(Raw) == ("<meta name='x' content='y'>",)


def test_script_and_style_text_is_not_escaped_but_cannot_close_its_element() -> None:
    script = Tag.script("if (a < b && c > d) x = '</SCRIPT><!--';")
    assert script.render_children() == "if (a < b && c > d) x = '<\\/SCRIPT><\\!--';"
    assert Tag.style("a > b { x: y }").render_children() == "a > b { x: y }"
    assert Tag.p("a < b").render_children() == "a &lt; b"  # other elements: escaped as ever


def test_statics_of_other_types_are_refused() -> None:
    class Bad(Tag.div):
        statics = ["<style>not a tag</style>"]

    with pytest.raises(TypeError, match="expected statics to be Tags"):
        class_statics(Bad)


class Page(Tag.App):
    statics = [Tag.title("My <App> & co")]

    def init(self) -> None:
        self.box = Tag.div(_class="box")
        self.show = State(False)
        self <= Tag.button("add", _class="add", _onclick=lambda: self.box.add(Widget("w")))
        self <= Tag.button("toggle", _class="toggle", _onclick=lambda: self.show.set(not self.show.get()))
        self <= Tag.div(lambda: Single("s") if self.show else None, _class="lazy")
        self <= self.box


def test_statics_are_collected_once_per_class_from_components_added_later() -> None:
    app = Page()
    tree = LiveTree(app)
    app.render()
    assert tree.take_statics() == ["<title>My &lt;App&gt; &amp; co</title>"]
    app.box.add(Widget("a"), Widget("b"))
    assert tree.take_statics() == list(class_statics(Widget))
    app.box.add(Widget("c"))
    assert tree.take_statics() == []


def test_statics_come_from_components_made_by_reactive_callables() -> None:
    app = Page()
    tree = LiveTree(app)
    app.render()
    tree.take_statics()
    app.show.set(True)
    tree.collect()
    assert tree.take_statics() == ['<script src="/single.js"></script>']


def test_statics_reach_the_client_once_per_session() -> None:
    with TestClient(Page) as client:
        assert client.statics == ["<title>My &lt;App&gt; &amp; co</title>"]
        client.click("button.add")
        assert client.statics[1:] == list(class_statics(Widget))
        client.click("button.add")
        client.click("button.toggle")
        client.click("button.toggle")
        client.click("button.toggle")
        assert client.statics[1:] == [*class_statics(Widget), '<script src="/single.js"></script>']
        assert len(client.find_all(".box span")) == 2


def test_a_static_already_sent_is_not_sent_again_for_another_class() -> None:
    class Twin(Tag.span):
        statics = [Tag.style(".w > b { color: lime }")]  # the same html as Widget's first static

    app = Tag.App(Widget("w"))
    tree = LiveTree(app)
    app.render()
    tree.take_statics()
    app.add(Twin("t"))
    assert tree.take_statics() == []


def test_the_page_title_comes_from_a_title_static_escaped() -> None:
    assert title_of(Page) == "My <App> & co"
    html = render_page(Session(Page), base="", script_url="/_lt/livetag.js", debug=False)
    assert "<title>My &lt;App&gt; &amp; co</title>" in html
    assert html.count("<title>") == 1


def test_without_a_title_static_the_page_title_is_the_app_class_name() -> None:
    class NoTitle(Tag.App):
        statics = [Tag.style("p { x: y }")]

    html = render_page(Session(NoTitle), base="", script_url="/_lt/livetag.js", debug=False)
    assert "<title>NoTitle</title>" in html and "<style>p { x: y }</style></head>" in html


def test_the_first_page_carries_the_statics_of_the_whole_tree_including_reactive_children() -> None:
    class Lazy(Tag.App):
        def init(self) -> None:
            self <= Tag.div(lambda: Widget("w"))

    html = render_page(Session(Lazy), base="", script_url="/_lt/livetag.js", debug=False)
    head = html.split("</head>")[0]
    for static in class_statics(Widget):
        assert head.count(static) == 1


def test_take_update_takes_the_patch_the_new_statics_and_the_failures_once() -> None:
    class Mounted(Tag.div):
        def on_mount(self) -> None:
            pass

    def broken() -> str:
        raise ValueError("no value")

    app = Page()
    tree = LiveTree(app)
    app.render()
    tree.take_statics()
    assert tree.take_update() == ([], [], [], [], False)  # nothing changed
    app.box.add(Widget("a"))
    app.box <= Tag.span(broken)
    ops, js, statics, failures, lifecycle = tree.take_update()
    assert [op[0] for op in ops] == ["+"] and js == []
    assert statics == list(class_statics(Widget))
    assert [(what.split(" of ")[0], str(exc)) for what, exc in failures] == [("reactive child", "no value")]
    assert lifecycle is False
    assert tree.take_update() == ([], [], [], [], False)  # taken: none of it comes twice
    app.box <= Mounted()
    assert tree.take_update()[4] is True  # a hook waits for take_lifecycle
    tree.take_lifecycle()
    assert tree.take_update()[4] is False
