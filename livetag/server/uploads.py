"""Uploads: ``POST <mount>/_lt/upload?id=<element id>``, a ``multipart/form-data`` body
(RFC 7578) whose file parts become ``UploadedFile`` objects of the session.

The page sends the files first, over HTTP (never over the WebSocket), with the session's
CSRF token in ``X-Livetag-Token``; the answer names the upload (``{"id": ..., "files":
[{"name", "size"}...]}``). Then the page sends an ordinary event (``change`` of the file
input, ``drop`` of a ``FileDrop``) with ``{"files": <id>}`` over its transport, so that
the handler runs in its place in the session's event order; ``Event.files`` claims the
upload and the session removes its files when the handler returns or raises
(``Event.release_files``).

The body is parsed as it arrives by python-multipart's ``MultipartParser`` (the parser
Starlette uses): each file is kept in memory up to ``MEMORY_BYTES``, then spooled to a
temporary file (mode 0600, random name, in ``directory``). Under the ``Runner`` the body
crosses the bridge to the session's process chunk by chunk and is parsed there, so the
files are spooled by the process that runs the handler.

Refusals (JSON array of one ``err``, as the HTTP transport's): 400 not multipart, no
boundary, malformed or truncated body, unknown element; 403 foreign origin or wrong
token; 410 no session; 413 a file past ``max_upload_bytes``, or the session's uploads
past ``max_session_upload_bytes`` (``Content-Length`` is checked before reading); 429
the session's token bucket is empty or ``MAX_RUNNING`` uploads of it are running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import IO, Any

import orjson
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import Response

from ..dom.files import UploadedFile, safe_filename
from ..errors import (
    ForbiddenEvent,
    LivetagError,
    OriginNotAllowed,
    ProtocolError,
    RateLimited,
    SessionExpired,
    StalePage,
    UploadTooLarge,
)
from ..protocol.server_messages import ErrorCode
from ..session import Session
from .http import TOKEN_HEADER, refusal
from .limits import Limits, TokenBucket

log = logging.getLogger("livetag.server.uploads")

#: A file stays in memory up to this size (bytes), then goes to a temporary file.
MEMORY_BYTES = 1 << 20
#: Uploads of one session being received at once; more are refused (429).
MAX_RUNNING = 4
#: Uploads of one session received and not yet handled; the oldest beyond is removed.
MAX_PENDING = 16
#: Seconds an upload waits for the event that handles it before it is removed.
PENDING_SECONDS = 300.0
#: Files in one upload; parts in one body (files and fields).
MAX_FILES = 100
MAX_PARTS = 200
#: A part that is not a file (a form field) is read up to this size and ignored.
MAX_FIELD_BYTES = 64 << 10
#: A body refused (too large, malformed) is still read (and dropped) up to this many bytes, so
#: that the browser reads the 413 instead of a reset connection; past it the connection
#: is closed.
DRAIN_BYTES = 64 << 20


class Spool:
    """Where one file's bytes go while the body is read: memory, then (past
    ``MEMORY_BYTES``) a temporary file in ``directory``."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.file: IO[bytes] = BytesIO()
        self.path: str | None = None
        self.size = 0

    def write(self, data: bytes) -> None:
        if self.path is None and self.size + len(data) > MEMORY_BYTES:
            fd, path = tempfile.mkstemp(prefix="livetag-upload-", dir=self.directory)
            disk = os.fdopen(fd, "w+b")
            self.path = path
            disk.write(self.file.getbuffer())  # type: ignore[attr-defined]
            self.file = disk
        self.file.write(data)
        self.size += len(data)

    def discard(self) -> None:
        self.file.close()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


class _Part:
    __slots__ = ("content_type", "filename", "headers", "size", "spool")

    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.filename: str | None = None
        self.content_type = "application/octet-stream"
        self.spool: Spool | None = None
        self.size = 0


