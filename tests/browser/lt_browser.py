"""Helpers shared by the browser tests."""

from __future__ import annotations

from typing import Any

# Records every WebSocket the page opens and can send new ones to a dead port, so that a
# test can cut the connection and keep it down for as long as it needs.
SOCKET_CONTROL = """
(() => {
  const Native = window.WebSocket;
  window.__ltSockets = [];
  window.__ltBlock = false;
  function Recorded(url, protocols) {
    const ws = new Native(window.__ltBlock ? "ws://127.0.0.1:9/" : url, protocols);
    window.__ltSockets.push(ws);
    return ws;
  }
  Recorded.prototype = Native.prototype;
  Object.assign(Recorded, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = Recorded;
})();
"""


def connected(page: Any) -> None:
    """Wait until the page has joined its session over the WebSocket."""
    page.wait_for_function("window.livetag && window.livetag.connected")


def no_error_overlay(page: Any) -> None:
    assert page.locator("#lt-error").count() == 0, page.locator("#lt-error").text_content()


def open_chat(browser: Any, url: str, name: str, mode: str = "ws") -> tuple[Any, Any, list[str]]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    if mode != "ws":
        context.add_cookies([{"name": "livetag_mode", "value": mode, "url": url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")
    page.wait_for_function("window.livetag && window.livetag.connected")
    assert page.evaluate("livetag.transport") == mode
    page.fill("input.name", name)
    return context, page, errors


def say(page: Any, text: str) -> None:
    page.fill("input.text", text)
    page.press("input.text", "Enter")
