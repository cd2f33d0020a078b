"""Sessions that cost nothing until they are real (issue 14): a page load that no page
joins is discarded after ``join_grace``, it gives way when the table is full, and each
client address has a budget of new sessions (the forwarded address when the proxy is
trusted). One client flooding page loads cannot lock a new visitor out, and existing
sessions never notice."""

from __future__ import annotations

import asyncio
import time

import httpx
from hostile import Board, Serve, eventually

from livetag import WebApp
from livetag.testing.wire import TIMEOUT, Tab, element_id

VISITOR_WAIT = 20.0  # generous (a loaded CI machine): a locked-out visitor is refused (429/503), not slow


def client_from(address: str) -> httpx.AsyncClient:
    """An HTTP client whose connections come from ``address`` (any 127.x.y.z is this
    machine's loopback on Linux): another client, as the server sees it."""
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=address), trust_env=False,
                             timeout=TIMEOUT)


async def test_a_page_load_flood_does_not_lock_out_a_new_visitor(live_server: Serve, tab, witness) -> None:
    webapp = WebApp(Board, max_sessions=40)
    with live_server(webapp.app) as server:
        w = await witness(server.url).start()
        statuses: list[int] = []
        retry_after: set[str] = set()
        stop = asyncio.Event()

        async def flood() -> None:
            async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as http:
                while not stop.is_set():
                    response = await http.get(server.url + "/")  # no cookie kept: a new session each time
                    http.cookies.clear()
                    statuses.append(response.status_code)
                    if response.status_code == 429:
                        retry_after.add(response.headers["retry-after"])

        flooders = [asyncio.create_task(flood()) for _ in range(8)]
        try:
            # The visitor comes once the flooder is past its budget (and max_sessions page
            # loads): on a loaded machine that takes more than the second it takes here.
            deadline = time.monotonic() + VISITOR_WAIT
            while 429 not in statuses or len(statuses) < webapp.registry.max_sessions:
                assert time.monotonic() < deadline, f"expected the flood refused (429), got {sorted(set(statuses))}"
                await asyncio.sleep(0.05)
            visitor = tab(server.url, client_from("127.0.0.2"))

            async def visit() -> str:
                html = await visitor.load()
                await visitor.join()
                return html

            html = await asyncio.wait_for(visit(), VISITOR_WAIT)
            await visitor.event(element_id(html, "inc"))
            await w.check()  # an existing session never notices
        finally:
            stop.set()
            await asyncio.gather(*flooders)
        assert 429 in statuses and all(int(s) >= 1 for s in retry_after), sorted(set(statuses))
        assert 503 not in statuses  # page loads that went no further gave way to new ones
        await w.check()


async def test_page_loads_that_never_join_are_discarded_after_the_grace(live_server: Serve, tab) -> None:
    webapp = WebApp(Board, join_grace=0.5)
    with live_server(webapp.app) as server:
        for _ in range(5):
            await tab(server.url).load()
        joined = tab(server.url)
        await joined.load()
        await joined.join()
        assert len(webapp.registry) == 6
        deadline = time.monotonic() + 5
        while len(webapp.registry) > 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(webapp.registry) == 1  # only the joined one is left
        await joined.event(element_id(joined.html, "inc"))
        # A page that joins late is told its session expired (the page then reloads).
        late = tab(server.url)
        await late.load()
        # join_grace is 0.5 s: the sweeper's next pass
        await eventually(lambda: webapp.registry.get(late.session_id) is None,
                         "the unjoined page load to be discarded", VISITOR_WAIT)
        await late.connect()
        message = await late.recv()  # told at once, before any join
        assert message["t"] == "bye" and message["code"] == "expired"


async def test_the_budget_is_per_client_address_and_spares_returning_visitors(live_server: Serve, tab) -> None:
    webapp = WebApp(Board, new_sessions_per_second=0.01, new_session_burst=3)
    with live_server(webapp.app) as server:
        first = Tab(server.url, client_from("127.0.0.5"))
        await first.load()
        codes = []
        async with client_from("127.0.0.5") as http:
            for _ in range(3):
                codes.append((await http.get(server.url + "/")).status_code)
                http.cookies.clear()
        assert codes == [200, 200, 429]
        # The same address with its session's cookie is a returning visitor: no new session.
        await first.load()
        # Another address has its own budget.
        other = Tab(server.url, client_from("127.0.0.6"))
        await other.load()
        await first.aclose()
        await other.aclose()


async def test_a_trusted_proxys_forwarded_address_is_the_client(live_server: Serve) -> None:
    webapp = WebApp(Board, new_sessions_per_second=0.01, new_session_burst=1, trusted_proxies=["127.0.0.7"])
    with live_server(webapp.app) as server:
        async with client_from("127.0.0.7") as proxy, client_from("127.0.0.8") as spoofer:
            async def load(http: httpx.AsyncClient, forwarded: str) -> int:
                http.cookies.clear()
                return (await http.get(server.url + "/", headers={"X-Forwarded-For": forwarded})).status_code

            # Behind the trusted proxy, each forwarded client has its own budget.
            assert [await load(proxy, "203.0.113.1"), await load(proxy, "203.0.113.1")] == [200, 429]
            assert await load(proxy, "203.0.113.2") == 200
            # An untrusted peer cannot pick its address with the header.
            assert [await load(spoofer, "203.0.113.3"), await load(spoofer, "203.0.113.4")] == [200, 429]
