"""The app of the upload and download tests, for ``WebApp`` (tests/browser/test_files.py
loads this file) and for the ``Runner`` (``files_apps:app``, importable by name by the
session processes). Configured from the environment: ``LT_MAX_UPLOAD`` (bytes per file),
``LT_DOWNLOAD_SECONDS``, ``LT_PARANO`` (1/0)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

from livetag import FileDrop, Runner, Tag

#: The file ``get-file`` offers: this module's own source.
OFFERED = os.path.abspath(__file__)


def describe(event: Any) -> list[str]:
    lines = []
    for f in event.files:
        data = f.read()
        assert f.open().read() == data
        lines.append(f"{f.name}|{f.size}|{f.content_type}|{hashlib.sha256(data).hexdigest()}|{f.path or ''}")
    if event.upload_error:
        lines.append(f"error: {event.upload_error}")
    return lines


class FilesApp(Tag.App):
    def init(self) -> None:
        self.count = 0
        self.result = Tag.pre("", _class="result")
        self <= Tag.input(_type="file", _multiple=True, _onchange=self.got, _class="picker")
        self <= Tag.input(_type="file", _onchange=self.got_and_raise, _class="picker-raise")
        self <= FileDrop(self.dropped, label="drop here")
        self <= Tag.button("bytes", _class="get-bytes", _onclick=self.get_bytes)
        self <= Tag.button("file", _class="get-file", _onclick=self.get_file)
        self <= Tag.button("stream", _class="get-stream", _onclick=self.get_stream)
        self <= Tag.span(str(os.getpid()), _class="pid")
        self <= self.result

    def show(self, what: str, lines: list[str]) -> None:
        self.count += 1
        self.result.text = "\n".join([f"{what} {self.count}", *lines])

    def got(self, event: Any) -> None:
        self.show("upload", describe(event))

    async def dropped(self, event: Any) -> None:
        for f in event.files:
            await f.aread()
        self.show("drop", describe(event))

    def got_and_raise(self, event: Any) -> None:
        self.show("raising", describe(event))
        raise RuntimeError("the handler failed on purpose")

    def get_bytes(self, event: Any) -> None:
        self.download(b"hello bytes\n", filename="r\u00e9sum\u00e9 1.txt")

    def get_file(self, event: Any) -> None:
        self.download(OFFERED, filename="big.bin")

    def get_stream(self, event: Any) -> None:
        def chunks() -> Iterator[bytes]:
            for n in range(1000):
                yield b"chunk %d\n" % n

        self.download(chunks(), filename="stream.txt", media_type="text/plain")


def options() -> dict[str, Any]:
    return {"max_upload_bytes": int(os.environ.get("LT_MAX_UPLOAD") or 64 << 20),
            "download_seconds": float(os.environ.get("LT_DOWNLOAD_SECONDS") or 300),
            "parano": os.environ.get("LT_PARANO") == "1"}


app = Runner(FilesApp, debug=True, **options())
