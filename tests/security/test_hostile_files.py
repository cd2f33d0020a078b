"""Hostile uploads and downloads: oversized and truncated bodies, missing or forged CSRF
tokens, foreign origins, path traversal in file names, another session's upload, floods;
download links replayed, used from another session, used after expiry. After each
attack the witness session works, and no temporary file is left behind."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostile import Board, Serve

from livetag import Tag, WebApp
from livetag.server.uploads import MAX_PENDING
from livetag.testing.wire import Tab, element_id, texts

EVIL = "http://evil.example"


class Files(Board):
    def build(self) -> None:
        self <= Tag.input(_type="file", _multiple=True, _onchange=self.got, _class="picker")
        self <= Tag.button("get", _class="get", _onclick=self.get)
        self.seen = Tag.span("", _class="seen")
        self <= self.seen

    def got(self, event: Any) -> None:
        names = [f"{f.name}:{f.size}:{f.read()[:8].decode(errors='replace')}" for f in event.files]
        self.seen.text = ",".join(names) or f"none ({event.upload_error})"

    def get(self) -> None:
        self.download(b"secret of this session", filename="s.txt")


def app(tmp_path: Path, **options: Any) -> Any:
    return WebApp(Files, upload_dir=str(tmp_path), **options).app


async def opened(tab: Any, url: str) -> tuple[Tab, str]:
    t = tab(url)
    html = await t.load()
    await t.join()
    return t, element_id(html, "picker")


async def upload(t: Tab, target: str, files: list[tuple[str, bytes]], *, token: str | None = None,
                 origin: str | None = None, **options: Any) -> httpx.Response:
    headers = {"X-Livetag-Token": t.token if token is None else token, "Origin": origin or t.origin}
    if token == "":
        del headers["X-Livetag-Token"]
    return await t.request("POST", t.url + "_lt/upload", params={"id": target}, headers=headers,
                           files=[("file", (name, data, "application/x-test")) for name, data in files], **options)


async def until(condition: Any, what: str, timeout: float = 10.0) -> None:
    """Wait for ``condition()``; fail naming ``what`` after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"expected {what}"
        await asyncio.sleep(0.02)


def reason(response: httpx.Response) -> tuple[int, str, str]:
    [message] = response.json()
    return response.status_code, message["code"], message["msg"]


async def handled(t: Tab, target: str, upload_id: str) -> str:
    """What the handler showed for the upload ``upload_id``."""
    return texts(await t.event(target, "change", {"files": upload_id}))[0]


async def test_an_upload_reaches_its_handler_with_safe_names(live_server: Serve, tab, witness, tmp_path: Path) -> None:
    with live_server(app(tmp_path)) as server:
        w = await witness(server.url).start()
        t, target = await opened(tab, server.url)
        big = b"B" * (2 << 20)  # spooled to a file in tmp_path
        response = await upload(t, target, [("../../etc/passwd", b"root:x"), ("..\\..\\boot.ini", big),
                                            ("\u202eevil.txt", b"z")])
        assert response.status_code == 200
        body = response.json()
        assert [f["name"] for f in body["files"]] == ["passwd", "boot.ini", "evil.txt"]
        assert len(list(tmp_path.iterdir())) == 1  # the big one, waiting for its event
        assert await handled(t, target, body["id"]) == f"passwd:6:root:x,boot.ini:{len(big)}:BBBBBBBB,evil.txt:1:z"
        assert list(tmp_path.iterdir()) == []  # removed once the handler returned
        # once only: the same upload again gives nothing
        assert await handled(t, target, body["id"]) == "none (None)"
        await w.check()


@pytest.mark.parametrize(("token", "origin", "status", "code"), [
    ("", None, 403, "csrf"), ("forged", None, 403, "csrf"), (None, EVIL, 403, "origin")])
async def test_uploads_without_the_token_or_from_another_site_are_refused(live_server: Serve, tab, witness,
                                                                          tmp_path: Path, token: str | None,
                                                                          origin: str | None, status: int,
                                                                          code: str) -> None:
    with live_server(app(tmp_path)) as server:
        w = await witness(server.url).start()
        t, target = await opened(tab, server.url)
        response = await upload(t, target, [("a.txt", b"x" * (2 << 20))], token=token, origin=origin)
        assert reason(response)[:2] == (status, code)
        # another session's token does not work either
        response = await upload(t, target, [("a.txt", b"x")], token=w.tab.token)
        assert reason(response)[:2] == (403, "csrf")
        assert list(tmp_path.iterdir()) == []
        await w.check()


