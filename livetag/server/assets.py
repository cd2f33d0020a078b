"""The client script (``livetag/client/livetag.js``) as served over HTTP.

The file is read and gzip-compressed once, at import; each request then picks the
representation its ``Accept-Encoding`` asks for (RFC 9110, section 12.5.3), with
``Vary: Accept-Encoding`` so that shared caches keep the two apart. Fetched under its
versioned URL (``?v=<CLIENT_SCRIPT_HASH>``, what ``render_page`` links to) it is cached
as immutable for a year; under any other URL it must be revalidated. Each
representation has its own strong ``ETag`` (RFC 9110, section 8.8.3), answered with 304
on a matching ``If-None-Match``.

Only gzip is offered: brotli would need a compression package that livetag does not
depend on, and gzip already brings the script under 10 KB.
"""

from __future__ import annotations

import gzip
import hashlib
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

#: The client script, as shipped in the package.
CLIENT_SCRIPT: bytes = resources.files("livetag.client").joinpath("livetag.js").read_bytes()
#: Its version: the first 16 hex digits of its SHA-256, the ``v`` of its URL.
CLIENT_SCRIPT_HASH: str = hashlib.sha256(CLIENT_SCRIPT).hexdigest()[:16]
#: The same bytes gzip-compressed (level 9, no timestamp: the same bytes on every start).
CLIENT_SCRIPT_GZIP: bytes = gzip.compress(CLIENT_SCRIPT, compresslevel=9, mtime=0)

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_ETAG_IDENTITY = f'"{CLIENT_SCRIPT_HASH}"'
_ETAG_GZIP = f'"{CLIENT_SCRIPT_HASH}-gz"'


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


def client_script_response(request: Request) -> Response:
    """The response to ``GET``/``HEAD /_lt/livetag.js[?v=…]`` for ``request``: gzip when
    its ``Accept-Encoding`` allows it, else the file as is; 304 without a body when its
    ``If-None-Match`` names the chosen representation's ``ETag``."""
    gzipped = accepts_gzip(request.headers.get("accept-encoding"))
    etag = _ETAG_GZIP if gzipped else _ETAG_IDENTITY
    headers = {
        "Cache-Control": IMMUTABLE if request.query_params.get("v") == CLIENT_SCRIPT_HASH else REVALIDATE,
        "ETag": etag,
        "Vary": "Accept-Encoding",
    }
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(CLIENT_SCRIPT_GZIP if gzipped else CLIENT_SCRIPT, media_type="text/javascript", headers=headers)
