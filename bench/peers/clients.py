"""Benchmark clients for the peers, each speaking its framework's protocol as that
framework's own browser script does (read from the installed packages; no code copied).

- ``HtagSession`` (htag 2.0.28, ``htag/runner.py`` + ``htag/client_js.py``): ``GET /``
  sets the ``htag_sid`` cookie; a WebSocket to ``/ws`` with that cookie gets the whole
  body as a first ``{"action":"update",...}``; an event is
  ``{"id":…,"event":"click","data":{"callback_id":…}}`` and is done when the update
  carrying that ``callback_id`` arrives.
- ``NiceguiSession`` (NiceGUI 3, ``nicegui/static/nicegui.js`` + ``nicegui/nicegui.py``):
  ``GET /`` creates a client whose id, elements and listener ids are in the page; a
  socket.io connection (``python-socketio``'s ``AsyncClient``, WebSocket transport) to
  ``/_nicegui_ws/socket.io`` with the page's query (``client_id``, ``next_message_id``,
  ``implicit_handshake=true``, ``document_id``, ``tab_id``) joins it; an event is
  ``emit("event", {id, client_id, listener_id, args: []})`` and is done when the next
  ``update`` message arrives (NiceGUI sends no acknowledgement of its own).

Both expose ``open(http, base_url)``, ``event(target_id)`` (returns the update's text)
and ``close()``, as ``livetag.testing.wire.Tab`` does, and ``last_wire``: the bytes of
the last update as it travelled (for NiceGUI re-encoded as its server encodes it:
``42["update",…]`` with orjson, the library NiceGUI's socket.io server is given).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from websockets.asyncio.client import connect

from bench.sessions import BenchError, ws_url

_NG_ELEMENTS = re.compile(r"parseElements\(String\.raw`(.*?)`\)", re.S)
_NG_CLIENT_ID = re.compile(r"'client_id': '([0-9a-f-]+)'")


class HtagSession:
    """One htag 2 session with one WebSocket client."""

    def __init__(self, html: str, cookie: str, ws: Any) -> None:
        self.html = html
        self.cookie = cookie
        self.ws = ws
        self.seq = 0
        self.last_wire = 0

    @classmethod
    async def open(cls, http: httpx.AsyncClient, base_url: str, *, local_addr: tuple[str, int] | None = None,
                   ) -> HtagSession:
        response = await http.get(base_url + "/")
        if response.status_code != 200:
            raise BenchError(f"expected 200 from htag's GET /, got {response.status_code}")
        set_cookie = response.headers.get("set-cookie", "")
        if not set_cookie.startswith("htag_sid="):
            raise BenchError(f"expected an htag_sid cookie from GET /, got {set_cookie!r}")
        cookie = set_cookie.split(";", 1)[0]
        ws = await connect(ws_url(base_url, "/ws"), additional_headers={"Cookie": cookie}, compression="deflate",
                           max_size=None, **({"local_addr": local_addr} if local_addr else {}))
        first = orjson.loads(await ws.recv())  # the whole body, sent on every (re)connection
        if first.get("action") != "update":
            await ws.close()
            raise BenchError(f"expected htag's initial update, got {str(first)[:100]}")
        return cls(response.text, cookie, ws)

    async def event(self, target_id: str, name: str = "click") -> str:
        self.seq += 1
        callback_id = f"b{self.seq}"
        await self.ws.send(orjson.dumps({"id": target_id, "event": name, "data": {"callback_id": callback_id}}).decode())
        while True:
            text = await self.ws.recv()
            message = orjson.loads(text)
            if message.get("callback_id") == callback_id:
                if message.get("action") == "error":
                    raise BenchError(f"htag answered event {self.seq} with an error: {str(message)[:200]}")
                self.last_wire = len(text.encode())
                return text  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.ws.close()


class NiceguiSession:
    """One NiceGUI client (one page load) with one socket.io connection."""

    def __init__(self, html: str, client_id: str, elements: dict[str, Any], sio: Any,
                 updates: asyncio.Queue[dict[str, Any]]) -> None:
        self.html = html
        self.client_id = client_id
        self.elements = elements
        self.sio = sio
        self.updates = updates
        self.last_wire = 0

    @classmethod
    async def open(cls, http: httpx.AsyncClient, base_url: str, **_: Any) -> NiceguiSession:
        import socketio  # python-socketio, the bench extra

        response = await http.get(base_url + "/")
        if response.status_code != 200:
            raise BenchError(f"expected 200 from NiceGUI's GET /, got {response.status_code}")
        html = response.text
        elements_json, client_id = _NG_ELEMENTS.search(html), _NG_CLIENT_ID.search(html)
        if elements_json is None or client_id is None:
            raise BenchError("expected NiceGUI's elements and client_id in the page, found neither")
        elements = json.loads(elements_json.group(1))
        updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sio = socketio.AsyncClient(reconnection=False)

        async def on_update(message: dict[str, Any]) -> None:
            updates.put_nowait(message)

        sio.on("update", on_update)
        query = {"client_id": client_id.group(1), "next_message_id": 0, "implicit_handshake": "true",
                 "document_id": str(uuid.uuid4()), "tab_id": str(uuid.uuid4())}
        await sio.connect(f"{base_url}/?{urlencode(query)}", socketio_path="/_nicegui_ws/socket.io",
                          transports=["websocket"], wait_timeout=30)
        return cls(html, client_id.group(1), elements, sio, updates)

    def element_of_class(self, css_class: str) -> str:
        """The id of the first element with class ``css_class``. Raises ``BenchError``."""
        for element_id, element in self.elements.items():
            if css_class in element.get("class", []):
                return element_id
        raise BenchError(f"expected a NiceGUI element with class {css_class!r}, found none")

    async def event(self, target_id: str, name: str = "click") -> str:
        element = self.elements[target_id]
        listener = next(e["listener_id"] for e in element["events"] if e["type"] == name)
        await self.sio.emit("event", {"id": int(target_id), "client_id": self.client_id, "listener_id": listener,
                                      "args": []})
        message = await asyncio.wait_for(self.updates.get(), 30)
        text = b'42["update",' + orjson.dumps(message) + b"]"
        self.last_wire = len(text)
        return text.decode()

    async def close(self) -> None:
        await self.sio.disconnect()