class MultipartReader:
    """Feeds a ``multipart/form-data`` body to python-multipart and keeps its file parts.

    ``file_limit``: bytes per file; ``total_limit``: bytes of the whole body (the room
    the session has left). ``feed`` raises ``UploadTooLarge`` or ``ProtocolError``;
    ``finish`` returns the files (raises ``ProtocolError`` for a truncated body);
    ``discard`` removes whatever was spooled. Not thread-safe: one reader per body."""

    def __init__(self, content_type: str, *, file_limit: int, total_limit: int, directory: str | None) -> None:
        kind, options = parse_options_header(content_type)
        if kind != b"multipart/form-data":
            raise ProtocolError(f"expected a multipart/form-data body, got {kind.decode('latin-1')[:60]!r}")
        boundary = options.get(b"boundary")
        if not boundary or len(boundary) > 70:  # RFC 2046 section 5.1.1: 1 to 70 characters
            raise ProtocolError("expected a multipart boundary of 1 to 70 characters")
        self.file_limit = file_limit
        self.total_limit = total_limit
        self.directory = directory
        self.received = 0
        self.parts = 0
        self.files: list[tuple[_Part, Spool]] = []
        self.ended = False
        self._part: _Part | None = None
        self._field = b""
        self._value = b""
        self._error: LivetagError | None = None
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._part_end,
            "on_header_field": self._header_field, "on_header_value": self._header_value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done, "on_end": self._end,
        })

    # python-multipart's callbacks cannot raise through it cleanly: errors are kept and
    # raised by ``feed`` once ``write`` returns.
    def _begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            self._error = self._error or ProtocolError(f"expected at most {MAX_PARTS} parts in an upload")
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if self._part is not None:
            self._part.headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_done(self) -> None:
        part = self._part
        if part is None:
            return
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        if b"filename" in options:
            part.filename = safe_filename(options[b"filename"].decode("utf-8", "replace"))
            kind = part.headers.get(b"content-type", b"").decode("latin-1").strip()
            part.content_type = kind[:200] if kind and kind.isprintable() else "application/octet-stream"
            if len(self.files) >= MAX_FILES:
                self._error = self._error or ProtocolError(f"expected at most {MAX_FILES} files in one upload")
                return
            part.spool = Spool(self.directory)
            self.files.append((part, part.spool))

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part is None or self._error is not None:
            return
        part.size += end - start
        if part.spool is None:
            if part.size > MAX_FIELD_BYTES:
                self._error = UploadTooLarge("a form field", part.size, MAX_FIELD_BYTES)
            return
        if part.size > self.file_limit:
            self._error = UploadTooLarge(f"the file {part.filename!r}", part.size, self.file_limit)
            return
        part.spool.write(data[start:end])

    def _part_end(self) -> None:
        self._part = None

    def _end(self) -> None:
        self.ended = True

    def feed(self, chunk: bytes) -> None:
        """Parse the next ``chunk`` of the body."""
        self.received += len(chunk)
        if self.received > self.total_limit:
            raise UploadTooLarge("this session's uploads", self.received, self.total_limit)
        try:
            self.parser.write(chunk)
        except Exception as exc:  # python-multipart's MultipartParseError, and what it lets through
            raise ProtocolError(f"expected a well-formed multipart body, got an error: {exc}") from None
        if self._error is not None:
            raise self._error

    def finish(self) -> list[UploadedFile]:
        """The files of a body read to its end. Raises ``ProtocolError`` when the body
        ended before the closing boundary (truncated)."""
        if not self.ended:
            raise ProtocolError("expected a multipart body ending with its closing boundary, got a truncated one")
        return [UploadedFile(part.filename or "file", spool.size, part.content_type, spool.file, spool.path)
                for part, spool in self.files]

    def discard(self) -> None:
        for _, spool in self.files:
            spool.discard()


@dataclass
class _Upload:
    target_id: str
    files: list[UploadedFile]
    size: int
    created: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        for file in self.files:
            with contextlib.suppress(OSError):
                file.close()


class UploadStore:
    """The uploads of one session: received and waiting for their event (at most
    ``MAX_PENDING``, each ``PENDING_SECONDS`` at most), and the count and bytes of those
    being received."""

    def __init__(self) -> None:
        self.pending: OrderedDict[str, _Upload] = OrderedDict()
        self.running = 0
        self.receiving = 0  # bytes of the bodies being received

    @property
    def held(self) -> int:
        """Bytes held: uploads waiting for their event, and bodies being received."""
        return self.receiving + sum(u.size for u in self.pending.values())

    def add(self, target_id: str, files: list[UploadedFile]) -> str:
        self.sweep()
        upload_id = secrets.token_urlsafe(18)
        self.pending[upload_id] = _Upload(target_id, files, sum(f.size for f in files))
        while len(self.pending) > MAX_PENDING:
            _, old = self.pending.popitem(last=False)
            old.close()
        return upload_id

    def claim(self, upload_id: str, target_id: str) -> list[UploadedFile]:
        upload = self.pending.get(upload_id)
        if upload is None or upload.target_id != target_id:
            return []
        return list(upload.files)

    def release(self, upload_id: str) -> None:
        upload = self.pending.pop(upload_id, None)
        if upload is not None:
            upload.close()

    def sweep(self, now: float | None = None) -> None:
        """Remove the uploads no event claimed within ``PENDING_SECONDS``."""
        now = time.monotonic() if now is None else now
        for upload_id in [k for k, u in self.pending.items() if now - u.created > PENDING_SECONDS]:
            self.release(upload_id)

    def close(self) -> None:
        for upload_id in list(self.pending):
            self.release(upload_id)