async def test_uploads_without_a_session_or_to_an_unknown_element_are_refused(live_server: Serve, tab, witness,
                                                                             tmp_path: Path) -> None:
    with live_server(app(tmp_path)) as server:
        w = await witness(server.url).start()
        t, target = await opened(tab, server.url)
        response = await upload(t, "lt99999", [("a.txt", b"x")])
        assert reason(response)[:2] == (400, "forbidden_event")
        async with httpx.AsyncClient(trust_env=False) as stranger:
            response = await stranger.post(t.url + "_lt/upload", params={"id": target}, files={"f": ("a", b"x")},
                                           headers={"X-Livetag-Token": t.token})
        assert response.status_code == 410
        await w.check()


async def test_oversized_uploads_get_413_with_a_reason(live_server: Serve, tab, witness, tmp_path: Path) -> None:
    with live_server(app(tmp_path, max_upload_bytes=1 << 20, max_session_upload_bytes=3 << 20)) as server:
        w = await witness(server.url).start()
        t, target = await opened(tab, server.url)
        status, code, message = reason(await upload(t, target, [("big.bin", b"x" * (2 << 20))]))
        assert (status, code) == (413, "too_large")
        assert message.startswith("expected the file 'big.bin' of at most 1048576 bytes, got ")
        # past the session's room: refused from Content-Length, before reading
        status, code, message = reason(await upload(t, target, [(f"{n}.bin", b"x" * (900 << 10)) for n in range(4)]))
        assert (status, code) == (413, "too_large") and "this session's uploads" in message
        # uploads waiting for their event count against the room
        kept = [await upload(t, target, [("a.bin", b"x" * (900 << 10))]) for _ in range(3)]
        assert [r.status_code for r in kept] == [200, 200, 200]
        assert reason(await upload(t, target, [("b.bin", b"x" * (900 << 10))]))[0] == 413
        assert await handled(t, target, kept[0].json()["id"]) == f"a.bin:{900 << 10}:xxxxxxxx"
        assert (await upload(t, target, [("b.bin", b"x" * (900 << 10))])).status_code == 200  # room again
        await w.check()


