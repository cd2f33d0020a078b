"""Files without a server: file-name sanitising, Content-Disposition (RFC 6266 / 8187),
the multipart reader's limits, the upload and download stores, ``Event.files``."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from livetag import Tag, UploadedFile
from livetag.dom.events import Event
from livetag.dom.files import MAX_NAME_BYTES, Download, attach, make_download, safe_filename
from livetag.dom.tree import LiveTree
from livetag.errors import NotInSession, ProtocolError, UploadTooLarge
from livetag.server.downloads import DownloadStore, SessionFiles, content_disposition
from livetag.server.uploads import MAX_FILES, MEMORY_BYTES, MultipartReader, UploadStore

BOUNDARY = "XyZ123"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(*parts: tuple[str, str | None, bytes], end: bool = True) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
                "Content-Type: text/plain\r\n\r\n").encode() + data + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if end else b"")


async def collect(file: UploadedFile) -> bytes:
    chunks = [chunk async for chunk in file.stream(100_000)]
    assert max(map(len, chunks)) <= 100_000
    return b"".join(chunks)


def read(data: bytes, *, file_limit: int = 1 << 30, total_limit: int = 1 << 30, directory: str | None = None,
         chunk: int = 7919) -> list[UploadedFile]:
    reader = MultipartReader(CONTENT_TYPE, file_limit=file_limit, total_limit=total_limit, directory=directory)
    try:
        for at in range(0, len(data), chunk):
            reader.feed(data[at:at + chunk])
        return reader.finish()
    except BaseException:
        reader.discard()
        raise


@pytest.mark.parametrize(("given", "safe"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
    ("..", "file"), (".", "file"), ("", "file"), (None, "file"), ("/", "file"),
    (".bashrc", "bashrc"),
    ("a\x00b\x1fc\x7fd.txt", "abcd.txt"),
    ("evil\u202egnp.exe", "evilgnp.exe"),  # a right-to-left override that disguises the extension
    ("  name .txt. ", "name .txt"),
    ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC
    ("line\nbreak.txt", "linebreak.txt"),
])
def test_file_names_are_made_safe(given: str | None, safe: str) -> None:
    assert safe_filename(given) == safe


def test_a_long_name_is_cut_to_255_bytes_keeping_its_extension() -> None:
    name = safe_filename("\u00e9" * 300 + ".tar")
    assert name.endswith(".tar") and len(name.encode()) <= MAX_NAME_BYTES
    name.encode().decode()  # never a cut UTF-8 sequence


@pytest.mark.parametrize(("filename", "header"), [
    ("report.pdf", 'attachment; filename="report.pdf"'),
    ("r\u00e9sum\u00e9 1.txt", "attachment; filename=\"resume 1.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%201.txt"),
    ('a"b\\c.txt', "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt"),
    ("\u65e5\u672c.txt", "attachment; filename=\".txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"),
    ("\u65e5\u672c", "attachment; filename=\"download\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC"),
])
def test_content_disposition_gives_both_forms_of_the_name(filename: str, header: str) -> None:
    assert content_disposition(filename) == header
    header.encode("latin-1")  # a header value


def test_the_reader_keeps_files_and_ignores_fields(tmp_path: Path) -> None:
    big = os.urandom(MEMORY_BYTES + 10)
    files = read(body(("note", None, b"a field"), ("f", "sm\x01all.txt", b"hello"), ("f", "../big.bin", big)),
                 directory=str(tmp_path))
    assert [(f.name, f.size, f.content_type) for f in files] == [("small.txt", 5, "text/plain"),
                                                                 ("big.bin", len(big), "text/plain")]
    small, spooled = files
    assert small.path is None and small.read() == b"hello"
    assert spooled.path is not None and Path(spooled.path).parent == tmp_path
    assert os.stat(spooled.path).st_mode & 0o777 == 0o600
    assert spooled.read() == big and spooled.open().read(3) == big[:3]
    assert asyncio.run(collect(spooled)) == big
    for f in files:
        f.close()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="after its handler returned"):
        small.read()


def test_a_file_past_the_limit_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    data = body(("f", "a.bin", os.urandom(3 << 20)))
    with pytest.raises(UploadTooLarge, match=r"expected the file 'a.bin' of at most 2097152 bytes"):
        read(data, file_limit=2 << 20, directory=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UploadTooLarge, match="this session's uploads"):
        read(data, total_limit=1 << 20, directory=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_truncated_and_malformed_bodies_are_refused(tmp_path: Path) -> None:
    whole = body(("f", "a.bin", os.urandom(2 << 20)))
    with pytest.raises(ProtocolError, match="truncated"):
        read(whole[: len(whole) // 2], directory=str(tmp_path))
    with pytest.raises(ProtocolError, match="truncated"):
        read(body(("f", "a.bin", b"x"), end=False), directory=str(tmp_path))
    with pytest.raises(ProtocolError, match="well-formed"):
        read(b"not a multipart body at all\r\n" * 10)
    assert list(tmp_path.iterdir()) == []
    for content_type in ("application/json", "multipart/form-data", "multipart/form-data; boundary=" + "b" * 71):
        with pytest.raises(ProtocolError, match="expected a multipart"):
            MultipartReader(content_type, file_limit=1, total_limit=1, directory=None)


def test_too_many_files_or_a_huge_field_are_refused() -> None:
    with pytest.raises(ProtocolError, match=f"at most {MAX_FILES} files"):
        read(body(*[("f", f"{n}.txt", b"x") for n in range(MAX_FILES + 1)]))
    with pytest.raises(UploadTooLarge, match="a form field"):
        read(body(("note", None, b"x" * (1 << 17))))


def test_the_upload_store_gives_files_to_their_element_once() -> None:
    store = UploadStore()
    files = read(body(("f", "a.txt", b"abc")))
    upload_id = store.add("lt7", files)
    assert store.held == 3
    assert store.claim(upload_id, "lt8") == []  # another element
    assert store.claim("forged", "lt7") == []
    assert store.claim(upload_id, "lt7") == files
    store.release(upload_id)
    assert files[0].closed and store.claim(upload_id, "lt7") == [] and store.held == 0


def test_unclaimed_uploads_expire() -> None:
    store = UploadStore()
    files = read(body(("f", "a.txt", b"abc")))
    store.add("lt7", files)
    store.sweep(now=time.monotonic() + 3600)
    assert files[0].closed and not store.pending


def test_a_download_link_works_once_then_says_why_it_is_gone() -> None:
    store = DownloadStore(seconds=60)
    download = Download(b"x", "x.bin", "application/octet-stream")
    token = store.add(download)
    assert store.take("unknown") is None
    assert store.take(token) is download
    assert store.take(token) == "this download link was used already"
    expired = DownloadStore(seconds=-1)
    token = expired.add(download)
    assert expired.take(token) == "this download link expired"


def test_make_download_checks_its_source(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text("a,b\n")
    assert make_download(path) == Download(str(path), "report.csv", "text/csv")
    assert make_download(b"x", "../x.json").filename == "x.json"
    assert make_download(b"x").media_type == "application/octet-stream"
    with pytest.raises(FileNotFoundError, match="not one"):
        make_download(str(tmp_path / "missing"))
    with pytest.raises(TypeError, match="expected bytes, a path or an iterator"):
        make_download(42)


def test_event_files_and_downloads_reach_the_host_of_the_tree() -> None:
    class App(Tag.App):
        def init(self) -> None:
            self.input = Tag.input(_type="file", _onchange=lambda e: None)
            self <= self.input

    app = App()
    tree = LiveTree(app)
    with pytest.raises(NotInSession, match="in a session served by WebApp, Runner or TestClient"):
        app.input.download(b"x")
    host = SessionFiles(60, base="/mount")
    attach(tree, host)
    assert host.claim("nothing", app.input.id) == [] and host.downloads is None  # made on first use
    host.release("nothing")
    host.uploads = UploadStore()
    files = read(body(("f", "a.txt", b"abc")))
    upload_id = host.uploads.add(app.input.id, files)
    event = Event(app.input, "change", {"files": upload_id})
    assert event.files == files and event.upload_error is None
    event.release_files()
    assert files[0].closed and not host.uploads.pending
    assert Event(app.input, "change", {"upload_error": "too big"}).files == []
    assert Event(app.input, "change", {"upload_error": "too big"}).upload_error == "too big"
    assert Event(app.input, "change", {"files": ["not", "an", "id"]}).files == []
    app.input.download(b"data", filename="d.txt")
    _, js = tree.collect()
    assert len(js) == 1 and js[0].startswith('livetag.download("/mount/_lt/download/')
    token = js[0].split("/")[-1].split('"')[0]
    assert host.downloads is not None
    found: Any = host.downloads.take(token)
    assert found.source == b"data" and found.filename == "d.txt" and found.media_type == "text/plain"


def test_test_client_uploads_and_collects_downloads() -> None:
    from livetag import FileDrop
    from livetag.testing import TestClient

    class App(Tag.App):
        def init(self) -> None:
            self.seen = Tag.span("", _class="seen")
            self.kept: list[UploadedFile] = []
            self <= Tag.input(_type="file", _multiple=True, _onchange=self.got, _class="pick")
            self <= FileDrop(self.got, _class="zone")
            self <= Tag.button("get", _class="get", _onclick=lambda: self.download(b"abc", filename="a.txt"))
            self <= self.seen

        def got(self, event: Any) -> None:
            self.kept.extend(event.files)
            self.seen.text = ",".join(f"{f.name}:{f.read().decode()}:{f.content_type}" for f in event.files)

    with TestClient(App) as client:
        client.upload(".pick", {"../x.txt": b"one", "y.txt": b"two"})
        assert client.text(".seen") == "x.txt:one:application/octet-stream,y.txt:two:application/octet-stream"
        assert all(f.closed for f in client.session.app.kept)  # gone once the handler returned
        client.upload(".lt-drop", [("z.csv", b"3", "text/csv")])
        assert client.text(".seen") == "z.csv:3:text/csv"
        client.click(".get")
        [download] = client.downloads
        assert (download.source, download.filename, download.media_type) == (b"abc", "a.txt", "text/plain")
        assert client.scripts[-1].startswith("livetag.download(")
        with pytest.raises(AssertionError, match="expected an <input type=file>"):
            client.upload(".seen", {"a": b""})
        assert client.errors == []
