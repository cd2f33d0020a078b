"""DNS rebinding: a page of ``http://evil.test`` whose name the attacker re-points at
127.0.0.1 sends ``Host: evil.test`` and ``Origin: http://evil.test``, both its own.
Every transport refuses it by ``allowed_hosts`` (HTTP 400 saying what was expected), so
the attacker never sees a token or a cookie, and no event is applied."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from hostile import Board, Serve

from livetag import WebApp
from livetag.testing.wire import element_id, text_of

EVIL = "evil.test"
REBOUND = {"Host": EVIL, "Origin": f"http://{EVIL}"}


async def raw_handshake(url: str, host: str, origin: str, path: str = "/_lt/ws") -> bytes:
    """A WebSocket handshake (RFC 6455 section 4.1) with the ``Host`` the attacker
    chose; the status line and headers of the answer."""
    netloc = urlsplit(url).netloc
    address, port = netloc.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(address, int(port))
    writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()


async def test_a_rebound_page_load_gets_400_and_no_token_nor_cookie(live_server: Serve, tab) -> None:
    with live_server(WebApp(Board).app) as server:
        t = tab(server.url)
        response = await t.http.get(server.url + "/", headers=REBOUND)
        assert response.status_code == 400
        assert "set-cookie" not in response.headers
        assert "data-lt-token" not in response.text
        assert "allowed_hosts" in response.text and EVIL in response.text  # says what was expected


async def test_a_rebound_websocket_handshake_is_refused(live_server: Serve, tab) -> None:
    with live_server(WebApp(Board).app) as server:
        t = tab(server.url)
        await t.load()
        answer = await raw_handshake(server.url, EVIL, f"http://{EVIL}")
        assert answer.startswith(b"HTTP/1.1 400"), answer
        # The same handshake naming the server's own address is accepted (the control).
        netloc = urlsplit(server.url).netloc
        assert (await raw_handshake(server.url, netloc, f"http://{netloc}")).startswith(b"HTTP/1.1 101")


async def test_every_http_transport_refuses_a_rebound_request(live_server: Serve, tab) -> None:
    with live_server(WebApp(Board).app) as server:
        t = tab(server.url)
        html = await t.load()
        await t.join(transport="http")  # a real client, so that only the Host makes the difference
        join = {"t": "join", "v": 1, "token": t.token, "cid": None, "rev": t.rev}
        refused = [
            await t.post("join", join, token=None, headers=REBOUND),
            await t.post_events([t.ev(element_id(html, "inc"))], headers=REBOUND),
            await t.post("cookie", headers=REBOUND),
            await t.http.get(t.url + "_lt/poll", params={"cid": t.cid}, headers=REBOUND),
            await t.http.get(t.url + "_lt/sse", params={"cid": t.cid}, headers=REBOUND),
            await t.http.get(t.url + "_lt/livetag.js", headers=REBOUND),
        ]
        for response in refused:
            assert response.status_code == 400, (response.request.url, response.status_code)
        assert text_of(await t.load(), element_id(html, "value")) == "0"  # nothing applied


async def test_an_origin_equal_to_a_rebound_host_is_not_trusted(live_server: Serve, tab) -> None:
    # With "*" the Host check is off: the origin check alone must still refuse a page
    # whose Origin merely equals the Host it sent.
    with live_server(WebApp(Board, allowed_hosts=["*.example.com"]).app) as server:
        t = tab(server.url)
        await t.load()
        response = await t.http.get(t.url + "_lt/poll", params={"cid": "x"},
                                    headers={"Host": "evil.example.org", "Origin": "http://evil.example.org"})
        assert response.status_code == 400
        response = await t.http.get(t.url + "_lt/poll", params={"cid": "x"},
                                    headers={"Host": "app.example.com", "Origin": "http://evil.example.org"})
        assert response.status_code == 403


async def test_configured_names_are_served_with_their_origin(live_server: Serve, tab) -> None:
    with live_server(WebApp(Board, allowed_hosts=["app.example.com"]).app) as server:
        t = tab(server.url)
        t.http.headers["Host"] = "app.example.com"
        html = await t.load()
        response = await t.post("join", {"t": "join", "v": 1, "token": t.token, "cid": None, "rev": t.rev},
                                token=None, origin="http://app.example.com")
        assert response.status_code == 200
        t.cid = t.messages(response)[0]["cid"]
        response = await t.post_events([t.ev(element_id(html, "inc"))], origin="http://app.example.com")
        assert response.status_code == 200
        # The loopback names are not served any more: the list is what was configured.
        assert (await t.http.get(server.url + "/", headers={"Host": "localhost"})).status_code == 400


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "app.localhost", "127.0.0.1", "[::1]"])
async def test_loopback_names_and_ip_addresses_are_served_by_default(live_server: Serve, tab, host: str) -> None:
    with live_server(WebApp(Board).app) as server:
        t = tab(server.url)
        port = urlsplit(server.url).port
        response = await t.http.get(server.url + "/", headers={"Host": f"{host}:{port}"})
        assert response.status_code == 200


async def test_a_wildcard_host_list_still_checks_origins_against_the_page_itself(live_server: Serve, tab) -> None:
    # "*" turns the Host check off; an origin that is neither the request's own host nor
    # listed stays foreign.
    with live_server(WebApp(Board, allowed_hosts=["*"]).app) as server:
        t = tab(server.url)
        await t.load()
        await t.join(transport="http")
        response = await t.http.get(t.url + "_lt/poll", params={"cid": t.cid},
                                    headers={"Origin": "http://elsewhere.example"})
        assert response.status_code == 403
