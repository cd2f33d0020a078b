"""A protocol-level client for a *running* livetag server: a browser tab without a browser.

``livetag.testing.TestClient`` drives a ``Session`` in-process; this module talks to a
real server (``WebApp``, ``Runner``, behind any ASGI server) over the real wire, as
``livetag/client`` does, so tests and benchmarks see what a browser would:

1. ``load()``: ``GET`` the page over HTTP. Cookies live in the tab's ``httpx`` client
   (tabs that share one share the session, like tabs of one browser); the CSRF token
   (``data-lt-token``), the revision (``data-lt-rev``) and, in parano mode, the AES-GCM
   key (``data-lt-key``) are read from ``<html>``.
2. ``join()``: open a client of the session over the tab's transport: ``"ws"`` (a
   WebSocket on ``_lt/ws``), ``"sse"`` (``POST _lt/join``, then the ``_lt/sse`` stream
   down and ``POST _lt/event?mode=sse`` up) or ``"http"`` (``POST _lt/join``, events as
   ``POST _lt/event?mode=http`` answered with the updates, plus ``GET _lt/poll``).
3. ``event()``: send an event and return the messages up to the one acknowledging it.
   Every message received updates ``rev``/``cid`` (and, with ``record=True``, is logged
   in ``received``); with
   ``track_page=True``, its patch is applied to ``page`` (a ``livetag.testing.Page``),
   so ``text(".value")`` reads what the browser would show.

Messages are the dicts of ``livetag.protocol.messages`` (``{"t": "up", ...}``). Hostile
tests use the raw layer: ``send()`` any frame, ``post()`` any body with any token and
``Origin``, ``messages(response)`` to decode an answer, ``closed()`` for a close frame.
With a key on the page, payloads are sealed and opened with AES-256-GCM as the browser
does (``AesGcm``); a raw ``bytes``/``str`` frame or body is sent as given.

``Tab`` is asynchronous (``httpx.AsyncClient`` + ``websockets``' asyncio client);
``SyncTab`` has the same methods for synchronous tests (``httpx.Client`` + ``websockets``'
threaded client). Unexpected answers raise ``UnexpectedMessage`` (an ``AssertionError``
saying what was expected and what came); waits raise ``TimeoutError`` after ``timeout``
seconds. Nothing is global: each tab holds its own state.

Example, against ``WebApp(App)`` served by uvicorn on a free port::

    from livetag.runners.serve import BackgroundServer
    from livetag.testing.wire import Tab

    async def test_counter():
        with BackgroundServer(WebApp(Counter).app) as server:
            async with Tab(server.url) as tab:
                await tab.load()
                await tab.join()
                await tab.click(".inc")
                assert tab.text(".value") == "1"

Requires ``httpx``, ``websockets`` and ``beautifulsoup4`` (``pip install livetag[testing]``).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import html as htmllib
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..protocol import PROTOCOL_VERSION
from .page import Element, Page

try:
    import httpx
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import ClientConnection as SyncClientConnection
    from websockets.sync.client import connect as sync_connect
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"livetag.testing.wire needs httpx and websockets (pip install livetag[testing]): {exc}") from exc

__all__ = [
    "POLL_TIMEOUT", "SAME", "TIMEOUT", "AesGcm", "Closed", "SyncTab", "Tab", "Transport", "UnexpectedMessage",
    "element_id", "no_cookie_client", "page_config", "text_of", "texts",
]

#: Default seconds to wait for a connection or a message (generous: a loaded CI machine
#: starting a Runner's session process).
TIMEOUT = 20.0
#: Default seconds a long-poll may take: the server holds one up to 25 s
#: (``livetag.server.http.POLL_SECONDS``) before answering an empty list.
POLL_TIMEOUT = 40.0
#: Marker for ``token``/``origin`` arguments: the tab's own CSRF token / origin.
SAME = "same"
#: The request header carrying the CSRF token on HTTP transports.
TOKEN_HEADER = "X-Livetag-Token"

Transport = Literal["ws", "sse", "http"]
Message = dict[str, Any]

_TOKEN = re.compile(r'<html[^>]*\sdata-lt-token="([^"]*)"')
_REV = re.compile(r'<html[^>]*\sdata-lt-rev="(\d+)"')
_KEY = re.compile(r'<html[^>]*\sdata-lt-key="([^"]*)"')


class UnexpectedMessage(AssertionError):
    """The server answered something other than what the protocol (or the test) expects
    at that point; the message says what was expected and what came."""


class Closed(NamedTuple):
    """How the server closed a WebSocket: close ``code`` and ``reason`` (RFC 6455, 7.4),
    and the ``messages`` received before the close frame."""

    code: int
    reason: str
    messages: list[Message]


class AesGcm:
    """The browser side of parano mode (``livetag.server.parano``): a payload travels as
    ``base64url(nonce[12] || ciphertext || tag[16])``, unpadded, with a random nonce.

    ``key_b64`` is the page's ``data-lt-key`` (base64url of 32 bytes, padding optional).
    """

    def __init__(self, key_b64: str) -> None:
        self._aead = AESGCM(base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4)))

    def seal(self, message: bytes) -> bytes:
        nonce = os.urandom(12)
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, message, None)).rstrip(b"=")

    def open(self, payload: bytes | str) -> bytes:
        """The plaintext; raises ``cryptography.exceptions.InvalidTag`` when tampered with."""
        raw = payload.encode() if isinstance(payload, str) else payload
        data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
        return self._aead.decrypt(data[:12], data[12:], None)


class _NoCookies(DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


def no_cookie_client(timeout: float = 30.0, **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that stores no cookie, so that many tabs can share its
    connection pool and still each open their own session (a tab then keeps the cookie
    its page load set, see ``Tab.cookie_header``). ``options`` go to the client (a
    ``transport`` with a source address, for example)."""
    return httpx.AsyncClient(cookies=CookieJar(policy=_NoCookies()), timeout=timeout, trust_env=False, **options)


