"""A browser tab without a browser, for the Runner tests: the page over HTTP (httpx),
the protocol over a real WebSocket (websockets' sync client) or the HTTP transports."""

from __future__ import annotations

import html as htmllib
import re
import threading
from typing import Any

import httpx
import orjson
from lt_client import element_id  # tests/server, put on the path by conftest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from livetag.protocol import PROTOCOL_VERSION

TIMEOUT = 20.0


def text_of(html: str, css_class: str) -> str:
    match = re.search(rf'class="{re.escape(css_class)}"[^>]*>([^<]*)<', html)
    assert match, f"expected .{css_class} in {html[:300]!r}"
    return htmllib.unescape(match.group(1))


class Tab:
    """One page of a session; tabs sharing ``http`` share the cookies (one browser)."""

    def __init__(self, url: str, http: httpx.Client | None = None, path: str = "/") -> None:
        self.url = url.rstrip("/")
        self.path = path
        self.http = http or httpx.Client(trust_env=False, timeout=TIMEOUT)
        self.html = ""
        self.token = ""
        self.rev = 0
        self.cid: str | None = None
        self.seq = 0
        self.ws: ClientConnection | None = None
        self.response: httpx.Response | None = None
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return self.path.rstrip("/")

    def load(self, query: str = "") -> str:
        response = self.request("GET", self.url + self.path + (f"?{query}" if query else ""))
        assert response.status_code == 200, (response.status_code, response.text[:500])
        self.response = response
        self.html = response.text
        self.token = htmllib.unescape(re.search(r'data-lt-token="([^"]*)"', self.html).group(1))
        self.rev = int(re.search(r'data-lt-rev="(\d+)"', self.html).group(1))
        self.cid = None
        return self.html

    def id(self, css_class: str) -> str:
        return element_id(self.html, css_class)

    def text(self, css_class: str) -> str:
        return text_of(self.html, css_class)

    @property
    def pid(self) -> int:
        return int(self.text("pid"))

    def cookies(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)

    # -- WebSocket ------------------------------------------------------------------------

    def connect(self, origin: str | None = "same", cookie: str | None = None) -> ClientConnection:
        ws_url = "ws" + self.url[len("http"):] + self.base + "/_lt/ws"
        headers = {"Cookie": self.cookies() if cookie is None else cookie}
        if origin == "same":
            origin = self.url
        self.ws = connect(ws_url, additional_headers=headers, origin=origin, open_timeout=TIMEOUT, proxy=None,
                          max_size=None).__enter__()
        return self.ws

    @property
    def worker(self) -> int:
        assert self.ws is not None and self.ws.response is not None
        return int(self.ws.response.headers["x-livetag-worker"])

    def send(self, message: dict[str, Any] | str) -> None:
        assert self.ws is not None
        self.ws.send(message if isinstance(message, str) else orjson.dumps(message).decode())

    def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        assert self.ws is not None
        message = orjson.loads(self.ws.recv(timeout=timeout))
        self.messages.append(message)
        return message

    def join(self, token: str | None = None) -> dict[str, Any]:
        if self.ws is None:
            self.connect()
        self.send({"t": "join", "v": PROTOCOL_VERSION, "token": self.token if token is None else token,
                   "cid": self.cid, "rev": self.rev})
        joined = self.recv()
        assert joined["t"] == "joined", joined
        self.cid, self.rev = joined["cid"], joined["rev"]
        return joined

    def ev(self, target: str, name: str = "click") -> dict[str, Any]:
        self.seq += 1
        return {"t": "ev", "s": self.seq, "id": target, "n": name, "d": {}, "sync": {}}

    def click(self, css_class: str) -> list[dict[str, Any]]:
        """Click over the WebSocket; the messages up to the one acknowledging it."""
        self.send(self.ev(self.id(css_class)))
        return self.until_ack(self.seq)

    def until_ack(self, seq: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        got = []
        while True:
            message = self.recv(timeout)
            got.append(message)
            if message["t"] == "up":
                self.rev = message["rev"]
            if message["t"] in ("up", "ack") and message["ack"] >= seq:
                return got

    def until(self, predicate: Any, timeout: float = TIMEOUT) -> dict[str, Any]:
        while True:
            message = self.recv(timeout)
            if message["t"] == "up":
                self.rev = message["rev"]
            if predicate(message):
                return message

    def closed(self, timeout: float = TIMEOUT) -> tuple[list[dict[str, Any]], int, str]:
        """Read until the server closes the WebSocket: (messages, close code, reason)."""
        got = []
        try:
            while True:
                got.append(self.recv(timeout))
        except ConnectionClosed as exc:
            self.ws = None
            assert exc.rcvd is not None, f"expected a close frame, got {exc!r}"
            return got, exc.rcvd.code, exc.rcvd.reason

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except ConnectionClosed:
                pass
            self.ws = None

    # -- HTTP transports ------------------------------------------------------------------

    def post(self, endpoint: str, body: Any, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        return self.request("POST", self.url + self.base + "/_lt/" + endpoint, content=raw, params=params,
                            headers={"X-Livetag-Token": self.token, "Origin": self.url, **(headers or {})})

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        try:
            return self.http.request(method, url, **options)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A recycled worker closed the kept-alive connection under the request: retry
            # once, as browsers do; events carry their sequence numbers, so exactly once.
            return self.http.request(method, url, **options)

    def hjoin(self) -> list[dict[str, Any]]:
        response = self.post("join", {"t": "join", "v": PROTOCOL_VERSION, "token": self.token, "cid": self.cid,
                                      "rev": self.rev})
        assert response.status_code == 200, (response.status_code, response.text)
        messages = orjson.loads(response.content)
        self.cid, self.rev = messages[0]["cid"], messages[0]["rev"]
        return messages

    def hclick(self, css_class: str) -> httpx.Response:
        return self.post("event", [self.ev(self.id(css_class))], params={"cid": self.cid or "", "mode": "http"})

    def poll(self, timeout: float = 40) -> httpx.Response:
        return self.http.get(self.url + self.base + "/_lt/poll", params={"cid": self.cid or ""}, timeout=timeout)

    def aclose(self) -> None:
        self.close()
        self.http.close()


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [op[2] for m in messages if m["t"] == "up" for op in m["p"] if op[0] == "t"]
