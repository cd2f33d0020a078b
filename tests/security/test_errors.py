"""Errors: what clients learn of a failure, and what the log learns of secrets.

``debug=False``: a failing handler gives its client a generic message and an error id
that matches the log line holding the traceback; no exception text, no traceback, no
path. ``debug=True``: the traceback is sent (shown escaped). In any mode no log line at
any level carries a CSRF token, a full session id or a parano key.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import orjson
import pytest
from hostile import Board, Serve, eventually

from livetag import Tag, WebApp
from livetag.runners.logs import TransportLog, redact_uvicorn_logs
from livetag.testing.wire import element_id

SECRET_TEXT = "password=hunter2"
CLIENT_LOGGERS = {"httpx", "httpcore", "asyncio"}


class Failing(Board):
    def build(self) -> None:
        self <= Tag.button("fail", _class="fail", _onclick=self.fail)

    def fail(self) -> None:
        raise RuntimeError(f"cannot connect with {SECRET_TEXT}")


class FailingMount(Board):
    armed: list[bool] = []  # sessions opened once armed fail (the witness opens before)
    mounted: list[bool] = []  # one entry per on_mount that ran unarmed

    def on_mount(self) -> None:
        if self.armed:
            raise KeyError(SECRET_TEXT)
        self.mounted.append(True)


def leaks(message: dict) -> list[str]:
    """What of the failure a client message reveals."""
    text = orjson.dumps(message).decode()
    found = [s for s in (SECRET_TEXT, "Traceback", "RuntimeError", "KeyError", ".py", "/work", "line ") if s in text]
    return found


@pytest.mark.parametrize("transport", ["websocket", "http"])
async def test_without_debug_a_failure_is_an_error_id_matching_the_log(live_server: Serve, tab, witness,
                                                                      caplog: pytest.LogCaptureFixture,
                                                                      transport: str) -> None:
    caplog.set_level(logging.INFO)
    with live_server(WebApp(Failing).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        if transport == "websocket":
            await t.join()
            messages = await t.event(element_id(html, "fail"))
        else:
            await t.join(transport="http")
            messages = await t.event(element_id(html, "fail"))
        (err,) = [m for m in messages if m["t"] == "err"]
        assert set(err) == {"t", "code", "msg", "eid"}, err  # no "trace"
        assert err["code"] == "handler_error" and err["msg"] == "an internal error occurred"
        assert re.fullmatch(r"[0-9a-f]{8}", err["eid"])
        assert leaks(err) == []
        # The server log has the whole story under the same id.
        (record,) = [r for r in caplog.records if err["eid"] in r.getMessage()]
        assert record.levelno == logging.ERROR and record.exc_info is not None
        assert SECRET_TEXT in caplog.text and "Traceback" in caplog.text
        await w.check()


async def test_without_debug_a_failing_hook_reveals_nothing(live_server: Serve, tab, witness,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    class Hooked(FailingMount):
        armed: list[bool] = []
        mounted: list[bool] = []

    with live_server(WebApp(Hooked).app) as server:
        w = await witness(server.url).start()
        # The witness's on_mount runs beside its first click (in a worker thread): arm
        # only once it ran, or a loaded machine arms it first and the witness fails.
        await eventually(lambda: Hooked.mounted, "the witness's on_mount to run")
        Hooked.armed.append(True)
        t = tab(server.url)
        await t.load()
        await t.join()
        err = (await t.recv_until(lambda m: m["t"] == "err"))[-1]
        assert err["msg"] == "an internal error occurred" and leaks(err) == []
        assert any(err["eid"] in r.getMessage() for r in caplog.records)
        await w.check()


async def test_without_debug_a_failing_app_shows_a_generic_page(live_server: Serve, tab) -> None:
    class Broken(Board):
        def build(self) -> None:
            raise RuntimeError(SECRET_TEXT)

    with live_server(WebApp(Broken).app) as server:
        response = await tab(server.url).http.get(server.url + "/")
        assert response.status_code == 500
        assert all(s not in response.text for s in (SECRET_TEXT, "Traceback", ".py"))


async def test_without_debug_a_failing_app_page_has_an_error_id_matching_the_log(
        live_server: Serve, tab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    class Broken(Board):
        def build(self) -> None:
            raise RuntimeError(SECRET_TEXT)

    with live_server(WebApp(Broken).app) as server:
        response = await tab(server.url).http.get(server.url + "/")
    ids = re.findall(r"\b[0-9a-f]{8}\b", response.text)
    assert ids and any(i in r.getMessage() for i in ids for r in caplog.records if r.exc_info)


async def test_with_debug_the_traceback_is_sent(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Failing, debug=True).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join()
        (err,) = [m for m in await t.event(element_id(html, "fail")) if m["t"] == "err"]
        assert err["code"] == "handler_error" and re.fullmatch(r"[0-9a-f]{8}", err["eid"])
        assert "in your code (innermost first)" in err["trace"] and SECRET_TEXT in err["trace"]
        assert "test_errors.py" in err["trace"]
        await w.check()


# -- secrets never logged -----------------------------------------------------------------------------


@contextmanager
def everything_logged(caplog: pytest.LogCaptureFixture, uvicorn: bool) -> Iterator[None]:
    """livetag's loggers (and with ``uvicorn``, uvicorn's, which do not propagate to the
    root) at every level into ``caplog``. Enter it once the server started: uvicorn's
    logging set-up replaces the handlers of its loggers."""
    caplog.set_level(1)
    names = ("uvicorn", "uvicorn.access", "uvicorn.error", "livetag") if uvicorn else ("livetag",)
    extra = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in extra]
    for logger in extra:
        logger.setLevel(1)
    for logger in extra:
        if not logger.propagate:
            logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        for logger, level in zip(extra, levels, strict=False):
            logger.removeHandler(caplog.handler)
            logger.setLevel(level)


class Life(Failing):
    def build(self) -> None:
        super().build()
        self <= Tag.button("write", _class="write", _onclick=self.write)

    def write(self) -> None:
        self.request.session["seen"] = True


@pytest.mark.parametrize("parano", [False, True], ids=["clear", "parano"])
@pytest.mark.parametrize("server_logs", ["livetag", "uvicorn-trace"])
async def test_no_secret_reaches_any_log_line_during_a_whole_session_life(
        live_server: Serve, tab, caplog: pytest.LogCaptureFixture, parano: bool, server_logs: str) -> None:
    webapp = WebApp(Life, parano=parano, session_timeout=0.3, events_per_second=1, event_burst=12)
    secrets: list[str] = []
    # "uvicorn-trace": what `livetag run --log-level trace` does: uvicorn and the websockets
    # library log every handshake header and frame, through livetag's redaction filter.
    options = {"log_level": "trace"} if server_logs == "uvicorn-trace" else {}
    app = TransportLog(webapp.app) if server_logs == "uvicorn-trace" else webapp.app
    with ExitStack() as stack:
        server = stack.enter_context(live_server(app, **options))
        # Exits after the server: the shutdown is logged too.
        stack.enter_context(everything_logged(caplog, uvicorn=server_logs == "uvicorn-trace"))
        stack.callback(server.__exit__, None, None, None)
        if server_logs == "uvicorn-trace":
            redact_uvicorn_logs()
        t = tab(server.url)
        html = await t.load()
        secrets += [t.token, t.session_id] + ([t.key] if parano else [])
        fail, write, inc = (element_id(html, c) for c in ("fail", "write", "inc"))
        # WebSocket: join, events, a failure, forged and malformed input, a refused join.
        await t.join()
        await t.event(inc)
        await t.event(fail)
        await t.event("lt-nope")
        await t.send("{not json")
        await t.recv()
        await t.event(write)
        await t.recv_until(lambda m: m["t"] == "cookie")
        assert (await t.post("cookie")).status_code == 204
        secrets += [c.value for c in t.http.cookies.jar if c.name == "lt_session"]
        other = tab(server.url, t.http, codec=t.codec)
        await other.connect()
        await other.send({"t": "join", "v": 1, "token": t.token[:-2] + "xx", "cid": None, "rev": 0})
        # HTTP: join, events, poll, a wrong token, a flood.
        h = tab(server.url, t.http, codec=t.codec)
        h.token = t.token
        await h.join(transport="http")
        await t.event(inc)
        assert (await h.poll()).status_code == 200  # the update of another page of the session
        await h.event(inc)
        await h.event(fail)
        assert (await h.post_events([h.ev(inc)], token=t.token[::-1])).status_code == 403
        for _ in range(3):
            await h.post_events([h.ev(inc) for _ in range(5)])
        for x in (t, other, h):
            await x.close()
        # Expiry (of a session left idle: the first one keeps its clients, see test_expiry).
        second = tab(server.url)
        await second.load()
        secrets += [second.token, second.session_id] + ([second.key] if parano else [])
        # session_timeout is 0.3 s: the sweeper's next pass
        await eventually(lambda: any("idle session(s) expired" in r.getMessage() for r in caplog.records),
                         "the idle sessions to expire")
    # The whole life was logged: creation, a traceback, refusals, expiry.
    logged = [r.getMessage() for r in caplog.records]
    for expected in ("created", "raised (error id", "rejected event", "CSRF token refused", "rate limit",
                     "idle session(s) expired"):
        assert any(expected in line for line in logged), expected
    if server_logs == "uvicorn-trace":
        assert any(r.name.startswith("uvicorn") for r in caplog.records)
    assert all(len(s) >= 32 for s in secrets)
    for record in caplog.records:
        if record.name.split(".")[0] in CLIENT_LOGGERS or record.name == "websockets.client":
            continue  # this test's own clients, which of course hold the secrets
        line = record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        for secret in secrets:
            assert secret not in line, f"a secret in a log line of {record.name}: {line[:300]!r}"


async def test_a_client_cannot_forge_log_lines(live_server: Serve, tab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with live_server(TransportLog(WebApp(Board).app)) as server:
        t = tab(server.url)
        await t.load()
        await t.join()
        await t.ws.close(1000, "bye\nCRITICAL: livetag: forged line")  # type: ignore[union-attr]
        t.ws = None
        await asyncio.sleep(0.2)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("livetag")]
    assert any("disconnected" in line for line in lines)
    assert not [line for line in lines if "\n" in line or "\r" in line]
