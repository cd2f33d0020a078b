"""The load balancer the cluster tests put in front of their machines: requests go round
robin with no stickiness, and a machine that dies leaves the rotation."""

from __future__ import annotations

import http.server
import itertools
import os
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from haproxy import HAPROXY, HAProxy
from redis_server import WAIT

if not os.access(HAPROXY, os.X_OK):
    pytest.skip(f"no haproxy at {HAPROXY} (scripts/bootstrap installs Debian's)", allow_module_level=True)


class Named(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def machines() -> Iterator[list[http.server.ThreadingHTTPServer]]:
    servers = []
    for name in ("a", "b"):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Named)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        return str(response.read().decode())


def test_round_robin_without_stickiness_and_a_dead_machine_leaves(
        machines: list[http.server.ThreadingHTTPServer]) -> None:
    proxy = HAProxy([s.server_address[1] for s in machines]).start()  # type: ignore[misc]
    try:
        seen = [get(proxy.url + "/") for _ in range(6)]
        assert sorted(set(seen)) == ["a", "b"]
        assert all(x != y for x, y in itertools.pairwise(seen))  # alternating
        machines[0].shutdown()
        machines[0].server_close()
        deadline = time.monotonic() + WAIT
        while True:  # until the health check takes it out
            try:
                if all(get(proxy.url + "/") == "b" for _ in range(4)):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "expected haproxy to stop sending to the dead machine"
            time.sleep(0.1)
    finally:
        proxy.close()
