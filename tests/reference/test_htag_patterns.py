"""htag 2 programming patterns, as an htag user writes them, run on livetag (issue 9).

Each app below is written the way htag 2.0.28's documentation and its ``examples/``
folder write apps: the only change an htag user makes is ``from livetag import ...``.
The assertions are what htag documents (or, where its docs are silent, what its source
does). The second half ports every example app of htag's ``examples/`` folder (in our own
words: same structure and APIs, smaller content) and checks that it renders a page and
that its main interaction works.

Everything runs through ``livetag.testing.TestClient`` (a real session, no browser) or,
for the ASGI surface, Starlette's HTTP test client.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
import soupsieve
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient as HttpClient

from livetag import HTML, App, Router, State, States, Tag, WebApp, prevent, stop
from livetag.testing import TestClient


def css_rules(client: TestClient) -> list[tuple[str, str]]:
    """``(selector list, body)`` of every plain rule in the page's ``<style>`` statics
    (at-rules are skipped)."""
    rules: list[tuple[str, str]] = []
    for static in client.statics:
        for css in re.findall(r"<style[^>]*>(.*?)</style>", static, re.S):
            css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
            for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
                selector = selector.strip()
                if selector and not selector.startswith("@"):
                    rules.append((selector, body))
    return rules


def rule_for(client: TestClient, marker: str) -> str:
    """The selector of the one style rule whose body contains ``marker``."""
    found = [selector for selector, body in css_rules(client) if marker in body]
    assert len(found) == 1, f"expected one rule containing {marker!r}, got {found} in {client.statics}"
    return found[0]


def matches(client: TestClient, selector: str, css_id: str) -> bool:
    """Whether the page element ``#css_id`` (or ``body``) matches the CSS ``selector``."""
    node = client.dom.body if css_id == "body" else client.dom.body.select_one(f"#{css_id}")
    assert node is not None, f"no element #{css_id}"
    return soupsieve.match(selector, node)


# ==========================================================================================
# Construction: tags built in init() join the component; `with` blocks nest
# ==========================================================================================


class Home(Tag.div):
    def init(self) -> None:
        Tag.h1("Home")
        Tag.p("Welcome to this small app.")


class HomeApp(Tag.App):
    def init(self) -> None:
        self <= Home(_class="home")


def test_tags_created_in_init_join_the_component_without_add() -> None:
    home = Home()
    assert [c.tag for c in home.childs] == ["h1", "p"]
    with TestClient(HomeApp) as client:
        assert client.text(".home > h1") == "Home"
        assert client.text(".home > p") == "Welcome to this small app."
        assert client.errors == []


class Card(Tag.App):
    def init(self) -> None:
        with Tag.div(_class="card"):
            Tag.h2("Title")
            with Tag.div(_class="content"):
                Tag.p("This is automatically added to the content div.")
            Tag.footer("end")
        Tag.p("after", _class="after")


def test_nested_with_blocks_in_init() -> None:
    with TestClient(Card) as client:
        assert client.text(".card > h2") == "Title"
        assert client.text(".card > .content > p") == "This is automatically added to the content div."
        assert client.text(".card > footer") == "end"
        # leaving the `with` returns to the app itself
        assert client.find(".after").html.startswith("<p")
        assert client.exists("body > .after")
        assert not client.exists(".card .after")


class ExplicitAdd(Tag.App):
    def init(self) -> None:
        # Created inside init (so already in self) and then added: one child, not two.
        self <= Tag.h1("Once")
        self.label = Tag.div("label", _class="label")
        self.add(self.label)
        self += Tag.span("span")


def test_explicit_add_of_a_tag_created_in_init_does_not_duplicate_it() -> None:
    with TestClient(ExplicitAdd) as client:
        assert len(client.find_all("h1")) == 1
        assert len(client.find_all(".label")) == 1
        assert len(client.find_all("span")) == 1
        assert [c.tag for c in client.session.app.childs] == ["h1", "div", "span"]


class WithInHandler(Tag.App):
    def init(self) -> None:
        self.out = Tag.div(_class="out")
        Tag.button("go", _class="go", _onclick=self.go)

    def go(self, e: Any) -> None:
        with self.out:
            Tag.p("in out", _class="p1")
            with Tag.ul(_class="list"):
                Tag.li("a")
                Tag.li("b")
        with Tag.section(_class="box") as box:
            Tag.span("in box")
        self <= box
        with self:
            Tag.p("in app", _class="p2")
        loose = Tag.em("loose", _class="loose")
        self.out <= loose


def test_nested_with_blocks_inside_a_handler() -> None:
    with TestClient(WithInHandler) as client:
        client.click(".go")
        assert client.text(".out > .p1") == "in out"
        assert [li.text for li in client.find_all(".out > .list > li")] == ["a", "b"]
        assert client.text("body > .box > span") == "in box"
        assert client.text("body > .p2") == "in app"
        assert len(client.find_all(".loose")) == 1 and client.exists(".out > .loose")
        assert client.errors == []
        client.assert_synced()


class MyTag(Tag.div):
    def init(self, **kwargs: Any) -> None:
        self.seen_in_init = getattr(self, "v", None)
        self.kwargs = kwargs
        self <= f"Value is {self.v}"


class Named(Tag.div):
    def init(self, name: str, color: str = "red") -> None:
        self.seen = (getattr(self, "name", None), name, color)
        self <= f"{name} in {color}"


def test_plain_keyword_arguments_become_attributes_before_init_and_reach_init() -> None:
    t = MyTag(v=42)
    assert t.v == 42
    assert t.seen_in_init == 42
    assert t.kwargs == {"v": 42}
    assert t.text == "Value is 42"
    n = Named(name="bob", color="blue")
    assert n.name == "bob" and n.color == "blue"
    assert n.seen == ("bob", "bob", "blue")
    # a plain keyword next to an HTML attribute
    m = MyTag(v=1, _class="x")
    assert m.v == 1 and m["class"] == "x" and m.kwargs == {"v": 1}


def test_plain_keyword_on_a_builtin_tag_is_an_attribute_not_an_error() -> None:
    # htag's examples write Tag.link(rel=..., href=...) and Tag.span("x", style=...)
    link = Tag.link(rel="stylesheet", href="https://example.com/x.css")
    assert link.rel == "stylesheet" and link.href == "https://example.com/x.css"
    span = Tag.span("snake", style="font-size: 64px")
    assert span.style == "font-size: 64px"
    assert span.text == "snake"


def test_childs_is_a_list() -> None:
    a, b = Tag.span("a"), Tag.span("b")
    d = Tag.div(a, "text", b)
    assert isinstance(d.childs, list)
    assert d.childs == [a, "text", b]
    assert d.childs[0] is a


def test_tag_attribute_is_the_element_name() -> None:
    assert Tag.sl_button().tag == "sl-button"
    assert Tag.div().tag == "div"
    assert Tag.my_custom_widget("x").tag == "my-custom-widget"
    assert Home().tag == "div"
    assert Tag.App().tag == "body"


def test_adding_tags_makes_lists_and_le_adds_them_all() -> None:
    a, b, c = Tag.span("a"), Tag.span("b"), Tag.span("c")
    assert a + b == [a, b]
    assert a + [b, c] == [a, b, c]
    assert [a, b] + c == [a, b, c]
    assert "x" + a == ["x", a]
    assert a + "y" == [a, "y"]
    d = Tag.div()
    d <= a + b
    assert d.childs == [a, b]
    d += [c]
    assert d.childs == [a, b, c]


