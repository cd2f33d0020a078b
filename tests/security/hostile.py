"""What the hostile-input tests share besides the protocol client (``livetag.testing.wire``):
the app they attack (``Board``), a session that must come out of every attack intact
(``Witness``), checks that user data inside HTML stayed text (``assert_inert``), and a
wait for a condition (``eventually``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from html.parser import HTMLParser
from typing import Any

from livetag import Tag
from livetag.runners.serve import BackgroundServer
from livetag.testing.wire import TIMEOUT, Tab, element_id, text_of, texts

Serve = Callable[..., AbstractContextManager[BackgroundServer]]


async def eventually(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    """Let the server run until ``condition()`` holds; fails saying ``expected <what>``
    after ``timeout`` seconds (a slow CI machine gets there late, not never)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"expected {what}"
        await asyncio.sleep(0.02)

#: Markup that would run script in every HTML context it could escape into (text, a
#: double- or single-quoted attribute, <title>, <textarea>), plus pre-escaped text that
#: must come back as typed, not unescaped once more.
PAYLOAD = "\"'><script>alert(1)</script><img src=x onerror=alert(2)></title></textarea>&lt;i&gt;"


class Board(Tag.App):
    """The app every security test serves: a counter (what the witness clicks). Tests
    subclass it and add what they attack in ``build``."""

    def init(self) -> None:
        self.count = 0
        self.value = Tag.span("0", _class="value")
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= self.value
        self.build()

    def build(self) -> None:
        """Subclasses add their elements here."""

    def increment(self) -> None:
        self.count += 1
        self.value.text = self.count


class Witness:
    """A session opened (and clicked once) before an attack. ``check()`` asserts that it
    still works, got no error, and lost nothing: its counter goes on from where it was,
    and a page load of the session shows the same count."""

    def __init__(self, url: str) -> None:
        self.tab = Tab(url)
        self.count = 0

    async def start(self) -> Witness:
        html = await self.tab.load()
        self.inc, self.value = element_id(html, "inc"), element_id(html, "value")
        await self.tab.join()
        await self.click()
        return self

    async def click(self) -> None:
        self.count += 1
        messages = await self.tab.event(self.inc)
        assert [m for m in messages if m["t"] in ("err", "bye")] == [], messages
        assert texts(messages) == [str(self.count)], messages

    async def check(self) -> None:
        assert self.tab.ws is not None and self.tab.ws.close_code is None, "the witness's WebSocket was closed"
        await self.click()
        page = Tab(self.tab.url, self.tab.http)  # same cookie: the same session
        assert text_of(await page.load(), self.value) == str(self.count)

    async def aclose(self) -> None:
        await self.tab.aclose()


def is_bare_ack(message: dict[str, Any], seq: int) -> bool:
    """``message`` acknowledges event ``seq`` and changes nothing."""
    return message["t"] in ("up", "ack") and message["ack"] == seq and not message.get("p")


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_inert(html: str, allowed_tags: Iterable[str], payload: str | None = PAYLOAD) -> None:
    """``html`` (a page or a patch's markup) holds only ``allowed_tags``, no ``on*``
    attribute, and (unless ``None``) ``payload`` as plain text or an attribute value,
    exactly as typed."""
    parsed = _Markup()
    parsed.feed(html)
    parsed.close()
    unexpected = set(parsed.tags) - set(allowed_tags)
    assert not unexpected, f"user data became markup: {unexpected} in {html[:500]!r}"
    handlers = [name for name, _ in parsed.attrs if name.startswith("on")]
    assert not handlers, f"user data became an event handler attribute: {handlers}"
    if payload is None:
        return
    values = ["".join(parsed.text)] + [v or "" for _, v in parsed.attrs]
    assert any(payload in v for v in values), f"expected the payload as text in {html[:500]!r}"


def html_ops(messages: list[dict[str, Any]]) -> list[str]:
    """The markup carried by the patch operations of ``messages`` (ops whose last field is
    HTML the client parses: ``h``, ``+``, ``o``, ``i``), plus the statics."""
    out: list[str] = []
    for m in messages:
        for op in m.get("p", []):
            if op[0] in ("h", "+", "o", "i"):
                out.append(op[-1])
        out.extend(m.get("st", []))
    return out
