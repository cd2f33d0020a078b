"""Hostile clients for the security tests.

``HttpTab`` extends the server tests' ``Tab`` (a browserless page speaking the real
protocol over a real WebSocket) with the HTTP transports (``/_lt/join``, ``/_lt/event``,
``/_lt/poll``, ``/_lt/sse``, ``/_lt/cookie``) and, for parano mode, AES-GCM sealing with
the key the page carries. ``Witness`` is a session opened before an attack that must come
out of it working and with nothing lost. ``assert_inert`` checks that user data inside
HTML stayed text.
"""

from __future__ import annotations

import asyncio
import base64
import html as htmllib
import os
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lt_client import Tab, element_id, text_of, texts
from websockets.exceptions import ConnectionClosed

from livetag import Tag
from livetag.protocol import PROTOCOL_VERSION
from livetag.runners.serve import BackgroundServer

Serve = Callable[..., AbstractContextManager[BackgroundServer]]

#: Markup that would run script in every HTML context it could escape into (text, a
#: double- or single-quoted attribute, <title>, <textarea>), plus pre-escaped text that
#: must come back as typed, not unescaped once more.
PAYLOAD = "\"'><script>alert(1)</script><img src=x onerror=alert(2)></title></textarea>&lt;i&gt;"

SAME = "same"  # default marker: the tab's own token / origin


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


class ClientCodec:
    """The browser side of parano mode: AES-256-GCM, ``base64url(nonce || ct || tag)``
    without padding, as in ``livetag.server.parano``."""

    def __init__(self, key_b64: str) -> None:
        key = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))
        self.aead = AESGCM(key)

    def seal(self, message: bytes) -> bytes:
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(nonce + self.aead.encrypt(nonce, message, None)).rstrip(b"=")

    def open(self, payload: bytes | str) -> bytes:
        raw = payload.encode() if isinstance(payload, str) else payload
        data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
        return self.aead.decrypt(data[:12], data[12:], None)


