"""A livetag WebSocket leaves the middleware stack once accepted (``server/handoff.py``),
against a real uvicorn: middleware sees and may refuse the handshake, its call returns
once the connection is handed over, and the page goes on on the server's own channels."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

import pytest
from starlette.routing import Mount, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus

from livetag import WebApp
from livetag.runners.serve import BackgroundServer
from livetag.server.handoff import SLOTS, HandoffStarlette, hand_off
from livetag.testing.wire import Tab, element_id, texts

Serve = Callable[..., AbstractContextManager[BackgroundServer]]


@pytest.fixture
def counter_app(example: Callable[[str], ModuleType]) -> type:
    """The counter of ``examples/counter.py``."""
    return example("counter").Counter


class Recorder:
    """Middleware that notes what it sees of each WebSocket, and when its call returns."""

    seen: list[str] = []

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def noting(message: Any) -> None:
            Recorder.seen.append(message["type"])
            await send(message)

        await self.app(scope, receive, noting)
        Recorder.seen.append("returned")


class NoSockets:
    """Middleware that refuses every WebSocket handshake."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


@pytest.fixture
async def tabs() -> AsyncIterator[list[Tab]]:
    made: list[Tab] = []
    yield made
    for t in made:
        await t.aclose()


async def test_middleware_sees_the_handshake_then_the_socket_goes_on_without_it(live_server: Serve, tabs: list[Tab],
                                                                                 counter_app: type) -> None:
    webapp = WebApp(counter_app)
    webapp.app.add_middleware(Recorder)
    Recorder.seen = []
    with live_server(webapp.app) as server:
        t = Tab(server.url)
        tabs.append(t)
        html = await t.load()
        await t.join()
        assert Recorder.seen == ["websocket.accept", "returned"]  # the join reply went out after
        for n in range(1, 4):
            assert texts(await t.event(element_id(html, "inc"))) == [str(n)]
        assert Recorder.seen == ["websocket.accept", "returned"]


async def test_middleware_around_the_app_sees_the_whole_connection(live_server: Serve, tabs: list[Tab],
                                                                   counter_app: type) -> None:
    Recorder.seen = []
    with live_server(Recorder(WebApp(counter_app).app)) as server:
        t = Tab(server.url)
        tabs.append(t)
        html = await t.load()
        await t.join()
        assert texts(await t.event(element_id(html, "inc"))) == ["1"]
        assert Recorder.seen == ["websocket.accept", "websocket.send", "websocket.send"]  # joined, then the update


async def test_middleware_may_refuse_the_handshake(live_server: Serve, tabs: list[Tab], counter_app: type) -> None:
    webapp = WebApp(counter_app)
    webapp.app.add_middleware(NoSockets)
    with live_server(webapp.app) as server:
        t = Tab(server.url)
        tabs.append(t)
        await t.load()
        with pytest.raises(InvalidStatus) as info:
            await t.join()
        assert info.value.response.status_code == 403


def websocket_scope(path: str) -> Scope:
    return {"type": "websocket", "path": path, "root_path": "", "headers": [], "query_string": b""}


def handshake_channels() -> tuple[Receive, Send]:
    """A client that asks for a WebSocket and takes whatever it is sent."""
    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        pass

    return receive, send


async def test_hand_off_takes_one_runner_per_connection() -> None:
    ran: list[tuple[Receive, Send]] = []
    answers: list[bool] = []

    async def run(receive: Receive, send: Send) -> None:
        ran.append((receive, send))

    async def endpoint(websocket: WebSocket) -> None:
        answers.extend((hand_off(run), hand_off(run)))

    assert hand_off(run) is False  # not under a HandoffStarlette: run it in place
    receive, send = handshake_channels()
    await HandoffStarlette(routes=[WebSocketRoute("/ws", endpoint)])(websocket_scope("/ws"), receive, send)
    assert answers == [True, False]  # one runner per connection
    assert ran == [(receive, send)]  # run after the stack returned, on the server's own channels
    assert not SLOTS and hand_off(run) is False  # the slot ends with its stack


async def test_a_mounted_handoff_app_hands_off_to_the_outer_one() -> None:
    ran: list[str] = []

    async def run(receive: Receive, send: Send) -> None:
        ran.append("run")

    async def endpoint(websocket: WebSocket) -> None:
        assert hand_off(run) is True

    class Outer(HandoffStarlette):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await super().__call__(scope, receive, send)
            ran.append("outer returned")

    inner = HandoffStarlette(routes=[WebSocketRoute("/ws", endpoint)])
    outer = Outer(routes=[Mount("/app", inner)])
    await outer(websocket_scope("/app/ws"), *handshake_channels())
    assert ran == ["run", "outer returned"] and not SLOTS  # run once, by the outermost stack
