"""A benchmark client speaking livetag's real protocol (see ``livetag/protocol.py`` and
``livetag/server/http.py``) on each transport, and its echo twins.

A livetag session is opened the way a browser opens it: ``GET /`` (issues the session
cookie; the page carries the CSRF token in ``data-lt-token``, the revision in
``data-lt-rev`` and, with ``parano=True``, the AES-GCM key in ``data-lt-key`` on
``<html>``), then one of:

- WebSocket (``LiveSession``): ``/_lt/ws`` with that cookie and a ``join``;
- SSE + POST (``SseSession``): ``POST /_lt/join``, a stream ``GET /_lt/sse?cid=``, events
  as ``POST /_lt/event?cid=&mode=sse`` (answered 204, the update comes down the stream);
- plain HTTP (``HttpSession``): ``POST /_lt/join``, events as
  ``POST /_lt/event?cid=&mode=http`` whose response carries the update, and, as the
  browser keeps one, a long-poll ``GET /_lt/poll?cid=`` always open.

An event is ``{"t":"ev","s":n,"id":…,"n":"click","d":{},"sync":{}}`` (in a JSON array
on HTTP); it is done when the ``up`` with ``ack == n`` arrives. The echo clients send the
same event text and wait for it to come back, so both sides pay the same client-side
JSON, HTTP and framing costs. With a key on the page every payload is sealed and opened
as ``livetag/server/parano.py`` does it (``AesGcm``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from websockets.asyncio.client import ClientConnection, connect

from livetag.protocol import PROTOCOL_VERSION

_TOKEN = re.compile(r'<html[^>]*\sdata-lt-token="([^"]*)"')
_REV = re.compile(r'<html[^>]*\sdata-lt-rev="(\d+)"')
_KEY = re.compile(r'<html[^>]*\sdata-lt-key="([^"]*)"')
TOKEN_HEADER = "X-Livetag-Token"


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
    """A served page: its HTML, the session cookie (``name=value``), CSRF token, revision,
    and the parano key (base64url, unpadded) when the app seals its payloads."""

    html: str
    cookie: str
    token: str
    revision: int
    key: str | None = None


class AesGcm:
    """The client side of ``livetag.server.parano.AesGcmCodec``: a message travels as
    ``base64url(nonce[12] || ciphertext || tag[16])``, unpadded, with a random nonce."""

    def __init__(self, key_b64: str) -> None:
        self._aead = AESGCM(base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4)))

    def seal(self, message: bytes) -> bytes:
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, message, None)).rstrip(b"=")

    def open(self, payload: bytes | str) -> bytes:
        """The plaintext; raises ``cryptography.exceptions.InvalidTag`` when tampered."""
        raw = payload.encode() if isinstance(payload, str) else payload
        data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
        return self._aead.decrypt(data[:12], data[12:], None)


def codec_of(page: Page) -> AesGcm | None:
    """How the payloads of ``page``'s session travel: sealed (``AesGcm``) or in clear (None)."""
    return AesGcm(page.key) if page.key else None


def _event(seq: int, target_id: str, name: str) -> dict[str, Any]:
    # The shape the browser sends for a click (see livetag/protocol.py).
    return {"t": "ev", "s": seq, "id": target_id, "n": name, "d": {}, "sync": {}}


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
    key = _KEY.search(html)
    return Page(html, cookie, token.group(1), int(rev.group(1)), key.group(1) if key else None)


def ws_url(base_url: str, path: str) -> str:
    return "ws" + base_url.removeprefix("http") + path


def _join(page: Page, cid: str | None = None) -> dict[str, Any]:
    return {"t": "join", "v": PROTOCOL_VERSION, "token": page.token, "cid": cid, "rev": page.revision}


