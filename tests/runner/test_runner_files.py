"""Uploads and downloads under the Runner, in Chromium: the file bytes cross the bridge
to the session's process, which parses them, runs the handler and removes the temporary
file; a download's bytes come from that process. Also with parano mode."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from files_apps import OFFERED
from playwright.sync_api import expect
from rt_procs import Server

pytestmark = pytest.mark.browser

Serve = Callable[..., Server]
FIVE_MB = os.urandom(5 << 20)
TARGET = "files_apps:app"


def open_page(context: Any, url: str, mode: str) -> Any:
    if mode != "ws":
        context.add_cookies([{"name": "livetag_mode", "value": mode, "url": url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    page.goto(url + "/")
    page.wait_for_function("window.livetag && window.livetag.connected")
    assert page.evaluate("livetag.transport") == mode
    return page


def upload_5mb(page: Any) -> None:
    page.evaluate("""() => { window.__progress = [];
      document.addEventListener("livetag:upload-progress", (e) => window.__progress.push(e.detail.loaded)); }""")
    page.set_input_files(".picker", files=[{"name": "big.bin", "mimeType": "application/x-test", "buffer": FIVE_MB}])
    expect(page.locator(".result")).to_contain_text("upload 1", timeout=30_000)
    name, size, kind, digest, path = (page.locator(".result").text_content() or "").splitlines()[1].split("|")
    assert (name, int(size), kind, digest) == ("big.bin", len(FIVE_MB), "application/x-test",
                                               hashlib.sha256(FIVE_MB).hexdigest())
    assert path and not os.path.exists(path), "the session process removed its temporary file"
    assert page.evaluate("window.__progress").pop() > len(FIVE_MB)


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_a_5mb_upload_and_downloads_on_each_transport(serve: Serve, context: Any, mode: str) -> None:
    server = serve(target=TARGET)
    page = open_page(context, server.url, mode)
    assert int(page.locator(".pid").text_content() or 0) != server.pid  # in a session process
    upload_5mb(page)
    with page.expect_download() as info:
        page.click(".get-bytes")
    saved = Path(info.value.path()).read_bytes()
    assert info.value.suggested_filename == "r\u00e9sum\u00e9 1.txt", saved  # else the body says why
    assert saved == b"hello bytes\n"
    with page.expect_download() as info:
        page.click(".get-file")
    assert Path(info.value.path()).read_bytes() == Path(OFFERED).read_bytes()
    with page.expect_download() as info:
        page.click(".get-stream")
    assert Path(info.value.path()).read_bytes() == b"".join(b"chunk %d\n" % n for n in range(1000))
    assert page.errors == []


def test_uploads_under_the_runner_in_parano_mode(serve: Serve, context: Any) -> None:
    server = serve(target=TARGET, env={"LT_PARANO": "1"})
    page = open_page(context, server.url, "ws")
    upload_5mb(page)
    assert page.errors == []

