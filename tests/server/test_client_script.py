"""``GET /_lt/livetag.js`` on a real uvicorn: gzip negotiated on ``Accept-Encoding``,
``Vary``, immutable only under the versioned URL, ETag / 304, and the bytes of the file."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from importlib import resources

import httpx
import pytest
from starlette.requests import Request

from livetag import Tag, WebApp
from livetag.runners.serve import BackgroundServer
from livetag.server.assets import CLIENT_SCRIPT_HASH, accepts_gzip, client_file_response

SOURCE = resources.files("livetag.client").joinpath("livetag.js").read_bytes()


class Page(Tag.App):
    def init(self) -> None:
        self <= Tag.p("hello")


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(WebApp(Page).app) as running:
        yield running


async def fetch(url: str, method: str = "GET", **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as it travelled (not decoded)."""
    async with httpx.AsyncClient(trust_env=False, timeout=20) as http:
        # httpx adds its own Accept-Encoding unless told otherwise: the header is always set here.
        headers.setdefault("Accept-Encoding", "identity")
        async with http.stream(method, url, headers=headers) as response:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, raw


def script_url(server: BackgroundServer) -> str:
    html = httpx.get(server.url + "/", trust_env=False, timeout=20).text
    src = re.search(r'<script src="([^"]+)" defer></script>', html)
    assert src is not None, "expected the page to link the client script"
    return server.url + src.group(1)


async def test_gzip_when_asked_and_the_bytes_are_the_source(server: BackgroundServer) -> None:
    url = script_url(server)
    assert url.endswith(f"/_lt/livetag.js?v={CLIENT_SCRIPT_HASH}")
    for accept in ("gzip", "gzip, deflate, br, zstd", "br;q=1, gzip;q=0.5", "*"):
        response, raw = await fetch(url, **{"Accept-Encoding": accept})
        assert response.status_code == 200, accept
        assert response.headers["content-encoding"] == "gzip", accept
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["content-type"].startswith("text/javascript")
        assert int(response.headers["content-length"]) == len(raw)
        assert gzip.decompress(raw) == SOURCE
        assert len(raw) <= 10 * 1024, f"expected at most 10 KB on the wire, got {len(raw)} B"


async def test_identity_otherwise(server: BackgroundServer) -> None:
    url = script_url(server)
    for accept in ("identity", "gzip;q=0", "deflate", "br", "*;q=0", "*, gzip;q=0"):
        response, raw = await fetch(url, **{"Accept-Encoding": accept})
        assert response.status_code == 200, accept
        assert "content-encoding" not in response.headers, accept
        assert response.headers["vary"] == "Accept-Encoding"
        assert raw == SOURCE


async def test_immutable_only_under_the_right_version(server: BackgroundServer) -> None:
    versioned = script_url(server)
    response, _ = await fetch(versioned, **{"Accept-Encoding": "gzip"})
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    for url in (server.url + "/_lt/livetag.js", server.url + "/_lt/livetag.js?v=0000",
                server.url + f"/_lt/livetag.js?v={CLIENT_SCRIPT_HASH[:-1]}"):
        for accept in ("gzip", "identity"):
            response, _raw = await fetch(url, **{"Accept-Encoding": accept})
            assert response.status_code == 200
            assert response.headers["cache-control"] == "no-cache", (url, accept)
            assert response.headers["vary"] == "Accept-Encoding"


async def test_etag_per_representation_and_304(server: BackgroundServer) -> None:
    url = script_url(server)
    plain, _ = await fetch(url)
    zipped, _ = await fetch(url, **{"Accept-Encoding": "gzip"})
    assert plain.headers["etag"] != zipped.headers["etag"]  # two representations, two strong tags
    for response, accept in ((plain, "identity"), (zipped, "gzip")):
        etag = response.headers["etag"]
        for match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            again, raw = await fetch(url, **{"Accept-Encoding": accept, "If-None-Match": match})
            assert again.status_code == 304 and raw == b"", (accept, match)
            assert again.headers["etag"] == etag and again.headers["vary"] == "Accept-Encoding"
            assert again.headers["cache-control"] == "public, max-age=31536000, immutable"
    # The other representation's tag does not match: the full body comes back.
    response, raw = await fetch(url, **{"Accept-Encoding": "identity", "If-None-Match": zipped.headers["etag"]})
    assert response.status_code == 200 and raw == SOURCE


async def test_head_has_the_headers_and_no_body(server: BackgroundServer) -> None:
    response, raw = await fetch(script_url(server), "HEAD", **{"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and raw == b""
    assert response.headers["content-encoding"] == "gzip" and response.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize(("header", "expected"), [
    (None, False), ("", False), ("gzip", True), ("GZIP", True), ("x-gzip", True), ("deflate, gzip", True),
    ("gzip;q=0", False), ("gzip; q=0.0", False), ("gzip;q=0.001", True), ("*", True), ("*;q=0", False),
    ("*, gzip;q=0", False), ("gzip;q=0, *", False), ("br", False), ("identity", False), ("gzip;q=x", False),
])
def test_accepts_gzip_follows_rfc_9110(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


async def test_the_source_map_and_nothing_else(server: BackgroundServer) -> None:
    # The script names its map (for the browser's developer tools), served like it.
    assert SOURCE.rstrip().endswith(b"//# sourceMappingURL=livetag.js.map")
    response, raw = await fetch(server.url + "/_lt/livetag.js.map", **{"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-cache" and response.headers["content-encoding"] == "gzip"
    sources = json.loads(gzip.decompress(raw))["sources"]
    assert "src/livetag.js" in sources and "src/protocol.js" in sources
    # Only the names in CLIENT_FILES: no module source, package file or path trick.
    for path in ("/_lt/src/livetag.js", "/_lt/protocol.js", "/_lt/assets.py", "/_lt/..%2Fassets.py",
                 "/_lt/livetag.js/..", "/_lt/%2e%2e/livetag.js", "/_lt/livetag.js.map.gz"):
        response, _ = await fetch(server.url + path)
        assert response.status_code in (404, 405), path


def test_client_file_response_refuses_unknown_names() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/_lt/x", "query_string": b"", "headers": []})
    for name in ("", "..", "../assets.py", "src/livetag.js", "livetag.js/", "LIVETAG.JS", "__init__.py"):
        assert client_file_response(request, name).status_code == 404, name
    assert client_file_response(request, "livetag.js").body == SOURCE