class LiveSession:
    """One livetag session with one connected client (one browser tab)."""

    def __init__(self, page: Page, ws: ClientConnection, base_url: str) -> None:
        self.page = page
        self.ws = ws
        self.base_url = base_url
        self.seq = 0
        self.codec = codec_of(page)
        #: Bytes of the last acknowledging message as it travelled (sealed, with parano).
        self.last_wire = 0

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
        codec = codec_of(page)
        join = orjson.dumps(_join(page))
        await ws.send((codec.seal(join) if codec else join).decode())
        raw = await ws.recv()
        reply = orjson.loads(codec.open(raw) if codec else raw)
        if reply.get("t") != "joined":
            await ws.close()
            raise BenchError(f"expected a 'joined' reply to join, got {reply.get('t')!r}")
        return cls(page, ws, base_url)

    async def event(self, target_id: str, name: str = "click") -> str:
        """Send one event and return the text of the ``up`` message acknowledging it (in
        clear). Raises ``BenchError`` on ``err`` or ``bye``."""
        self.seq = seq = self.seq + 1
        message = orjson.dumps(_event(seq, target_id, name))
        codec = self.codec
        if codec is None:  # the clear path stays as lean as a browser's
            await self.ws.send(message.decode())
        else:
            await self.ws.send(codec.seal(message).decode())
        while True:
            raw = await self.ws.recv()
            text = raw if codec is None else codec.open(raw).decode()
            reply = orjson.loads(text)
            kind = reply.get("t")
            if kind == "up" and reply.get("ack") == seq:
                self.last_wire = len(raw)  # ASCII: base64url or orjson's escaped JSON mostly
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
        await self.ws.send(orjson.dumps(_event(seq, target_id, name)).decode())
        text = await self.ws.recv()
        if orjson.loads(text).get("s") != seq:
            raise BenchError(f"expected the echo of event {seq}, got {text[:80]!r}")
        return text  # type: ignore[return-value]

    async def close(self) -> None:
        await self.ws.close()


# -- HTTP transports ---------------------------------------------------------------------


class _HttpBase:
    """What the SSE + POST and plain HTTP sessions share: the page, the codec, the join,
    and the event POST (a JSON array of one event, sealed with parano)."""

    mode = ""

    def __init__(self, http: httpx.AsyncClient, page: Page, base_url: str) -> None:
        self.http = http
        self.page = page
        self.base_url = base_url
        self.codec = codec_of(page)
        self.seq = 0
        self.cid = ""
        self.last_wire = 0
        self._headers = {"Cookie": page.cookie, TOKEN_HEADER: page.token, "Content-Type": "text/plain"}
        self._event_url = ""

    def _seal(self, body: bytes) -> bytes:
        return body if self.codec is None else self.codec.seal(body)

    def _open(self, payload: bytes | str) -> bytes | str:
        return payload if self.codec is None else self.codec.open(payload)

    async def _join(self) -> None:
        """``POST /_lt/join``; sets ``cid``. Raises ``BenchError`` unless ``joined``."""
        response = await self.http.post(self.base_url + "/_lt/join", content=self._seal(orjson.dumps(_join(self.page))),
                                        headers=self._headers)
        if response.status_code != 200:
            raise BenchError(f"expected 200 from POST /_lt/join, got {response.status_code}: {response.text[:200]}")
        replies = orjson.loads(self._open(response.content))
        joined = next((m for m in replies if m.get("t") == "joined"), None)
        if joined is None:
            raise BenchError(f"expected a 'joined' message from POST /_lt/join, got {replies}")
        self.cid = joined["cid"]
        self._event_url = f"{self.base_url}/_lt/event?cid={self.cid}&mode={self.mode}"

    async def _post_event(self, target_id: str, name: str) -> httpx.Response:
        self.seq += 1
        body = self._seal(orjson.dumps([_event(self.seq, target_id, name)]))
        return await self.http.post(self._event_url, content=body, headers=self._headers)

    def _acknowledges(self, text: bytes | str) -> bool:
        """True for the ``up`` acknowledging the last event; raises on ``err``/``bye``."""
        reply = orjson.loads(text)
        kind = reply.get("t")
        if kind in ("err", "bye"):
            raise BenchError(f"expected the update acknowledging event {self.seq}, got {reply}")
        return kind == "up" and reply.get("ack") == self.seq