def test_root_is_none_for_a_detached_tag_and_the_app_once_attached() -> None:
    lone = Tag.div()
    assert lone.root is None
    parent = Tag.div()
    child = Tag.span()
    parent <= child
    assert child.root is None
    assert child.parent is parent
    app = Tag.App()
    app <= parent
    assert child.root is app
    assert parent.root is app
    parent.remove()
    assert child.root is None


@pytest.mark.parametrize("name", ["add", "remove", "clear", "update", "call_js"])
def test_tag_api_names_are_not_element_factories(name: str) -> None:
    with pytest.raises(AttributeError):
        getattr(Tag, name)


def test_tag_div_add_is_the_unbound_add_method() -> None:
    # htag's examples call the base method explicitly: Tag.div.add(parent, child)
    parent, child = Tag.div(), Tag.span("c")
    Tag.div.add(parent, child)
    assert parent.childs == [child]


# ==========================================================================================
# State / States / Event
# ==========================================================================================


class User:
    def __init__(self, name: str) -> None:
        self.name = name


def test_state_str_and_repr_show_the_value() -> None:
    assert str(State(5)) == "5"
    assert repr(State("a")) == "'a'"
    assert f"count={State(3)}" == "count=3"
    assert str(State([1, 2])) == "[1, 2]"
    assert repr(States(x=1).x) == "1"


def test_state_get_with_no_arguments_and_dict_delegation() -> None:
    s = State(7)
    assert s.get() == 7
    d = State({"a": 1})
    assert d.get() == {"a": 1}
    assert d.get("a") == 1
    assert d.get("zz", "default") == "default"


def test_state_attribute_get_set_and_delete_delegate_to_the_value() -> None:
    user = User("Alice")
    s = State(user)
    assert s.name == "Alice"
    s.name = "Bob"
    assert user.name == "Bob"
    s.age = 30
    assert user.age == 30
    del s.age
    assert not hasattr(user, "age")


class UserApp(Tag.App):
    def init(self) -> None:
        self.user = State(User("Alice"))
        Tag.p(lambda: f"Hello {self.user.name}", _class="who")
        Tag.button("rename", _class="rename", _onclick=self.rename)

    def rename(self, e: Any) -> None:
        self.user.name = "Bob"  # mutates the User and re-renders


def test_state_attribute_assignment_rerenders() -> None:
    with TestClient(UserApp) as client:
        assert client.text(".who") == "Hello Alice"
        client.click(".rename")
        assert client.text(".who") == "Hello Bob"
        assert client.errors == []


def test_states_load_accepts_new_names_and_dump_returns_them() -> None:
    s = States(count=0)
    s.load({"count": 42, "fresh": "new"})
    assert s.count == 42
    assert s.fresh == "new"
    assert isinstance(s.fresh, State)
    assert s.dump() == {"count": 42, "fresh": "new"}
    s.fresh = "changed"
    assert s.dump()["fresh"] == "changed"


def test_state_constructor_is_idempotent() -> None:
    s = State(1)
    assert State(s) is s


class EventInFString(Tag.App):
    def init(self) -> None:
        b = Tag.button("add", _class="add", _onclick=self.onclick)
        b.a_var = 42
        self <= b

    def onclick(self, event: Any) -> None:
        self <= Tag.div(f"hello {event.target.a_var} {event}", _class="msg")


def test_str_of_an_event_is_readable_in_an_f_string() -> None:
    with TestClient(EventInFString) as client:
        client.click(".add")
        text = client.text(".msg")
        assert text.startswith("hello 42 ")
        assert "click" in text
        assert "object at 0x" not in text
        assert client.errors == []


# ==========================================================================================
# Execution model: update(throttle), user methods named like internals, asyncio in plain def
# ==========================================================================================


class Throttled(Tag.App):
    def init(self) -> None:
        self.out = Tag.div("waiting", _class="out")
        self.fast = Tag.div("waiting", _class="fast")
        Tag.button("go", _class="go", _onclick=self.go)

    async def go(self, e: Any) -> None:
        async def work() -> None:
            await asyncio.sleep(0.01)
            self.out.text = "done"
            self.update(throttle=0.1)
            self.fast.text = "now"
            self.fast.update(throttle=0)

        self.task = asyncio.create_task(work())


def test_update_accepts_a_throttle() -> None:
    with TestClient(Throttled) as client:
        client.click(".go")
        client.wait_for(lambda c: c.text(".out") == "done" and c.text(".fast") == "now", timeout=2)
        assert client.errors == []
        client.assert_synced()


class Explorer(Tag.div):
    """main4.py's pattern: a component with its own render() that rebuilds itself."""

    def init(self, names: list[str], on_select: Any) -> None:
        self["class"] = "explorer"
        self.names = names
        self.selected: str | None = None
        self.on_select = on_select
        self.render()

    def render(self) -> None:
        self.clear()
        for name in self.names:
            cls = "item selected" if name == self.selected else "item"
            self <= Tag.div(name, _class=cls, _onclick=lambda e, n=name: self.select(n))

    def select(self, name: str) -> None:
        self.selected = name
        self.on_select(name)
        self.render()


class ExplorerApp(Tag.App):
    def init(self) -> None:
        self.status = Tag.p("none", _class="status")
        self.explorer = Explorer(["a.txt", "b.txt", "c.txt"], self.chosen)

    def chosen(self, name: str) -> None:
        self.status.text = f"selected {name}"


def test_a_component_with_its_own_render_method_updates() -> None:
    with TestClient(ExplorerApp) as client:
        assert [e.text for e in client.find_all(".explorer > .item")] == ["a.txt", "b.txt", "c.txt"]
        client.click(".explorer > .item:nth-child(2)")
        assert client.text(".status") == "selected b.txt"
        assert [e.text for e in client.find_all(".item.selected")] == ["b.txt"]
        client.click(".explorer > .item:nth-child(3)")
        assert [e.text for e in client.find_all(".item.selected")] == ["c.txt"]
        assert client.errors == []
        client.assert_synced()


class Namesakes(Tag.div):
    """User methods and attributes named like framework ones."""

    def init(self) -> None:
        self["class"] = "namesakes"
        self.count = 0
        self.label = Tag.span("0", _class="n")
        self <= self.label
        self <= Tag.button("inc", _class="inc", _onclick=self.handler)

    def handler(self, e: Any) -> None:
        self.count += 1
        self.label.text = str(self.count)
        self.render()

    def render(self) -> str:
        self["data-rendered"] = str(self.count)
        return "user render"

    def walk(self) -> str:
        return "user walk"

    def attrs(self) -> dict[str, str]:
        return {"mine": "yes"}

    def render_children(self) -> str:
        return "user render_children"

    def find_tag(self, x: Any) -> str:
        return "user find_tag"

    def ancestors(self) -> str:
        return "user ancestors"


class NamesakesApp(Tag.App):
    def init(self) -> None:
        self.box = Namesakes()
        Tag.p(lambda: "", _class="reactive")


def test_user_methods_named_like_internals_do_not_break_updates() -> None:
    with TestClient(NamesakesApp) as client:
        assert client.text(".namesakes .n") == "0"
        client.click(".namesakes .inc")
        client.click(".namesakes .inc")
        assert client.text(".namesakes .n") == "2"
        assert client.find(".namesakes")["data-rendered"] == "2"
        box = client.session.app.box
        assert box.walk() == "user walk" and box.attrs() == {"mine": "yes"}
        assert client.errors == []
        client.assert_synced()


