"""The event model: ``Event``, handlers, ``prevent`` and ``stop``."""

from __future__ import annotations

from typing import Any

import pytest

from livetag import Event, Tag, prevent, stop
from livetag.dom import Handler, LiveTree


def test_event_fields() -> None:
    button = Tag.button()
    e = Event(button, "click", {"value": "v", "checked": True, "key": "Enter", "clientX": 10, "clientY": 20,
                                "shiftKey": True})
    assert e.target is button and e.name == "click"
    assert (e.value, e.checked, e.key) == ("v", True, "Enter")
    assert (e.clientX, e.client_x, e.client_y, e.shift_key) == (10, 10, 20, True)
    assert e.data["clientX"] == 10
    e.data["value"] = "changed"  # a copy: the event is not affected
    assert e.value == "v"


def test_missing_fields() -> None:
    e = Event(Tag.div(), "click")
    assert e.value is None and e.checked is None and e.key is None
    assert e.pageX is None and e.shift_key is None  # not sent: None, as in htag
    assert str(e).startswith("click on <div> #lt")
    with pytest.raises(AttributeError):
        _ = e._private  # names Python probes never come from client data


def test_form_values_by_subscript() -> None:
    e = Event(Tag.form(), "submit", {"value": {"email": "a@b.c", "agree": True}})
    assert e["email"] == "a@b.c" and e["agree"] is True
    with pytest.raises(KeyError):
        e["absent"]
    with pytest.raises(KeyError, match="expected a form event"):
        Event(Tag.input(), "change", {"value": "x"})["x"]


def test_client_data_cannot_overwrite_target_or_name() -> None:
    button = Tag.button()
    e = Event(button, "click", {"target": "evil", "name": "submit", "_data": {}, "value": 1})
    assert e.target is button and e.name == "click" and e.value == 1


def test_handler_with_and_without_event_parameter() -> None:
    got: list[Any] = []

    def with_event(e: Event) -> None:
        got.append(e)

    def without() -> None:
        got.append("none")

    e = Event(Tag.div(), "click")
    Handler(with_event)(e)
    Handler(without)(e)
    Handler(lambda *args: got.append(args))(e)
    assert got == [e, "none", (e,)]
    assert Handler(with_event).accepts_event and not Handler(without).accepts_event


def test_methods_with_and_without_event_parameter() -> None:
    class Box(Tag.div):
        def init(self) -> None:
            self.calls: list[Any] = []
            self["onclick"] = self.clicked
            self["onmouseover"] = self.hovered

        def clicked(self, e: Event) -> None:
            self.calls.append(e.name)

        def hovered(self) -> None:
            self.calls.append("hover")

    box = Box()
    box.handler("click")(Event(box, "click"))
    box.handler("mouseover")(Event(box, "mouseover"))
    assert box.calls == ["click", "hover"]


def test_prevent_and_stop_as_decorators_on_methods() -> None:
    class Form(Tag.form):
        def init(self) -> None:
            self.seen: list[str] = []
            self["onsubmit"] = self.submit
            self["onclick"] = self.click
            self["onkeyup"] = self.both

        @prevent
        def submit(self, e: Event) -> None:
            self.seen.append(e["q"])

        @stop
        def click(self) -> None:
            self.seen.append("click")

        @prevent
        @stop
        def both(self, e: Event) -> None:
            self.seen.append(e.key)

    form = Form()
    assert 'data-lt="submit.prevent click.stop keyup.prevent.stop"' in form.render()
    form.handler("submit")(Event(form, "submit", {"value": {"q": "x"}}))
    form.handler("click")(Event(form, "click"))
    form.handler("keyup")(Event(form, "keyup", {"key": "a"}))
    assert form.seen == ["x", "click", "a"]
    other = Form()
    other.handler("click")(Event(other, "click"))
    assert other.seen == ["click"] and form.seen == ["x", "click", "a"]  # bound per instance


def test_prevent_and_stop_as_runtime_wrappers() -> None:
    calls: list[str] = []
    link = Tag.a(_onclick=prevent(lambda: calls.append("p")))
    assert 'data-lt="click.prevent"' in link.render()
    link["onclick"] = stop(lambda e: calls.append(e.name))
    assert 'data-lt="click.stop"' in link.render()
    link.handler("click")(Event(link, "click"))
    assert calls == ["click"]
    assert prevent(stop(print)).flags == ".prevent.stop"


def test_rebinding_a_handler_records_only_a_visible_change() -> None:
    class App(Tag.App):
        def init(self) -> None:
            self.b = Tag.button(_onclick=lambda: None)
            self <= self.b

    app = App()
    tree = LiveTree(app)
    app.b["onclick"] = lambda e: None  # same flags: nothing for the browser
    assert tree.collect() == ([], [])
    app.b["onclick"] = prevent(lambda: None)
    assert tree.collect()[0] == [["a", app.b.id, {"data-lt": "click.prevent"}]]
    app.b["ondblclick"] = lambda: None
    assert tree.collect()[0] == [["a", app.b.id, {"data-lt": "click.prevent dblclick"}]]
    del app.b["onclick"]
    del app.b["ondblclick"]
    assert app.b.handler("click") is None
    assert tree.collect()[0] == [["a", app.b.id, {"data-lt": None}]]


def test_a_non_callable_handler_is_refused() -> None:
    with pytest.raises(TypeError, match="expected a callable"):
        Handler("alert(1)")  # type: ignore[arg-type]
    tag = Tag.a(_onclick="alert(1)")  # a string is an ordinary (escaped) attribute
    assert tag.handler("click") is None
