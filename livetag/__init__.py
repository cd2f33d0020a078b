"""livetag: interactive web and desktop UIs in pure Python.

Write the UI as a tree of ``Tag`` objects, subclass ``Tag.App``, and serve it with
``WebApp(App).run()``, mount ``WebApp(App).app`` in any Starlette/FastAPI app, or open it
as a desktop window with ``ChromeApp(App).run()``; in production, ``Runner(App)`` gives each
session its own OS process.

``WebApp`` and ``Runner`` here are ``livetag.runners.apps``'s: the server's ASGI apps
(``livetag.server``) with ``run()`` added by the layer that owns serving and reload.
"""

from __future__ import annotations

from .dom import HTML, Event, Link, PathRouter, Router, State, States, Tag, prevent, stop
from .dom.filedrop import FileDrop
from .dom.files import UploadedFile
from .dom.tag import App, current_request
from .execution import in_thread, on_loop
from .runners.apps import Runner, WebApp
from .runners.chrome import ChromeApp
from .version import __version__

__all__ = [
           "HTML",
           "App",
           "ChromeApp",
           "Event",
           "FileDrop",
           "Link",
           "PathRouter",
           "Router",
           "Runner",
           "State",
           "States",
           "Tag",
           "UploadedFile",
           "WebApp",
           "__version__",
           "current_request",
           "in_thread",
           "on_loop",
           "prevent",
           "stop",
]
