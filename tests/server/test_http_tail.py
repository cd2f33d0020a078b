"""The HTTP transports keep a WebSocket-like tail, and a stop ends them at once (issue 14).

The CI-sized version of ``bench/http_tail.py`` (300 sessions x 20 events there): the
counter served as ``WebApp.run()`` serves it, its output into a pipe nobody reads (a log
consumer that fell behind; the pipe shrunk to one page so that it is full at once).
Every acknowledgement must arrive, on every transport, and the HTTP transports' p99
must stay within 10x the WebSocket's of the same run (or one second, whichever is
larger: a shared CI machine has hiccups of its own). Then SIGTERM with every stream
and long-poll open: the server must exit within seconds, under ``.run()`` and under a
plain ``uvicorn`` that has no graceful-shutdown timeout at all.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.http_tail import RawHttp, RawSession, Server, close_all, run_transport  # noqa: E402

SESSIONS, EVENTS = 30, 10
ACK_WAIT = 10.0  # an acknowledgement later than this counts as lost
EXIT_WAIT = 5.0  # "at once": uvicorn's own shutdown steps take well under a second


async def test_http_transports_tail_and_stop_with_a_stalled_log_reader() -> None:
    server = Server("stalled", pipe_bytes=4096)
    try:
        await server.wait_ready()
        results, opened_all = {}, []
        for transport in ("ws", "sse", "http"):
            result, opened, clients = await run_transport(transport, server.base_url, SESSIONS, EVENTS, ACK_WAIT,
                                                          opening=10)
            results[transport] = result
            opened_all.append((opened, clients))
            assert not result.errors and result.lost == 0, (transport, result.lost, result.errors[:3])
            assert len(result.rtts) == SESSIONS * EVENTS
        bound = max(10 * results["ws"].quantile(0.99), 1.0)
        for transport in ("sse", "http"):
            assert results[transport].quantile(0.99) <= bound, (transport, results[transport].quantile(0.99), bound)
        # Streams and long-polls still open (the last two transports' sessions): a stop ends them.
        assert await server.stop_seconds(EXIT_WAIT) < EXIT_WAIT, "the server did not exit after SIGTERM"
        for opened, clients in opened_all:
            await close_all(opened, clients)
    finally:
        server.stop()


async def test_plain_uvicorn_stops_at_once_with_streams_and_long_polls_open() -> None:
    # uvicorn's default timeout_graceful_shutdown is None: without livetag ending them, an
    # SSE stream would hold the server for ever and a long-poll for POLL_SECONDS.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "counter:app", "--app-dir", str(ROOT / "examples"),
                             "--fd", str(sock.fileno()), "--log-level", "warning"], pass_fds=(sock.fileno(),),
                            stdin=subprocess.DEVNULL, cwd=ROOT)
    sock.close()
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            for _ in range(200):
                try:
                    if (await http.get(base_url + "/_lt/livetag.js")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        sse = await RawSession.open("sse", base_url)
        poll = await RawSession.open("http", base_url)
        await asyncio.sleep(0.2)  # both waiting on the server
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        while proc.poll() is None and time.monotonic() - began < EXIT_WAIT:
            await asyncio.sleep(0.05)
        assert proc.poll() is not None, f"uvicorn still running {EXIT_WAIT:g} s after SIGTERM"
        await sse.close()
        await poll.close()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


async def test_a_long_poll_during_a_stop_is_told_503_to_reconnect() -> None:
    server = Server("drained")
    try:
        await server.wait_ready()
        session = await RawSession.open("http", server.base_url)
        session._reader.cancel()  # type: ignore[union-attr]  # this test reads the poll itself
        down = await RawHttp.connect(server.base_url)
        down.send("GET", f"/_lt/poll?cid={session.cid}", {"Cookie": session.page.cookie})
        await asyncio.sleep(0.2)
        server.proc.send_signal(signal.SIGTERM)
        status, _ = await asyncio.wait_for(down.head(), EXIT_WAIT)
        assert status == 503
        down.close()
        await session.close()
    finally:
        server.stop()
