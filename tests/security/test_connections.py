"""Connection bounds of ``.run()`` (issue 14): a client that sends its request header
slowly (slowloris) or not at all is cut after the header timeout, however many of them
there are, while a visitor is served meanwhile. The server is livetag's own ``serve`` (what
``WebApp.run`` and ``livetag run`` use) in a child process, with the header timeout at
1 s instead of 10."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADER_TIMEOUT = 1.0
SLOW_CLIENTS = 60
CUT_WAIT = HEADER_TIMEOUT + 4.0  # the bound: cut within the timeout, plus a loaded machine's slack

SERVER = f"""
import sys
sys.path.insert(0, {str(ROOT / "examples")!r})
from counter import Counter
from livetag import WebApp
from livetag.runners.serve import bind_socket, serve
sock = bind_socket("127.0.0.1", 0)
print("PORT", sock.getsockname()[1], flush=True)
serve(WebApp(Counter), sock=sock, log_level="warning", header_timeout={HEADER_TIMEOUT})
"""


@pytest.fixture
def url() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line and line[0] == b"PORT", line
        yield f"http://127.0.0.1:{int(line[1])}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def _slow_client(port: int, trickle: bool) -> float:
    """Connect, then send a header a few bytes at a time (``trickle``) or nothing; the
    seconds until the server closed the connection (``inf`` if it did not within
    ``CUT_WAIT``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    began = time.monotonic()
    try:
        if trickle:
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while time.monotonic() - began < CUT_WAIT:
            try:
                if await asyncio.wait_for(reader.read(1024), 0.3) == b"":
                    return time.monotonic() - began
            except TimeoutError:
                pass
            if trickle:
                writer.write(b"X-a: b\r\n")
                try:
                    await writer.drain()
                except ConnectionError:
                    return time.monotonic() - began
        return float("inf")
    except ConnectionError:
        return time.monotonic() - began
    finally:
        writer.close()


async def test_slow_and_silent_headers_are_cut_while_a_visitor_is_served(url: str) -> None:
    port = int(url.rsplit(":", 1)[1])
    slow = [asyncio.create_task(_slow_client(port, trickle=i % 2 == 0)) for i in range(SLOW_CLIENTS)]
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient(trust_env=False, timeout=CUT_WAIT) as http:
        page = await http.get(url + "/")
        assert page.status_code == 200 and "data-lt-token" in page.text
    cut = await asyncio.gather(*slow)
    assert all(seconds < CUT_WAIT for seconds in cut), sorted(cut)[-5:]
    # Once cut, the server serves as before.
    async with httpx.AsyncClient(trust_env=False, timeout=CUT_WAIT) as http:
        assert (await http.get(url + "/")).status_code == 200


async def test_a_request_header_sent_in_time_is_served(url: str) -> None:
    # The deadline is for the header only: a client that takes most of it still gets its page.
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    await asyncio.sleep(HEADER_TIMEOUT / 2)
    writer.write(b"Connection: close\r\n\r\n")
    status = await asyncio.wait_for(reader.readline(), CUT_WAIT)
    writer.close()
    assert status.startswith(b"HTTP/1.1 200"), status