class Clock(Tag.div):
    """components.md's clock: a plain `def on_mount` starting an asyncio task."""

    def init(self) -> None:
        self["class"] = "clock"
        self.count = State(0)
        self <= Tag.span(self.count, _class="count")

    def on_mount(self):
        async def run():
            while True:
                self.count += 1
                await asyncio.sleep(0.01)

        self.task = asyncio.create_task(run())

    def on_unmount(self) -> None:
        self.task.cancel()


class ClockApp(Tag.App):
    def init(self) -> None:
        self <= Clock()


def test_clock_on_mount_task_ticks_and_the_page_updates() -> None:
    with TestClient(ClockApp) as client:
        client.wait_for(lambda c: int(c.text(".count")) >= 3, timeout=3)
        assert client.errors == []


class PlainCounter(Tag.div):
    """The same clock with a plain attribute and a manual update()."""

    def init(self) -> None:
        self["class"] = "plain"
        self.ticks = 0

    def on_mount(self) -> None:
        async def run() -> None:
            while True:
                await asyncio.sleep(0.01)
                self.ticks += 1
                self.text = str(self.ticks)
                self.update()

        self.task = asyncio.create_task(run())


class PlainCounterApp(Tag.App):
    def init(self) -> None:
        self <= PlainCounter()


def test_plain_attribute_ticker_with_manual_update() -> None:
    with TestClient(PlainCounterApp) as client:
        client.wait_for(lambda c: c.text(".plain").isdigit() and int(c.text(".plain")) >= 3, timeout=3)
        assert client.errors == []


class AsyncioInPlainDef(Tag.App):
    def init(self) -> None:
        self.out = Tag.div("", _class="out")
        self.boot = Tag.div("", _class="boot")
        Tag.button("go", _class="go", _onclick=self.go)
        # htag runs init inside the event loop: create_task works there too
        self.boot_task = asyncio.create_task(self.booted())

    async def booted(self) -> None:
        await asyncio.sleep(0)
        self.boot.text = "booted"

    def go(self, e: Any) -> None:
        loop = asyncio.get_running_loop()
        assert loop.is_running()

        async def later() -> None:
            await asyncio.sleep(0.01)
            self.out.text = "later"

        self.task = asyncio.create_task(later())


def test_plain_def_init_and_handler_may_use_asyncio() -> None:
    with TestClient(AsyncioInPlainDef) as client:
        client.wait_for(lambda c: c.text(".boot") == "booted", timeout=2)
        client.click(".go")
        client.wait_for(lambda c: c.text(".out") == "later", timeout=2)
        assert client.errors == []


class Generators(Tag.App):
    def init(self) -> None:
        self.out = Tag.div(_class="out")
        Tag.button("sync", _class="sync", _onclick=self.sync_gen)
        Tag.button("async", _class="async", _onclick=self.async_gen)

    def sync_gen(self, e: Any):
        self.out <= "Starting..."
        yield
        self.out <= "Halfway..."
        yield
        self.out <= "Finished!"

    async def async_gen(self, e: Any):
        self.out.text = "Fetching..."
        yield
        await asyncio.sleep(0.01)
        self.out.text = "Data ready!"


def test_generator_handlers_sync_and_async() -> None:
    with TestClient(Generators) as client:
        client.click(".sync")
        assert client.text(".out") == "Starting...Halfway...Finished!"
        client.click(".async")
        client.wait_for(lambda c: c.text(".out") == "Data ready!", timeout=2)
        assert client.errors == []


# ==========================================================================================
# Router
# ==========================================================================================


class RHome(Tag.div):
    def init(self) -> None:
        Tag.h1("Home")
        Tag.a("Check Page 1", _href="#/page1")


class RPage1(Tag.div):
    def init(self) -> None:
        Tag.h1("Page 1")
        Tag.a("Back to Home", _href="#/")


class ProfilePage(Tag.div):
    mounted: list[str] = []

    def init(self, user_id: str) -> None:
        self.id = user_id
        self <= Tag.h2(f"User Profile: {user_id}")
        self.likes = 0
        self.counter = Tag.span("0", _class="likes")
        self <= self.counter
        self <= Tag.button("like", _class="like", _onclick=self.like)

    def on_mount(self) -> None:
        ProfilePage.mounted.append(self.id)

    def like(self, e: Any) -> None:
        self.likes += 1
        self.counter.text = str(self.likes)


class RouterApp(Tag.App):
    def init(self) -> None:
        self.router = Router()
        self.router.add_route("/", RHome)
        self.router.add_route("/page1", RPage1)
        self.router.add_route("/users/:user_id", ProfilePage)
        with Tag.nav():
            Tag.a("Home", _href="#/", _class=lambda: "active" if self.router.path == "/" else "")
            Tag.a("Page 1", _href="#/page1", _class=lambda: "active" if self.router.path == "/page1" else "")
        Tag.button("login", _class="login", _onclick=self.login)
        self <= self.router

    def login(self, e: Any) -> None:
        self.router.navigate("/page1")


def test_router_routes_and_reactive_path() -> None:
    with TestClient(RouterApp) as client:
        client.wait_for(lambda c: c.exists("h1"), timeout=2)
        assert client.text("h1") == "Home"
        assert client.find("nav a:nth-child(1)").has_class("active")
        client.navigate("/page1")
        assert client.text("h1") == "Page 1"
        assert client.session.app.router.path == "/page1"
        assert client.find("nav a:nth-child(2)").has_class("active")
        assert not client.find("nav a:nth-child(1)").has_class("active")
        client.navigate("/")
        assert client.text("h1") == "Home"
        assert client.errors == []


def test_router_navigate_sets_the_hash() -> None:
    with TestClient(RouterApp) as client:
        client.wait_for(lambda c: c.exists("h1"), timeout=2)
        client.click(".login")
        assert any("/page1" in s for s in client.scripts), client.scripts
        client.navigate("/page1")  # the hashchange the browser fires for it
        assert client.text("h1") == "Page 1"
        assert client.errors == []


def test_router_injects_params_and_a_page_may_set_its_own_id() -> None:
    ProfilePage.mounted.clear()
    with TestClient(RouterApp) as client:
        client.wait_for(lambda c: c.exists("h1"), timeout=2)
        client.navigate("/users/manatlan")
        assert client.text("h2") == "User Profile: manatlan"
        page = client.session.app.router.childs[0]
        assert isinstance(page, ProfilePage)
        assert page.id == "manatlan"
        client.wait_for(lambda c: ProfilePage.mounted == ["manatlan"], timeout=2)
        # the element id follows the assignment, and the page stays interactive
        assert client.text("#manatlan h2") == "User Profile: manatlan"
        client.click("#manatlan .like")
        client.click("#manatlan .like")
        assert client.text("#manatlan .likes") == "2"
        client.navigate("/users/bob")
        assert client.text("#bob h2") == "User Profile: bob"
        assert not client.exists("#manatlan")
        assert client.errors == []
        client.assert_synced()


def test_router_default_404_page() -> None:
    with TestClient(RouterApp) as client:
        client.wait_for(lambda c: c.exists("h1"), timeout=2)
        client.navigate("/nowhere")
        text = client.text()
        assert "404" in text and "/nowhere" in text
        assert client.session.app.router.path == "/nowhere"
        assert client.errors == []


class MyNotFound(Tag.div):
    def init(self, path=None):
        self <= Tag.h1("Ouch! Where are we?")
        self <= Tag.p(f"I couldn't find path: {path}", _class="missing")


class NoPath404(Tag.div):
    def init(self) -> None:
        self <= Tag.h1("Lost", _class="lost")


