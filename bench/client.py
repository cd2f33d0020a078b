"""A benchmark client speaking livetag's real protocol (see ``livetag/protocol.py``), and
its echo twin.

A livetag session is opened the way a browser opens it: ``GET /`` (issues the session
cookie; the page carries the CSRF token in ``data-lt-token`` and the revision in
``data-lt-rev`` on ``<html>``), then a WebSocket to ``/_lt/ws`` with that cookie and a
``join``. An event is ``{"t":"ev","s":n,...}``; it is done when the ``up`` with
``ack == n`` arrives. The echo client sends the same event text and waits for it to come
back, so both sides pay the same client-side JSON and framing costs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from livetag.protocol import PROTOCOL_VERSION

_TOKEN = re.compile(r'<html[^>]*\sdata-lt-token="([^"]*)"')
_REV = re.compile(r'<html[^>]*\sdata-lt-rev="(\d+)"')


class BenchError(RuntimeError):
    """The server answered something the protocol does not allow at that point."""


class _NoCookies(DefaultCookiePolicy):
    # The bench opens many sessions through one HTTP client; a shared cookie jar would
    # make every GET after the first resume the same session. Cookies are kept per
    # ``LiveSession`` instead.
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


def http_client() -> httpx.AsyncClient:
    """An HTTP client that never stores cookies (safe to share between sessions)."""
    return httpx.AsyncClient(cookies=CookieJar(policy=_NoCookies()), timeout=30.0)


@dataclass(slots=True)
class Page:
    """A served page: its HTML, the session cookie (``name=value``), CSRF token, revision."""

    html: str
    cookie: str
    token: str
    revision: int


async def load_page(http: httpx.AsyncClient, base_url: str, cookie: str | None = None) -> Page:
    """``GET /`` as a browser does. With ``cookie`` the existing session is rendered;
    without, the server creates a session. Raises ``BenchError`` on an unexpected page."""
    response = await http.get(base_url + "/", headers={"Cookie": cookie} if cookie else None)
    if response.status_code != 200:
        raise BenchError(f"expected 200 from GET {base_url}/, got {response.status_code}")
    html = response.text
    token, rev = _TOKEN.search(html), _REV.search(html)
    if token is None or rev is None:
        raise BenchError("expected data-lt-token and data-lt-rev on <html>, found neither")
    if cookie is None:
        set_cookie = response.headers.get("set-cookie")
        if not set_cookie:
            raise BenchError("expected a session cookie from GET /, got none")
        cookie = set_cookie.split(";", 1)[0]
    return Page(html, cookie, token.group(1), int(rev.group(1)))


def ws_url(base_url: str, path: str) -> str:
    return "ws" + base_url.removeprefix("http") + path


class LiveSession:
    """One livetag session with one connected client (one browser tab)."""

    def __init__(self, page: Page, ws: ClientConnection, base_url: str) -> None:
        self.page = page
        self.ws = ws
        self.base_url = base_url
        self.seq = 0

    @classmethod
    async def open(cls, http: httpx.AsyncClient, base_url: str, *, deflate: bool = True) -> LiveSession:
        """``GET /``, WebSocket, ``join``; returns after ``joined``. Raises ``BenchError``."""
        return await cls.connect(await load_page(http, base_url), base_url, deflate=deflate)

    @classmethod
    async def connect(cls, page: Page, base_url: str, *, deflate: bool = True) -> LiveSession:
        """Open the WebSocket of an already loaded ``page`` and ``join``; returns after
        ``joined``. Raises ``BenchError``."""
        ws = await connect(ws_url(base_url, "/_lt/ws"), additional_headers={"Cookie": page.cookie},
                           compression="deflate" if deflate else None, max_size=None)
        join = {"t": "join", "v": PROTOCOL_VERSION, "token": page.token, "cid": None, "rev": page.revision}
        await ws.send(orjson.dumps(join).decode())
        reply = orjson.loads(await ws.recv())
        if reply.get("t") != "joined":
            await ws.close()
            raise BenchError(f"expected a 'joined' reply to join, got {reply.get('t')!r}")
        return cls(page, ws, base_url)

    async def event(self, target_id: str, name: str = "click") -> str:
        """Send one event and return the text of the ``up`` message acknowledging it.
        Raises ``BenchError`` on ``err`` or ``bye``."""
        self.seq = seq = self.seq + 1
        message = {"t": "ev", "s": seq, "id": target_id, "n": name, "d": {}, "sync": {}}
        await self.ws.send(orjson.dumps(message).decode())
        while True:
            text = await self.ws.recv()
            reply = orjson.loads(text)
            kind = reply.get("t")
            if kind == "up" and reply.get("ack") == seq:
                return text  # type: ignore[return-value]
            if kind in ("err", "bye"):
                raise BenchError(f"expected the update acknowledging event {seq}, got {reply}")

    async def close(self) -> None:
        await self.ws.close()


class EchoSession:
    """One WebSocket to the echo server, sending livetag-shaped events."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seq = 0

    @classmethod
    async def open(cls, base_url: str, *, deflate: bool = True) -> EchoSession:
        ws = await connect(ws_url(base_url, "/ws"), compression="deflate" if deflate else None, max_size=None)
        return cls(ws)

    async def event(self, target_id: str, name: str = "click") -> str:
        """Send the event a livetag client would send and return the echoed text."""
        self.seq = seq = self.seq + 1
        message = {"t": "ev", "s": seq, "id": target_id, "n": name, "d": {}, "sync": {}}
        await self.ws.send(orjson.dumps(message).decode())
        text = await self.ws.recv()
        if orjson.loads(text).get("s") != seq:
            raise BenchError(f"expected the echo of event {seq}, got {text[:80]!r}")
        return text  # type: ignore[return-value]

    async def close(self) -> None:
        await self.ws.close()


# -- reading pages --------------------------------------------------------------------------


class _ClassFinder(HTMLParser):
    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class = css_class
        self.found: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self.found is None and self.css_class in (values.get("class") or "").split():
            self.found = values.get("id")


def id_of_class(html: str, css_class: str) -> str:
    """The ``id`` of the first element with class ``css_class``. Raises ``BenchError``."""
    finder = _ClassFinder(css_class)
    finder.feed(html)
    if not finder.found:
        raise BenchError(f"expected an element with class {css_class!r} and an id in the page, found none")
    return finder.found


def outer_html(html: str, element_id: str) -> str:
    """The markup of the element with id ``element_id``, start tag to end tag, as served
    (for elements without a nested element of the same name, like the list's rows)."""
    start = re.search(r'<([a-zA-Z][\w-]*)\b[^>]*\bid="' + re.escape(element_id) + '"', html)
    if start is None:
        raise BenchError(f"expected an element #{element_id} in the page, found none")
    end_tag = f"</{start.group(1)}>"
    end = html.find(end_tag, start.end())
    if end < 0:
        raise BenchError(f"expected {end_tag} after #{element_id}, found none")
    return html[start.start():end + len(end_tag)]
