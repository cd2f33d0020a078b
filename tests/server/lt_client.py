"""A browser tab without a browser: loads the page over HTTP (httpx) and speaks the real
protocol over a real WebSocket (the ``websockets`` client library)."""

from __future__ import annotations

import asyncio
import html as htmllib
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from livetag.protocol import PROTOCOL_VERSION

TIMEOUT = 10.0


def element_id(html: str, css_class: str) -> str:
    """The id of the first element whose class list contains ``css_class``."""
    for match in re.finditer(r'<[a-z][a-z0-9-]* id="([^"]+)"([^>]*)>', html):
        classes = re.search(r'class="([^"]*)"', match.group(2))
        if classes and css_class in classes.group(1).split():
            return htmllib.unescape(match.group(1))
    raise AssertionError(f"expected an element with class {css_class!r} in the page")


def text_of(html: str, element: str) -> str:
    """The text content of the element with id ``element`` (no nested tags)."""
    match = re.search(rf' id="{re.escape(element)}"[^>]*>([^<]*)<', html)
    assert match, f"expected element #{element} in {html[:300]!r}"
    return htmllib.unescape(match.group(1))


class Tab:
    """One page of a session. Share ``http`` between tabs to share the cookie."""

    def __init__(self, url: str, http: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/") + "/"
        self.http = http or httpx.AsyncClient(trust_env=False, timeout=TIMEOUT)
        self.html = ""
        self.token = ""
        self.rev = 0
        self.cid: str | None = None
        self.seq = 0
        self.ws: ClientConnection | None = None
        self.response: httpx.Response | None = None

    async def load(self) -> str:
        response = await self.http.get(self.url)
        assert response.status_code == 200, response.text[:500]
        self.response = response
        self.html = response.text
        self.token = htmllib.unescape(re.search(r'data-lt-token="([^"]*)"', self.html).group(1))
        self.rev = int(re.search(r'data-lt-rev="(\d+)"', self.html).group(1))
        return self.html

    @property
    def ws_url(self) -> str:
        parts = urlsplit(self.url)
        return f"ws://{parts.netloc}{parts.path}_lt/ws"

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)

    async def connect(self, *, origin: str | None = "same", cookie: str | None = None) -> ClientConnection:
        headers = {"Cookie": self.cookie_header() if cookie is None else cookie}
        if origin == "same":
            origin = "http://" + urlsplit(self.url).netloc
        self.ws = await connect(self.ws_url, additional_headers=headers, origin=origin, proxy=None,
                                open_timeout=TIMEOUT, compression=None)
        return self.ws

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        assert self.ws is not None
        if isinstance(message, dict):
            message = orjson.dumps(message).decode()
        await self.ws.send(message)

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        assert self.ws is not None
        return orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def join(self, *, token: str | None = None, rev: int | None = None, version: int = PROTOCOL_VERSION
                   ) -> dict[str, Any]:
        if self.ws is None:
            await self.connect()
        await self.send({"t": "join", "v": version, "token": self.token if token is None else token,
                         "cid": self.cid, "rev": self.rev if rev is None else rev})
        joined = await self.recv()
        assert joined["t"] == "joined", joined
        self.cid = joined["cid"]
        self.rev = joined["rev"]
        return joined

    async def event(self, target: str, name: str = "click", data: dict[str, Any] | None = None,
                    sync: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Send an event and return the messages up to the update acknowledging it."""
        self.seq += 1
        await self.send({"t": "ev", "s": self.seq, "id": target, "n": name, "d": data or {}, "sync": sync or {}})
        return await self.until_ack(self.seq)

    async def until_ack(self, seq: int) -> list[dict[str, Any]]:
        got = []
        while True:
            message = await self.recv()
            got.append(message)
            if message["t"] == "up":
                self.rev = message["rev"]
            if message["t"] in ("up", "ack") and message["ack"] >= seq:
                return got

    async def next_update(self) -> dict[str, Any]:
        """The next update that changes something."""
        while True:
            message = await self.recv()
            if message["t"] == "up" and message["p"]:
                self.rev = message["rev"]
                return message

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def aclose(self) -> None:
        await self.close()
        await self.http.aclose()


def texts(messages: list[dict[str, Any]]) -> list[str]:
    """The texts set by ``t`` ops in ``messages``."""
    return [op[2] for m in messages if m["t"] == "up" for op in m["p"] if op[0] == "t"]