def test_router_custom_not_found_receives_the_path() -> None:
    class App404(Tag.App):
        def init(self) -> None:
            self.router = Router()
            self.router.add_route("/", RHome)
            self.router.set_not_found(MyNotFound)
            self <= self.router

    with TestClient(App404) as client:
        client.navigate("/where/is/it")
        assert client.text("h1") == "Ouch! Where are we?"
        assert client.text(".missing") == "I couldn't find path: /where/is/it"
        assert client.errors == []


def test_router_not_found_without_a_path_parameter() -> None:
    class AppLost(Tag.App):
        def init(self) -> None:
            self.router = Router()
            self.router.add_route("/", RHome)
            self.router.set_not_found(NoPath404)
            self <= self.router

    with TestClient(AppLost) as client:
        client.navigate("/nope")
        assert client.text(".lost") == "Lost"
        assert client.errors == []


# ==========================================================================================
# Scoped styles and statics
# ==========================================================================================


class MyCard(Tag.div):
    styles = """
        .panel { border-top-color: rgb(1, 2, 3); }
        .title { color: rgb(4, 5, 6); font-weight: bold; }
        div { outline-color: rgb(7, 8, 9); }
        p { margin-left: 11px; }
        .title:hover, .content > em { letter-spacing: 2px; }
    """

    def init(self, title: str) -> None:
        self["class"] = "panel"
        self <= Tag.h2(title, _class="title", _id="card-title")
        with Tag.div(_class="content", _id="card-content"):
            Tag.p("No style leaking!", _id="card-p")
            Tag.em("em", _id="card-em")


class StyledApp(Tag.App):
    def init(self) -> None:
        self <= MyCard("Hello", _id="card")
        Tag.h2("outside", _class="title", _id="out-title")
        Tag.div(Tag.p("outside p", _id="out-p"), _class="panel", _id="out-panel")


def test_scoped_styles_match_the_component_element_and_its_descendants() -> None:
    with TestClient(StyledApp) as client:
        panel = rule_for(client, "rgb(1, 2, 3)")
        title = rule_for(client, "rgb(4, 5, 6)")
        div = rule_for(client, "rgb(7, 8, 9)")
        p = rule_for(client, "11px")
        em = rule_for(client, "letter-spacing")
        # the component's own element
        assert matches(client, panel, "card")
        assert matches(client, div, "card")
        # descendants
        assert matches(client, title, "card-title")
        assert matches(client, div, "card-content")
        assert matches(client, p, "card-p")
        assert matches(client, em, "card-em")
        # no leak outside the component
        assert not matches(client, title, "out-title")
        assert not matches(client, panel, "out-panel")
        assert not matches(client, p, "out-p")
        assert not matches(client, div, "out-panel")


class BodyStyledApp(Tag.App):
    styles = """
        body { background-color: rgb(248, 250, 252); }
        .card { padding: 30px; }
    """

    def init(self) -> None:
        Tag.div("inside", _class="card", _id="c1")


def test_scoped_styles_of_an_app_match_its_body() -> None:
    with TestClient(BodyStyledApp) as client:
        assert matches(client, rule_for(client, "rgb(248, 250, 252)"), "body")
        assert matches(client, rule_for(client, "30px"), "c1")


class TitledApp(Tag.App):
    statics = [Tag.title("My htag page"), Tag.style("body { margin: 0; }")]

    def init(self) -> None:
        self <= Tag.h1("Titled")


def test_statics_title_sets_the_page_title() -> None:
    with HttpClient(WebApp(TitledApp).app) as http:
        response = http.get("/")
        assert response.status_code == 200
        assert re.search(r"<title>\s*My htag page\s*</title>", response.text)
        assert "body { margin: 0; }" in response.text
        assert "Titled" in response.text


# ==========================================================================================
# Events: forms, magic bind, prevent/stop, call_js
# ==========================================================================================


class MyForm(Tag.form):
    def init(self) -> None:
        self.result = Tag.div(_class="result")
        self.values: Any = None
        self <= Tag.input(_name="user", _value="bob")
        self <= Tag.input(_name="email", _value="bob@mail.com")
        self <= Tag.input(_type="submit")
        self["onsubmit"] = self.post

    @prevent
    def post(self, e: Any) -> None:
        self.values = e.value
        self.result.text = f"Submitting: {e['user']} ({e['email']})"


class FormApp(Tag.App):
    def init(self) -> None:
        self.form = MyForm()


def test_form_submit_gives_a_dict_and_subscript_access() -> None:
    with TestClient(FormApp) as client:
        client.fill("input[name=user]", "alice")
        client.submit("form")
        assert client.text(".result") == "Submitting: alice (bob@mail.com)"
        assert client.session.app.form.values == {"user": "alice", "email": "bob@mail.com"}
        assert client.errors == []


class MagicBind(Tag.App):
    def init(self) -> None:
        self.entry = Tag.input(_value="Initial")
        self <= self.entry
        self <= Tag.button("Show", _onclick=lambda e: self.add(Tag.p(f"Value is: {self.entry['value']}")))


def test_magic_bind_keeps_input_values_on_the_server() -> None:
    with TestClient(MagicBind) as client:
        client.click("button")
        assert client.text("p") == "Value is: Initial"
        client.fill("input", "typed")
        client.click("button")
        assert [p.text for p in client.find_all("p")] == ["Value is: Initial", "Value is: typed"]
        assert client.session.app.entry["value"] == "typed"


class PreventStop(Tag.App):
    def init(self) -> None:
        self.log: list[str] = []
        with Tag.form(_onsubmit=self.submitted):
            Tag.input(_name="q", _value="x")
            Tag.button("decorated", _class="decorated", _type="submit", _onclick=self.decorated)
            Tag.button("runtime", _class="runtime", _type="submit", _onclick=prevent(self.plain))
            Tag.button("normal", _class="normal", _type="submit", _onclick=self.plain)
        with Tag.div(_class="outer", _onclick=self.outer):
            Tag.button("stopped", _class="stopped", _type="button", _onclick=self.stopped)
            Tag.button("rstopped", _class="rstopped", _type="button", _onclick=stop(self.plain))
            Tag.button("bubbles", _class="bubbles", _type="button", _onclick=self.plain)

    @prevent
    def decorated(self, e: Any) -> None:
        self.log.append("decorated")

    @stop
    def stopped(self, e: Any) -> None:
        self.log.append("stopped")

    def plain(self, e: Any) -> None:
        self.log.append("plain")

    def outer(self, e: Any) -> None:
        self.log.append("outer")

    def submitted(self, e: Any) -> None:
        self.log.append("submit")


def test_prevent_and_stop_as_decorators_and_on_bound_methods_at_runtime() -> None:
    with TestClient(PreventStop) as client:
        log = client.session.app.log
        client.click(".decorated")
        assert log == ["decorated"]
        log.clear()
        client.click(".runtime")
        assert log == ["plain"]
        log.clear()
        client.click(".normal")
        assert log == ["plain", "submit"]
        log.clear()
        client.click(".stopped")
        assert log == ["stopped"]
        log.clear()
        client.click(".rstopped")
        assert log == ["plain"]
        log.clear()
        client.click(".bubbles")
        assert log == ["plain", "outer"]
        assert client.errors == []


def test_prevent_on_a_bound_method_keeps_the_method_usable() -> None:
    class F(Tag.form):
        def init(self) -> None:
            self["onsubmit"] = prevent(self.handle_submit)

        def handle_submit(self, e: Any) -> str:
            return "handled"

    f = F()
    assert f.handle_submit(None) == "handled"


