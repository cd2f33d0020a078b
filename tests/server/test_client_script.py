"""``GET /_lt/livetag.js`` on a real uvicorn: gzip negotiated on ``Accept-Encoding``,
``Vary``, immutable only under the versioned URL, ETag / 304, and the bytes of the file."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from importlib import resources

import httpx
import pytest

from livetag import Tag, WebApp
from livetag.runners.serve import BackgroundServer
from livetag.server.assets import CLIENT_SCRIPT_HASH, accepts_gzip

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
            response, raw = await fetch(url, **{"Accept-Encoding": accept})
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
