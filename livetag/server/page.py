"""The HTML document served on a page load: server-rendered, readable before any script."""

from __future__ import annotations

from ..dom.html import escape_attr, escape_text
from ..dom.statics import title_of
from ..session import Session


def render_page(session: Session, *, base: str, script_url: str, debug: bool, parano_key: str | None = None) -> str:
    """The whole document for ``session``, rendered at its current revision.

    ``base`` is the mount path without trailing slash (``""`` at the root); the client
    derives its endpoints from it. Every interpolated value is escaped for its context.
    """
    app = session.app
    body, statics_list = session.render_document()
    statics = "".join(s for s in statics_list if not s.startswith("<title"))
    if app.tag_name != "body":
        body = f"<body>{body}</body>"
    title = escape_text(title_of(type(app)) or type(app).__name__)
    key_attr = f' data-lt-key="{escape_attr(parano_key)}"' if parano_key else ""
    return (
        "<!DOCTYPE html>"
        f'<html lang="en" data-lt-base="{escape_attr(base)}" data-lt-token="{escape_attr(session.csrf_token)}"'
        f' data-lt-rev="{session.revision}"{" data-lt-debug" if debug else ""}'
        f"{key_attr}>"
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title>"
        f'<script src="{escape_attr(script_url)}" defer></script>'
        "<style>body.lt-busy{cursor:progress}"
        "#lt-status{position:fixed;bottom:8px;right:8px;padding:4px 10px;border-radius:4px;font:12px sans-serif;"
        "background:#333;color:#fff;opacity:.85;z-index:2147483647}"
        "#lt-error{position:fixed;inset:auto 8px 8px 8px;max-height:50vh;overflow:auto;padding:10px;"
        "background:#fff0f0;color:#600;border:1px solid #c00;font:12px monospace;white-space:pre-wrap;"
        "z-index:2147483647}</style>"
        f"{statics}</head>{body}</html>"
    )