class Boom(Tag.App):
    def init(self) -> None:
        Tag.button("boom", _class="boom", _onclick=self.boom)

    def boom(self, e: Any) -> None:
        self.call_js("alert('BOOM!')")


def test_call_js_sends_the_script() -> None:
    with TestClient(Boom) as client:
        client.click(".boom")
        assert "alert('BOOM!')" in client.scripts


# ==========================================================================================
# App, ASGI surface, on_destroy
# ==========================================================================================


class Production(App):
    def init(self) -> None:
        self <= Tag.h1("Production App")


def test_app_is_importable_and_is_tag_app() -> None:
    from livetag import App

    assert issubclass(App, Tag)
    assert issubclass(Tag.App, App) or issubclass(App, Tag.App)
    with TestClient(Production) as client:
        assert client.text("h1") == "Production App"


def test_app_property_and_webapp_app_are_starlette_apps() -> None:
    from_instance = Production().app
    assert isinstance(from_instance, Starlette)
    from_runner = WebApp(Production, debug=False).app
    assert isinstance(from_runner, Starlette)
    for asgi in (from_instance, from_runner):
        with HttpClient(asgi) as http:
            response = http.get("/")
            assert response.status_code == 200
            assert "Production App" in response.text


def test_on_destroy_runs_on_query_n() -> None:
    destroyed: list[int] = []

    class Mortal(Tag.App):
        def init(self) -> None:
            self.serial = len(destroyed)
            self <= Tag.h1("mortal")

        def on_destroy(self) -> None:
            destroyed.append(self.serial)

    with HttpClient(WebApp(Mortal).app, base_url="https://testserver") as http:
        assert http.get("/").status_code == 200
        assert http.get("/").status_code == 200
        assert destroyed == []
        response = http.get("/?n")
        assert response.status_code == 200
        assert "mortal" in response.text
        assert destroyed == [0]


# ==========================================================================================
# htag's examples/ folder, ported (same structure and APIs, our own content)
# ==========================================================================================


class ExMain(Tag.App):
    """examples/main.py: a button with an attribute set after construction, a generator
    handler, call_js on the target, and a @prevent context-menu handler."""

    def init(self):
        b = Tag.button("add", _onclick=self.onclick, _oncontextmenu=self.onmenu, _style="color:green")
        b.a_var = 42
        self <= b

    def onclick(self, event):
        self <= Tag.div(f"hello {event.target.a_var} {event}", _class="hello")
        self <= "hello"
        yield
        self <= "hello2"
        event.target.a_var += 1
        event.target["style"] = "color:blue"
        event.target <= Tag.span("added")
        event.target.call_js("console.log('clicked')")

    @prevent
    def onmenu(self, event):
        event.target <= Tag.span("menu", _class="menu")


def test_example_main() -> None:
    with TestClient(ExMain) as client:
        assert client.text("button") == "add"
        client.click("button")
        assert client.text(".hello").startswith("hello 42 ")
        assert "hello2" in client.text()
        assert client.find("button")["style"] == "color:blue"
        assert client.text("button span") == "added"
        assert "console.log('clicked')" in client.scripts
        assert client.session.app.childs[0].a_var == 43
        client.event("button", "contextmenu")
        assert client.text("button .menu") == "menu"
        assert client.errors == []
        client.assert_synced()


class ExMain1(Tag.App):
    """examples/main1.py: States + nested with blocks + the .text property."""

    def init(self):
        self.state = States(counter=0)
        with Tag.div(_style="padding: 20px"):
            Tag.h2("Feature demo")
            with Tag.div(_class="box1"):
                Tag.h3("1. Reactive state")
                Tag.div(lambda: f"Counter: {self.state.counter.value}", _class="counter")
                Tag.button("Increment", _class="inc", _onclick=self.increment)
            with Tag.div(_class="box2"):
                Tag.h3("2. The .text property")
                self.message_label = Tag.div("Initial text", _class="label")
                Tag.button("Change text", _class="change", _onclick=self.change_text)

    def increment(self, e):
        self.state.counter.value += 1

    def change_text(self, e):
        self.message_label.text = "Replaced via .text"


def test_example_main1() -> None:
    with TestClient(ExMain1) as client:
        assert client.text("h2") == "Feature demo"
        assert client.text(".counter") == "Counter: 0"
        client.click(".inc")
        client.click(".inc")
        assert client.text(".counter") == "Counter: 2"
        assert client.text(".box2 > .label") == "Initial text"
        client.click(".change")
        assert client.text(".label") == "Replaced via .text"
        assert client.errors == []


class MessageBox(Tag.div):
    styles = """
        .msgbox-card { background: white; padding: 40px; }
        .msgbox-title { color: #1a73e8; }
    """

    def init(self, title, message):
        with Tag.div(_class="msgbox-card"):
            Tag.h2(title, _class="msgbox-title")
            Tag.p(message, _class="msgbox-text")
            Tag.button("OK", _onclick=lambda e: self.remove(), _class="ok")


class ExMain2(Tag.App):
    """examples/main2.py: a user directory with a reactive table body, inputs read on
    click, per-row delete lambdas and a scoped-style message box added from a handler."""

    statics = [
        Tag.link(rel="stylesheet", href="https://fonts.example.com/inter.css"),
        Tag.style("body { margin: 0; }"),
    ]

    def init(self):
        self.state = States(users=[{"name": "Alice", "age": 75}, {"name": "Bob", "age": 36}])
        with Tag.div(_class="container"):
            Tag.h1("User Directory")
            with Tag.div(_class="card form-card"):
                self.i_name = Tag.input(_value="", _placeholder="Full Name", _class="name")
                self.i_age = Tag.input(_value="", _placeholder="Age", _type="number", _class="age")
                Tag.button("Add Member", _onclick=self.add_person, _class="add")
            with Tag.div(_class="card"), Tag.table():
                with Tag.thead(), Tag.tr():
                    Tag.th("NAME")
                    Tag.th("AGE")
                    Tag.th("")
                Tag.tbody(lambda: [
                    Tag.tr([
                        Tag.td(person["name"], _class="name-cell"),
                        Tag.td(str(person["age"])),
                        Tag.td(Tag.button("x", _onclick=lambda e, p=person: self.del_person(p), _class="del")),
                    ]) for person in self.state.users.value
                ])

    def del_person(self, person):
        self.state.users.value = [p for p in self.state.users.value if p != person]

    def add_person(self, event):
        name = self.i_name["value"]
        age = self.i_age["value"]
        if name and age:
            self.state.users.value = self.state.users.value + [{"name": name, "age": int(age)}]
            self.i_name["value"] = ""
            self.i_age["value"] = ""
        else:
            self <= MessageBox("Validation Error", "Please provide a name and an age.")


def test_example_main2() -> None:
    with TestClient(ExMain2) as client:
        assert client.text("h1") == "User Directory"
        names = lambda: [td.text for td in client.find_all(".name-cell")]  # noqa: E731
        assert names() == ["Alice", "Bob"]
        client.click(".add")  # empty inputs: a message box
        assert client.text(".msgbox-title") == "Validation Error"
        client.click(".msgbox-card .ok")
        assert not client.exists(".msgbox-card")
        client.fill("input.name", "Carol")
        client.fill("input.age", "41")
        client.click(".add")
        assert names() == ["Alice", "Bob", "Carol"]
        client.click("tbody tr:nth-child(1) .del")
        assert names() == ["Bob", "Carol"]
        client.click("tbody tr:nth-child(2) .del")
        assert names() == ["Bob"]
        assert client.errors == []


