"""Which tag is being built on this thread: the target of htag's implicit children.

A tag created while another tag's ``init()`` runs, or inside its ``with`` block, becomes
that tag's last child (htag's construction rule: ``Tag.h1("Home")`` alone in ``init()``
shows a heading). The stack is per thread, so tags built by concurrent sessions never
cross. A ``None`` entry is a barrier: code run under it (a reactive lambda evaluated
during a render, for instance) builds free-standing tags.
"""

from __future__ import annotations

import threading
from typing import Any


class _Stack(threading.local):
    def __init__(self) -> None:
        self.items: list[Any] = []


_stack = _Stack()


def builders() -> list[Any]:
    """This thread's stack of tags under construction (innermost last; ``None``: barrier)."""
    return _stack.items
