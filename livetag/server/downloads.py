"""Downloads: ``GET <mount>/_lt/download/<token>``, the one-time URL of a
``Tag.download``.

``Tag.download`` registers the file with the session's ``DownloadStore`` and gets a URL
with a random token (144 bits); the page is told (a script riding the next update) to
follow it through a hidden ``<a download>``. The request must carry the cookie of the
session that offered it: tokens live in their session's store, so another session's
cookie finds nothing. A token is used once and for ``download_seconds`` at most:

- 200: the file, streamed (``FileResponse`` for a path, ``StreamingResponse`` for an
  iterator, ``Response`` for bytes), ``Content-Disposition: attachment`` with the name
  in both forms of RFC 6266 (``filename`` in ASCII, ``filename*`` in UTF-8, RFC 8187),
  ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store``;
- 404: no such link in this session (never issued, another session's, or no session);
- 410: this link was used already, or expired.

Under the ``Runner`` the request is relayed to the session's process like every
``/_lt/`` request, so the bytes come from the process that holds the session.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, PlainTextResponse, Response, StreamingResponse

from ..dom.files import Download, UploadedFile
from ..session import Session
from .uploads import UploadStore

log = logging.getLogger("livetag.server.downloads")

#: Links of one session waiting to be followed; the oldest beyond is forgotten.
MAX_PENDING = 64
#: Used or expired links remembered (for a 410 instead of a 404), per session.
MAX_SPENT = 256


def content_disposition(filename: str, kind: str = "attachment") -> str:
    """The ``Content-Disposition`` value for ``filename`` (RFC 6266 section 4.3): a
    quoted ASCII ``filename`` for old clients (accents and other non-ASCII characters
    dropped; quotes, backslashes and controls as ``_``; ``download`` when nothing is
    left), and, when that differs from the name, ``filename*=UTF-8''<percent-encoded>``
    (RFC 8187, which replaced RFC 5987), which clients prefer."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in ascii_name) or "download"
    value = f'{kind}; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


class DownloadStore:
    """The download links of one session: token -> (download, deadline)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.pending: OrderedDict[str, tuple[Download, float]] = OrderedDict()
        self.spent: OrderedDict[str, str] = OrderedDict()  # token -> why it is gone
        self.lock = threading.Lock()  # a plain def handler offers from a worker thread

    def add(self, download: Download) -> str:
        token = secrets.token_urlsafe(18)
        with self.lock:
            self.pending[token] = (download, time.monotonic() + self.seconds)
            while len(self.pending) > MAX_PENDING:
                old, _ = self.pending.popitem(last=False)
                self._spend(old, "this download link was replaced by newer ones")
        return token

    def _spend(self, token: str, why: str) -> None:
        self.spent[token] = why
        while len(self.spent) > MAX_SPENT:
            self.spent.popitem(last=False)

    def take(self, token: str) -> Download | str | None:
        """The download of ``token`` (now spent); else why it is gone (a ``str``), or
        ``None`` for a token this session never issued."""
        with self.lock:
            entry = self.pending.pop(token, None)
            if entry is None:
                return self.spent.get(token)
            download, deadline = entry
            if time.monotonic() > deadline:
                self._spend(token, "this download link expired")
                return "this download link expired"
            self._spend(token, "this download link was used already")
            return download


class SessionFiles:
    """A session's uploads and downloads: the ``FileHost`` a ``WebApp`` attaches to the
    session's tree (``livetag.dom.files.attach``). ``base``: the app's mount path, for
    the URLs it makes. Its stores are made on first use (most sessions never use
    them, and every idle one would hold them): ``uploads`` by the ``WebApp`` when an
    upload comes, ``downloads`` at the first ``offer``."""

    __slots__ = ("base", "download_seconds", "downloads", "uploads")

    def __init__(self, download_seconds: float, base: str = "") -> None:
        self.uploads: UploadStore | None = None
        self.downloads: DownloadStore | None = None
        self.download_seconds = download_seconds
        self.base = base

    def claim(self, upload_id: str, target_id: str) -> list[UploadedFile]:
        return [] if self.uploads is None else self.uploads.claim(upload_id, target_id)

    def release(self, upload_id: str) -> None:
        if self.uploads is not None:
            self.uploads.release(upload_id)

    def offer(self, download: Download) -> str:
        if self.downloads is None:
            self.downloads = DownloadStore(self.download_seconds)
        return f"{self.base}/_lt/download/{self.downloads.add(download)}"


def _gone(status: int, message: str) -> Response:
    return PlainTextResponse(message + "\n", status_code=status, headers={"Cache-Control": "no-store"})


def download_response(download: Download) -> Response:
    """The response that sends ``download``."""
    headers = {"Content-Disposition": content_disposition(download.filename), "Cache-Control": "no-store",
               "X-Content-Type-Options": "nosniff"}
    source = download.source
    if isinstance(source, bytes):
        return Response(source, media_type=download.media_type, headers=headers)
    if isinstance(source, str):
        if not os.path.isfile(source):
            return _gone(410, "the file of this download is gone")
        return FileResponse(source, media_type=download.media_type, headers=headers)
    return StreamingResponse(source, media_type=download.media_type, headers=headers)


class Downloads:
    """The download endpoint of one app: ``session(conn)`` is the request's session,
    ``store(session)`` its ``DownloadStore`` (``None``: it never offered a download)."""

    def __init__(self, *, session: Callable[[HTTPConnection], Session | None],
                 store: Callable[[Session], DownloadStore | None]) -> None:
        self.session = session
        self.store = store

    async def endpoint(self, request: Request) -> Response:
        token = request.path_params.get("token", "")
        session = self.session(request)
        store = self.store(session) if session is not None and len(token) <= 64 else None
        found = store.take(token) if store is not None else None
        if found is None:
            log.info("download refused: no such link in this session")
            return _gone(404, "no such download link in this session: downloads open only in the page "
                         "(and the browser) that asked for them")
        if isinstance(found, str):
            log.info("session %s: download refused: %s", session.log_id if session else "-", found)
            return _gone(410, found + ": ask the page for the file again")
        return download_response(found)
