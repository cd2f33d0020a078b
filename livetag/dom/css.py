"""Scoped styles: CSS rewritten to apply to one component's elements only.

``scope_css(css, "lt-Card")`` rewrites every selector of ``css`` so that it only matches
the component's element and the elements inside it (the component's element has class
``lt-Card``): ``h1`` -> ``h1.lt-Card,.lt-Card h1``, ``.title`` -> ``.lt-Card.title,.lt-Card
.title`` (htag's scoping); ``:host`` or ``&`` stands for the component's own element
alone (``&:hover`` -> ``.lt-Card:hover``). Selector lists are scoped item by item;
``@media``, ``@supports``, ``@container`` and ``@layer`` blocks are scoped inside;
``@keyframes``, ``@font-face``, ``@property``, ``@page`` and ``@import`` are kept as they
are. Comments are dropped; strings are kept intact.
"""

from __future__ import annotations

import re

_RECURSIVE_AT_RULES = ("@media", "@supports", "@container", "@layer", "@document")
# The element name opening a compound selector ("div", "*", "svg|rect"): the scope class goes after it.
_TYPE_SELECTOR = re.compile(r"(?:[A-Za-z_*][\w-]*\|)?(?:\*|[A-Za-z_][\w-]*)")


def scope_class(cls: type) -> str:
    """The class added to instances of ``cls`` that has ``styles``: ``lt-<Name>``."""
    return f"lt-{cls.__name__}"


def _strip_comments(css: str) -> str:
    out: list[str] = []
    i, n = 0, len(css)
    while i < n:
        c = css[i]
        if c in "\"'":
            j = i + 1
            while j < n and css[j] != c:
                j += 2 if css[j] == "\\" else 1
            out.append(css[i : j + 1])
            i = j + 1
        elif css.startswith("/*", i):
            end = css.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses, brackets and strings."""
    parts, depth, quote, start = [], 0, "", 0
    for i, c in enumerate(text):
        if quote:
            if c == quote and text[i - 1] != "\\":
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _block_end(css: str, open_index: int) -> int:
    """Index of the ``}`` matching the ``{`` at ``open_index``."""
    depth, quote = 0, ""
    for i in range(open_index, len(css)):
        c = css[i]
        if quote:
            if c == quote and css[i - 1] != "\\":
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"expected a closing '}}' for the block at offset {open_index}, got the end of the CSS")


def scope_selector(selector: str, scope: str) -> str:
    """One selector scoped to ``.{scope}``: it matches the component's own element (the
    scope class joins the first compound: ``.title`` -> ``.X.title``, ``div p`` ->
    ``div.X p``) and the elements inside it (``.X .title``), as htag scopes; ``:host`` /
    ``&`` name the component's element alone."""
    selector = selector.strip()
    host = "." + scope
    if selector.startswith(":host"):
        rest = selector[5:]
        if rest.startswith("(") and ")" in rest:  # :host(.active) -> .lt-X.active
            inner, rest = rest[1:].split(")", 1)
            return host + inner.strip() + rest
        return host + rest
    if selector.startswith("&"):
        return host + selector[1:]
    element = _TYPE_SELECTOR.match(selector)
    split = element.end() if element else 0
    own = selector[:split] + host + selector[split:]
    return f"{own},{host} {selector}"


def scope_css(css: str, scope: str) -> str:
    """``css`` with every rule scoped to elements inside ``.{scope}`` (see module doc).

    Raises ``ValueError`` on an unbalanced block."""
    return _scope(_strip_comments(css), scope)


def _scope(css: str, scope: str) -> str:
    out: list[str] = []
    i, n = 0, len(css)
    while i < n:
        brace = css.find("{", i)
        semi = css.find(";", i)
        if brace < 0:
            tail = css[i:].strip()
            if tail:
                out.append(tail)  # a trailing at-statement such as @import ...;
            break
        if 0 <= semi < brace and css[i:semi].strip().startswith("@"):
            out.append(css[i : semi + 1].strip())  # @import / @charset / @layer a, b;
            i = semi + 1
            continue
        prelude = css[i:brace].strip()
        end = _block_end(css, brace)
        body = css[brace + 1 : end]
        if prelude.startswith("@"):
            if prelude.lower().startswith(_RECURSIVE_AT_RULES):
                out.append(f"{prelude}{{{_scope(body, scope)}}}")
            else:
                out.append(f"{prelude}{{{body.strip()}}}")
        elif prelude:
            selectors = ",".join(scope_selector(s, scope) for s in _split_top(prelude, ",") if s.strip())
            out.append(f"{selectors}{{{body.strip()}}}")
        i = end + 1
    return "".join(out)