class Uploads:
    """The upload endpoint of one app. ``store(session)`` gives a session's
    ``UploadStore``; the other callables are the ``HttpTransport``'s (see there)."""

    def __init__(self, *, limits: Limits, directory: str | None, session: Callable[[HTTPConnection], Session | None],
                 origin_allowed: Callable[[HTTPConnection], bool], bucket: Callable[[Session], TokenBucket],
                 store: Callable[[Session], UploadStore]) -> None:
        self.limits = limits
        self.directory = directory
        self.session = session
        self.origin_allowed = origin_allowed
        self.bucket = bucket
        self.store = store

    def _refused(self, request: Request, session: Session | None) -> LivetagError | None:
        if not self.origin_allowed(request):
            return OriginNotAllowed()
        if session is None:
            return SessionExpired()
        if not session.check_token(request.headers.get(TOKEN_HEADER, "")):
            log.warning("session %s: upload without the CSRF token refused", session.log_id)
            return StalePage("expected the session's CSRF token in X-Livetag-Token", ErrorCode.CSRF)
        target = session.tree.lookup(request.query_params.get("id", ""))
        if target is None:
            return ForbiddenEvent("expected the id of an element in the live tree for an upload")
        if not self.bucket(session).take(1):
            return RateLimited("too many uploads: slow down")
        return None

    async def endpoint(self, request: Request) -> Response:
        session = self.session(request)
        refused = self._refused(request, session)
        if refused is not None:
            return refusal(refused, {"Retry-After": "1"} if isinstance(refused, RateLimited) else None)
        assert session is not None
        store = self.store(session)
        if store.running >= MAX_RUNNING:
            return refusal(RateLimited(f"expected at most {MAX_RUNNING} uploads at once"), {"Retry-After": "1"})
        store.sweep()
        room = self.limits.max_session_upload_bytes - store.held
        declared = request.headers.get("content-length", "")
        chunks = request.stream()
        if declared.isdigit() and int(declared) > room:
            exc = UploadTooLarge("this session's uploads", int(declared), room)
            log.warning("session %s: upload refused: %s", session.log_id, exc)
            return await _drained(exc, chunks, 0)
        store.running += 1
        reader: MultipartReader | None = None
        files: list[UploadedFile] | None = None
        try:
            reader = MultipartReader(request.headers.get("content-type", ""), file_limit=self.limits.max_upload_bytes,
                                     total_limit=room, directory=self.directory)
            async for chunk in chunks:
                store.receiving += len(chunk)
                reader.feed(chunk)
            files = reader.finish()
        except ClientDisconnect:
            log.info("session %s: upload abandoned by the client", session.log_id)
            return Response(status_code=400)  # nobody reads it
        except ProtocolError as exc:  # UploadTooLarge too
            log.warning("session %s: upload refused: %s", session.log_id, exc)
            if reader is not None:
                reader.discard()  # before draining: nothing of it stays meanwhile
            return await _drained(exc, chunks, reader.received if reader is not None else 0)
        finally:
            store.running -= 1
            store.receiving -= reader.received if reader is not None else 0
            if files is None and reader is not None:
                reader.discard()
        upload_id = store.add(request.query_params["id"], files)
        log.info("session %s: upload of %d file(s), %d bytes", session.log_id, len(files), sum(f.size for f in files))
        body = {"id": upload_id, "files": [{"name": f.name, "size": f.size, "type": f.content_type} for f in files]}
        return Response(orjson.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"})


async def _drained(exc: ProtocolError, chunks: AsyncIterator[bytes], received: int) -> Response:
    """The refusal (413, 400) of a body refused after ``received`` bytes: the rest is read and dropped
    (up to ``DRAIN_BYTES`` in all) so that the client reads the answer, else the
    connection is closed."""
    response = refusal(exc)
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > DRAIN_BYTES:
                response.headers["Connection"] = "close"
                break
    except ClientDisconnect:
        pass
    return response


def store_for(stores: Any, session: Session) -> UploadStore:
    """The ``UploadStore`` of ``session`` in ``stores`` (a ``WeakKeyDictionary``)."""
    store: UploadStore | None = stores.get(session)
    if store is None:
        store = stores[session] = UploadStore()
    return store
