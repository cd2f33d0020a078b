"""The page of a page load whose app failed to start (its ``init`` raised).

``debug=True``: what the error overlay shows for a failing handler (the exception, then
the app's frames first, see ``livetag.tracebacks``); ``debug=False``: a generic message
with the error id that the server log line carries next to the traceback. Either way an
HTML page with status ``500``, every interpolated value escaped, never cached.
"""

from __future__ import annotations

from starlette.responses import HTMLResponse

from ..dom.html import escape_text
from ..tracebacks import format_user_trace

#: Shared with the overlay's look (``livetag.server.page``): one visual language for errors.
_STYLE = ("<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
          "h1{font-size:1.3em;color:#900}"
          "pre{background:#fff0f0;color:#600;border:1px solid #c00;padding:1em;white-space:pre-wrap;"
          "font:12px monospace;overflow:auto}</style>")


def app_error_page(exc: BaseException, error_id: str, *, debug: bool) -> HTMLResponse:
    """The ``500`` page for ``exc``, raised while creating the app of a new session."""
    if debug:
        summary = "".join(f"{type(exc).__name__}: {exc}".splitlines()[:1])
        body = (f"<h1>The app failed to start</h1><p id=\"lt-error-title\">{escape_text(summary)} "
                f"(error id {escape_text(error_id)})</p><pre id=\"lt-error-trace\">"
                f"{escape_text(format_user_trace(exc))}</pre><p>Fix the code and reload the page.</p>")
    else:
        body = ("<h1>Something went wrong</h1><p id=\"lt-error-title\">The application failed to start "
                f"(error id {escape_text(error_id)}). Please try again later.</p>")
    html = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title>{_STYLE}"
            f"</head><body>{body}</body></html>")
    return HTMLResponse(html, status_code=500, headers={"Cache-Control": "no-store"})
