"""``livetag.server.cookies``: the session cookie's name per mount point, and reading a
cookie from a scope as Starlette's ``request.cookies`` does."""

from __future__ import annotations

from livetag.server.cookies import SESSION_COOKIE, cookie_value, session_cookie_name


def scope(*cookie_headers: bytes) -> dict[str, object]:
    return {"type": "websocket", "headers": [(b"host", b"x"), *((b"cookie", h) for h in cookie_headers)]}


def test_cookie_value_reads_the_named_cookie() -> None:
    assert cookie_value(scope(b"a=1; lt_sid=abc-DEF_09; b=2"), "lt_sid") == "abc-DEF_09"
    assert cookie_value(scope(b'lt_sid="quoted"'), "lt_sid") == "quoted"


def test_cookie_value_without_the_cookie_or_any_cookie_header() -> None:
    assert cookie_value(scope(b"a=1; b=2"), "lt_sid") is None
    assert cookie_value(scope(), "lt_sid") is None
    assert cookie_value({"type": "websocket"}, "lt_sid") is None
    assert cookie_value(scope(b";;;=; lt_sid"), "lt_sid") is None  # garbage is no value


def test_cookie_value_across_several_cookie_headers_takes_the_last() -> None:
    assert cookie_value(scope(b"lt_sid=one", b"other=x"), "lt_sid") == "one"
    assert cookie_value(scope(b"lt_sid=one", b"lt_sid=two"), "lt_sid") == "two"


def test_session_cookie_names_differ_per_mount_point() -> None:
    assert session_cookie_name("") == SESSION_COOKIE
    assert session_cookie_name("/a") != session_cookie_name("/b") != SESSION_COOKIE
    assert session_cookie_name("/a").startswith(SESSION_COOKIE + "_")