async def test_a_truncated_multipart_body_is_refused_and_leaves_nothing(live_server: Serve, tab, witness,
                                                                        tmp_path: Path) -> None:
    with live_server(app(tmp_path)) as server:
        w = await witness(server.url).start()
        t, target = await opened(tab, server.url)
        request = t.http.build_request("POST", t.url + "_lt/upload", params={"id": target},
                                       files={"file": ("a.bin", b"y" * (3 << 20))},
                                       headers={"X-Livetag-Token": t.token})
        whole = request.read()
        status, code, message = reason(await t.http.post(
            t.url + "_lt/upload", params={"id": target}, content=whole[: len(whole) // 2],
            headers={"X-Livetag-Token": t.token, "Content-Type": request.headers["content-type"]}))
        assert (status, code) == (400, "bad_message") and "truncated" in message
        status, _, message = reason(await t.http.post(
            t.url + "_lt/upload", params={"id": target}, content=b"--x\r\ngarbage",
            headers={"X-Livetag-Token": t.token, "Content-Type": "multipart/form-data; boundary=x"}))
        assert status == 400
        status, _, message = reason(await t.http.post(
            t.url + "_lt/upload", params={"id": target}, content=b"{}",
            headers={"X-Livetag-Token": t.token, "Content-Type": "application/json"}))
        assert status == 400 and "multipart/form-data" in message
        # a client that goes away in the middle of the body
        host, port = server.url.split("//")[1].split(":")
        cookie = "; ".join(f"{c.name}={c.value}" for c in t.http.cookies.jar)
        head = (f"POST /_lt/upload?id={target} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                f"X-Livetag-Token: {t.token}\r\nContent-Type: {request.headers['content-type']}\r\n"
                f"Content-Length: {len(whole)}\r\n\r\n").encode()
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(head + whole[: len(whole) // 2])
        await writer.drain()
        await until(lambda: bool(list(tmp_path.iterdir())), "the server spooled the first megabytes")
        writer.transport.abort()
        await until(lambda: not list(tmp_path.iterdir()), "the spooled file removed once the client went away")
        await w.check()


async def test_another_sessions_upload_cannot_be_claimed(live_server: Serve, tab, witness, tmp_path: Path) -> None:
    with live_server(app(tmp_path)) as server:
        w = await witness(server.url).start()
        victim, target = await opened(tab, server.url)
        stolen = (await upload(victim, target, [("private.txt", b"private")])).json()["id"]
        thief, thief_target = await opened(tab, server.url)
        assert await handled(thief, thief_target, stolen) == "none (None)"
        assert await handled(victim, target, stolen) == "private.txt:7:private"  # still the victim's
        await w.check()


async def test_upload_floods_are_bounded(live_server: Serve, tab, witness, tmp_path: Path) -> None:
    with live_server(app(tmp_path, event_burst=30, events_per_second=1)) as server:
        w = await witness(server.url).start()
        t, target = await opened(tab, server.url)
        answers = [await upload(t, target, [("f.bin", b"z" * (1100 << 10))]) for _ in range(25)]
        assert {r.status_code for r in answers} == {200}
        # Never more than MAX_PENDING uploads wait for their event: the oldest are removed.
        assert len(list(tmp_path.iterdir())) == MAX_PENDING
        assert await handled(t, target, answers[0].json()["id"]) == "none (None)"
        assert (await handled(t, target, answers[-1].json()["id"])).startswith("f.bin:")
        # Past the token bucket: 429 with Retry-After, at once, in parallel too.
        answers = await asyncio.gather(*(upload(t, target, [("g.bin", b"z")]) for _ in range(20)))
        limited = [r for r in answers if r.status_code == 429]
        assert limited and all(r.headers["retry-after"] for r in limited)
        assert reason(limited[0])[1] == "rate_limited"
        await w.check()


async def test_parallel_uploads_of_one_session_are_capped(live_server: Serve, tab, witness, tmp_path: Path) -> None:
    with live_server(app(tmp_path)) as server:
        w = await witness(server.url).start()
        t, target = await opened(tab, server.url)
        # Slow bodies that stay open: the fifth at once is refused.
        host, port = server.url.split("//")[1].split(":")
        cookie = "; ".join(f"{c.name}={c.value}" for c in t.http.cookies.jar)
        head = (f"POST /_lt/upload?id={target} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                f"X-Livetag-Token: {t.token}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: 100000\r\n\r\n--b\r\n").encode()

        async def open_slow() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(head)
            await writer.drain()
            return reader, writer

        slow = [await open_slow() for _ in range(4)]
        statuses = []
        for _ in range(50):  # the four are being read once the server got their heads
            response = await upload(t, target, [("a", b"x")])
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
            # A quick upload may overtake a slow one's head, which is then the one refused:
            # put another slow one in its place.
            for i, (reader, writer) in enumerate(slow):
                if reader.at_eof() or reader._buffer:
                    writer.transport.abort()
                    slow[i] = await open_slow()
            await asyncio.sleep(0.05)
        if statuses[-1] != 429:  # say what the four slow ones were answered
            answers = [await asyncio.wait_for(r.read(300), 1) for r, _ in slow if r.at_eof() or r._buffer]
            pytest.fail(f"expected a 429 once 4 uploads run, got {statuses}; the slow ones got {answers}")
        assert "at most 4 uploads at once" in reason(response)[2]
        for _, writer in slow:
            writer.transport.abort()
        await w.check()


# -- downloads ------------------------------------------------------------------------------


async def link(t: Tab, html: str) -> str:
    """The URL the page is told to fetch after a click on "get"."""
    messages = await t.event(element_id(html, "get"))
    [script] = [js for m in messages for js in m.get("js", ())]
    assert script.startswith('livetag.download("/_lt/download/'), script
    return t.url + script.split('"')[1].lstrip("/")


async def test_a_download_link_works_once(live_server: Serve, tab, witness, tmp_path: Path) -> None:
    with live_server(app(tmp_path)) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join()
        url = await link(t, html)
        response = await t.http.get(url)
        assert response.status_code == 200 and response.content == b"secret of this session"
        assert response.headers["content-disposition"] == 'attachment; filename="s.txt"'
        assert response.headers["x-content-type-options"] == "nosniff"
        replay = await t.http.get(url)
        assert replay.status_code == 410 and "used already" in replay.text
        assert (await t.http.get(t.url + "_lt/download/unknown")).status_code == 404
        assert (await t.http.get(t.url + "_lt/download/" + "x" * 5000)).status_code == 404
        await w.check()


async def test_a_download_link_is_useless_to_another_session(live_server: Serve, tab, witness,
                                                             tmp_path: Path) -> None:
    with live_server(app(tmp_path)) as server:
        w = await witness(server.url).start()
        victim = tab(server.url)
        html = await victim.load()
        await victim.join()
        url = await link(victim, html)
        thief = tab(server.url)
        await thief.load()  # a session of its own
        response = await thief.http.get(url)
        assert response.status_code == 404 and "no such download link in this session" in response.text
        async with httpx.AsyncClient(trust_env=False) as stranger:  # no cookie at all
            assert (await stranger.get(url)).status_code == 404
        # the thief's attempts did not spend it
        assert (await victim.http.get(url)).content == b"secret of this session"
        await w.check()


async def test_a_download_link_expires(live_server: Serve, tab, witness, tmp_path: Path) -> None:
    with live_server(app(tmp_path, download_seconds=0.2)) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join()
        url = await link(t, html)
        await asyncio.sleep(0.5)  # past download_seconds: waiting for the condition, not timing the server
        response = await t.http.get(url)
        assert response.status_code == 410 and "expired" in response.text
        await w.check()


