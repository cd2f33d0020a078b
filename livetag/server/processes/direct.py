"""Direct WebSockets: a session's WebSocket is handed from the web worker to the session
process, which then speaks to the browser itself (no relay in between).

Without it, every event and update crosses the worker: browser -> worker (uvicorn parses
the frame) -> unix socket -> session process, and back (``bridge.relay``): two more process
hops, four more socket operations and the worker's CPU on every message. With it, the
worker does what only it can (route the handshake to the session's process) and passes
the browser's TCP socket to that process (``SCM_RIGHTS``, unix(7)) before answering the
handshake; the session process answers it and serves the connection with the same
WebSocket protocol implementation the worker runs (uvicorn's ``websockets-sansio``,
given the worker's settings), fed the handshake request rebuilt from the ASGI scope.

Worker side: ``detachable(receive)`` says whether the connection can be passed (uvicorn's
``websockets-sansio`` protocol, plain TCP: a TLS session's state cannot be passed; a
middleware that wraps ``receive`` keeps the relay), ``hand_over(...)`` passes it. The
worker stops reading the socket before the frame leaves, so no byte is read by both.
Session process side: ``adopt(fd, message, app, on_scope)``, called by ``listener`` for a
connection whose first frame came with a file descriptor.

The frame: a ``bridge`` scope frame (the scope the relay would send) with one more key,
``"adopt"``: ``{"ws": <the worker's WebSocket settings>, "accept": <headers the worker adds
to the handshake response>, "server": <uvicorn's default headers>}``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from . import bridge

log = logging.getLogger("livetag.server.processes.direct")

#: The key of the scope frame that makes it an adoption.
ADOPT = "adopt"
#: The worker's uvicorn settings the session process serves the connection with.
_SETTINGS = ("ws_max_size", "ws_ping_interval", "ws_ping_timeout", "ws_per_message_deflate")


def _protocol_class() -> Any:
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    except ImportError:  # pragma: no cover - uvicorn without websockets: the relay serves
        return None
    return WebSocketsSansIOProtocol


# -- worker side --------------------------------------------------------------------------


def detachable(receive: Receive) -> Any:
    """The uvicorn protocol of the WebSocket whose ASGI ``receive`` this is, when it can
    be handed to another process: uvicorn's ``websockets-sansio`` protocol (uvicorn's
    default with ``websockets`` installed), handshake not answered yet, plain TCP.
    ``None`` otherwise (another server or protocol, TLS, a middleware's ``receive``)."""
    protocol: Any = getattr(receive, "__self__", None)
    cls = _protocol_class()
    if cls is None or type(protocol) is not cls:
        return None
    transport = getattr(protocol, "transport", None)
    if (transport is None or transport.is_closing() or protocol.handshake_complete or protocol.close_sent
            or transport.get_extra_info("sslcontext") is not None or transport.get_extra_info("socket") is None):
        return None
    return protocol


def adopt_frame(scope: Scope, protocol: Any, accept_headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The frame that hands ``protocol``'s connection over: ``scope`` as the relay would
    send it, the worker's WebSocket settings and the headers it adds to the handshake."""
    message = bridge.scope_message(scope)
    config = protocol.config
    message[ADOPT] = {
        "ws": {name: getattr(config, name) for name in _SETTINGS},
        "accept": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in accept_headers],
        "server": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in protocol.default_headers],
    }
    return bridge.frame(message)


async def hand_over(protocol: Any, receive: Receive, writer: asyncio.StreamWriter, scope: Scope,
                    accept_headers: Sequence[tuple[bytes, bytes]] = ()) -> bool:
    """Pass the browser's socket of ``protocol`` (see ``detachable``) to the session
    process at the other end of ``writer``, then forget it here without a byte written.

    Returns ``False`` (the connection untouched and still readable here) when the frame
    could not be sent: the process is gone; the caller reports it as with the relay."""
    transport = protocol.transport
    frame = adopt_frame(scope, protocol, accept_headers)
    # Nothing of the connection is read here from now on: what the browser sends after
    # the handshake is the session process's to read.
    transport.pause_reading()
    try:
        with socket.socket(fileno=os.dup(writer.get_extra_info("socket").fileno())) as unix:
            sent = socket.send_fds(unix, [frame], [transport.get_extra_info("socket").fileno()])
    except OSError as exc:  # the process is gone (or this one is out of descriptors)
        transport.resume_reading()
        log.info("a WebSocket could not be handed to its session process (%s): relayed", exc)
        return False
    if sent < len(frame):  # a fresh unix socket takes a few KiB at once; this is the rare rest
        writer.write(frame[sent:])
        try:
            await writer.drain()
        except OSError:
            pass  # the process has the socket (it came with the first byte) or died with it
    writer.close()
    # The session process holds the socket now (the kernel keeps it open while a
    # descriptor of it is in flight): closing ours sends nothing to the browser.
    transport.abort()
    while (await receive())["type"] != "websocket.disconnect":
        pass  # uvicorn knows the connection is gone here (else it would answer 500)
    return True


# -- session process side -----------------------------------------------------------------


_configs: dict[bytes, Any] = {}
_base: Any = None
#: uvicorn's ``ServerState`` of this process's adopted WebSockets (their ``connections``).
_state: Any = None


