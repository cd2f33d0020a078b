"""The examples, driven in Chromium by real clicks and typing."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

import pytest
from lt_browser import connected, no_error_overlay
from playwright.sync_api import Page, expect

from livetag.runners.serve import BackgroundServer

pytestmark = pytest.mark.browser

Serve = Callable[..., AbstractContextManager[BackgroundServer]]
NewPage = Callable[[], Page]
Example = Callable[[str], ModuleType]


def test_counter_clicks(live_server: Serve, example: Example, page: Page) -> None:
    counter = example("counter")
    with live_server(counter.app) as server:
        page.goto(server.url + "/")
        expect(page.locator(".value")).to_have_text("0")  # server-rendered
        connected(page)
        for _ in range(5):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("5")
        page.click("button.dec")
        page.click("button.dec")
        expect(page.locator(".value")).to_have_text("3")
        page.reload()  # same cookie, same app instance
        expect(page.locator(".value")).to_have_text("3")
        no_error_overlay(page)


# -- todo ---------------------------------------------------------------------------------------


def items(page: Any) -> Any:
    return page.locator("ul.todos > li")


def item(page: Any, title: str) -> Any:
    return page.locator("ul.todos > li", has=page.locator(".label", has_text=re.compile(f"^{re.escape(title)}$")))


def visible_titles(page: Any) -> list[str]:
    return page.locator("ul.todos > li:not([hidden]) .label").all_text_contents()


def add_with_enter(page: Any, title: str) -> None:
    entry = page.locator("input.new")
    entry.click()
    page.keyboard.type(title)
    page.keyboard.press("Enter")


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_todo_whole_flow(live_server: Serve, example: Example, page: Page, mode: str) -> None:
    todo = example("todo")
    with live_server(todo.app) as server:
        if mode != "ws":  # the cookie that forces a transport (the default tries ws first)
            page.context.add_cookies([{"name": "livetag_mode", "value": mode, "url": server.url}])
        page.goto(server.url + "/")
        expect(page.locator(".left")).to_have_text("0 items left")
        connected(page)
        assert page.evaluate("livetag.transport") == mode
        entry = page.locator("input.new")
        expect(entry).to_be_focused()  # autofocus

        # Add: with Enter, with the Add button, and nothing for blank input.
        add_with_enter(page, "Buy milk")
        expect(items(page)).to_have_count(1)
        expect(entry).to_have_value("")
        page.keyboard.type("Walk dog")  # focus stayed in the entry
        page.click("form.add button[type=submit]")
        expect(items(page)).to_have_count(2)
        expect(entry).to_have_value("")
        add_with_enter(page, "Write <tests> & docs")
        expect(entry).to_have_value("")  # else the blanks below would be typed after its title
        add_with_enter(page, "   ")
        expect(page.locator(".left")).to_have_text("3 items left")
        expect(items(page)).to_have_count(3)
        assert visible_titles(page) == ["Buy milk", "Walk dog", "Write <tests> & docs"]

        # Check: the item is marked done and the counter follows; uncheck and check again.
        milk = item(page, "Buy milk")
        milk.locator("input.toggle").check()
        expect(milk).to_have_class(re.compile(r"\bdone\b"))
        expect(page.locator(".left")).to_have_text("2 items left")
        milk.locator("input.toggle").uncheck()
        expect(page.locator(".left")).to_have_text("3 items left")
        expect(milk).not_to_have_class(re.compile(r"\bdone\b"))
        milk.locator("input.toggle").check()
        expect(page.locator(".left")).to_have_text("2 items left")

        # Edit: double-click the label, retype, Enter.
        item(page, "Walk dog").locator(".label").dblclick()
        editor = page.locator("input.edit:visible")
        expect(editor).to_be_focused()
        expect(editor).to_have_value("Walk dog")
        page.keyboard.press("Control+A")
        page.keyboard.type("Walk the dog")
        page.keyboard.press("Enter")
        expect(editor).to_have_count(0)
        expect(item(page, "Walk the dog")).to_have_count(1)
        no_error_overlay(page)

        # Edit again and leave by clicking elsewhere: saved as well.
        item(page, "Walk the dog").locator(".label").dblclick()
        expect(editor).to_be_focused()
        page.keyboard.press("End")
        page.keyboard.type("!")
        page.click("h1")
        expect(editor).to_have_count(0)
        expect(item(page, "Walk the dog!")).to_have_count(1)
        no_error_overlay(page)

        # Delete (a double-click on the button races its own removal: still one delete).
        item(page, "Write <tests> & docs").locator("button.delete").dblclick()
        expect(items(page)).to_have_count(2)
        expect(page.locator(".left")).to_have_text("1 item left")
        no_error_overlay(page)

        # Filters.
        page.click("button[data-filter=active]")
        expect(page.locator("button[data-filter=active]")).to_have_class(re.compile(r"\bselected\b"))
        expect(page.locator("button[data-filter=all]")).not_to_have_class(re.compile(r"\bselected\b"))
        expect(item(page, "Buy milk")).to_be_hidden()
        expect(item(page, "Walk the dog!")).to_be_visible()
        page.click("button[data-filter=done]")
        expect(item(page, "Buy milk")).to_be_visible()
        expect(item(page, "Walk the dog!")).to_be_hidden()
        # A new item is active, so hidden under "done".
        add_with_enter(page, "Sleep")
        expect(items(page)).to_have_count(3)
        expect(item(page, "Sleep")).to_be_hidden()
        expect(page.locator(".left")).to_have_text("2 items left")
        page.click("button[data-filter=all]")
        expect(page.locator("ul.todos > li:visible")).to_have_count(3)
        assert visible_titles(page) == ["Buy milk", "Walk the dog!", "Sleep"]

        # Editing a title down to nothing deletes the item.
        item(page, "Sleep").locator(".label").dblclick()
        expect(editor).to_be_focused()
        page.keyboard.press("Control+A")
        page.keyboard.press("Backspace")
        page.keyboard.press("Enter")
        expect(items(page)).to_have_count(2)
        expect(page.locator(".left")).to_have_text("1 item left")

        # The server's state survives a reload.
        page.reload()
        expect(items(page)).to_have_count(2)
        expect(page.locator(".left")).to_have_text("1 item left")
        expect(item(page, "Buy milk").locator("input.toggle")).to_be_checked()
        no_error_overlay(page)


def test_todo_double_click_inside_the_editor_keeps_the_text(live_server: Serve, example: Example, page: Page) -> None:
    todo = example("todo")
    with live_server(todo.app) as server:
        page.goto(server.url + "/")
        connected(page)
        add_with_enter(page, "alpha beta")
        label = item(page, "alpha beta").locator(".label")
        label.dblclick()
        editor = page.locator("input.edit:visible")
        expect(editor).to_have_value("alpha beta")
        editor.dblclick()  # selecting a word is what a double-click in a text field does
        expect(editor).to_have_value("alpha beta")
        expect(editor).to_be_focused()
        page.keyboard.press("End")
        page.keyboard.type(" gamma")
        page.keyboard.press("Enter")
        expect(page.locator("ul.todos .label")).to_have_text(["alpha beta gamma"])
        no_error_overlay(page)


def test_todo_in_two_tabs(live_server: Serve, example: Example, new_page: NewPage) -> None:
    todo = example("todo")
    with live_server(todo.app) as server:
        first, second = new_page(), new_page()
        first.goto(server.url + "/")
        second.goto(server.url + "/")
        connected(first)
        connected(second)
        add_with_enter(first, "from the first tab")
        expect(items(second)).to_have_count(1)
        expect(second.locator(".left")).to_have_text("1 item left")
        add_with_enter(second, "from the second tab")
        expect(items(first)).to_have_count(2)
        expect(first.locator(".left")).to_have_text("2 items left")
        item(second, "from the first tab").locator("button.delete").click()
        expect(items(first)).to_have_count(1)
        second.click("button[data-filter=done]")
        expect(first.locator("ul.todos > li:visible")).to_have_count(0)
        no_error_overlay(first)
        no_error_overlay(second)


def test_todo_checkbox_in_two_tabs(live_server: Serve, example: Example, new_page: NewPage) -> None:
    todo = example("todo")
    with live_server(todo.app) as server:
        first, second = new_page(), new_page()
        first.goto(server.url + "/")
        second.goto(server.url + "/")
        connected(first)
        connected(second)
        add_with_enter(first, "shared")
        expect(items(second)).to_have_count(1)
        second.locator("input.toggle").check()
        expect(first.locator(".left")).to_have_text("0 items left")  # the app's own change arrives
        expect(first.locator("input.toggle")).to_be_checked(timeout=3000)  # the synced value does not
