"""The public ``WebApp`` and ``Runner``: the server's ASGI apps plus ``run()``.

``livetag.server.webapp.WebApp`` and ``livetag.server.processes.Runner`` are ASGI
applications and nothing more: they never start a server, so ``server/`` needs nothing
from ``runners/``. Serving one (``.run()``: uvicorn on a port, ``reload=True`` for a
supervisor that restarts it on changes, ``open_browser``) is a runner's job, so ``run()``
is added here, one layer up, by subclassing; ``livetag.WebApp`` and ``livetag.Runner`` are
these subclasses. Everything else (``.app``, ``handle``, mounting, gunicorn) is inherited
unchanged, and an instance of either class is an instance of the server's class too.

    WebApp(App).run()                       # http://127.0.0.1:8000/, a browser opens
    WebApp(App).run(port=0, reload=True)    # a free port; restarted on every change
    Runner(App).run(host="0.0.0.0")         # a process per session
"""

from __future__ import annotations

from typing import Any

from ..server.processes import Runner as _Runner
from ..server.processes.appref import in_helper_process
from ..server.webapp import WebApp as _WebApp
from .serve import serve
from .worker import running_in_worker

__all__ = ["LOOPBACK", "Runner", "WebApp"]

#: Hosts served to this machine only: running there is developing (``debug`` by default).
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class WebApp(_WebApp):
    """``livetag.server.webapp.WebApp`` (see its docstring for the arguments) with ``run()``."""

    def run(self, host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True, **uvicorn_options: Any) -> None:
        """Serve until stopped (Ctrl-C / SIGTERM). ``port=0`` takes a free port from the OS;
        on a loopback host, ``debug`` turns on unless the ``WebApp`` was given one;
        the URL served is logged either way. Clients disconnecting never stop the server.
        ``uvicorn_options``: ``livetag.runners.serve.serve``'s (``reload``, ``reload_dirs``,
        ``log_level``, ``sock``) and ``uvicorn.Config``'s. Raises ``PortInUse``.

        Sessions survive a restart: unless ``persist=False`` or a ``store`` was given,
        they are snapshotted to ``livetag.server.persistence.default_store_path``; not
        with ``reload=True`` (development: each change restarts with fresh sessions)."""
        if not uvicorn_options.get("reload") and not running_in_worker():
            self.persist_by_default()
        self.bind(host)
        if self.debug_default and host in LOOPBACK:
            self.set_debug(True)  # development: errors show in the page
        uvicorn_options.setdefault("ws_max_size", self.limits.max_message_bytes)
        serve(self, host=host, port=port, open_browser=open_browser, **uvicorn_options)


class Runner(_Runner):
    """``livetag.server.processes.Runner`` (see its docstring for the arguments) with ``run()``."""

    def run(self, host: str | None = None, port: int | None = None, **uvicorn_options: Any) -> None:
        """Serve with uvicorn on ``host:port`` (default: the Runner's) until stopped
        (Ctrl-C / SIGTERM); sessions end with the server. Returns at once when called
        while a session process imports the app's script. ``uvicorn_options``: as
        ``WebApp.run``'s. Raises ``PortInUse``."""
        if in_helper_process():
            return
        bound = self.host if host is None else host
        self.bind(bound)
        serve(self, host=bound, port=self.port if port is None else port, **uvicorn_options)
