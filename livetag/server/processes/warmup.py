"""The built-in app, the page load and the WebSocket session the warm-ups use: the fork
server's (``preload``, ``forkwarm``) and a waiting spare's (``process``: the page only).
Never the user's app: its code runs only for its sessions."""

from __future__ import annotations

import asyncio
from typing import Any

_WARM_UP_APP: Any = None
#: Seconds the WebSocket warm-up waits for an answer (the fork server's start waits for it).
ANSWER_SECONDS = 5.0


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


async def get_page(webapp: Any, path: str) -> bytes:
    """One ``GET path`` through ``webapp``, relayed over a socket pair as a web worker
    relays it to a session process; its body. Raises ``RuntimeError`` unless it answers
    200."""
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
    body = bytearray()
    try:
        while True:
            message = await bridge.read_frame(reader)
            if message["type"] == bridge.END:
                break
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body":
                body += message.get("body", b"")
    finally:
        writer.close()
        await served
    if status != [200]:
        raise RuntimeError(f"expected 200 from GET {path} in the warm-up, got {status}")
    return bytes(body)


async def websocket_clicks(webapp: Any, page: bytes, session_id: str, clicks: int) -> None:
    """Join ``page`` (a page of the warm-up app served by ``webapp``, neither parano nor
    HTTP-only; of session ``session_id``) over a WebSocket handed over as a web worker
    hands one (``direct``: a loopback TCP connection, its handshake answered by
    uvicorn's protocol), click its button ``clicks`` times, close. Raises
    ``RuntimeError`` when the connection closes or an answer does not come in
    ``ANSWER_SECONDS``."""
    import re
    import socket

    import orjson
    from websockets.client import ClientProtocol
    from websockets.frames import Opcode
    from websockets.protocol import State
    from websockets.uri import parse_uri

    from ...protocol.messages import PROTOCOL_VERSION
    from ..cookies import session_cookie_name
    from . import direct

    token = re.search(rb'data-lt-token="([^"]+)"', page)
    button = re.search(rb'<button[^>]*\bid="([^"]+)"', page)
    if token is None or button is None:
        raise RuntimeError("expected the warm-up page to have a token and a button")
    loop = asyncio.get_running_loop()
    with socket.socket() as listening:
        # Blocking calls that return at once on the loopback: the loop's sock_connect
        # would resolve the address in uvloop's thread pool, starting threads that
        # would then live in the fork server (which must fork with none).
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        ours = socket.create_connection(listening.getsockname())
        theirs, _ = listening.accept()
    ours.setblocking(False)
    client = ClientProtocol(parse_uri("ws://127.0.0.1/_lt/ws"))
    request = client.connect()
    client.send_request(request)
    client.data_to_send()  # the handshake request goes with the scope (as a worker hands it over)
    key = request.headers["Sec-WebSocket-Key"].encode()
    cookie = f"{session_cookie_name('')}={session_id}".encode()
    headers = [(b"host", b"127.0.0.1"), (b"cookie", cookie), (b"origin", b"http://127.0.0.1"),
               (b"upgrade", b"websocket"), (b"connection", b"Upgrade"), (b"sec-websocket-key", key),
               (b"sec-websocket-version", b"13")]
    scope = {"type": "websocket", "path": "/_lt/ws", "raw_path": "/_lt/ws", "query_string": "", "headers": headers,
             "root_path": "", "scheme": "ws", "client": ["127.0.0.1", 0], "server": ["127.0.0.1", 0],
             "subprotocols": [], "session": {},
             direct.ADOPT: {"ws": direct.own_settings(), "accept": [], "server": []}}
    direct.adopt(theirs.detach(), scope, webapp.app)

    async def answer(opening: bool = False) -> None:
        """Until the handshake's response (``opening``) or a message comes."""
        while True:
            for event in client.events_received():
                kind = getattr(event, "opcode", None)
                if kind is Opcode.CLOSE:  # refused: say so now (the server waits for our close)
                    raise RuntimeError(f"expected the warm-up's WebSocket to stay open, it closed: {event}")
                if opening or kind is Opcode.TEXT:
                    return
            data = await asyncio.wait_for(loop.sock_recv(ours, 1 << 16), ANSWER_SECONDS)
            if not data:
                raise RuntimeError("expected an answer in the WebSocket warm-up, the connection ended")
            client.receive_data(data)

    async def send(message: dict[str, Any]) -> None:
        client.send_text(orjson.dumps(message))
        await loop.sock_sendall(ours, b"".join(client.data_to_send()))
        await answer()

    try:
        await answer(opening=True)  # the handshake's response
        if client.state is not State.OPEN:
            raise RuntimeError(f"expected the warm-up's handshake to succeed, got {client.handshake_exc!r}")
        await send({"t": "join", "v": PROTOCOL_VERSION, "token": token.group(1).decode(), "cid": None, "rev": 0})
        for n in range(1, clicks + 1):
            await send({"t": "ev", "s": n, "id": button.group(1).decode(), "n": "click", "d": {}, "sync": {}})
        client.send_close(1000)
        await loop.sock_sendall(ours, b"".join(client.data_to_send()))
        while await asyncio.wait_for(loop.sock_recv(ours, 1 << 16), ANSWER_SECONDS):
            pass  # until the server's side closes: its close frame, then the end
    finally:
        ours.close()
    running = direct.running()
    if running:
        await asyncio.wait(running, timeout=ANSWER_SECONDS)  # the app sees the disconnect and ends