def page_config(html: str) -> tuple[str, int, str | None]:
    """``(csrf token, revision, parano key or None)`` from a page's ``<html>`` attributes.
    Raises ``UnexpectedMessage`` when the page carries no token or revision."""
    token, rev, key = _TOKEN.search(html), _REV.search(html), _KEY.search(html)
    if token is None or rev is None:
        raise UnexpectedMessage(f"expected data-lt-token and data-lt-rev on <html>, got {html[:300]!r}")
    return (htmllib.unescape(token.group(1)), int(rev.group(1)),
            htmllib.unescape(key.group(1)) if key is not None else None)


def element_id(html: str, css_class: str) -> str:
    """The id of the first element of ``html`` (markup as served) whose class list holds
    ``css_class``. Raises ``UnexpectedMessage`` when there is none."""
    for match in re.finditer(r'<[a-z][a-z0-9-]* id="([^"]+)"([^>]*)>', html):
        classes = re.search(r'class="([^"]*)"', match.group(2))
        if classes and css_class in classes.group(1).split():
            return htmllib.unescape(match.group(1))
    raise UnexpectedMessage(f"expected an element with class {css_class!r} and an id in the page, found none")


def text_of(html: str, element: str) -> str:
    """The text of the element with id ``element`` in ``html`` (an element holding text
    only). Raises ``UnexpectedMessage`` when there is none."""
    match = re.search(rf' id="{re.escape(element)}"[^>]*>([^<]*)<', html)
    if match is None:
        raise UnexpectedMessage(f"expected element #{element} in {html[:300]!r}")
    return htmllib.unescape(match.group(1))


def texts(messages: list[Message]) -> list[str]:
    """The texts set by the ``t`` (set text) ops of the updates among ``messages``."""
    return [op[2] for m in messages if m["t"] == "up" for op in m["p"] if op[0] == "t"]


def acknowledges(message: Message, seq: int) -> bool:
    """``message`` says that events up to ``seq`` were applied (an ``up`` or ``ack``)."""
    return message["t"] in ("up", "ack") and message["ack"] >= seq