class ExMain3(Tag.App):
    """examples/main3.py: a grid game whose cells are reactive lambdas with default
    arguments (content and class), a numpad, and a status line set with .text."""

    SOLUTION = [[1, 2, 3], [2, 3, 1], [3, 1, 2]]

    def init(self):
        puzzle = [[1, 0, 3], [2, 3, 0], [0, 1, 2]]
        self.fixed = [[v != 0 for v in row] for row in puzzle]
        self.state = States(grid=puzzle, selected=None)
        with Tag.div(_class="container"):
            Tag.h1("Mini grid")
            with Tag.div(_class="board"):
                for r in range(3):
                    for c in range(3):
                        Tag.div(
                            lambda r=r, c=c: self._val(r, c),
                            _class=lambda r=r, c=c: self._cls(r, c),
                            _id=f"cell-{r}-{c}",
                            _onclick=lambda e, r=r, c=c: self.select_cell(r, c),
                        )
            with Tag.div(_class="numpad"):
                for i in range(1, 4):
                    Tag.button(str(i), _class=f"num n{i}", _onclick=lambda e, n=i: self.input_num(n))
            self.status_box = Tag.div("", _class="status")

    def _val(self, r, c):
        v = self.state.grid.value[r][c]
        return str(v) if v else ""

    def _cls(self, r, c):
        cls = ["cell"]
        if self.fixed[r][c]:
            cls.append("fixed")
        if self.state.selected.value == (r, c):
            cls.append("selected")
        return " ".join(cls)

    def select_cell(self, r, c):
        if not self.fixed[r][c]:
            self.state.selected.value = (r, c)

    def input_num(self, n):
        if self.state.selected.value:
            r, c = self.state.selected.value
            grid = [row[:] for row in self.state.grid.value]
            grid[r][c] = n
            self.state.grid.value = grid
            if grid == self.SOLUTION:
                self.status_box.text = "SOLVED"
                self.state.selected.value = None


def test_example_main3() -> None:
    with TestClient(ExMain3) as client:
        assert client.text("h1") == "Mini grid"
        assert len(client.find_all(".board > .cell")) == 9
        assert client.find("#cell-0-0").has_class("fixed")
        client.click("#cell-0-1")
        assert client.find("#cell-0-1").has_class("selected")
        client.click(".n2")
        assert client.text("#cell-0-1") == "2"
        client.click("#cell-1-2")
        client.click(".n1")
        client.click("#cell-2-0")
        client.click(".n3")
        assert client.text(".status") == "SOLVED"
        assert not client.find_all(".selected")
        assert client.errors == []
        client.assert_synced()


class Sidebar(Tag.div):
    styles = """
        .sidebar { width: 200px; }
        .nav-item { cursor: pointer; }
    """

    def init(self, go_to_callback):
        self["class"] = "sidebar"
        self <= Tag.div("Favorites", _class="sidebar-title")
        self <= Tag.div("Root", _class="nav-item root", _onclick=lambda e: go_to_callback(self.base))
        self <= Tag.div("Sub", _class="nav-item sub", _onclick=lambda e: go_to_callback(self.base / "sub"))


class FileList(Tag.div):
    styles = """
        .item { padding: 4px; }
        .item.selected { font-weight: bold; }
    """

    def init(self, path, selected_file, select_callback):
        self["class"] = "explorer"
        self.path = path
        self.selected_file = selected_file
        self.select_callback = select_callback
        self.render()

    def render(self):
        self.clear()
        for item in sorted(self.path.iterdir(), key=lambda p: (not p.is_dir(), p.name)):
            cls = "folder" if item.is_dir() else "file"
            sel = "selected" if self.selected_file == item else ""
            div = Tag.div(_class=f"item {cls} {sel}", _onclick=lambda e, p=item: self.select_callback(p))
            div <= Tag.span(item.name, _class="name")
            self <= div


class Viewer(Tag.div):
    def init(self, file_path, close_callback):
        self["class"] = "preview-panel"
        self.file_path = file_path
        self.close_callback = close_callback
        self.render()

    def render(self):
        self.clear()
        header = Tag.div(_class="preview-header")
        header <= Tag.span(self.file_path.name, _class="preview-title")
        header <= Tag.button("x", _class="close-btn", _onclick=lambda e: self.close_callback())
        self <= header
        content = Tag.div(_class="preview-content")
        content += self.file_path.read_text()
        self <= content


class ExMain4(Tag.App):
    """examples/main4.py: a file explorer of components that rebuild themselves with their
    own render() method, wired by callbacks."""

    base = Path(".")

    def init(self):
        Sidebar.base = self.base
        self.current = self.base
        self.selected = None
        with Tag.div(_class="layout"):
            self.sidebar = Sidebar(self.go_to)
            self.main = Tag.div(_class="main")
        self.refresh()

    def go_to(self, path):
        self.current = path
        self.selected = None
        self.refresh()

    def select(self, path):
        if path.is_dir():
            self.go_to(path)
        else:
            self.selected = path
            self.refresh()

    def close(self):
        self.selected = None
        self.refresh()

    def refresh(self):
        self.main.clear()
        self.main <= FileList(self.current, self.selected, self.select)
        if self.selected:
            self.main <= Viewer(self.selected, self.close)


def test_example_main4(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "sub" / "b.txt").write_text("beta")

    class Rooted(ExMain4):
        base = tmp_path

    with TestClient(Rooted) as client:
        assert [s.text for s in client.find_all(".explorer .name")] == ["sub", "a.txt"]
        client.click(".explorer .file")
        assert client.text(".preview-title") == "a.txt"
        assert client.text(".preview-content") == "alpha"
        assert client.find(".explorer .file").has_class("selected")
        client.click(".close-btn")
        assert not client.exists(".preview-panel")
        client.click(".explorer .folder")
        assert [s.text for s in client.find_all(".explorer .name")] == ["b.txt"]
        client.click(".sidebar .root")
        assert [s.text for s in client.find_all(".explorer .name")] == ["sub", "a.txt"]
        assert client.errors == []
        client.assert_synced()


class Button(Tag.button):
    def init(self, label, variant="primary", **kwargs):
        self <= label
        self["class"] = f"btn btn-{variant}"


class Panel(Tag.div):
    """main5.py's Card: overrides add() so that children land in its body."""

    def init(self, title=None, **kwargs):
        self["class"] = "panel"
        self.body = Tag.div(_class="panel-body")
        Tag.div.add(self, self.body)
        if title:
            header = Tag.div(title, _class="panel-header")
            Tag.div.add(self, header)
            self.body.remove()
            Tag.div.add(self, self.body)

    def add(self, o):
        if not hasattr(self, "body"):
            return Tag.div.add(self, o)
        self.body <= o


class ExMain5(Tag.App):
    """examples/main5.py: reusable components (a card overriding add, a button taking a
    variant), `with Component(...)` blocks, reactive classes and an async generator."""

    def init(self):
        self.state = States(count=0, is_loading=False)
        with Tag.div(_class="grid"):
            with Panel(title="Counter Example"):
                Tag.div(
                    lambda: str(self.state.count.value),
                    _class=lambda: "count " + ("neg" if self.state.count.value < 0 else "pos"),
                )
                with Tag.div(_class="buttons"):
                    Button("-1", variant="secondary", _onclick=lambda e: self.state.count.set(self.state.count.value - 1))
                    Button("+1", variant="primary", _onclick=lambda e: self.state.count.set(self.state.count.value + 1))
            with Panel(title="Loading"):
                with Button("Save", variant="primary", _id="save", _disabled=lambda: self.state.is_loading.value,
                            _onclick=self.fake_loading):
                    Tag.span(lambda: "..." if self.state.is_loading.value else "", _class="spinner")
            self.toaster = Tag.div(_class="toaster")

    async def fake_loading(self, event):
        self.state.is_loading.set(True)
        yield
        await asyncio.sleep(0.01)
        self.state.is_loading.set(False)
        self.toaster <= Tag.div("Saved!", _class="toast")


