"""``livetag.testing.TestClient``: a browserless tab driving a real session."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from livetag import Event, State, Tag, prevent, stop
from livetag.testing import TestClient


class Form(Tag.App):
    def init(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.name = Tag.input(_name="name", _class="name", _oninput=self.typed)
        self.agree = Tag.input(_type="checkbox", _name="agree", _class="agree", _onchange=self.changed)
        self.color = Tag.select(Tag.option("red", _value="r"), Tag.option("green", _value="g"), _name="color",
                                _class="color", _onchange=self.changed)
        self.note = Tag.textarea(_name="note", _class="note")
        radios = [Tag.label(Tag.input(_type="radio", _name="size", _value=v, _class=f"size-{v}"), v) for v in "SML"]
        self.form = Tag.form(self.name, self.agree, self.color, self.note, *radios,
                             Tag.button("send", _class="send"), _onsubmit=self.submitted, _class="f")
        self <= self.form
        self <= Tag.div(Tag.button("inner", _class="inner", _onclick=self.clicked), _class="outer",
                        _onclick=self.clicked)
        self <= Tag.div(Tag.button("stopper", _class="stopper", _onclick=stop(self.clicked)), _onclick=self.clicked,
                        _class="stop-box")
        self <= Tag.form(Tag.button("cancel", _class="cancel", _onclick=prevent(self.clicked)),
                         _onsubmit=self.submitted, _class="g")
        self <= Tag.span("-", _class="out")

    def typed(self, e: Event) -> None:
        self.log.append(("input", e.value))

    def changed(self, e: Event) -> None:
        self.log.append(("change", e.checked if e.target is self.agree else e.value))

    def submitted(self, e: Event) -> None:
        self.log.append(("submit", e.value))
        self.query_one_out().text = str(e.value.get("name") if isinstance(e.value, dict) else e.value)

    def clicked(self, e: Event) -> None:
        self.log.append(("click", e.target["class"]))

    def query_one_out(self) -> Tag:
        return self.childs[-1]


@pytest.fixture
def client() -> Any:
    with TestClient(Form) as c:
        yield c


def log(client: TestClient) -> list[tuple[str, Any]]:
    return client.session.app.log


def test_reading_the_page(client: TestClient) -> None:
    assert client.html.startswith("<body") and client.exists("form.f") and not client.exists(".nope")
    assert client.find("button.send").text == "send"
    assert [e.text for e in client.find_all("form.f label")] == ["S", "M", "L"]
    assert client.find_text("stopper").tag_name == "button"
    assert client.find_text("send", "button").has_class("send")
    assert client.text(".out") == "-" and "stopper" in client.text()
    with pytest.raises(LookupError, match=r"\.nope"):
        client.find(".nope")
    with pytest.raises(LookupError):
        client.find_text("no such text")


def test_click_bubbles_innermost_first(client: TestClient) -> None:
    client.click("button.inner")
    assert log(client) == [("click", "inner"), ("click", "outer")]


def test_a_stop_handler_ends_the_bubbling(client: TestClient) -> None:
    client.click("button.stopper")
    assert log(client) == [("click", "stopper")]


def test_a_submit_button_submits_its_form_with_the_named_fields(client: TestClient) -> None:
    client.fill("input.name", "Ada")
    client.fill("input.agree", True)
    client.fill("select.color", "g")
    client.fill("textarea.note", "hi <there>")
    client.fill("input.size-M", True)
    log(client).clear()
    client.click("button.send")
    assert log(client) == [("submit", {"name": "Ada", "agree": True, "color": "g", "note": "hi <there>",
                                       "size": "M"})]
    assert client.text(".out") == "Ada"


def test_a_prevented_click_on_a_submit_button_does_not_submit(client: TestClient) -> None:
    client.click("button.cancel")
    assert log(client) == [("click", "cancel")]


def test_submit_without_clicking(client: TestClient) -> None:
    client.submit("input.name")  # any element inside the form
    assert log(client)[-1][0] == "submit"
    with pytest.raises(LookupError, match="form"):
        client.submit(".out")


def test_fill_fires_input_and_change_like_a_browser(client: TestClient) -> None:
    client.fill("input.name", "x")
    client.fill("input.agree", True)
    client.fill("input.agree", False)
    client.fill("select.color", "g")
    assert log(client) == [("input", "x"), ("change", True), ("change", False), ("change", "g")]
    with pytest.raises(ValueError, match="expected an input"):
        client.fill("span.out", "x")


def test_checking_a_radio_unchecks_the_rest_of_its_group(client: TestClient) -> None:
    client.fill("input.size-S", True)
    client.fill("input.size-L", True)
    assert client.find("input.size-S")["checked"] is None and client.find("input.size-L").value is True
    client.submit("form.f")
    assert log(client)[-1][1]["size"] == "L"


def test_filled_values_reach_the_server_with_the_next_event(client: TestClient) -> None:
    client.fill("textarea.note", "typed")  # no handler on the textarea: nothing sent yet
    assert client.session.app.note["value"] is None
    client.click("button.inner")
    assert client.session.app.note["value"] == "typed"


def test_event_fires_any_event_with_a_value(client: TestClient) -> None:
    client.event("input.name", "input", "v")
    assert log(client) == [("input", "v")]


class Background(Tag.App):
    def init(self) -> None:
        self.n = State(0)
        self.destroyed = False
        self <= Tag.span(self.n, _class="n")

    async def on_mount(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self.n += 1

    def on_destroy(self) -> None:
        self.destroyed = True


def test_advance_runs_background_work_and_wait_for_waits() -> None:
    client = TestClient(Background)
    assert client.text(".n") == "0"  # nothing runs between client calls
    client.advance(0.1)
    assert int(client.text(".n")) >= 1
    client.wait_for(lambda c: int(c.text(".n")) >= 5)
    with pytest.raises(TimeoutError, match="still false"):
        client.wait_for(lambda c: False, timeout=0.05)
    app = client.session.app
    client.close()
    assert app.destroyed
    client.close()  # twice is fine


def test_assert_synced_notices_a_page_that_diverged() -> None:
    with TestClient(Form) as client:
        client.assert_synced()
        client.session.app.childs[-1]._children = ["changed behind livetag's back"]
        with pytest.raises(AssertionError, match="diverged"):
            client.assert_synced()


def test_scripts_and_errors_are_collected() -> None:
    class App(Tag.App):
        def init(self) -> None:
            self <= Tag.button("js", _class="js", _onclick=lambda: self.call_js("console.log(1)"))
            self <= Tag.button("boom", _class="boom", _onclick=lambda: 1 / 0)

    with TestClient(App) as client:
        client.click("button.js")
        assert client.scripts == ["console.log(1)"]
        client.click("button.boom")
        assert len(client.errors) == 1 and "ZeroDivisionError" in client.errors[0]["trace"]


def test_a_patch_naming_an_unknown_element_fails_loudly() -> None:
    with TestClient(Form) as client:
        client.find("span.out")._node.decompose()  # the page lost an element
        client.session.app.childs[-1].text = "new"
        with pytest.raises(AssertionError, match="does not have"):
            client.advance(0.1)


def test_classes_read_the_same_whether_rendered_or_patched() -> None:
    class App(Tag.App):
        def init(self) -> None:
            self.box = Tag.div(_class="item-1 big")
            self <= self.box
            self <= Tag.button("b", _class="b", _onclick=lambda: self.box.__setitem__("class", "item-2 small"))

    with TestClient(App) as client:
        assert client.find("div")["class"] == ["item-1", "big"]
        client.click("button.b")
        box = client.find("div")
        assert box["class"] == ["item-2", "small"] and box.has_class("small") and not box.has_class("item")
        client.assert_synced()
