"""The app of the relay tests, served by real uvicorn processes as ``relay_apps:app``:
``runner_apps.Counter`` in a cluster (``LIVETAG_REDIS_URL``, ``LIVETAG_CLUSTER_SECRET``,
``LIVETAG_RELAY`` from the environment). ``LT_LOCATE`` (``host:port``): a test-only
``locate`` that places every session that has no socket here on the machine whose relay
listens there (the real lookup is the cluster directory's); ``LT_LOCATE=down``: a lookup
that fails as one does when Redis is down."""

from __future__ import annotations

import os

from runner_apps import Counter

from livetag import Runner
from livetag.errors import StoreUnavailable

app = Runner(Counter, debug=True, spare_processes=0)
_owner = os.environ.get("LT_LOCATE") or None


async def _locate(base: str, sid: str) -> str | None:
    if _owner == "down":  # the directory unreachable (Redis down)
        raise StoreUnavailable("expected Redis at the test's URL, got a refused connection")
    return _owner


if _owner is not None:
    app.locate = _locate
