"""The latency tail of the HTTP transports against the WebSocket, at load (issue 14).

``.venv/bin/python bench/http_tail.py`` serves ``examples/counter.py`` as ``WebApp.run()``
serves it, opens ``--sessions`` sessions (default 300) on each transport in turn
(WebSocket, SSE + POST, plain HTTP with its long-poll) and has every session click
``--events`` times (default 20) one after another, all sessions at once. It prints, per
transport, the round trip of one event (POST or frame sent -> the message acknowledging
it received) as p50 / p99 / max in milliseconds, the acknowledgements that never came
(within ``--ack-timeout`` s), the ratio of each p99 to the WebSocket p99 of the same
run, and how long the server took to exit after SIGTERM with every stream and
long-poll still open.

The server's output goes to a pipe that nobody reads (``--logs stalled``, the default:
a log consumer that fell behind) or one read as fast as it comes (``--logs drained``).
The tail the issue reported came from there: uvicorn wrote one access-log line per
event POST and long-poll from the event loop, so once the pipe was full every write
stalled every session, and the stop signal waited too; WebSocket events write none.

Each session has its own connections, as each browser has its own (a shared pool would
measure the client's queue, not the server), and the HTTP transports are spoken over
hand-written HTTP/1.1 (``RawHttp``), light enough that the server is what saturates.
Nothing here asserts: the CI-sized version is ``tests/server/test_http_tail.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402

from bench.servers import HOST, UNLIMITED_EVENTS, _example_counter  # noqa: E402
from bench.sessions import BenchError, http_client, id_of_class, open_tab  # noqa: E402
from livetag.protocol import PROTOCOL_VERSION  # noqa: E402


@dataclass
class Result:
    """Round trips of one transport, in seconds; ``lost``: acknowledgements that never came."""

    transport: str
    rtts: list[float] = field(default_factory=list)
    lost: int = 0
    errors: list[str] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        if not self.rtts:
            return float("nan")
        ordered = sorted(self.rtts)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class RawHttp:
    """One HTTP/1.1 keep-alive connection spoken by hand (RFC 9112): a client as light as
    a browser's network stack, so that at hundreds of sessions the server, not the
    client's HTTP library, is what is measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def connect(cls, base_url: str) -> RawHttp:
        netloc = urlsplit(base_url).netloc
        host, port = netloc.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, netloc)

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> None:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    async def head(self) -> tuple[int, dict[str, str]]:
        status = int((await self.reader.readline()).split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    async def body(self, headers: dict[str, str]) -> bytes:
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        chunks = []
        while chunk := await self.chunk():
            chunks.append(chunk)
        return b"".join(chunks)

    async def chunk(self) -> bytes:
        """The next chunk of a chunked body (``b""`` at its end)."""
        size = int((await self.reader.readline()).split(b";")[0], 16)
        data = await self.reader.readexactly(size + 2)
        return data[:-2]

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        self.send(method, path, headers, body)
        status, head = await self.head()
        return status, (b"" if status in (204, 304) else await self.body(head))

    def close(self) -> None:
        self.writer.close()


@dataclass(slots=True)
class Page:
    """A served page: its HTML, the session cookie (``name=value``), CSRF token, revision."""

    html: str
    cookie: str
    token: str
    revision: int


class RawSession:
    """A session over SSE + POST (``sse``) or POST + long-poll (``http``) on ``RawHttp``
    connections: one for events, one for the stream or the long-poll (a browser's
    two)."""

    def __init__(self, mode: str, page: Page, events: RawHttp, down: RawHttp) -> None:
        self.mode, self.page, self.up, self.down = mode, page, events, down
        self.html = page.html
        self.seq = 0
        self.cid = ""
        self.headers = {"Cookie": page.cookie, "X-Livetag-Token": page.token, "Content-Type": "text/plain"}
        self.acked = 0
        self._acked = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, mode: str, base_url: str) -> RawSession:
        up = await RawHttp.connect(base_url)
        up.send("GET", "/", {})
        status, head = await up.head()
        html = (await up.body(head)).decode()
        cookie = head["set-cookie"].split(";", 1)[0]
        token = re.search(r'data-lt-token="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        rev = int(re.search(r'data-lt-rev="(\d+)"', html).group(1))  # type: ignore[union-attr]
        self = cls(mode, Page(html, cookie, token, rev), up, await RawHttp.connect(base_url))
        join = {"t": "join", "v": PROTOCOL_VERSION, "token": token, "cid": None, "rev": rev}
        status, body = await up.request("POST", "/_lt/join", self.headers, orjson.dumps(join))
        if status != 200:
            raise BenchError(f"expected 200 from POST /_lt/join, got {status}")
        self.cid = orjson.loads(body)[0]["cid"]
        if mode == "sse":
            self.down.send("GET", f"/_lt/sse?cid={self.cid}", {"Cookie": cookie, "Accept": "text/event-stream"})
            status, _ = await self.down.head()
            if status != 200:
                raise BenchError(f"expected 200 from GET /_lt/sse, got {status}")
            self._reader = asyncio.create_task(self._stream())
        else:
            self._reader = asyncio.create_task(self._poll())
        return self

    def _seen(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            if message.get("t") in ("up", "ack") and message.get("ack", 0) > self.acked:
                self.acked = message["ack"]
                self._acked.set()
            elif message.get("t") in ("err", "bye"):
                raise BenchError(f"expected updates, got {message}")

    async def _stream(self) -> None:
        buffer = b""
        while chunk := await self.down.chunk():
            buffer += chunk
            *events, buffer = buffer.split(b"\n\n")
            self._seen([orjson.loads(e[6:]) for e in events if e.startswith(b"data: ")])

    async def _poll(self) -> None:
        while True:
            status, body = await self.down.request("GET", f"/_lt/poll?cid={self.cid}", {"Cookie": self.page.cookie})
            if status != 200:
                raise BenchError(f"expected 200 from GET /_lt/poll, got {status}")
            self._seen(orjson.loads(body))

    async def event(self, target_id: str, name: str = "click") -> None:
        self.seq += 1
        self._acked.clear()
        event = [{"t": "ev", "s": self.seq, "id": target_id, "n": name, "d": {}, "sync": {}}]
        status, body = await self.up.request("POST", f"/_lt/event?cid={self.cid}&mode={self.mode}", self.headers,
                                             orjson.dumps(event))
        if status not in (200, 204):
            raise BenchError(f"expected 200 or 204 from POST /_lt/event, got {status}: {body[:200]!r}")
        if body:
            self._seen(orjson.loads(body))
        while self.acked < self.seq:
            await self._acked.wait()
            self._acked.clear()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)  # a 503 at a stop is no news
        self.up.close()
        self.down.close()


async def _open(transport: str, base_url: str, http: httpx.AsyncClient) -> Any:
    if transport == "ws":
        return await open_tab(http, base_url, "ws", deflate=False)
    return await RawSession.open(transport, base_url)


async def run_transport(transport: str, base_url: str, sessions: int, events: int, ack_timeout: float,
                        opening: int = 50) -> tuple[Result, list[Any], list[httpx.AsyncClient]]:
    """Open ``sessions`` sessions (``opening`` at a time), then click ``events`` times in
    each, all sessions at once. Returns the result and what is still open (the caller
    closes it, possibly after stopping the server)."""
    result = Result(transport)
    clients = [http_client() for _ in range(sessions if transport == "ws" else 0)]
    gate = asyncio.Semaphore(opening)

    async def open_one(client: httpx.AsyncClient) -> Any:
        async with gate:
            return await asyncio.wait_for(_open(transport, base_url, client), ack_timeout)

    tried = await asyncio.gather(*(open_one(c) for c in clients or [None] * sessions),  # type: ignore[arg-type]
                                 return_exceptions=True)
    opened = [s for s in tried if not isinstance(s, BaseException)]
    result.errors += [f"opening: {type(e).__name__}: {e}" for e in tried if isinstance(e, BaseException)]
    start = asyncio.Event()

    async def clicks(session: Any) -> None:
        target = id_of_class(session.html, "inc")  # ids are the session's own
        await start.wait()
        for _ in range(events):
            began = time.perf_counter()
            try:
                await asyncio.wait_for(session.event(target), ack_timeout)
            except TimeoutError:
                result.lost += 1
                return
            except Exception as exc:  # reported, not raised: the run goes on
                result.errors.append(f"{type(exc).__name__}: {exc}")
                return
            result.rtts.append(time.perf_counter() - began)

    tasks = [asyncio.create_task(clicks(s)) for s in opened]
    start.set()
    await asyncio.gather(*tasks)
    return result, opened, clients


async def close_all(opened: list[Any], clients: list[httpx.AsyncClient]) -> None:
    await asyncio.gather(*(s.close() for s in opened), return_exceptions=True)
    await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


class Server:
    """``examples/counter.py`` served the way ``WebApp.run()`` serves it (livetag's
    ``serve``: its uvicorn settings, INFO logs), in a child process whose output (stdout
    and stderr) goes to a pipe that is read (``drained``) or not (``stalled``: a log
    consumer that fell behind, the worst case of a slow one)."""

    def __init__(self, logs: str, pipe_bytes: int | None = None) -> None:
        read_fd, write_fd = os.pipe()
        if pipe_bytes is not None:  # Linux: a smaller pipe stalls sooner (at least a page)
            fcntl.fcntl(write_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), pipe_bytes)
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve"], cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=write_fd, stderr=write_fd)
        os.close(write_fd)
        self.proc.stdout = os.fdopen(read_fd, "rb")
        line = self.proc.stdout.readline()
        if not line.startswith(b"PORT "):
            self.stop()
            raise RuntimeError(f"expected the server to print its port, got {line[:200]!r}")
        self.base_url = f"http://{HOST}:{int(line.split()[1])}"
        if logs == "drained":
            threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        while self.proc.stdout.read(65536):
            pass

    async def wait_ready(self) -> None:
        async with http_client() as http:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.base_url + "/_lt/livetag.js")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"expected the server at {self.base_url} to answer within 10 s")

    async def stop_seconds(self, limit: float = 30.0) -> float:
        """SIGTERM (its clients still connected); seconds until it exited (``limit`` at most)."""
        began = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        while self.proc.poll() is None and time.perf_counter() - began < limit:
            await asyncio.sleep(0.05)
        return time.perf_counter() - began

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def serve_counter() -> None:
    """Child side: serve the counter on 127.0.0.1:<free port> as ``WebApp.run`` does
    (event rate limit lifted: the bench clicks as fast as acknowledgements come)."""
    from livetag import WebApp
    from livetag.runners.serve import bind_socket, serve

    webapp = WebApp(_example_counter(), **UNLIMITED_EVENTS)
    sock = bind_socket(HOST, 0)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    serve(webapp, sock=sock, log_level="info")