class _TabState:
    """What both tabs share, free of I/O: the page's configuration, the protocol state
    (client id, revision, sequence numbers), message building, sealing, and what every
    received message does to the state and the page."""

    http: Any

    def __init__(self, url: str, *, transport: Transport, timeout: float, codec: AesGcm | None,
                 track_page: bool, record: bool) -> None:
        parts = urlsplit(url)
        #: The page's URL as given (``/`` when it has no path): what ``load`` gets.
        self.page_url = url if parts.path else url + "/"
        #: The page's base, ending with ``/``: its endpoints are ``url + "_lt/..."``.
        self.url = url.rstrip("/") + "/"
        #: The page's origin (``scheme://host:port``), what the browser sends as ``Origin``.
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.transport: Transport = transport
        self.timeout = timeout
        #: The payload codec (parano mode): taken from the page by ``load()``, or given.
        self.codec = codec
        self.track_page = track_page
        self.record = record
        self.html = ""
        self.token = ""
        self.rev = 0
        self.key: str | None = None
        self.cid: str | None = None
        self.seq = 0
        #: Every message received, in order (with ``record=True``).
        self.received: list[Message] = []
        #: The ``err`` messages received.
        self.errors: list[Message] = []
        #: The wire form of the last message received (sealed, with parano), for sizes.
        self.last_raw: bytes | str = b""
        self.page: Page | None = None
        self._page_error: str | None = None
        self._cookie = ""  # the cookie the last page load set, for clients that keep none

    # -- the page --------------------------------------------------------------------------

    def _loaded(self, html: str, set_cookie: str | None) -> None:
        self.html = html
        self.token, self.rev, self.key = page_config(html)
        if self.key is not None:
            self.codec = AesGcm(self.key)
        # ``cid`` stays: tests load a page to read the session's state, and a join after
        # that resumes the same client (set ``cid = None`` for a new one, as a reload).
        if set_cookie:
            self._cookie = set_cookie.split(";", 1)[0]
        if self.track_page:
            self.page, self._page_error = Page.from_document(html), None

    def _page(self) -> Page:
        if self.page is None:
            raise UnexpectedMessage("expected a loaded page (load() with track_page=True), there is none")
        if self._page_error is not None:
            raise UnexpectedMessage(f"the page diverged from the server: {self._page_error}")
        return self.page

    def find(self, selector: str) -> Element:
        """The first element of the live page matching CSS ``selector``; ``LookupError``
        when none does."""
        node = self._page().body.select_one(selector)
        if node is None:
            page = str(self._page().body)[:2000]
            raise LookupError(f"expected an element matching {selector!r}, found none in:\n{page}")
        return Element(node)

    def id(self, selector: str) -> str:
        """The id of the element matching ``selector`` (the ``id`` an event targets)."""
        return self.find(selector).id

    def text(self, selector: str = "body") -> str:
        """The text of the element matching ``selector``, as the page shows it now."""
        return self.find(selector).text

    def exists(self, selector: str) -> bool:
        return self._page().body.select_one(selector) is not None

    @property
    def ws_url(self) -> str:
        """The page's WebSocket endpoint (``ws://host:port/path/_lt/ws``; ``wss`` on https)."""
        return "ws" + self.url.removeprefix("http") + "_lt/ws"

    def cookie_header(self) -> str:
        """The ``Cookie`` header a browser would send: the client's cookies, or, when its
        jar keeps none (``no_cookie_client``), the cookie the tab's page load set."""
        jar = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)
        return jar or self._cookie

    @property
    def session_id(self) -> str:
        """The value of the session cookie (``lt_sid...``); ``StopIteration`` if none."""
        pairs = (p.split("=", 1) for p in self.cookie_header().split("; ") if "=" in p)
        return next(value for name, value in pairs if name.startswith("lt_sid"))

    # -- messages --------------------------------------------------------------------------

    def ev(self, target: str, name: str = "click", data: dict[str, Any] | None = None,
           sync: dict[str, Any] | None = None) -> Message:
        """The next event message of this tab (takes a sequence number)."""
        self.seq += 1
        return {"t": "ev", "s": self.seq, "id": target, "n": name, "d": data or {}, "sync": sync or {}}

    def join_message(self, token: str | None = None, rev: int | None = None,
                     version: int = PROTOCOL_VERSION) -> Message:
        return {"t": "join", "v": version, "token": self.token if token is None else token, "cid": self.cid,
                "rev": self.rev if rev is None else rev}

    def _seal(self, message: Any) -> bytes:
        """A message (anything JSON) as it travels up; ``bytes`` go as they are."""
        if isinstance(message, bytes):
            return message
        raw = orjson.dumps(message)
        return raw if self.codec is None else self.codec.seal(raw)

    def _frame(self, message: Message | str | bytes) -> str | bytes:
        if isinstance(message, (str, bytes)):
            return message
        return self._seal(message).decode()

    def _open(self, raw: bytes | str) -> Any:
        return orjson.loads(raw if self.codec is None else self.codec.open(raw))

    def messages(self, response: httpx.Response) -> list[Message]:
        """The JSON array of messages of an HTTP transport's answer (opened in parano mode
        when the status is 200: errors come in clear)."""
        raw = response.content
        if self.codec is not None and response.status_code == 200:
            raw = self.codec.open(raw)
        return orjson.loads(raw)  # type: ignore[no-any-return]

    def _headers(self, token: str | None, origin: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {}
        if self._cookie and not self.http.cookies:
            headers["Cookie"] = self._cookie
        if token is not None:
            headers[TOKEN_HEADER] = self.token if token == SAME else token
        if origin is not None:
            headers["Origin"] = self.origin if origin == SAME else origin
        headers.update(extra or {})
        return headers

    def _take(self, message: Message) -> Message:
        """Apply one received message to the tab: log, revision, client id, page."""
        if self.record:
            self.received.append(message)
        kind = message.get("t")
        if kind == "up" or kind == "joined":
            self.rev = message["rev"]
            if kind == "joined":
                self.cid = message["cid"]
            if self.page is not None and self._page_error is None:
                try:
                    for op in message["p"]:
                        self.page.apply(op)
                except (AssertionError, LookupError, IndexError, TypeError) as exc:
                    # A hostile test may make its page diverge on purpose: it fails only if
                    # it then reads the page.
                    self._page_error = str(exc)
        elif kind == "err":
            self.errors.append(message)
        return message

    def _joined(self, answer: Message | None, transport: str) -> Message:
        if answer is None or answer.get("t") != "joined":
            raise UnexpectedMessage(f"expected 'joined' in answer to a join over {transport}, got {answer!r}")
        return answer

    def _sse_data(self, line: str) -> str | None:
        # WHATWG HTML, server-sent events: "data:" plus an optional space; livetag sends
        # one message per event, on one line; comments (":") and blank lines are skipped.
        if line.startswith("data:"):
            data = line[5:]
            return data[1:] if data.startswith(" ") else data
        return None


def _check(response: httpx.Response, expected: int, what: str) -> httpx.Response:
    if response.status_code != expected:
        raise UnexpectedMessage(f"expected {expected} from {what}, got {response.status_code}: {response.text[:300]}")
    return response


#: The close code of a connection that ended without a close frame (RFC 6455, 7.1.5).
ABNORMAL_CLOSURE = 1006


def _closed(exc: ConnectionClosed, messages: list[Message], abrupt: bool) -> Closed:
    if exc.rcvd is None:
        if abrupt:
            return Closed(ABNORMAL_CLOSURE, "", messages)
        raise UnexpectedMessage(f"expected a close frame from the server, got {exc!r}")
    return Closed(exc.rcvd.code, exc.rcvd.reason, messages)


class Tab(_TabState):
    """One browser tab on a page of a running server (asynchronous).

    ``url`` is the page's URL (``http://host:port/`` or a sub-path a ``Runner`` serves);
    ``http`` an ``httpx.AsyncClient`` to share with other tabs (one browser: the same
    cookies; closed by its owner), else the tab makes its own; ``transport`` the one
    ``join``/``event`` use (``"ws"``, ``"sse"`` or ``"http"``); ``timeout`` seconds per
    wait; ``codec`` seals payloads (else taken from the page's key); ``track_page`` keeps
    ``page`` up to date from the patches (a benchmark turns it off); ``record`` logs every
    message in ``received`` (off by default: a long test would keep all its updates).
    """

    def __init__(self, url: str, http: httpx.AsyncClient | None = None, *, transport: Transport = "ws",
                 timeout: float = TIMEOUT, codec: AesGcm | None = None, track_page: bool = True,
                 record: bool = False) -> None:
        super().__init__(url, transport=transport, timeout=timeout, codec=codec, track_page=track_page, record=record)
        self._own_http = http is None
        self.http: httpx.AsyncClient = http or httpx.AsyncClient(trust_env=False, timeout=timeout)
        self.ws: ClientConnection | None = None
        #: The last page load's response.
        self.response: httpx.Response | None = None
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._stream: httpx.Response | None = None
        self._lines: AsyncIterator[str] | None = None
        self._poller: asyncio.Task[None] | None = None
        #: Long-polls answered while ``start_polling`` runs, and how many were empty.
        self.polls = 0
        self.empty_polls = 0

    async def __aenter__(self) -> Tab:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- HTTP -------------------------------------------------------------------------------

    async def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """An HTTP request with the tab's client, retried once when the server closed a
        kept-alive connection under it (as browsers do; events carry sequence numbers, so
        a retried event still applies once)."""
        try:
            return await self.http.request(method, url, **options)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            return await self.http.request(method, url, **options)

    async def load(self, query: str = "") -> str:
        """``GET`` the page (``query``: the URL's query string, without ``?``); reads its
        token, revision and key; returns the HTML. ``UnexpectedMessage`` unless 200."""
        # Redirects followed as a browser does (a mount at /app answers /app with /app/).
        response = await self.request("GET", self.page_url + (f"?{query}" if query else ""),
                                      headers=self._headers(None, None, None), follow_redirects=True)
        self.response = _check(response, 200, f"GET {self.page_url}")
        self._loaded(response.text, response.headers.get("set-cookie"))
        return self.html

    async def post(self, endpoint: str, body: Any = b"", *, token: str | None = SAME, origin: str | None = SAME,
                   params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """``POST`` ``body`` to ``<url>_lt/<endpoint>``: ``bytes`` as they are, anything
        else as JSON (sealed in parano mode). ``token``/``origin``: ``SAME`` (the tab's),
        another value, or ``None`` for no header."""
        return await self.request("POST", self.url + "_lt/" + endpoint, content=self._seal(body), params=params,
                                  headers=self._headers(token, origin, headers))

    async def post_events(self, messages: list[Any] | bytes, *, mode: str | None = None,
                          **options: Any) -> httpx.Response:
        """``POST _lt/event?cid=&mode=``: a batch of messages (``mode`` defaults to the
        tab's transport; ``"sse"`` answers 204, ``"http"`` 200 with messages)."""
        mode = mode or ("sse" if self.transport == "sse" else "http")
        return await self.post("event", messages, params={"cid": self.cid or "", "mode": mode}, **options)

    async def poll(self, *, origin: str | None = SAME, timeout: float | None = None) -> httpx.Response:
        """One long-poll ``GET _lt/poll?cid=`` (``timeout``: seconds, default ``POLL_TIMEOUT``)."""
        options = {"timeout": POLL_TIMEOUT if timeout is None else timeout}
        return await self.request("GET", self.url + "_lt/poll", params={"cid": self.cid or ""},
                                  headers=self._headers(None, origin, None), **options)

    # -- WebSocket --------------------------------------------------------------------------

    async def connect(self, *, origin: str | None = SAME, cookie: str | None = None,
                      **options: Any) -> ClientConnection:
        """Open the WebSocket (``<url>_lt/ws``) with the tab's cookie (or ``cookie``) and
        ``Origin`` (``SAME``, another, or ``None``); ``options`` go to ``websockets``'
        ``connect`` (default: no compression, no size limit)."""
        options = {"compression": None, "max_size": None, "open_timeout": self.timeout, "proxy": None, **options}
        cookies = self.cookie_header() if cookie is None else cookie
        self.ws = await connect(self.ws_url, additional_headers={"Cookie": cookies},
                                origin=self.origin if origin == SAME else origin, **options)  # type: ignore[arg-type]
        return self.ws

    async def send(self, message: Message | str | bytes) -> None:
        """Send one WebSocket frame: a dict as JSON (sealed in parano mode), ``str`` or
        ``bytes`` as they are (a text or binary frame)."""
        if self.ws is None:
            raise UnexpectedMessage("expected an open WebSocket (connect() or join()), there is none")
        await self.ws.send(self._frame(message))

    async def closed(self, timeout: float | None = None, *, abrupt: bool = False) -> Closed:
        """Read until the server closes the WebSocket; how it closed. ``TimeoutError``
        when it stays open; ``UnexpectedMessage`` when it ends without a close frame,
        unless ``abrupt`` (then code 1006, as a browser reports it: a session process
        that died while it served the page's WebSocket itself, ``Runner``)."""
        got: list[Message] = []
        try:
            while True:
                got.append(await self.recv(timeout))
        except ConnectionClosed as exc:
            self.ws = None
            return _closed(exc, got, abrupt)

    # -- the protocol -----------------------------------------------------------------------

    async def join(self, *, token: str | None = None, rev: int | None = None, version: int = PROTOCOL_VERSION,
                   transport: Transport | None = None) -> Message:
        """Join the session (as a new client, or resuming ``cid``) over ``transport``
        (default the tab's; given, it becomes the tab's); returns the ``joined`` message.
        Messages that came with it wait for ``recv``. Raises ``UnexpectedMessage``."""
        self.transport = transport or self.transport
        message = self.join_message(token, rev, version)
        if self.transport == "ws":
            if self.ws is None:
                await self.connect()
            await self.send(message)
            return self._joined(await self.recv(), "ws")
        response = _check(await self.post("join", message, token=None), 200, "POST _lt/join")
        answers = [self._take(m) for m in self.messages(response)]
        for extra in answers[1:]:
            self._inbox.put_nowait(extra)
        joined = self._joined(answers[0] if answers else None, self.transport)
        if self.transport == "sse":
            await self._open_stream()
        return joined

    async def _open_stream(self) -> None:
        request = self.http.build_request("GET", self.url + "_lt/sse", params={"cid": self.cid or ""},
                                          headers={**self._headers(None, SAME, None), "Accept": "text/event-stream"})
        self._stream = _check(await self.http.send(request, stream=True), 200, "GET _lt/sse")
        self._lines = self._stream.aiter_lines()

    async def event(self, target: str, name: str = "click", data: dict[str, Any] | None = None,
                    sync: dict[str, Any] | None = None) -> list[Message]:
        """Send one event to element ``target`` over the tab's transport; the messages
        received up to the one acknowledging it (an ``up``, or ``ack`` when nothing
        changed). ``UnexpectedMessage`` on a refused POST, ``TimeoutError`` without ack."""
        message = self.ev(target, name, data, sync)
        if self.transport == "ws":
            await self.send(message)
        elif self.transport == "sse":
            _check(await self.post_events([message], mode="sse"), 204, "POST _lt/event (sse)")
        else:
            response = _check(await self.post_events([message], mode="http"), 200, "POST _lt/event (http)")
            self.last_raw = response.content
            for m in self.messages(response):
                self._inbox.put_nowait(m)
        return await self.until_ack(self.seq)

    async def click(self, selector: str) -> list[Message]:
        """Click the element of the live page matching CSS ``selector`` (its ``click``
        event only: no bubbling; see ``TestClient`` for the browser's full semantics)."""
        return await self.event(self.id(selector))

    async def recv(self, timeout: float | None = None) -> Message:
        """The next message from the server on the tab's transport (``TimeoutError`` after
        ``timeout`` seconds; ``websockets.ConnectionClosed`` when the WebSocket closes)."""
        timeout = self.timeout if timeout is None else timeout
        if not self._inbox.empty():
            return self._take(self._inbox.get_nowait())
        if self.transport == "ws" or (self.ws is not None and self._lines is None and self._poller is None):
            if self.ws is None:
                raise UnexpectedMessage("expected an open WebSocket (connect() or join()), there is none")
            # asyncio.timeout, not wait_for: no task per message (a benchmark's hot path).
            async with asyncio.timeout(timeout):
                raw = await self.ws.recv()
            self.last_raw = raw
            return self._take(self._open(raw))
        async with asyncio.timeout(timeout):
            if self._lines is not None:
                return self._take(await self._next_data())
            if self._poller is not None:
                return self._take(await self._inbox.get())
        response = _check(await asyncio.wait_for(self.poll(), timeout), 200, "GET _lt/poll")
        for m in self.messages(response):
            self._inbox.put_nowait(m)
        return await self.recv(timeout)

    async def _next_data(self) -> Message:
        assert self._lines is not None
        async for line in self._lines:
            data = self._sse_data(line)
            if data is not None:
                self.last_raw = data
                return self._open(data)  # type: ignore[no-any-return]
        raise UnexpectedMessage("expected the SSE stream to stay open, it ended")

    async def until_ack(self, seq: int | None = None, timeout: float | None = None) -> list[Message]:
        """Messages up to the one acknowledging event ``seq`` (default: the last sent).
        ``UnexpectedMessage`` on ``bye``."""
        seq = self.seq if seq is None else seq
        got: list[Message] = []
        while True:
            message = await self.recv(timeout)
            got.append(message)
            if message["t"] in ("up", "ack") and message["ack"] >= seq:
                return got
            if message["t"] == "bye":
                raise UnexpectedMessage(f"expected the acknowledgement of event {seq}, got {message!r}")

    async def recv_until(self, predicate: Callable[[Message], bool], timeout: float | None = None) -> list[Message]:
        """Messages up to and including the first one ``predicate`` accepts."""
        got = [await self.recv(timeout)]
        while not predicate(got[-1]):
            got.append(await self.recv(timeout))
        return got

    async def until(self, predicate: Callable[[Message], bool], timeout: float | None = None) -> Message:
        """The first message ``predicate`` accepts (earlier ones are only logged)."""
        return (await self.recv_until(predicate, timeout))[-1]

    async def next_update(self, timeout: float | None = None) -> Message:
        """The next ``up`` message that changes something."""
        return await self.until(lambda m: m["t"] == "up" and bool(m["p"]), timeout)

    def start_polling(self) -> None:
        """Keep a long-poll open, as the browser does on the ``http`` transport: what it
        brings waits for ``recv`` (counted in ``polls``/``empty_polls``)."""
        self._poller = asyncio.create_task(self._poll_forever())

    async def _poll_forever(self) -> None:
        while True:
            response = _check(await self.poll(), 200, "GET _lt/poll")
            self.polls += 1
            messages = self.messages(response)
            self.empty_polls += not messages
            for m in messages:
                self._inbox.put_nowait(m)

    async def close(self) -> None:
        """Close the WebSocket, the SSE stream and the long-poll; the session lives on."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        if self._stream is not None:
            await self._stream.aclose()
            self._stream = self._lines = None
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def aclose(self) -> None:
        """``close()``, and the HTTP client if the tab made it."""
        await self.close()
        if self._own_http:
            await self.http.aclose()


class SyncTab(_TabState):
    """``Tab`` for synchronous tests: the same methods, blocking (``httpx.Client`` and
    ``websockets``' threaded client, which answers pings while the test waits). One
    thread at a time per tab; tabs may live in different threads."""

    def __init__(self, url: str, http: httpx.Client | None = None, *, transport: Transport = "ws",
                 timeout: float = TIMEOUT, codec: AesGcm | None = None, track_page: bool = True,
                 record: bool = False) -> None:
        super().__init__(url, transport=transport, timeout=timeout, codec=codec, track_page=track_page, record=record)
        self._own_http = http is None
        self.http: httpx.Client = http or httpx.Client(trust_env=False, timeout=timeout)
        self.ws: SyncClientConnection | None = None
        self.response: httpx.Response | None = None
        self._inbox: collections.deque[Message] = collections.deque()
        self._stream: httpx.Response | None = None
        self._lines: Iterator[str] | None = None

    def __enter__(self) -> SyncTab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.aclose()

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """See ``Tab.request``."""
        try:
            return self.http.request(method, url, **options)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            return self.http.request(method, url, **options)

    def load(self, query: str = "") -> str:
        """See ``Tab.load``."""
        response = self.request("GET", self.page_url + (f"?{query}" if query else ""),
                                headers=self._headers(None, None, None), follow_redirects=True)
        self.response = _check(response, 200, f"GET {self.page_url}")
        self._loaded(response.text, response.headers.get("set-cookie"))
        return self.html

    def post(self, endpoint: str, body: Any = b"", *, token: str | None = SAME, origin: str | None = SAME,
             params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """See ``Tab.post``."""
        return self.request("POST", self.url + "_lt/" + endpoint, content=self._seal(body), params=params,
                            headers=self._headers(token, origin, headers))

    def post_events(self, messages: list[Any] | bytes, *, mode: str | None = None, **options: Any) -> httpx.Response:
        """See ``Tab.post_events``."""
        mode = mode or ("sse" if self.transport == "sse" else "http")
        return self.post("event", messages, params={"cid": self.cid or "", "mode": mode}, **options)

    def poll(self, *, origin: str | None = SAME, timeout: float | None = None) -> httpx.Response:
        """See ``Tab.poll``."""
        options = {"timeout": POLL_TIMEOUT if timeout is None else timeout}
        return self.request("GET", self.url + "_lt/poll", params={"cid": self.cid or ""},
                            headers=self._headers(None, origin, None), **options)

    def connect(self, *, origin: str | None = SAME, cookie: str | None = None, **options: Any) -> SyncClientConnection:
        """See ``Tab.connect``."""
        options = {"compression": None, "max_size": None, "open_timeout": self.timeout, "proxy": None, **options}
        cookies = self.cookie_header() if cookie is None else cookie
        self.ws = sync_connect(self.ws_url, additional_headers={"Cookie": cookies},
                               origin=self.origin if origin == SAME else origin, **options  # type: ignore[arg-type]
                               ).__enter__()  # websockets wants a context manager; close() ends it
        return self.ws

    def send(self, message: Message | str | bytes) -> None:
        """See ``Tab.send``."""
        if self.ws is None:
            raise UnexpectedMessage("expected an open WebSocket (connect() or join()), there is none")
        self.ws.send(self._frame(message))

    def closed(self, timeout: float | None = None, *, abrupt: bool = False) -> Closed:
        """See ``Tab.closed``."""
        got: list[Message] = []
        try:
            while True:
                got.append(self.recv(timeout))
        except ConnectionClosed as exc:
            self.ws = None
            return _closed(exc, got, abrupt)

    def join(self, *, token: str | None = None, rev: int | None = None, version: int = PROTOCOL_VERSION,
             transport: Transport | None = None) -> Message:
        """See ``Tab.join``."""
        self.transport = transport or self.transport
        message = self.join_message(token, rev, version)
        if self.transport == "ws":
            if self.ws is None:
                self.connect()
            self.send(message)
            return self._joined(self.recv(), "ws")
        response = _check(self.post("join", message, token=None), 200, "POST _lt/join")
        answers = [self._take(m) for m in self.messages(response)]
        self._inbox.extend(answers[1:])
        joined = self._joined(answers[0] if answers else None, self.transport)
        if self.transport == "sse":
            request = self.http.build_request("GET", self.url + "_lt/sse", params={"cid": self.cid or ""},
                                              headers={**self._headers(None, SAME, None),
                                                       "Accept": "text/event-stream"})
            self._stream = _check(self.http.send(request, stream=True), 200, "GET _lt/sse")
            self._lines = self._stream.iter_lines()
        return joined

    def event(self, target: str, name: str = "click", data: dict[str, Any] | None = None,
              sync: dict[str, Any] | None = None) -> list[Message]:
        """See ``Tab.event``."""
        message = self.ev(target, name, data, sync)
        if self.transport == "ws":
            self.send(message)
        elif self.transport == "sse":
            _check(self.post_events([message], mode="sse"), 204, "POST _lt/event (sse)")
        else:
            response = _check(self.post_events([message], mode="http"), 200, "POST _lt/event (http)")
            self.last_raw = response.content
            self._inbox.extend(self.messages(response))
        return self.until_ack(self.seq)

    def click(self, selector: str) -> list[Message]:
        """See ``Tab.click``."""
        return self.event(self.id(selector))

    def recv(self, timeout: float | None = None) -> Message:
        """See ``Tab.recv``."""
        timeout = self.timeout if timeout is None else timeout
        if self._inbox:
            return self._take(self._inbox.popleft())
        if self.transport == "ws" or (self.ws is not None and self._lines is None):
            if self.ws is None:
                raise UnexpectedMessage("expected an open WebSocket (connect() or join()), there is none")
            raw = self.ws.recv(timeout=timeout)
            self.last_raw = raw
            return self._take(self._open(raw))
        if self._lines is not None:
            # The stream's read timeout is the client's (httpx), not ``timeout``.
            for line in self._lines:
                data = self._sse_data(line)
                if data is not None:
                    self.last_raw = data
                    return self._take(self._open(data))
            raise UnexpectedMessage("expected the SSE stream to stay open, it ended")
        try:
            response = _check(self.poll(timeout=timeout), 200, "GET _lt/poll")
        except httpx.TimeoutException:
            raise TimeoutError(f"expected a message within {timeout} s on the long-poll, got none") from None
        self._inbox.extend(self.messages(response))
        return self.recv(timeout)

    def until_ack(self, seq: int | None = None, timeout: float | None = None) -> list[Message]:
        """See ``Tab.until_ack``."""
        seq = self.seq if seq is None else seq
        got: list[Message] = []
        while True:
            message = self.recv(timeout)
            got.append(message)
            if message["t"] in ("up", "ack") and message["ack"] >= seq:
                return got
            if message["t"] == "bye":
                raise UnexpectedMessage(f"expected the acknowledgement of event {seq}, got {message!r}")

    def recv_until(self, predicate: Callable[[Message], bool], timeout: float | None = None) -> list[Message]:
        """See ``Tab.recv_until``."""
        got = [self.recv(timeout)]
        while not predicate(got[-1]):
            got.append(self.recv(timeout))
        return got

    def until(self, predicate: Callable[[Message], bool], timeout: float | None = None) -> Message:
        """See ``Tab.until``."""
        return self.recv_until(predicate, timeout)[-1]

    def next_update(self, timeout: float | None = None) -> Message:
        """See ``Tab.next_update``."""
        return self.until(lambda m: m["t"] == "up" and bool(m["p"]), timeout)

    def close(self) -> None:
        """See ``Tab.close``."""
        if self._stream is not None:
            self._stream.close()
            self._stream = self._lines = None
        if self.ws is not None:
            try:
                self.ws.close()
            except ConnectionClosed:
                pass
            self.ws = None

    def aclose(self) -> None:
        """``close()``, and the HTTP client if the tab made it (the name matches ``Tab``'s)."""
        self.close()
        if self._own_http:
            self.http.close()