def test_example_main5() -> None:
    with TestClient(ExMain5) as client:
        assert [h.text for h in client.find_all(".panel > .panel-header")] == ["Counter Example", "Loading"]
        # children of `with Panel(...)` land in its body, through its own add()
        assert client.exists(".panel > .panel-body > .count")
        assert client.exists(".panel > .panel-body > .buttons > .btn-secondary")
        assert client.text(".count") == "0"
        client.click(".btn-secondary")
        assert client.text(".count") == "-1"
        assert client.find(".count").has_class("neg")
        client.click(".buttons .btn-primary")
        client.click(".buttons .btn-primary")
        assert client.text(".count") == "1"
        # Button.init replaced the class; the id stays
        assert client.exists(".panel-body > #save.btn-primary > .spinner")
        client.click("#save")
        client.wait_for(lambda c: c.exists(".toaster > .toast"), timeout=2)
        assert client.find("#save")["disabled"] is None
        assert client.errors == []
        client.assert_synced()


class ExMainBug(Tag.App):
    """examples/main_bug.py: errors in a handler, an async generator and a render."""

    def init(self):
        self <= Tag.button("py", _class="py", _onclick=self.trigger_py_error)
        self <= Tag.button("js", _class="js", _onclick="not_defined_function()")
        self <= Tag.button("async", _class="asy", _onclick=self.trigger_async_error)
        self <= Tag.button("render", _class="rnd", _onclick=self.trigger_render_error)
        self <= Tag.button("ok", _class="ok", _onclick=lambda e: self.add(Tag.p("still alive", _class="alive")))
        self.state = States(should_crash=False)

        def crashing_render():
            if self.state.should_crash.value:
                raise TypeError("crashed while rendering")
            return ""

        self <= crashing_render

    def trigger_py_error(self, event):
        raise ValueError("deliberate Python error")

    async def trigger_async_error(self, event):
        yield
        raise RuntimeError("async work failed")

    def trigger_render_error(self, event):
        self.state.should_crash.value = True


def test_example_main_bug() -> None:
    with TestClient(ExMainBug) as client:
        assert len(client.find_all("button")) == 5
        assert client.find(".js")["onclick"] == "not_defined_function()"
        client.click(".py")
        assert len(client.errors) == 1
        assert "deliberate Python error" in json.dumps(client.errors[-1])
        client.click(".asy")
        client.wait_for(lambda c: len(c.errors) == 2, timeout=2)
        assert "async work failed" in json.dumps(client.errors[-1])
        client.click(".ok")
        assert client.text(".alive") == "still alive"
        client.click(".rnd")
        client.wait_for(lambda c: len(c.errors) == 3, timeout=2)
        assert "crashed while rendering" in json.dumps(client.errors[-1])


class Editor(Tag.div):
    styles = """
        .editor-container { width: 100%; height: 100%; }
    """

    def init(self, value: str = "", language: str = "python", **kwargs):
        self.add_class("editor-container")
        self._ed_value = value
        self._ed_language = language

    def on_mount(self):
        self.call_js(f"console.log('editor {self.id} ready')")

    def set_value(self, value: str):
        self._ed_value = value
        self.call_js(f"document.getElementById({json.dumps(self.id)}).textContent = {json.dumps(value)};")


class ExMainEd(Tag.App):
    """examples/main_ed.py: a wrapped JS editor driven by call_js with self.id, custom
    events fired from JavaScript (save, expire), reactive classes, toasts."""

    def init(self):
        self.state = States(current_file=None)
        self.saved: list[str] = []
        with Tag.div(_class="layout"):
            with Tag.div(_class="sidebar"):
                for name in ("a.py", "b.py"):
                    Tag.div(name, _class=lambda n=name: f"file-item {'active' if self.state.current_file.value == n else ''}",
                            _onclick=lambda e, n=name: self.load_file(n))
            with Tag.div(_class="main"):
                Tag.div(lambda: self.state.current_file.value or "Select a file", _class="current")
                Tag.button("Save", _class="save", _onclick=self.save_file)
                Tag.span("snake", style="font-size: 64px; opacity: 0.2;")
                self.editor_wrapper = Tag.div(_class=lambda: f"wrapper {'hidden' if self.state.current_file.value is None else ''}")
                self.editor = Editor("", _onsave=self.on_editor_save)
                Tag.div.add(self.editor_wrapper, self.editor)
            self.toast_container = Tag.div(_class="toast-container")

    def load_file(self, name):
        self.state.current_file.value = name
        self.editor.set_value(f"# content of {name}")

    def notify(self, message, type="info"):
        t = Tag.div(message, _class=f"toast toast-{type}", _onexpire=lambda e: t.remove())
        self.toast_container.add(t)
        t.call_js(f"setTimeout(() => htag_event('{t.id}', 'expire', {{}}), 5000)")

    def save_file(self, event):
        if self.state.current_file.value:
            self.call_js(f"htag_event('{self.editor.id}', 'save', 'content')")

    def on_editor_save(self, event):
        self.saved.append(event.value)
        self.notify("File saved successfully!", "success")


def test_example_main_ed() -> None:
    with TestClient(ExMainEd) as client:
        app = client.session.app
        assert client.text(".current") == "Select a file"
        assert client.exists(".wrapper.hidden > .editor-container")
        client.wait_for(lambda c: any(f"editor {app.editor.id} ready" in s for s in c.scripts), timeout=2)
        client.click(".file-item:nth-child(2)")
        assert client.text(".current") == "b.py"
        assert client.find(".file-item:nth-child(2)").has_class("active")
        assert not client.find(".wrapper").has_class("hidden")
        assert any("# content of b.py" in s and app.editor.id in s for s in client.scripts)
        client.click(".save")
        assert any(f"htag_event('{app.editor.id}', 'save'" in s for s in client.scripts)
        # what htag_event(editor_id, 'save', ...) sends from the page
        client.event(f"#{app.editor.id}", "save", "new content")
        assert app.saved == ["new content"]
        assert client.text(".toast") == "File saved successfully!"
        client.event(".toast", "expire")
        assert not client.exists(".toast")
        assert client.errors == []
        client.assert_synced()


class ExMainForm(Tag.App):
    """examples/main_form.py: every input type in one form, the submitted dict shown in
    a result box created at the top of init()."""

    styles = """
        body { background: rgb(248, 250, 252); }
        .card { padding: 30px; }
    """

    def init(self):
        self.display = Tag.div("Press submit to see results...", _class="result-box")
        with Tag.div(_class="container"), Tag.div(_class="card"):
            Tag.h2("Registration Form")
            with Tag.form(_onsubmit=self.handle_submit):
                Tag.input(_type="text", _name="name", _value="John Doe", _required=True)
                Tag.input(_type="email", _name="email", _value="john@example.com")
                Tag.input(_type="number", _name="age", _value="30")
                with Tag.select(_name="role"):
                    Tag.option("Developer", _value="dev")
                    Tag.option("Designer", _value="design")
                Tag.input(_type="date", _name="bday")
                Tag.input(_type="range", _name="exp", _min="0", _max="10", _value="5")
                Tag.input(_type="radio", _name="gender", _value="M", _checked=True, _class="m")
                Tag.input(_type="radio", _name="gender", _value="F", _class="f")
                Tag.textarea(_name="bio", _placeholder="Tell us about yourself")
                Tag.input(_type="checkbox", _name="terms", _checked=True, _class="terms")
                Tag.button("Submit Profile", _type="submit")

    @prevent
    def handle_submit(self, e):
        self.display.clear()
        self.display.add(json.dumps(e.value, indent=4, sort_keys=True))


