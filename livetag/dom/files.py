"""Files a handler receives (uploads) and files a tag sends (downloads): the user-facing
objects, and the contract with the server that hosts the tree.

``UploadedFile`` is one file of an upload: its sanitised ``name``, ``size`` (bytes),
``content_type``, and its content (``read``, ``aread``, ``stream``, ``open``).
``Event.files`` gives the files of an upload event; they are removed when the handler
returns (or raises).

``Download`` is what ``Tag.download`` offers: bytes, a path, or an iterator of bytes.

``FileHost`` is what the server (``livetag.server.downloads.SessionFiles``; in tests,
``livetag.testing.Files``) attaches to a session's live tree so that an event's files
and a tag's downloads reach it; this module knows nothing of HTTP. ``safe_filename`` is
the sanitising rule for names that come from a client.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from typing import IO, Any, Protocol

#: Longest file name kept (bytes of UTF-8; most file systems allow 255).
MAX_NAME_BYTES = 255
#: The name of a file whose given name had nothing left once sanitised.
FALLBACK_NAME = "file"


def safe_filename(name: str | None) -> str:
    """The file name ``name`` (as a client gave it) made safe to show and to use as the
    last component of a path: its base name only (after the last ``/`` or ``\\``), NFC
    normalised, without control or format characters (C0, C1, DEL, bidirectional
    overrides: Unicode categories Cc and Cf), without leading dots or spaces or trailing
    dots and spaces (Windows drops those), at most ``MAX_NAME_BYTES`` bytes of UTF-8 (the
    extension kept). Never ``""``, ``"."`` or ``".."``: ``FALLBACK_NAME`` then."""
    if not name:
        return FALLBACK_NAME
    name = unicodedata.normalize("NFC", str(name))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    name = name.strip().lstrip(".").rstrip(". ")
    if not name:
        return FALLBACK_NAME
    if len(name.encode()) > MAX_NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        if not dot or len(ext.encode()) > 16:
            stem, ext = name, ""
        keep = MAX_NAME_BYTES - len(ext.encode()) - (1 if ext else 0)
        stem = stem.encode()[:keep].decode(errors="ignore").rstrip(". ")
        name = f"{stem}.{ext}" if ext else stem
    return name or FALLBACK_NAME


class UploadedFile:
    """One uploaded file, as a handler sees it.

    ``name``: the client's file name, sanitised by ``safe_filename`` (show it, or use it
    as one path component; never trust it as a path). ``size``: bytes received.
    ``content_type``: what the browser claimed (``application/octet-stream`` when it said
    nothing): a hint, not a check. ``path``: the temporary file that holds the content
    (``None`` while it is small enough to stay in memory); it is deleted when the
    handler returns, so copy what must stay (``shutil.copyfile(f.path, dest)`` or
    ``f.read()``).
    """

    __slots__ = ("_file", "closed", "content_type", "name", "path", "size")

    def __init__(self, name: str, size: int, content_type: str, file: IO[bytes], path: str | None = None) -> None:
        self.name = name
        self.size = size
        self.content_type = content_type
        self.path = path
        self._file = file
        self.closed = False

    def read(self) -> bytes:
        """The whole content. Raises ``ValueError`` once the file was removed."""
        return self.open().read()

    async def aread(self) -> bytes:
        """The whole content, read in a worker thread (for ``async def`` handlers)."""
        return await asyncio.to_thread(self.read)

    async def stream(self, chunk_bytes: int = 1 << 16) -> AsyncIterator[bytes]:
        """The content in chunks of at most ``chunk_bytes``, each read in a worker thread:
        a big file without holding it whole in memory (``async for chunk in f.stream()``)."""
        file = self.open()
        while chunk := await asyncio.to_thread(file.read, chunk_bytes):
            yield chunk

    def open(self) -> IO[bytes]:
        """The content as a binary file object, positioned at its start (the same object
        each time: do not close it). Raises ``ValueError`` once the file was removed."""
        if self.closed:
            raise ValueError(f"expected an upload still open, got {self.name!r} after its handler returned")
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        """Remove the content (memory or temporary file); called when the handler ends."""
        if self.closed:
            return
        self.closed = True
        try:
            self._file.close()
        finally:
            if self.path is not None:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass

    def __repr__(self) -> str:
        return f"<UploadedFile {self.name!r} {self.size} bytes {self.content_type}>"


DownloadSource = bytes | bytearray | memoryview | str | os.PathLike[str] | Iterable[bytes] | AsyncIterable[bytes]


@dataclass(frozen=True)
class Download:
    """What ``Tag.download`` offers: ``source`` is bytes (the content), a ``str`` or
    ``os.PathLike`` (a file to send), or an iterable / async iterable of bytes (a stream);
    ``filename`` the name the browser saves it as; ``media_type`` its type."""

    source: Any
    filename: str
    media_type: str


def make_download(source: Any, filename: str | None = None, media_type: str | None = None) -> Download:
    """Check what ``Tag.download`` was given and name it: ``filename`` (default: the
    path's base name, else ``"download"``) is sanitised by ``safe_filename``;
    ``media_type`` defaults to the one ``mimetypes`` guesses from it, else
    ``application/octet-stream``. Raises ``FileNotFoundError`` for a path that is not a
    file, ``TypeError`` for a source of another kind (a ``str`` is a path: encode text)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = bytes(source)
        default = "download"
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"expected a file to download, got {path!r}, which is not one")
        source = os.path.abspath(path)
        default = os.path.basename(path)
    elif isinstance(source, (Iterable, AsyncIterable)):
        default = "download"
    else:
        raise TypeError(f"expected bytes, a path or an iterator of bytes to download, got {type(source).__name__}")
    name = safe_filename(filename or default)
    return Download(source, name, media_type or mimetypes.guess_type(name)[0] or "application/octet-stream")


class FileHost(Protocol):
    """What a server attaches to a session's tree (``attach``)."""

    def claim(self, upload_id: str, target_id: str) -> list[UploadedFile]:
        """The files of upload ``upload_id`` made for the element ``target_id`` (``[]``
        when unknown: expired, already handled, another session's or element's)."""
        ...

    def release(self, upload_id: str) -> None:
        """Remove the files of upload ``upload_id`` (its handler ended)."""
        ...

    def offer(self, download: Download) -> str:
        """A one-time URL (path) the page fetches ``download`` from."""
        ...


def attach(tree: Any, host: FileHost) -> None:
    """Serve the files of the live tree ``tree`` (a ``LiveTree``) through ``host``."""
    tree.files = host


def host_of(tag: Any) -> FileHost | None:
    """The host of the tree ``tag`` is in, or ``None``."""
    tree = getattr(tag, "_tree", None)
    return None if tree is None else tree.files


def upload_id(data: dict[str, Any]) -> str | None:
    """The upload an event's data names (``{"files": "<id>"}``), or ``None``."""
    value = data.get("files")
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None
