"""The HTML document served on a page load: server-rendered, readable before any script."""

from __future__ import annotations

from ..dom.html import escape_attr, escape_text
from ..dom.statics import title_of
from ..session import Session

#: livetag's own elements (livetag/client/src/status.js): the busy bar, the connection
#: banner and the error overlay. Restyle them with these CSS variables (on ``:root``):
#: ``--lt-busy-color``, ``--lt-busy-height``, ``--lt-banner-bg``, ``--lt-banner-color``,
#: ``--lt-banner-expired-bg``, ``--lt-error-bg``, ``--lt-error-color``, ``--lt-error-border``.
STATUS_CSS = (
    "body.lt-busy{cursor:progress}"
    "#lt-status-busy{position:fixed;top:0;left:0;right:0;height:var(--lt-busy-height,3px);overflow:hidden;"
    "pointer-events:none;z-index:2147483647}"
    "#lt-status-busy::before{content:'';position:absolute;top:0;bottom:0;left:-40%;width:40%;"
    "background:var(--lt-busy-color,#2563eb);animation:lt-busy 1.1s ease-in-out infinite}"
    "@keyframes lt-busy{to{left:100%}}"
    "@media (prefers-reduced-motion:reduce){#lt-status-busy::before{animation:none;left:0;width:100%}}"
    "#lt-status{position:fixed;top:8px;left:50%;transform:translateX(-50%);max-width:calc(100vw - 32px);"
    "padding:6px 14px;border-radius:6px;font:13px/1.4 system-ui,sans-serif;background:var(--lt-banner-bg,#333);"
    "color:var(--lt-banner-color,#fff);box-shadow:0 2px 8px rgba(0,0,0,.25);z-index:2147483646}"
    "#lt-status[data-kind=expired]{background:var(--lt-banner-expired-bg,#7c4a03)}"
    "#lt-error{position:fixed;inset:auto 8px 8px 8px;max-height:60vh;overflow:auto;border-radius:6px;"
    "background:var(--lt-error-bg,#fff5f5);color:var(--lt-error-color,#600);"
    "border:1px solid var(--lt-error-border,#c00);box-shadow:0 4px 16px rgba(0,0,0,.2);"
    "font:13px/1.4 system-ui,sans-serif;z-index:2147483647}"
    ".lt-error-head{position:sticky;top:0;display:flex;justify-content:space-between;align-items:center;"
    "padding:4px 10px;background:inherit;border-bottom:1px solid var(--lt-error-border,#c00)}"
    ".lt-error-close{border:0;background:none;color:inherit;font-size:20px;line-height:1;cursor:pointer}"
    ".lt-error-entry{padding:6px 10px}.lt-error-entry+.lt-error-entry{border-top:1px dashed #d99}"
    ".lt-error-msg{margin:0 0 4px;font-weight:600;white-space:pre-wrap}"
    ".lt-error-trace{margin:0;font:12px/1.4 monospace;white-space:pre-wrap}"
)


def render_page(session: Session, *, base: str, script_url: str, debug: bool, parano_key: str | None = None,
                heartbeat: float = 30.0) -> str:
    """The whole document for ``session``, rendered at its current revision.

    ``base`` is the mount path without trailing slash (``""`` at the root); the client
    derives its endpoints from it; ``heartbeat``: ``Limits.heartbeat`` (seconds). Every
    interpolated value is escaped for its context.
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
        f' data-lt-rev="{session.revision}" data-lt-heartbeat="{heartbeat:g}"{" data-lt-debug" if debug else ""}'
        f"{key_attr}>"
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title>"
        f'<script src="{escape_attr(script_url)}" defer></script>'
        f"<style>{STATUS_CSS}</style>"
        f"{statics}</head>{body}</html>"
    )
