"""Which host names a server answers to (``allowed_hosts``), and the origin check built on
them: the defence against DNS rebinding.

A DNS-rebinding page (``http://evil.test``, whose name the attacker re-points at
127.0.0.1) reaches a loopback server with ``Host: evil.test`` and ``Origin:
http://evil.test``: both headers are the attacker's, so comparing one with the other
proves nothing. What the attacker cannot choose is the list of names the server was
configured to answer to. So every HTTP request and WebSocket handshake is checked
against that list (``HostCheck``, the same rule as Starlette's ``TrustedHostMiddleware``:
exact names, ``*.example.com`` for any subdomain, ``*`` for any host), and an
``Origin`` is accepted only when its host is on it too (``origin_allowed``).

IP literals (``127.0.0.1``, ``[::1]``, ``192.0.2.7``) are always accepted as ``Host``:
rebinding needs a name the attacker's DNS answers for, and a browser that sends an IP
literal resolved nothing. An ``Origin`` that is an IP literal is accepted only when it
is exactly the host and port the request was sent to.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("livetag.server.hosts")

#: The names of this machine's loopback interface (RFC 6761: ``localhost`` and every
#: ``*.localhost`` resolve to loopback and to nothing else).
#: The default: loopback names, and "testserver", the Host that Starlette's (and FastAPI's)
#: ``TestClient`` sends: a single label that no public DNS answers for, so no rebinding
#: page can carry it.
LOOPBACK_HOSTS: tuple[str, ...] = ("localhost", "*.localhost", "testserver")
#: Comma-separated host names, read when ``allowed_hosts`` is not given.
HOSTS_ENV = "LIVETAG_ALLOWED_HOSTS"
_LOOPBACK_BINDS = {"127.0.0.1", "::1", "localhost"}


def default_hosts() -> tuple[str, ...]:
    """``$LIVETAG_ALLOWED_HOSTS`` (comma-separated) when set, else ``LOOPBACK_HOSTS``."""
    configured = os.environ.get(HOSTS_ENV, "")
    names = tuple(n.strip() for n in configured.split(",") if n.strip())
    return names or LOOPBACK_HOSTS


def is_loopback_bind(host: str) -> bool:
    """True for a bind address only this machine can reach (``127.x``, ``::1``, ``localhost``)."""
    if host in _LOOPBACK_BINDS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_netloc(netloc: str) -> tuple[str, int | None] | None:
    """``("example.com", 8000)`` for ``"Example.COM.:8000"``, ``("::1", None)`` for
    ``"[::1]"``: the host in lower case without a trailing dot, and the port; ``None``
    when ``netloc`` is not a valid ``host[:port]`` (RFC 3986 section 3.2.2)."""
    netloc = netloc.strip()
    if not netloc or any(c in netloc for c in "/\\@ \t?#"):
        return None
    try:
        parts = urlsplit("//" + netloc)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host.rstrip(".").lower(), port


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class AllowedHosts:
    """The host names a server answers to.

    ``hosts``: names (``"example.com"``), wildcards (``"*.example.com"``: any subdomain,
    not the name itself) or ``"*"`` (any host: the check is off). Case and a trailing dot
    do not matter; ports are not part of an entry. IP literals are always allowed (see the
    module docstring). Raises ``ValueError`` for an entry with a port, a path or a
    wildcard elsewhere than in front.
    """

    def __init__(self, hosts: Iterable[str]) -> None:
        names: list[str] = []
        for entry in hosts:
            name = entry.strip().rstrip(".").lower()
            if name == "*":
                names.append(name)
                continue
            bare = name[2:] if name.startswith("*.") else name
            if not bare or "*" in bare or (any(c in bare for c in ":/\\@ ?#") and not is_ip_literal(bare)):
                raise ValueError(f"expected a host name, '*.' + a host name or '*' in allowed_hosts, got {entry!r}")
            names.append(name)
        self.names: tuple[str, ...] = tuple(dict.fromkeys(names))
        self.any = "*" in self.names
        self._exact = frozenset(n for n in self.names if not n.startswith("*."))
        self._suffixes = tuple(n[1:] for n in self.names if n.startswith("*."))  # ".example.com"
        # Every request asks about the same few header values: answers are kept (bounded,
        # so that a flood of made-up hosts only costs the parsing it would cost anyway).
        self._header_answers = functools.lru_cache(maxsize=256)(self._allows_header)
        self._origin_answers = functools.lru_cache(maxsize=256)(self._origin_allowed)

    def __repr__(self) -> str:
        return f"AllowedHosts({list(self.names)!r})"

    def with_names(self, names: Iterable[str]) -> AllowedHosts:
        """These hosts plus ``names``."""
        return AllowedHosts((*self.names, *names))

    def allows_name(self, host: str) -> bool:
        """``host`` (no port, lower case) is one of the configured names."""
        return self.any or host in self._exact or host.endswith(self._suffixes)

    def allows(self, host: str) -> bool:
        """``host`` (no port) may be served: a configured name, or an IP literal."""
        return self.allows_name(host) or is_ip_literal(host)

    def allows_header(self, value: str | None) -> bool:
        """A ``Host`` header value (``host[:port]``) that may be served."""
        return self.any or self._header_answers(value)

    def _allows_header(self, value: str | None) -> bool:
        parsed = split_netloc(value or "")
        return parsed is not None and self.allows(parsed[0])

    def origin_allowed(self, origin: str, host_header: str | None,
                       allowed_origins: frozenset[str] = frozenset()) -> bool:
        """An ``Origin`` header value (RFC 6454) whose page may drive sessions here.

        Accepted: an exact entry of ``allowed_origins`` (lower case, no trailing slash);
        an origin whose host is one of the allowed *names* (when it is the name the
        request was sent to, its port must be that port too: another port is another
        site); an IP-literal origin equal to the request's own ``host:port``. Never the
        mere equality of ``Origin`` and ``Host`` for a name (both are the attacker's under
        DNS rebinding), unless the hosts are ``"*"``, which turns that defence off.
        ``"null"`` (sandboxed frames, ``file:`` pages) is foreign."""
        return self._origin_answers(origin, host_header, allowed_origins)

    def _origin_allowed(self, origin: str, host_header: str | None, allowed_origins: frozenset[str]) -> bool:
        normalised = origin.strip().rstrip("/").lower()
        if normalised in allowed_origins:
            return True
        parts = urlsplit(normalised)
        if parts.scheme not in ("http", "https"):
            return False
        parsed = split_netloc(parts.netloc)
        if parsed is None:
            return False
        host, port = parsed
        port = port or (443 if parts.scheme == "https" else 80)
        target = split_netloc(host_header or "")
        if self.any:
            # "*" turned the host check off: only the page's own host is left to compare
            # with (a DNS-rebinding page passes; that is what "*" means).
            return target is not None and target[0] == host and (target[1] or port) == port
        if is_ip_literal(host):
            return target is not None and target[0] == host and (target[1] or port) == port
        if not self.allows_name(host):
            return False
        if target is not None and target[0] == host and target[1] is not None:
            return target[1] == port
        return True


def hosts_for_bind(hosts: AllowedHosts, bind: str) -> AllowedHosts:
    """The default ``hosts`` adapted to the address a server binds: a host *name*
    (``"myapp.local"``) is added; a public bind (``0.0.0.0``) is logged, since only IP
    addresses and the configured names will be served."""
    name = bind.strip("[]").rstrip(".").lower()
    if name and name not in ("0.0.0.0", "::") and not is_ip_literal(name):
        return hosts if hosts.allows(name) else hosts.with_names([name])
    if not is_loopback_bind(name):
        log.warning("serving %s with allowed_hosts=%s: requests naming other hosts get 400; pass "
                    "allowed_hosts=[...] (or set $%s) with the public names", bind, list(hosts.names), HOSTS_ENV)
    return hosts


class HostCheck:
    """ASGI middleware: refuse any HTTP request or WebSocket handshake whose ``Host`` is
    not allowed, with HTTP 400 and a body saying what was expected (a WebSocket gets
    the same response when the server supports the ASGI denial-response extension, else
    the handshake is refused, which servers answer with 403). Other scopes pass."""

    def __init__(self, app: ASGIApp, hosts: Callable[[], AllowedHosts]) -> None:
        self.app = app
        self.hosts = hosts  # read at each request: the host list can grow (``.run`` adds its bind name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hosts = self.hosts()
        if scope["type"] not in ("http", "websocket") or hosts.any:
            await self.app(scope, receive, send)
            return
        host = header(scope, b"host")
        if hosts.allows_header(host):
            await self.app(scope, receive, send)
            return
        await refuse_host(scope, receive, send, host, hosts)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case) in ``scope``, decoded as latin-1."""
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def refuse_host(scope: Scope, receive: Receive, send: Send, host: str | None, hosts: AllowedHosts) -> None:
    """The 400 of a request for a host that is not allowed (see ``HostCheck``)."""
    shown = "none" if host is None else repr(host[:100])
    log.warning("%s for host %s refused: not in allowed_hosts", "websocket" if scope["type"] == "websocket"
                else scope.get("method", "request"), shown)
    message = (f"expected a Host header naming one of {', '.join(hosts.names)} (or an IP address), got {shown}; "
               "the server's allowed_hosts lists the names it answers to")
    if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008, "reason": "host not allowed"})
        return
    await PlainTextResponse(message, status_code=400, headers={"Cache-Control": "no-store"})(scope, receive, send)
