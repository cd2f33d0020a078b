"""``LiveTree``: a mounted tag tree, its id index and the record of what changed.

Every mutation of a tag inside a live tree is recorded here in O(1); ``collect()`` turns
the record into the smallest list of patch operations that brings a client holding the
previous state to the current one. The cost of a collect is proportional to the number
of changed tags times their depth, never to the size of the tree.

Patch operations (the ``p`` field of an update, see ``livetag.protocol``), applied in order:

- ``["-", id]``                remove the element
- ``["a", id, {name: value}]`` set attributes; ``null`` removes one (``value``/``checked``
                               also set the live property)
- ``["t", id, text]``          replace the children by a text node
- ``["h", id, html]``          replace the children by ``html`` (the client morphs it in)
- ``["+", id, html]``          append ``html`` at the end of the children
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .render import HTML, render_text
from .tag import HANDLER_ATTR, Tag, render_attr_value

Op = list[Any]


class LiveTree:
    """The live document of one app instance.

    ``on_change`` is called (with no argument) when the first change after a
    ``collect()`` is recorded, so that the owner can schedule an update.
    """

    def __init__(self, app: Tag, on_change: Callable[[], None] | None = None) -> None:
        self.app = app
        self.index: dict[str, Tag] = {}
        self.lock = threading.RLock()
        self.on_change = on_change
        self._attrs: dict[Tag, set[str]] = {}
        self._appended: dict[Tag, list[Any]] = {}
        self._removed: dict[Tag, list[str]] = {}
        self._reset: set[Tag] = set()
        self._new: set[Tag] = set()
        self._old_ids: dict[Tag, str] = {}
        self._js: list[str] = []
        self._pending = False
        if app._parent is not None:
            raise ValueError(f"expected a root tag without parent, got one inside {app._parent!r}")
        self.attach(app)
        self._pending = bool(self._js)

    # -- membership ----------------------------------------------------------------------

    def attach(self, tag: Tag) -> None:
        """Make ``tag`` and its subtree part of this tree (index their ids)."""
        for t in tag.walk():
            t._tree = self
            self.index[t.id] = t
            pending = t.__dict__.pop("_lt_pending_js", None) if t.__dict__ else None
            if pending:
                self._js.extend(pending)
                self._mark()

    def detach(self, tag: Tag) -> None:
        for t in tag.walk():
            t._tree = None
            if self.index.get(t.id) is t:
                del self.index[t.id]

    def index_tag(self, tag: Tag) -> None:
        self.index[tag.id] = tag

    def unindex(self, tag: Tag) -> None:
        self._old_ids.setdefault(tag, tag.id)
        if self.index.get(tag.id) is tag:
            del self.index[tag.id]

    # -- recording -----------------------------------------------------------------------

    def _mark(self) -> None:
        if not self._pending:
            self._pending = True
            if self.on_change is not None:
                self.on_change()

    @property
    def has_changes(self) -> bool:
        return self._pending

    def attr_changed(self, tag: Tag, name: str) -> None:
        names = self._attrs.get(tag)
        if names is None:
            self._attrs[tag] = {name}
        else:
            names.add(name)
        self._mark()

    def id_changed(self, tag: Tag) -> None:
        self.attr_changed(tag, "id")

    def appended(self, parent: Tag, child: Any) -> None:
        if parent.tag_name is None:
            self._fragment_changed(parent)
            return
        if parent in self._reset:
            self._mark()
            return
        self._appended.setdefault(parent, []).append(child)
        if isinstance(child, Tag):
            self._new.add(child)
        self._mark()

    def removed(self, parent: Tag, child: Tag) -> None:
        if parent.tag_name is None:
            self._fragment_changed(parent)
            return
        if child in self._new:
            self._new.discard(child)
            pending = self._appended.get(parent)
            if pending is not None:
                for i, c in enumerate(pending):
                    if c is child:
                        del pending[i]
                        break
        elif parent not in self._reset:
            self._removed.setdefault(parent, []).append(self._old_ids.get(child, child.id))
        self._mark()

    def reset(self, parent: Tag) -> None:
        """``parent``'s children were replaced wholesale."""
        if parent.tag_name is None:
            self._fragment_changed(parent)
            return
        self._reset.add(parent)
        self._appended.pop(parent, None)
        self._removed.pop(parent, None)
        self._mark()

    def _fragment_changed(self, fragment: Tag) -> None:
        # A fragment has no element of its own: re-render the element that hosts it.
        host = fragment._parent
        while host is not None and host.tag_name is None:
            host = host._parent
        if host is None:
            raise ValueError("expected a fragment inside an element, got a fragment at the root")
        self.reset(host)

    def call_js(self, script: str) -> None:
        self._js.append(script)
        self._mark()

    def mark_all(self) -> None:
        """Record the whole app as changed (a client must re-render everything)."""
        self.reset(self.app)
        self.attr_changed(self.app, HANDLER_ATTR)

    # -- collecting ----------------------------------------------------------------------

    def collect(self) -> tuple[list[Op], list[str]]:
        """The patch operations and scripts since the last collect; clears the record."""
        touched = set(self._attrs)
        touched.update(self._appended, self._removed, self._reset)
        removals: list[Op] = []
        entries: list[tuple[int, Tag]] = []
        for tag in touched:
            if tag._tree is not self:
                continue
            depth = self._uncovered_depth(tag)
            if depth >= 0:
                entries.append((depth, tag))
        entries.sort(key=lambda e: e[0])
        ops: list[Op] = []
        for _, tag in entries:
            names = self._attrs.get(tag)
            if names:
                address = self._old_ids.get(tag, tag.id)
                ops.append(["a", address, {n: _attr_patch_value(tag, n) for n in sorted(names)}])
            if tag in self._reset:
                ops.append(_children_op(tag))
                continue
            for child_id in self._removed.get(tag, ()):
                removals.append(["-", child_id])
            appended = self._appended.get(tag)
            if appended:
                parts: list[str] = []
                for child in appended:
                    if isinstance(child, Tag):
                        child._render_into(parts)
                    else:
                        parts.append(render_text(child))
                ops.append(["+", tag.id, "".join(parts)])
        js = self._js
        self._attrs = {}
        self._appended = {}
        self._removed = {}
        self._reset = set()
        self._new = set()
        self._old_ids = {}
        self._js = []
        self._pending = False
        return removals + ops, js

    def _uncovered_depth(self, tag: Tag) -> int:
        """``tag``'s depth, or -1 when a pending patch of an ancestor already renders it."""
        if tag in self._new:
            return -1
        depth = 0
        node = tag._parent
        while node is not None:
            if node in self._reset or node in self._new:
                return -1
            depth += 1
            node = node._parent
        return depth


def _attr_patch_value(tag: Tag, name: str) -> str | None:
    if name == HANDLER_ATTR:
        return tag.handler_spec()
    if name == "id":
        return tag.id
    rendered = render_attr_value(tag._attrs.get(name))
    if rendered is True:
        return ""
    return rendered


def _children_op(tag: Tag) -> Op:
    children = tag._children
    if tag.tag_name == "textarea" and "value" in tag._attrs:
        return ["t", tag.id, str(tag._attrs["value"] or "")]
    if all(isinstance(c, str) and not isinstance(c, HTML) for c in children):
        return ["t", tag.id, "".join(children)]
    return ["h", tag.id, tag.render_children()]


__all__ = ["LiveTree", "Op"]
