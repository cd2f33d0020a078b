"""The client files (``livetag/client/``) as served over HTTP: the one place that serves them.

``livetag.js`` is the client the page loads (built from the ES modules in
``livetag/client/src/`` by ``scripts/build-client``); ``livetag.js.map`` maps it back to
them for the browser's developer tools, which alone fetch it. Any other name is refused
(404): names are looked up in a fixed table, never joined to a path.

Each file is read and gzip-compressed once, at import; each request then picks the
representation its ``Accept-Encoding`` asks for (RFC 9110, section 12.5.3), with
``Vary: Accept-Encoding`` so that shared caches keep the two apart. Fetched under its
versioned URL (``?v=<hash>``; ``CLIENT_SCRIPT_HASH`` for the script, what ``render_page``
links to) a file is cached as immutable for a year; under any other URL it must be
revalidated. Each representation has its own strong ``ETag`` (RFC 9110, section 8.8.3),
answered with 304 on a matching ``If-None-Match``.

Only gzip is offered: brotli would need a compression package that livetag does not
depend on, and gzip already brings the script under 10 KB.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True, slots=True)
class ClientFile:
    """One served file: its bytes as shipped and gzip-compressed (level 9, no timestamp:
    the same bytes on every start), its version (the first 16 hex digits of its SHA-256)
    and media type."""

    body: bytes
    gzipped: bytes
    version: str
    media_type: str

    @classmethod
    def load(cls, name: str, media_type: str) -> ClientFile:
        body = resources.files("livetag.client").joinpath(name).read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:16]
        return cls(body, gzip.compress(body, compresslevel=9, mtime=0), digest, media_type)


#: The files served, by the name that follows ``/_lt/``.
CLIENT_FILES: dict[str, ClientFile] = {
    "livetag.js": ClientFile.load("livetag.js", "text/javascript"),
    "livetag.js.map": ClientFile.load("livetag.js.map", "application/json"),
}
#: The client script, as shipped in the package, and its version (the ``v`` of its URL).
CLIENT_SCRIPT: bytes = CLIENT_FILES["livetag.js"].body
CLIENT_SCRIPT_HASH: str = CLIENT_FILES["livetag.js"].version
CLIENT_SCRIPT_GZIP: bytes = CLIENT_FILES["livetag.js"].gzipped


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when an ``Accept-Encoding`` header value allows gzip (RFC 9110, 12.5.3):
    ``gzip`` or ``x-gzip`` listed with a non-zero ``q``, or ``*`` with a non-zero ``q``
    and gzip not refused by name. ``None`` or an empty value: False."""
    if not accept_encoding:
        return False
    named: float | None = None
    star: float | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            named = q if named is None else max(named, q)
        elif coding == "*":
            star = q
    if named is not None:
        return named > 0
    return star is not None and star > 0


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` (a list of entity tags, or ``*``) matches ``etag``, compared
    weakly as RFC 9110, 13.1.2 requires for this header."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def client_file_response(request: Request, name: str) -> Response:
    """The response to ``GET``/``HEAD /_lt/<name>[?v=…]`` for ``request``: 404 when
    ``name`` is not a key of ``CLIENT_FILES``; else gzip when its ``Accept-Encoding``
    allows it, the file as is otherwise, and 304 without a body when its
    ``If-None-Match`` names the chosen representation's ``ETag``."""
    file = CLIENT_FILES.get(name)
    if file is None:
        return Response("not found", status_code=404, media_type="text/plain")
    gzipped = accepts_gzip(request.headers.get("accept-encoding"))
    etag = f'"{file.version}-gz"' if gzipped else f'"{file.version}"'
    headers = {
        "Cache-Control": IMMUTABLE if request.query_params.get("v") == file.version else REVALIDATE,
        "ETag": etag,
        "Vary": "Accept-Encoding",
    }
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(file.gzipped if gzipped else file.body, media_type=file.media_type, headers=headers)


def client_script_response(request: Request) -> Response:
    """``client_file_response`` for the client script, ``/_lt/livetag.js``."""
    return client_file_response(request, "livetag.js")
