"""Runner logging: transport lines from a real uvicorn, and secrets kept out of DEBUG lines."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from livetag.runners.logs import RedactSecrets, TransportLog, level_number
from livetag.runners.serve import BackgroundServer


async def _ws(ws: WebSocket) -> None:
    await ws.accept()
    if await ws.receive_text() == "expire":
        await ws.close(4404, "session expired")
        return
    await ws.receive_text()  # until the client goes


async def _sse(request: Any) -> StreamingResponse:
    async def events() -> Any:
        yield b"data: []\n\n"
        await asyncio.sleep(0.05)

    return StreamingResponse(events(), media_type="text/event-stream")


APP = Starlette(routes=[WebSocketRoute("/_lt/ws", _ws), Route("/_lt/sse", _sse)])


def test_websocket_and_sse_transports_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="livetag.runners.transport")
    with BackgroundServer(TransportLog(APP)) as server:
        ws_url = server.url.replace("http", "ws") + "/_lt/ws"
        with connect(ws_url) as ws:
            ws.send("hello")
        with connect(ws_url) as ws:
            ws.send("expire")
            with pytest.raises(ConnectionClosed):  # the app closes it
                ws.recv(timeout=10)
        assert httpx.get(server.url + "/_lt/sse", timeout=10).text == "data: []\n\n"
    lines = [r.getMessage() for r in caplog.records if r.name == "livetag.runners.transport"]
    assert lines == [
        "websocket connected from 127.0.0.1 (1 open)",
        "websocket disconnected from 127.0.0.1: code 1000 'normal' (0 open)",
        "websocket connected from 127.0.0.1 (1 open)",
        "websocket disconnected from 127.0.0.1: the app closed it, code 4404 'session expired' (0 open)",
        "sse stream opened from 127.0.0.1 (1 open)",
        "sse stream closed from 127.0.0.1 (0 open)",
    ]


@pytest.mark.parametrize(("message", "args", "shown"), [
    ("< %s: %s", ("cookie", "lt_sid=s3cret; other=1"), "< cookie: <redacted>"),
    ("> %s: %s", ("Set-Cookie", "lt_sid=s3cret; Path=/"), "> Set-Cookie: <redacted>"),
    ("< %s", ("""TEXT '{"t":"join","v":1,"token":"s3cret","cid":null}' [50 bytes]""",),
     """< TEXT '{"t":"join","v":1,"token":"<redacted>","cid":null}' [50 bytes]"""),
    ("< %s: %s", ("host", "127.0.0.1:8000"), "< host: 127.0.0.1:8000"),
])
def test_debug_lines_lose_their_secrets(message: str, args: tuple[str, ...], shown: str) -> None:
    record = logging.LogRecord("uvicorn.error", logging.DEBUG, __file__, 1, message, args, None)
    assert RedactSecrets().filter(record)
    assert record.getMessage() == shown and "s3cret" not in record.getMessage()


def test_level_names() -> None:
    assert level_number("debug") == logging.DEBUG and level_number("TRACE") == 5
    with pytest.raises(ValueError, match="expected a log level among"):
        level_number("loud")