class SseSession(_HttpBase):
    """One livetag session with one SSE + POST client (an ``EventSource`` tab)."""

    mode = "sse"

    def __init__(self, http: httpx.AsyncClient, page: Page, base_url: str) -> None:
        super().__init__(http, page, base_url)
        self._stream: httpx.Response | None = None
        self._lines: AsyncIterator[str] | None = None

    @classmethod
    async def open(cls, http: httpx.AsyncClient, base_url: str) -> SseSession:
        """``GET /``, ``POST /_lt/join``, then the stream; returns once it is open."""
        self = cls(http, await load_page(http, base_url), base_url)
        await self._join()
        await self._open_stream(f"{base_url}/_lt/sse?cid={self.cid}")
        return self

    async def _open_stream(self, url: str) -> None:
        request = self.http.build_request("GET", url, headers={"Cookie": self.page.cookie,
                                                               "Accept": "text/event-stream"})
        self._stream = await self.http.send(request, stream=True)
        if self._stream.status_code != 200:
            await self._stream.aclose()
            raise BenchError(f"expected 200 from GET {url}, got {self._stream.status_code}")
        self._lines = self._stream.aiter_lines()

    async def _data(self) -> str:
        """The next ``data:`` field of the stream (one message per event: livetag sends
        no multi-line data), skipping comments and blank lines (WHATWG HTML, SSE)."""
        assert self._lines is not None
        async for line in self._lines:
            if line.startswith("data:"):
                data = line[5:]
                return data[1:] if data.startswith(" ") else data
        raise BenchError("expected the SSE stream to stay open, it ended")

    async def event(self, target_id: str, name: str = "click") -> str:
        """POST one event (expects 204), then read the stream up to the ``up`` that
        acknowledges it; returns that message's text (in clear)."""
        response = await self._post_event(target_id, name)
        if response.status_code != 204:
            raise BenchError(f"expected 204 from POST /_lt/event (sse), got {response.status_code}: "
                             f"{response.text[:200]}")
        while True:
            data = await self._data()
            text = self._open(data)
            if self._acknowledges(text):
                self.last_wire = len(data)
                return text if isinstance(text, str) else text.decode()

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()


class HttpSession(_HttpBase):
    """One livetag session with one plain HTTP client: each event POST answers with the
    update; a long-poll stays open as the browser keeps one (server-initiated updates)."""

    mode = "http"

    def __init__(self, http: httpx.AsyncClient, page: Page, base_url: str) -> None:
        super().__init__(http, page, base_url)
        self._poller: asyncio.Task[None] | None = None
        self._acked: asyncio.Event = asyncio.Event()
        self._ack_text = ""
        #: Long-polls answered, and of them how many carried no message.
        self.polls = 0
        self.empty_polls = 0

    @classmethod
    async def open(cls, http: httpx.AsyncClient, base_url: str) -> HttpSession:
        self = cls(http, await load_page(http, base_url), base_url)
        await self._join()
        self._poller = asyncio.create_task(self._poll(f"{base_url}/_lt/poll?cid={self.cid}"))
        return self

    async def _poll(self, url: str) -> None:
        headers = {"Cookie": self.page.cookie}
        while True:
            response = await self.http.get(url, headers=headers)
            if response.status_code != 200:
                raise BenchError(f"expected 200 from GET /_lt/poll, got {response.status_code}")
            self.polls += 1
            messages = orjson.loads(self._open(response.content))
            if not messages:
                self.empty_polls += 1
            for message in messages:
                text = orjson.dumps(message)
                if self._acknowledges(text):  # the update went down the poll instead
                    self._ack_text = text.decode()
                    self._acked.set()

    async def event(self, target_id: str, name: str = "click") -> str:
        """POST one event and return the ``up`` acknowledging it (in clear), from the
        response or, if the server routed it there, from the long-poll."""
        self._acked.clear()
        response = await self._post_event(target_id, name)
        if response.status_code != 200:
            raise BenchError(f"expected 200 from POST /_lt/event (http), got {response.status_code}: "
                             f"{response.text[:200]}")
        for message in orjson.loads(self._open(response.content)):
            text = orjson.dumps(message)
            if self._acknowledges(text):
                self.last_wire = len(response.content)
                return text.decode()
        await asyncio.wait_for(self._acked.wait(), 30)
        return self._ack_text

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)


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
