"""Uploads and downloads in Chromium, under ``WebApp``: a 5 MB upload on each transport
(progress seen in the page, the content checked by the handler, the temporary file gone
afterwards), parano mode, a drop on a ``FileDrop``, a handler that raises, a refused
upload told to the handler, and downloads saved by the browser."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType

import pytest
from lt_browser import connected, no_error_overlay
from playwright.sync_api import Page, expect

from livetag import WebApp
from livetag.runners.serve import BackgroundServer

pytestmark = pytest.mark.browser

Serve = Callable[..., AbstractContextManager[BackgroundServer]]
FIVE_MB = os.urandom(5 << 20)


def _apps() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "runner" / "files_apps.py"
    spec = importlib.util.spec_from_file_location("files_apps_webapp", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


apps = _apps()

WATCH_PROGRESS = """() => {
  window.__progress = [];
  document.addEventListener("livetag:upload-progress", (e) => {
    const bar = document.querySelector("progress.lt-upload-progress, .lt-drop progress");
    window.__progress.push([e.detail.loaded, e.detail.total, bar ? bar.value : -1, bar ? bar.hidden : null]);
  });
}"""


def open_page(page: Page, url: str, mode: str) -> None:
    if mode != "ws":
        page.context.add_cookies([{"name": "livetag_mode", "value": mode, "url": url}])
    page.goto(url + "/")
    connected(page)
    assert page.evaluate("livetag.transport") == mode


def check_upload(page: Page, selector: str, what: str, name: str = "big.bin", data: bytes = FIVE_MB,
                 spooled: bool = True) -> str:
    """Upload ``data`` through ``selector``; checks what the handler saw and that its
    temporary file is gone; returns the page's result."""
    page.evaluate(WATCH_PROGRESS)
    page.set_input_files(selector, files=[{"name": name, "mimeType": "application/x-test", "buffer": data}])
    expect(page.locator(".result")).to_contain_text(what, timeout=20_000)
    result = page.locator(".result").text_content() or ""
    line = result.splitlines()[1]
    shown_name, size, kind, digest, path = line.split("|")
    assert (shown_name, int(size), kind, digest) == (name, len(data), "application/x-test",
                                                      hashlib.sha256(data).hexdigest())
    if spooled:
        assert path, "a 5 MB upload is spooled to a file"
        assert not os.path.exists(path), "the temporary file is removed when the handler returns"
    progress = page.evaluate("window.__progress")
    assert progress[-1][0] == progress[-1][1] > len(data), progress  # all sent (multipart adds a little)
    assert any(bar >= 0 for _, _, bar, _ in progress), "a <progress> showed it"
    # the bar made for the upload is gone again
    expect(page.locator("progress.lt-upload-progress")).to_have_count(0)
    return result


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_a_5mb_upload_on_each_transport(live_server: Serve, page: Page, mode: str) -> None:
    with live_server(WebApp(apps.FilesApp).app) as server:
        open_page(page, server.url, mode)
        check_upload(page, ".picker", "upload 1")
        # and the session goes on: a second upload, a small one kept in memory
        page.set_input_files(".picker", files=[{"name": "../../etc/passwd", "mimeType": "text/plain",
                                                "buffer": b"small"}])
        expect(page.locator(".result")).to_contain_text("upload 2")
        assert (page.locator(".result").text_content() or "").splitlines()[1].startswith("passwd|5|text/plain|")
        no_error_overlay(page)


@pytest.mark.parametrize("mode", ["ws", "http"])
def test_uploads_in_parano_mode(live_server: Serve, page: Page, mode: str) -> None:
    with live_server(WebApp(apps.FilesApp, parano=True).app) as server:
        open_page(page, server.url, mode)
        check_upload(page, ".picker", "upload 1")
        no_error_overlay(page)


def test_a_drop_on_a_file_drop_uploads_with_its_progress_bar(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(apps.FilesApp).app) as server:
        open_page(page, server.url, "ws")
        page.evaluate(WATCH_PROGRESS)
        # Chromium builds the DataTransfer; the drop is dispatched on the zone.
        page.evaluate("""() => {
          const dt = new DataTransfer();
          dt.items.add(new File([new Uint8Array(3 << 20).fill(7)], "dropped.bin", {type: "application/x-test"}));
          const zone = document.querySelector(".lt-drop");
          zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
          zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""")
        expect(page.locator(".result")).to_contain_text("drop 1", timeout=20_000)
        line = (page.locator(".result").text_content() or "").splitlines()[1]
        assert line.startswith(f"dropped.bin|{3 << 20}|application/x-test|"
                               f"{hashlib.sha256(bytes([7]) * (3 << 20)).hexdigest()}|")
        assert not os.path.exists(line.rsplit("|", 1)[1])
        progress = page.evaluate("window.__progress")
        assert any(bar >= 0 for _, _, bar, _ in progress), progress
        assert page.locator(".lt-drop progress").is_hidden()
        no_error_overlay(page)


def test_the_files_go_when_the_handler_raises(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(apps.FilesApp).app) as server:
        open_page(page, server.url, "ws")
        page.set_input_files(".picker-raise", files=[{"name": "a.bin", "mimeType": "application/x-test",
                                                      "buffer": FIVE_MB}])
        expect(page.locator(".result")).to_contain_text("raising 1", timeout=20_000)
        expect(page.locator("#lt-error")).to_be_visible()  # the handler's failure is shown
        path = (page.locator(".result").text_content() or "").splitlines()[1].rsplit("|", 1)[1]
        assert path and not os.path.exists(path)


def test_a_file_too_large_is_refused_and_the_handler_told(live_server: Serve, page: Page) -> None:
    with live_server(WebApp(apps.FilesApp, max_upload_bytes=1 << 20).app) as server:
        open_page(page, server.url, "ws")
        page.set_input_files(".picker", files=[{"name": "big.bin", "mimeType": "application/x-test",
                                                "buffer": FIVE_MB}])
        expect(page.locator(".result")).to_contain_text("upload 1", timeout=20_000)
        result = page.locator(".result").text_content() or ""
        assert result.splitlines()[1].startswith("error: expected the file 'big.bin' of at most 1048576 bytes, got ")
        # the session is unharmed
        check_upload(page, ".picker", "upload 2", data=FIVE_MB[: 900 << 10], spooled=False)
        no_error_overlay(page)


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_downloads_are_saved_by_the_browser(live_server: Serve, page: Page, mode: str, tmp_path: Path) -> None:
    with live_server(WebApp(apps.FilesApp).app) as server:
        open_page(page, server.url, mode)
        check_downloads(page, tmp_path)
        no_error_overlay(page)


def check_downloads(page: Page, tmp_path: Path) -> None:
    with page.expect_download() as info:
        page.click(".get-bytes")
    download = info.value
    assert download.suggested_filename == "r\u00e9sum\u00e9 1.txt"
    assert Path(download.path()).read_bytes() == b"hello bytes\n"
    with page.expect_download() as info:
        page.click(".get-file")
    assert info.value.suggested_filename == "big.bin"
    assert Path(info.value.path()).read_bytes() == Path(apps.OFFERED).read_bytes()
    with page.expect_download() as info:
        page.click(".get-stream")
    assert info.value.suggested_filename == "stream.txt"
    assert Path(info.value.path()).read_bytes() == b"".join(b"chunk %d\n" % n for n in range(1000))
