"""The built-in app and the page load the warm-ups use: the fork server's (``preload``)
and a waiting spare's (``process``). Never the user's app: its code runs only for its
sessions."""

from __future__ import annotations

import asyncio
from typing import Any

_WARM_UP_APP: Any = None


def warm_up_app() -> Any:
    """The built-in app of the warm-ups (made once)."""
    global _WARM_UP_APP
    if _WARM_UP_APP is None:
        from ...dom.tag import Tag

        class WarmUp(Tag.div):
            def init(self) -> None:
                self.value = Tag.span("0", _class="value")
                self <= Tag.button("+", _class="inc", _onclick=self.increment)
                self <= self.value

            def increment(self, event: Any) -> None:
                self.value.text = "1"

        _WARM_UP_APP = WarmUp
    return _WARM_UP_APP


async def get_page(webapp: Any, path: str) -> None:
    """One ``GET path`` through ``webapp``, relayed over a socket pair as a web worker
    relays it to a session process. Raises ``RuntimeError`` unless it answers 200."""
    import socket

    from . import bridge

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             # An IP literal: served whatever allowed_hosts says (a name like localhost is not
             # when LIVETAG_ALLOWED_HOSTS lists the site's own).
             "headers": [(b"host", b"127.0.0.1"), (b"cookie", b"lt_sid=warm-up")], "client": ("127.0.0.1", 0),
             "server": ("127.0.0.1", 0), "session": {}}
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    served = asyncio.ensure_future(bridge.serve_one(theirs, webapp.app))
    writer.write(bridge.encode_scope(scope) + bridge.encode({"type": "http.request", "body": b"", "more_body": False}))
    status: list[int] = []
    try:
        while True:
            message = await bridge.read_frame(reader)
            if message["type"] == bridge.END:
                break
            if message["type"] == "http.response.start":
                status.append(message["status"])
    finally:
        writer.close()
        await served
    if status != [200]:
        raise RuntimeError(f"expected 200 from GET {path} in the warm-up, got {status}")
