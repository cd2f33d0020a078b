"""Serve one of ``apps.py``'s apps with livetag, or the echo floor (run by livetag's
environment). ``.venv/bin/python -m bench.peers.livetag_apps NAME`` prints ``PORT <n>``.

``WebApp`` gets the event rate limit lifted, as in ``bench/servers.py``, and, for the
idle-sessions run (``idle``: the counter), a session cap above the run's size: both are
options of ``WebApp``, not changes to the library.
"""

from __future__ import annotations

import sys

from bench.peers.apps import make_apps
from bench.peers.serve import serve
from bench.servers import _webapp, echo_app
from livetag import State, Tag

APPS = make_apps(Tag, State)
NAMES = (*APPS, "echo", "idle")

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in NAMES:
        sys.exit(f"usage: python -m bench.peers.livetag_apps {{{'|'.join(NAMES)}}}")
    name = sys.argv[1]
    if name == "echo":
        serve(echo_app())
    elif name == "idle":
        serve(_webapp(APPS["counter"], max_sessions=1_000_000, session_timeout=3600.0))
    else:
        serve(_webapp(APPS[name]))
