"""Defences of the transports hold under the Runner as they do in-process: each test
runs against a ``WebApp`` and a ``Runner`` serving the same app (CSRF token, origin
checks, size limits, forged events and forged session ids)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from livetag import Runner, Tag, WebApp
from livetag.runners.serve import BackgroundServer
from livetag.testing.wire import SyncTab, texts

LIMIT = 4096


class Board(Tag.App):
    def init(self) -> None:
        self.count = 0
        self.value = Tag.span("0", _class="value")
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= Tag.button("off", _class="off", _disabled=True, _onclick=self.increment)
        self <= self.value

    def increment(self) -> None:
        self.count += 1
        self.value.text = self.count


@pytest.fixture(params=["webapp", "runner"], scope="module")
def url(request: Any) -> Iterator[str]:
    runtime = tempfile.mkdtemp(prefix="lt", dir="/tmp")
    if request.param == "webapp":
        app: Any = WebApp(Board, max_message_bytes=LIMIT).app
    else:
        app = Runner(Board, max_message_bytes=LIMIT, runtime_dir=runtime)
    try:
        with BackgroundServer(app) as server:
            yield server.url
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def tab(url: str) -> Iterator[SyncTab]:
    t = SyncTab(url)
    t.load()
    yield t
    t.aclose()


def test_a_join_without_the_csrf_token_is_refused(tab: SyncTab) -> None:
    tab.connect()
    tab.send({"t": "join", "v": 1, "token": "forged", "cid": None, "rev": 0})
    code, reason, _ = tab.closed()
    assert (code, reason) == (1008, "csrf")


def test_http_events_and_cookie_posts_need_the_token(tab: SyncTab) -> None:
    tab.join(transport="http")
    forged = {"X-Livetag-Token": "forged"}
    event = tab.post("event", [tab.ev(tab.id(".inc"))], params={"cid": tab.cid or "", "mode": "http"}, headers=forged)
    cookie = tab.post("cookie", b"", headers=forged)
    assert (event.status_code, cookie.status_code) == (403, 403)
    assert texts(tab.post_events([tab.ev(tab.id(".inc"))]).json()) == ["1"]


def test_foreign_origins_are_refused(tab: SyncTab) -> None:
    with pytest.raises(InvalidStatus) as info:
        tab.connect(origin="https://evil.example")
    assert info.value.response.status_code == 403
    tab.join(transport="http")
    response = tab.post("event", [tab.ev(tab.id(".inc"))], params={"cid": tab.cid or "", "mode": "http"},
                        headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_oversize_messages_are_refused(tab: SyncTab) -> None:
    tab.join()
    tab.send("x" * (LIMIT + 1))
    code, _, _ = tab.closed()
    assert code == 1009
    tab.load()
    tab.join(transport="http")
    response = tab.post("event", b"[" + b" " * (LIMIT + 1) + b"]", params={"cid": tab.cid or "", "mode": "http"})
    assert response.status_code == 413


def test_forged_events_are_refused_and_the_session_carries_on(tab: SyncTab) -> None:
    tab.join()
    for target in ("lt-nope", tab.id(".off")):
        tab.send(tab.ev(target))
        messages = tab.until_ack(tab.seq)
        assert any(m["t"] == "err" and m["code"] == "forbidden_event" for m in messages), messages
    assert texts(tab.click(".inc")) == ["1"]


def test_a_forged_session_id_is_never_adopted(url: str) -> None:
    forged = "A" * 43
    with httpx.Client(trust_env=False, timeout=20, cookies={"lt_sid": forged}) as client:
        tab = SyncTab(url, http=client)
        tab.load()
        issued = [c.value for c in client.cookies.jar if c.name == "lt_sid" and c.value != forged]
        assert issued and issued[0] != forged
    intruder = SyncTab(url)
    intruder.html = "<x>"
    intruder.connect(cookie=f"lt_sid={forged}")
    code, _, messages = intruder.closed()
    assert code == 4404 and messages[-1]["code"] == "expired"
    intruder.aclose()
