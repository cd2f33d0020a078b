"""The benchmark's sessions: livetag tabs (``livetag.testing.wire.Tab``, the package's
protocol client) opened as the benchmark opens them, and the echo floor's twins.

A livetag session is opened as a browser opens it: ``GET /`` (the session cookie; the
CSRF token, revision and, with ``parano=True``, the AES-GCM key on ``<html>``), then a
join over the target's transport (WebSocket with per-message deflate, SSE + POST, or
plain HTTP with a long-poll always open, as the browser keeps one). An event is done when
the ``up`` acknowledging it arrives. The echo clients send the same event text and wait
for it to come back, so both sides pay the same client-side JSON, HTTP and framing costs.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from livetag.protocol import PROTOCOL_VERSION
from livetag.testing.wire import TOKEN_HEADER, Tab, Transport, UnexpectedMessage, no_cookie_client, page_config

__all__ = [
    "BenchError", "EchoHttpSession", "EchoSession", "WsTab", "http_client", "id_of_class", "join_tab", "open_tab",
    "outer_html", "ws_url",
]

#: The server answered something the protocol does not allow at that point.
BenchError = UnexpectedMessage


def http_client() -> httpx.AsyncClient:
    """An HTTP client that never stores cookies (safe to share between sessions: each tab
    keeps the cookie of its own page load)."""
    return no_cookie_client(timeout=30.0)


def ws_url(base_url: str, path: str) -> str:
    return "ws" + base_url.removeprefix("http") + path


async def open_tab(http: httpx.AsyncClient, base_url: str, transport: Transport = "ws", *, deflate: bool = True,
                   join: bool = True) -> Tab:
    """A loaded (and, with ``join``, joined) livetag tab on ``base_url``: no page model, no
    message log, so that an event costs what a browser's costs on the wire. Raises
    ``BenchError`` on an unexpected answer."""
    tab = Tab(base_url, http, transport=transport, timeout=30.0, track_page=False)
    await tab.load()
    if join:
        await join_tab(tab, deflate=deflate)
    return tab


async def join_tab(tab: Tab, *, deflate: bool = True) -> Tab:
    """Join a loaded tab over its transport (a WebSocket with or without per-message
    deflate); on plain HTTP, keep a long-poll open as the browser does."""
    if tab.transport == "ws":
        await tab.connect(compression="deflate" if deflate else None)
    await tab.join()
    if tab.transport == "http":
        tab.start_polling()
    return tab


def _event(seq: int, target_id: str, name: str) -> dict[str, Any]:
    # The shape livetag's client sends for a click (see livetag/protocol/messages.py).
    return {"t": "ev", "s": seq, "id": target_id, "n": name, "d": {}, "sync": {}}


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
        await self.ws.send(orjson.dumps(_event(seq, target_id, name)).decode())
        text = await self.ws.recv()
        if orjson.loads(text).get("s") != seq:
            raise BenchError(f"expected the echo of event {seq}, got {text[:80]!r}")
        return text  # type: ignore[return-value]

    async def close(self) -> None:
        await self.ws.close()


class WsTab:
    """A joined livetag tab driven over its WebSocket with the client work of
    ``EchoSession`` and of the peers' clients (``bench.peers.clients``). Opened as their
    sessions are: ``GET /`` (the cookie, and the token and revision from ``<html>``), the
    WebSocket, the ``join``, its reply. Per event: the event's JSON out, frames in until
    the one acknowledging it, each parsed once. ``Tab``, the test client, also arms a
    timeout per message and keeps a page model and a message log; a session opened or an
    event sent through it also measures that, which the other frameworks' clients do not
    do. ``BenchError`` on an unexpected answer, or a ``bye`` before an acknowledgement."""

    def __init__(self, html: str, ws: ClientConnection) -> None:
        self.html = html
        self.ws = ws
        self.seq = 0
        self.last_wire = 0

    @classmethod
    async def open(cls, http: httpx.AsyncClient, base_url: str, *, deflate: bool = True) -> WsTab:
        response = await http.get(base_url + "/")
        if response.status_code != 200:
            raise BenchError(f"expected 200 from GET /, got {response.status_code}")
        html = response.text
        token, rev, key = page_config(html)
        if key is not None:
            raise BenchError("expected a page in clear, got a parano page")
        cookie = response.headers.get("set-cookie", "").split(";", 1)[0]
        ws = await connect(ws_url(base_url, "/_lt/ws"), additional_headers={"Cookie": cookie}, origin=Origin(base_url),
                           compression="deflate" if deflate else None, max_size=None, proxy=None)
        await ws.send(orjson.dumps({"t": "join", "v": PROTOCOL_VERSION, "token": token, "cid": None,
                                    "rev": rev}).decode())
        joined = orjson.loads(await ws.recv())
        if joined.get("t") != "joined":
            await ws.close()
            raise BenchError(f"expected the join's reply, got {str(joined)[:200]}")
        return cls(html, ws)

    async def event(self, target_id: str, name: str = "click") -> str:
        """Send a click of ``target_id``; the text of the message acknowledging it."""
        self.seq = seq = self.seq + 1
        await self.ws.send(orjson.dumps(_event(seq, target_id, name)).decode())
        while True:
            text = await self.ws.recv()
            message = orjson.loads(text)
            kind = message["t"]
            if (kind == "up" or kind == "ack") and message["ack"] >= seq:
                self.last_wire = len(text.encode())  # type: ignore[union-attr]
                return text  # type: ignore[return-value]
            if kind == "bye":
                raise BenchError(f"expected the acknowledgement of event {seq}, got {text[:200]!r}")

    async def close(self) -> None:
        await self.ws.close()


class EchoHttpSession:
    """The echo floor of the HTTP transports, on ``bench.servers.echo_app``: the event
    POSTed as livetag's client posts it (same headers, a JSON array of one event) and
    answered with the same body (plain HTTP), or with 204 and the body down an SSE
    stream (``sse=True``)."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, sse: bool) -> None:
        self.http = http
        self.seq = 0
        self.sse = sse
        self.last_wire = 0
        cid = os.urandom(8).hex()
        self._url = f"{base_url}/echo?cid={cid}&mode={'sse' if sse else 'http'}"
        self._sse_url = f"{base_url}/sse?cid={cid}"
        self._headers = {"Cookie": "livetag=" + "x" * 43, TOKEN_HEADER: "x" * 43, "Content-Type": "text/plain"}
        self._stream: httpx.Response | None = None
        self._lines: AsyncIterator[str] | None = None

    @classmethod
    async def open(cls, http: httpx.AsyncClient, base_url: str, *, sse: bool) -> EchoHttpSession:
        self = cls(http, base_url, sse)
        if sse:
            self._stream = await http.send(http.build_request("GET", self._sse_url), stream=True)
            self._lines = self._stream.aiter_lines()
            async for line in self._lines:  # the comment that opens the stream
                if line.startswith(":"):
                    break
        return self

    async def event(self, target_id: str, name: str = "click") -> str:
        self.seq = seq = self.seq + 1
        response = await self.http.post(self._url, content=orjson.dumps([_event(seq, target_id, name)]),
                                        headers=self._headers)
        if self._lines is None:
            text = response.text
        else:
            if response.status_code != 204:
                raise BenchError(f"expected 204 from the SSE echo's POST, got {response.status_code}")
            text = ""
            async for line in self._lines:
                if line.startswith("data:"):
                    text = line[5:].lstrip(" ")
                    break
        if orjson.loads(text)[0].get("s") != seq:
            raise BenchError(f"expected the echo of event {seq}, got {text[:80]!r}")
        self.last_wire = len(text)
        return text

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()


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
    """The ``id`` of the first element with class ``css_class``, wherever the attributes
    stand (htag's and NiceGUI's pages too). Raises ``BenchError``."""
    finder = _ClassFinder(css_class)
    finder.feed(html)
    if not finder.found:
        raise BenchError(f"expected an element with class {css_class!r} and an id in the page, found none")
    return finder.found