def report(results: list[Result], shutdown: dict[str, float]) -> str:
    ws = next((r for r in results if r.transport == "ws"), None)
    lines = ["| transport | events | p50 ms | p99 ms | max ms | lost acks | p99 / WebSocket p99 | exit after SIGTERM s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        ratio = r.quantile(0.99) / ws.quantile(0.99) if ws is not None and ws.rtts else float("nan")
        lines.append(f"| {r.transport} | {len(r.rtts)} | {r.quantile(0.5) * 1e3:.1f} | {r.quantile(0.99) * 1e3:.1f} | "
                     f"{(max(r.rtts) if r.rtts else float('nan')) * 1e3:.1f} | {r.lost} | {ratio:.1f} | "
                     f"{shutdown.get(r.transport, float('nan')):.2f} |")
        for error in r.errors[:3]:
            lines.append(f"<!-- {r.transport}: {error} -->")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    results: list[Result] = []
    shutdown: dict[str, float] = {}
    for transport in args.transports:
        server = Server(args.logs)
        try:
            await server.wait_ready()
            result, opened, clients = await run_transport(transport, server.base_url, args.sessions, args.events,
                                                          args.ack_timeout)
            results.append(result)
            shutdown[transport] = await server.stop_seconds()
            await close_all(opened, clients)
        finally:
            server.stop()
        print(f"{transport}: p99 {result.quantile(0.99) * 1e3:.1f} ms, {result.lost} lost, "
              f"exit after SIGTERM {shutdown[transport]:.2f} s", file=sys.stderr, flush=True)
    print(f"{args.sessions} sessions x {args.events} events, server output {args.logs}\n")
    print(report(results, shutdown))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--ack-timeout", type=float, default=30.0)
    parser.add_argument("--transports", nargs="+", default=["ws", "sse", "http"], choices=["ws", "sse", "http"])
    parser.add_argument("--logs", choices=["stalled", "drained"], default="stalled",
                        help="the server's output: a pipe nobody reads (default) or one read as fast as it comes")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_counter()
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
