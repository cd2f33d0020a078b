"""Helpers for the reference-sample tests: run a sample's code, and open a page of a served
app over real HTTP and a real WebSocket (httpx and the ``websockets`` client)."""

from __future__ import annotations

import contextlib
import html as htmllib
import re
import textwrap
from types import ModuleType
from typing import Any

import httpx
import orjson
from websockets.sync.client import ClientConnection, connect

from livetag.protocol import PROTOCOL_VERSION

TIMEOUT = 10.0


def run_sample(source: str, name: str) -> ModuleType:
    """Execute a reference code sample as the module ``name``. Its name is not
    ``"__main__"``, so an ``if __name__ == "__main__":`` block (starting a server) does not
    run: the tests serve the objects the sample built instead."""
    module = ModuleType(name)
    module.__file__ = f"<reference sample {name}>"
    exec(compile(textwrap.dedent(source), module.__file__, "exec"), module.__dict__)
    return module


class Page:
    """One browser tab, without a browser: ``load()`` the page, ``join()`` its session over
    the WebSocket, ``send()`` events, ``until()`` a message arrives."""

    def __init__(self, url: str, http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/") + "/"
        self.http = http or httpx.Client(trust_env=False, timeout=TIMEOUT)
        self.html = ""
        self.token = ""
        self.rev = 0
        self.seq = 0
        self.ws: ClientConnection | None = None
        self.messages: list[dict[str, Any]] = []
        self._exit = contextlib.ExitStack()

    def load(self) -> str:
        response = self.http.get(self.url)
        assert response.status_code == 200, response.text[:500]
        self.html = response.text
        self.token = htmllib.unescape(re.search(r'data-lt-token="([^"]*)"', self.html).group(1))
        self.rev = int(re.search(r'data-lt-rev="(\d+)"', self.html).group(1))
        return self.html

    def join(self) -> dict[str, Any]:
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)
        ws_url = "ws" + self.url[len("http"):] + "_lt/ws"
        self.ws = self._exit.enter_context(connect(ws_url, additional_headers={"Cookie": cookies},
                                                   open_timeout=TIMEOUT))
        self.ws.send(orjson.dumps({"t": "join", "v": PROTOCOL_VERSION, "token": self.token, "cid": None,
                                   "rev": self.rev}).decode())
        return self.until(lambda m: m["t"] == "joined")

    def send(self, target_id: str, name: str, data: dict[str, Any] | None = None) -> int:
        assert self.ws is not None
        self.seq += 1
        self.ws.send(orjson.dumps({"t": "ev", "s": self.seq, "id": target_id, "n": name, "d": data or {},
                                   "sync": {}}).decode())
        return self.seq

    def until(self, predicate: Any, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Receive messages until one satisfies ``predicate``; returns it."""
        assert self.ws is not None
        while True:
            message = orjson.loads(self.ws.recv(timeout=timeout))
            self.messages.append(message)
            if predicate(message):
                return message

    def close(self) -> None:
        self._exit.close()
        self.http.close()

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def element_id(html: str, css_class: str) -> str:
    """The id of the first element whose class list contains ``css_class``."""
    for match in re.finditer(r'<[a-z][a-z0-9-]* id="([^"]+)"([^>]*)>', html):
        classes = re.search(r'class="([^"]*)"', match.group(2))
        if classes and css_class in classes.group(1).split():
            return htmllib.unescape(match.group(1))
    raise AssertionError(f"expected an element with class {css_class!r} in the page")