def test_example_main_form() -> None:
    with TestClient(ExMainForm) as client:
        assert client.text(".result-box") == "Press submit to see results..."
        assert client.exists("body > .result-box")
        client.fill("input[name=name]", "Jane")
        client.fill("select", "design")
        client.fill(".f", True)
        client.fill("textarea", "hello")
        client.fill(".terms", False)
        client.click("button")
        data = json.loads(client.text(".result-box"))
        assert data == {
            "name": "Jane", "email": "john@example.com", "age": "30", "role": "design", "bday": "",
            "exp": "5", "gender": "F", "bio": "hello", "terms": False,
        }
        assert matches(client, rule_for(client, "rgb(248, 250, 252)"), "body")
        assert client.errors == []


class ExMainHashnav(Tag.App):
    """examples/main_hashnav.py: an App listening to hashchange, reading newURL."""

    def init(self):
        self["onhashchange"] = self.on_hash
        with Tag.div():
            Tag.a("[P1]", _href="#page1")
            Tag.a("[P2]", _href="#page2")

    def on_hash(self, ev):
        self <= Tag.div("hash changed to", ev.newURL, _class="changed")


def test_example_main_hashnav() -> None:
    with TestClient(ExMainHashnav) as client:
        assert [a.text for a in client.find_all("a")] == ["[P1]", "[P2]"]
        client.navigate("page1")
        assert client.text(".changed").startswith("hash changed to")
        assert client.text(".changed").endswith("#page1")
        assert client.errors == []


class IntegratedApp(Tag.App):
    def init(self):
        username = self.request.session.get("username", "Anonymous")
        self["style"] = "font-family: sans-serif"
        self <= Tag.h2(f"Welcome to htag, {username}!")
        self <= Tag.p("I am mounted at /app")

        def change_name(e):
            self.request.session["username"] = "Admin"
            self.clear()
            self.init()

        self <= Tag.button("Change name", _onclick=change_name)


def test_example_main_integration() -> None:
    """examples/main_integration.py: a WebApp mounted in a Starlette app with its own
    session middleware and HTML routes."""

    async def home(request):
        if "username" not in request.session:
            request.session["username"] = "Visitor"
        return HTMLResponse(f"<h1>Starlette Home</h1><p>Hello {request.session['username']}</p>")

    app = Starlette(
        routes=[Route("/", home), Mount("/app", WebApp(IntegratedApp).app)],
        middleware=[Middleware(SessionMiddleware, secret_key="super-secret-key")],
    )
    with HttpClient(app, base_url="https://testserver") as http:
        assert "Hello Visitor" in http.get("/").text
        page = http.get("/app/")
        assert page.status_code == 200
        assert "Welcome to htag, Visitor!" in page.text
        assert "I am mounted at /app" in page.text


class HomePage(Tag.div):
    def init(self) -> None:
        Tag.h1("Home")
        Tag.p("Welcome to this simple SPA demo.")


class Page1(Tag.div):
    def init(self) -> None:
        Tag.h1("Page 1")
        Tag.p("This is page 1 content.")


class HelloPage(Tag.div):
    def init(self, name: str) -> None:
        Tag.h1(f"Hello {name}!")


class ExMainRouter(Tag.App):
    """examples/main_router.py: pages built only from tags created in init(), a nav whose
    classes follow router.path. (``self <= self.router`` inside the ``with`` adds the
    router to the app itself, after the then-empty ``.content`` div, as in htag.)"""

    statics = [Tag.style("nav a.active { font-weight: bold; }")]

    def init(self) -> None:
        self.router = Router()
        self.router.add_route("/", HomePage)
        self.router.add_route("/p1", Page1)
        self.router.add_route("/hello/:name", HelloPage)
        with Tag.nav():
            Tag.a("Home", _href="#/", _class=lambda: "active" if self.router.path == "/" else "")
            Tag.a("Page 1", _href="#/p1", _class=lambda: "active" if self.router.path == "/p1" else "")
            Tag.a("Hello", _href="#/hello/World", _class=lambda: "active" if self.router.path == "/hello/World" else "")
        with Tag.div(_class="content"):
            self <= self.router


def test_example_main_router() -> None:
    with TestClient(ExMainRouter) as client:
        client.wait_for(lambda c: c.exists("h1"), timeout=2)
        assert client.text("h1") == "Home"
        assert client.text("h1 + p") == "Welcome to this simple SPA demo."
        assert [a.text for a in client.find_all("nav a.active")] == ["Home"]
        client.navigate("/p1")
        assert client.text("h1") == "Page 1"
        assert [a.text for a in client.find_all("nav a.active")] == ["Page 1"]
        client.navigate("/hello/World")
        assert client.text("h1") == "Hello World!"
        assert [a.text for a in client.find_all("nav a.active")] == ["Hello"]
        assert client.errors == []
        client.assert_synced()


class Hello(Tag.App):
    """examples/main_webapp.py: += with text and tags, a plain counter attribute."""

    def init(self):
        self += "Hello World from WebApp.run!"
        self += Tag.button("Click me!", _onclick=self.click)
        self.count = 0

    def click(self, ev):
        self.count += 1
        self += f" Clicked {self.count} times"


def test_example_main_webapp() -> None:
    with TestClient(Hello) as client:
        assert "Hello World from WebApp.run!" in client.text()
        client.click("button")
        client.click("button")
        assert client.text().endswith(" Clicked 1 times Clicked 2 times")
    with HttpClient(WebApp(Hello, debug=True).app) as http:
        assert "Hello World from WebApp.run!" in http.get("/").text


def tiny_markdown(text: str) -> str:
    """A stand-in for mistune.html: ## headings, **bold** and - items."""
    out = []
    for line in text.strip().splitlines():
        line = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", line.strip())
        if line.startswith("## "):
            out.append(f"<h2>{line[3:]}</h2>")
        elif line.startswith("- "):
            out.append(f"<li>{line[2:]}</li>")
        elif line:
            out.append(f"<p>{line}</p>")
    return "".join(out)


class MarkdownViewer(Tag.div):
    def __init__(self, markdown_text: str, **kwargs):
        super().__init__(**kwargs)
        self += HTML(tiny_markdown(markdown_text))


class MarkdownExample(App):
    """examples/markdown_example.py: `App` imported from the package, a component that
    overrides __init__, raw HTML through HTML(), a plain `style=` keyword."""

    def init(self):
        self += Tag.h1("Markdown Render Example")
        self += Tag.p("The following block is rendered from markdown:")
        self.viewer = MarkdownViewer(
            markdown_text="## Hello Markdown!\nThis is a **bold** statement.\n- Item 1\n- Item 2",
            style="border: 1px solid #ccc;",
        )
        self += self.viewer


def test_example_markdown() -> None:
    with TestClient(MarkdownExample) as client:
        assert client.text("h1") == "Markdown Render Example"
        assert client.text("div > h2") == "Hello Markdown!"
        assert client.text("div > p strong") == "bold"
        assert [li.text for li in client.find_all("div > li")] == ["Item 1", "Item 2"]
        assert client.session.app.viewer.style == "border: 1px solid #ccc;"
        assert client.errors == []