class HttpTab(Tab):
    """A page of a session over either transport. With ``codec`` every payload is sealed
    on the way up and opened on the way down (parano mode)."""

    def __init__(self, url: str, http: httpx.AsyncClient | None = None, *, codec: ClientCodec | None = None) -> None:
        super().__init__(url, http)
        self.codec = codec
        self.key: str | None = None

    async def load(self) -> str:
        """Load the page; in parano mode, take its key (``codec``) as a browser would."""
        html = await super().load()
        key = re.search(r'data-lt-key="([^"]*)"', html)
        self.key = htmllib.unescape(key.group(1)) if key else None
        if self.key is not None:
            self.codec = ClientCodec(self.key)
        return html

    @property
    def origin(self) -> str:
        return "http://" + urlsplit(self.url).netloc

    @property
    def session_id(self) -> str:
        return next(c.value for c in self.http.cookies.jar if c.name.startswith("lt_sid"))

    # -- WebSocket, sealed when parano -----------------------------------------------------

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        if self.codec is not None and isinstance(message, dict):
            message = self.codec.seal(orjson.dumps(message)).decode()
        await super().send(message)

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.ws is not None
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        return orjson.loads(self.codec.open(raw) if self.codec is not None else raw)

    async def until_ack(self, seq: int) -> list[dict[str, Any]]:
        """Messages up to the one acknowledging event ``seq`` (an update, or a bare
        ``ack`` when the event changed nothing)."""
        got: list[dict[str, Any]] = []
        while True:
            message = await self.recv()
            got.append(message)
            if message["t"] == "up":
                self.rev = message["rev"]
            if message["t"] in ("up", "ack") and message["ack"] >= seq:
                return got

    async def recv_until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> list[dict[str, Any]]:
        """Messages up to and including the first one ``predicate`` accepts."""
        got: list[dict[str, Any]] = []
        while not got or not predicate(got[-1]):
            got.append(await self.recv(timeout))
        return got

    # -- HTTP transports -------------------------------------------------------------------

    def _headers(self, token: str | None, origin: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if token is not None:
            headers["X-Livetag-Token"] = self.token if token == SAME else token
        if origin is not None:
            headers["Origin"] = self.origin if origin == SAME else origin
        return headers

    def _body(self, body: Any) -> bytes:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        return self.codec.seal(raw) if self.codec is not None and not isinstance(body, bytes) else raw

    async def post(self, endpoint: str, body: Any = b"", *, token: str | None = SAME, origin: str | None = SAME,
                   params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """POST ``body`` (bytes as is; anything else as JSON, sealed when parano) to
        ``/_lt/<endpoint>``."""
        return await self.http.post(self.url + "_lt/" + endpoint, content=self._body(body), params=params,
                                    headers=self._headers(token, origin, headers))

    def messages(self, response: httpx.Response) -> list[dict[str, Any]]:
        """The JSON array of messages of a 200 response (opened when parano); error
        responses are always in clear."""
        raw = response.content
        if self.codec is not None and response.status_code == 200:
            raw = self.codec.open(raw)
        return orjson.loads(raw)

    async def hjoin(self, *, token: str | None = None, rev: int | None = None) -> list[dict[str, Any]]:
        response = await self.post("join", {"t": "join", "v": PROTOCOL_VERSION,
                                            "token": self.token if token is None else token,
                                            "cid": self.cid, "rev": self.rev if rev is None else rev}, token=None)
        assert response.status_code == 200, (response.status_code, response.text)
        messages = self.messages(response)
        assert messages[0]["t"] == "joined", messages
        self.cid, self.rev = messages[0]["cid"], messages[0]["rev"]
        return messages

    def ev(self, target: str, name: str = "click", data: dict[str, Any] | None = None,
           sync: dict[str, Any] | None = None) -> dict[str, Any]:
        """The next event message of this tab (its sequence number taken)."""
        self.seq += 1
        return {"t": "ev", "s": self.seq, "id": target, "n": name, "d": data or {}, "sync": sync or {}}

    async def post_events(self, messages: list[Any] | bytes, *, mode: str = "http", **kwargs: Any) -> httpx.Response:
        return await self.post("event", messages, params={"cid": self.cid or "", "mode": mode}, **kwargs)

    async def hevent(self, target: str, name: str = "click", data: dict[str, Any] | None = None,
                     sync: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One event over plain HTTP; the messages of the response."""
        response = await self.post_events([self.ev(target, name, data, sync)])
        assert response.status_code == 200, (response.status_code, response.text)
        messages = self.messages(response)
        for m in messages:
            if m["t"] == "up":
                self.rev = m["rev"]
        return messages

    async def poll(self, **kwargs: Any) -> httpx.Response:
        return await self.http.get(self.url + "_lt/poll", params={"cid": self.cid or ""},
                                   headers=self._headers(None, kwargs.get("origin", SAME), None))


class Witness:
    """A session opened (and clicked once) before an attack. ``check()`` asserts that it
    still works, got no error, and lost nothing: its counter goes on from where it was,
    and a page load of the session shows the same count."""

    def __init__(self, url: str) -> None:
        self.tab = HttpTab(url)
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


async def closed(t: Tab, timeout: float = 10.0) -> ConnectionClosed:
    """Read until the server closes ``t``'s WebSocket; return how it closed."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(t.ws.recv(), timeout)  # type: ignore[union-attr]
    return info.value


def is_bare_ack(message: dict[str, Any], seq: int) -> bool:
    """``message`` acknowledges event ``seq`` and changes nothing."""
    return message["t"] in ("up", "ack") and message["ack"] == seq and not message.get("p")


def close_of(exc: ConnectionClosed) -> tuple[int, str]:
    assert exc.rcvd is not None, f"expected a close frame from the server, got {exc!r}"
    return exc.rcvd.code, exc.rcvd.reason


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
