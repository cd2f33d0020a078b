"""Serve one of ``apps.py``'s apps with htag 2 (run by the htag environment's Python).

``bench/.venvs/htag/bin/python -m bench.peers.htag_apps NAME`` prints ``PORT <n>``.
"""

from __future__ import annotations

import sys

from htag import State, Tag, WebApp  # type: ignore[import-not-found]

from bench.peers.apps import make_apps
from bench.peers.serve import serve

APPS = make_apps(Tag, State)

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in APPS:
        sys.exit(f"usage: python -m bench.peers.htag_apps {{{'|'.join(APPS)}}}")
    # debug=False: tracebacks stay in the server log, as livetag's WebApp default.
    serve(WebApp(APPS[sys.argv[1]], debug=False).app)
