"""``ClusterConfig``: how one machine joins a cluster, from ``Runner`` arguments or the
environment, validated before anything starts.

    Runner(App, redis_url="redis://10.0.0.5:6379/0", cluster_secret=..., relay="10.0.0.7:9000")

or, with ``Runner(App)`` unchanged, the environment:

=========================== ==============================================================
``LIVETAG_REDIS_URL``       ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL; its absence
                            means no cluster (the embedded, one-machine default)
``LIVETAG_CLUSTER_SECRET``  the secret every machine shares (at least 32 characters):
                            authenticates the relay between machines
``LIVETAG_RELAY``           ``host:port`` where this machine's relay listens for the others
``LIVETAG_MACHINE_ID``      this machine's name in the directory (default: host name and
                            relay port, else host name and pid)
``LIVETAG_REDIS_PREFIX``    prefix of every Redis key and channel (default ``livetag:``), so
                            that several apps share one Redis
``LIVETAG_LEASE``           seconds a machine counts as alive after its last heartbeat
                            (default 10): how long its sessions wait before another
                            machine may take them over when it dies
=========================== ==============================================================

This module imports nothing of redis-py: the ``Runner`` reads it whether or not the
``cluster`` extra is installed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

REDIS_URL_ENV = "LIVETAG_REDIS_URL"
SECRET_ENV = "LIVETAG_CLUSTER_SECRET"
RELAY_ENV = "LIVETAG_RELAY"
MACHINE_ENV = "LIVETAG_MACHINE_ID"
PREFIX_ENV = "LIVETAG_REDIS_PREFIX"
LEASE_ENV = "LIVETAG_LEASE"

#: Shortest cluster secret accepted, in characters (``secrets.token_urlsafe(32)`` gives 43).
MIN_SECRET = 32
DEFAULT_PREFIX = "livetag:"
_SCHEMES = ("redis", "rediss", "unix")
_NAME = re.compile(r"[A-Za-z0-9._:\-\[\]]{1,64}")
_PREFIX = re.compile(r"[A-Za-z0-9._:\-{}/]{1,64}")


def redacted(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:" if parts.username else ":"
    return parts._replace(netloc=f"{user}***@{netloc}").geturl()


def parse_relay(relay: str) -> tuple[str, int]:
    """``(host, port)`` of a ``host:port`` (``[v6]:port`` for IPv6). Raises ``ValueError``
    saying what came for anything else (a missing host, a port outside 1-65535)."""
    if not isinstance(relay, str):
        raise TypeError(f"expected the relay address as a 'host:port' str, got {type(relay).__name__}")
    host, sep, port = relay.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected the relay address as 'host:port' (port 1-65535), got {relay!r}")
    return host, int(port)


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """One machine's cluster settings (module docstring). Times in seconds.

    ``redis_url`` and ``secret`` are kept out of ``repr`` (a URL may carry a password).
    ``lease``: how long a machine counts as alive after its last heartbeat (it renews
    every third of it); ``snapshot_ttl``: how long a session's snapshot outlives its last
    save; ``claim_ttl``: how long a session's ownership record outlives its last claim or
    save (the owner of a session that lives longer refreshes it)."""

    redis_url: str = dataclasses.field(repr=False)
    secret: str = dataclasses.field(repr=False)
    machine_id: str
    relay: str | None = None
    prefix: str = DEFAULT_PREFIX
    lease: float = 10.0
    snapshot_ttl: float = 24 * 3600.0
    claim_ttl: float = 24 * 3600.0

    def __post_init__(self) -> None:
        scheme = urlsplit(self.redis_url).scheme if isinstance(self.redis_url, str) else ""
        if scheme not in _SCHEMES:
            shown = redacted(self.redis_url) if isinstance(self.redis_url, str) else type(self.redis_url).__name__
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL as redis_url, got {shown!r}")
        if not isinstance(self.secret, str) or len(self.secret) < MIN_SECRET:
            got = "none" if not self.secret else f"{len(self.secret)} characters"
            raise ValueError(f"expected a cluster secret of at least {MIN_SECRET} characters with redis_url "
                             f"(cluster_secret= or ${SECRET_ENV}; every machine shares it), got {got}")
        if not _NAME.fullmatch(self.machine_id):
            raise ValueError(f"expected a machine id of 1 to 64 letters, digits or ._:-, got {self.machine_id!r}")
        if self.relay is not None:
            parse_relay(self.relay)
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(f"expected a Redis key prefix of 1 to 64 letters, digits or ._:-{{}}/, "
                             f"got {self.prefix!r}")
        for name in ("lease", "snapshot_ttl", "claim_ttl"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.1 <= value < float("inf"):  # NaN fails too
                raise ValueError(f"expected {name} as seconds >= 0.1, got {value!r}")

    @classmethod
    def resolve(cls, redis_url: str | None = None, cluster_secret: str | None = None, relay: str | None = None,
                machine_id: str | None = None, prefix: str | None = None,
                environ: Mapping[str, str] | None = None, **times: float) -> ClusterConfig | None:
        """The configuration from arguments, else the environment (module docstring);
        ``None`` when neither names a Redis URL (no cluster). Raises ``ValueError`` for a
        URL without a secret (or a short one) and for malformed values, and
        ``ModuleNotFoundError`` when redis-py is not installed."""
        env = os.environ if environ is None else environ
        url = redis_url or env.get(REDIS_URL_ENV) or None
        if url is None:
            if cluster_secret or relay:
                raise ValueError(f"expected redis_url (or ${REDIS_URL_ENV}) with cluster_secret or relay, got none")
            return None
        if importlib.util.find_spec("redis") is None:
            raise ModuleNotFoundError("redis_url needs redis-py: pip install 'livetag[cluster]'", name="redis")
        relay = relay or env.get(RELAY_ENV) or None
        machine = machine_id or env.get(MACHINE_ENV) or _default_machine_id(relay)
        if "lease" not in times and env.get(LEASE_ENV):
            try:
                times["lease"] = float(env[LEASE_ENV])
            except ValueError:
                raise ValueError(f"expected ${LEASE_ENV} as seconds, got {env[LEASE_ENV][:20]!r}") from None
        return cls(redis_url=url, secret=cluster_secret or env.get(SECRET_ENV) or "", machine_id=machine,
                   relay=relay, prefix=prefix or env.get(PREFIX_ENV) or DEFAULT_PREFIX, **times)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (for ``SupervisorConfig``); ``from_dict`` reverses it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> ClusterConfig:
        """Raises ``TypeError`` or ``ValueError`` for fields that are not a configuration."""
        return cls(**dict(fields))


def _default_machine_id(relay: str | None) -> str:
    host = re.sub(r"[^A-Za-z0-9.\-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}:{parse_relay(relay)[1] if relay else os.getpid()}"