def _loaded() -> Any:
    """A loaded uvicorn ``Config`` (loading imports and inspects: done once, in the fork
    server, see ``preload``)."""
    global _base
    if _base is None:
        from uvicorn.config import Config

        config = Config(app=_unused_app, ws="websockets-sansio", proxy_headers=False, lifespan="off", log_config=None)
        config.load()
        _base = config
    return _base


def _config(settings: dict[str, Any]) -> Any:
    """The loaded config with the worker's WebSocket ``settings`` (one per distinct
    settings: a copy of ``_loaded()``, whose load a session process does not repeat)."""
    key = orjson.dumps(settings, option=orjson.OPT_SORT_KEYS)
    config = _configs.get(key)
    if config is None:
        config = copy.copy(_loaded())
        for name in _SETTINGS:
            if name in settings:
                setattr(config, name, settings[name])
        _configs[key] = config
    return config


def preload() -> None:
    """Import what adopting a WebSocket needs and make the configs of uvicorn's default
    settings and of livetag's own runners (in the fork server: session processes
    inherit them)."""
    try:
        import uvicorn.server  # noqa: F401
    except ImportError:  # pragma: no cover
        return
    _config({name: getattr(_loaded(), name) for name in _SETTINGS})
    _config(own_settings())


def own_settings() -> dict[str, Any]:
    """The WebSocket settings of livetag's own runners (``livetag.server.connections``)."""
    from uvicorn.config import Config

    from ..connections import uvicorn_settings
    from ..limits import Limits

    own = Config(app=_unused_app, log_config=None, ws_per_message_deflate=False,
                 **{k: v for k, v in uvicorn_settings(Limits.max_message_bytes).items() if k in _SETTINGS})
    return {name: getattr(own, name) for name in _SETTINGS}


async def _unused_app(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    raise RuntimeError("an adopted WebSocket runs the session's app, not the config's")


def handshake_request(scope: Scope) -> bytes:
    """The handshake request of ``scope``, as the browser sent it (HTTP/1.1)."""
    target = scope["raw_path"] or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    lines = [b"GET " + target + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in scope["headers"]]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def adopt(fd: int, message: dict[str, Any], app: Callable[..., Awaitable[None]],
          on_scope: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Serve the browser's WebSocket ``fd`` (received with ``message``, a decoded adopt
    frame) with ``app``, as the worker would have: answer its handshake, then every
    message. Raises ``ValueError`` (or ``KeyError``, ``TypeError``) for a frame that is
    not an adoption, ``OSError`` for a descriptor that is not a socket; ``fd`` is closed
    then."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        raise
    try:
        settings = message.pop(ADOPT)
        scope = bridge.decode_scope(message)
        if scope.get("type") != "websocket":
            raise ValueError(f"expected a WebSocket scope to adopt, got {scope.get('type')!r}")
        config = _config(settings["ws"])
        accept = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in settings["accept"]]
        server = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in settings["server"]]
        request = handshake_request(scope)
    except (KeyError, TypeError, AttributeError, ValueError):
        sock.close()
        raise
    task = asyncio.get_running_loop().create_task(_serve(sock, config, server, request,
                                                         _scoped(app, scope, accept, on_scope)))
    bridge.SERVING.add(task)
    task.add_done_callback(bridge.SERVING.discard)


def _scoped(app: Callable[..., Awaitable[None]], scope: dict[str, Any], accept: list[tuple[bytes, bytes]],
            on_scope: Callable[[dict[str, Any]], None] | None) -> Callable[..., Awaitable[None]]:
    """``app`` run with the worker's ``scope`` (its client address, root path and cookie
    session, as the relay would give), the worker's headers added to the handshake."""

    async def run(_: Scope, receive: Receive, send: Send) -> None:
        if on_scope is not None:
            on_scope(scope)
        if not accept:
            await app(scope, receive, send)
            return

        async def send_accept(message: Message) -> None:
            if message["type"] == "websocket.accept":
                message = {**message, "headers": [*(message.get("headers") or ()), *accept]}
            await send(message)

        await app(scope, receive, send_accept)

    return run


def running() -> set[asyncio.Task[None]]:
    """The tasks of the adopted WebSockets' apps still running."""
    return set(_state.tasks) if _state is not None else set()


def shutdown() -> None:
    """Close this process's adopted WebSockets as a stopping uvicorn closes its own:
    1012 (service restart, RFC 6455 7.4.1 registry), so that their pages join again at
    once; one already closing is just closed."""
    if _state is not None:
        for connection in list(_state.connections):
            connection.shutdown()


async def _serve(sock: socket.socket, config: Any, server_headers: list[tuple[bytes, bytes]], request: bytes,
                 app: Callable[..., Awaitable[None]]) -> None:
    global _state
    if _state is None:
        from uvicorn.server import ServerState

        _state = ServerState()
    cls = _protocol_class()
    assert cls is not None
    protocol = cls(config, _state, {})
    protocol.default_headers = server_headers  # the worker's (its server and date headers)
    protocol.app = app
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().connect_accepted_socket(lambda: protocol, sock=sock)
    except OSError as exc:
        sock.close()
        log.info("an adopted WebSocket was gone before it was served: %s", exc)
        return
    protocol.data_received(request)  # the browser waits for the answer: nothing else was sent
