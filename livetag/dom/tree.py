"""``LiveTree``: a mounted tag tree, its id index and the record of what changed.

Every mutation of a tag inside a live tree is recorded here in O(1); ``collect()`` turns
the record into the smallest list of patch operations that brings a client holding the
previous state to the current one. The cost of a collect is proportional to the number
of changed tags times their depth, never to the size of the tree.

The patch operations (the ``p`` field of an update) are ``livetag.protocol.patch``'s,
applied in order.

Besides patches, a collect hands out the statics that components new to this tree need
(``take_statics``) and the tags whose ``on_mount``/``on_unmount`` must run
(``take_lifecycle``). Tags joining or leaving the tree tell their subscriptions
(``Tag.subscribe``) to ``topics``, the session's side of publish/subscribe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, cast

from ..protocol.patch import Append, PatchOp, Remove, SetAttrs, SetHtml, SetText
from .files import FileHost
from .html import HTML, RAW_TEXT_ELEMENTS
from .reactive import AttrSlot, ChildSlot, Slot, reconcile
from .render import HANDLER_ATTR, handler_spec, render_attr_value, render_child, render_children_html
from .statics import class_statics
from .tag import DESTROY, MOUNT, UNMOUNT, Tag, iter_ancestors, iter_subtree, only_text
from .topics import TopicHost


class LiveTree:
    """The live document of one app instance.

    ``on_change`` is called (with no argument) when the first change after a
    ``collect()`` is recorded, so that the owner can schedule an update.
    """

    def __init__(self, app: Tag, on_change: Callable[[], None] | None = None,
                 topics: Callable[[], TopicHost] | None = None) -> None:
        self.app = app
        self._topics = topics
        self.index: dict[str, Tag] = {}
        self.lock = threading.RLock()
        self.on_change = on_change
        #: Where the files of its events and downloads go (``livetag.dom.files.attach``).
        self.files: FileHost | None = None
        # What changed since the last collect, made on the first change (an idle session
        # holds no empty containers for it); the reactive slots to re-evaluate likewise.
        self._record: _Record | None = None
        self._slots: dict[Slot, None] | None = None
        self.statics_sent: dict[str, None] = {}  # ordered set of statics the client has
        self._new_statics: list[str] = []
        self._mounted: list[Tag] = []
        self._unmounted: list[Tag] = []
        self._pending = False
        self.throttle: float | None = None
        self.failures: list[tuple[str, BaseException]] = []
        #: True while ``collect`` renders: only then may a render re-evaluate reactive
        #: children (see ``ChildSlot.current``).
        self.collecting = False
        if app._parent is not None:
            raise ValueError(f"expected a root tag without parent, got one inside {app._parent!r}")
        self.attach(app)
        self._pending = self._record is not None and bool(self._record.js)

    @property
    def topics(self) -> TopicHost | None:
        """Where the subscriptions of tags joining or leaving this tree go, and their
        messages are published (``Tag.subscribe``, ``Tag.publish``): the session's side
        of publish/subscribe, which ``topics()`` given to the constructor makes on first
        use; ``None`` for a tree without one."""
        return self._topics() if self._topics is not None else None

    # -- membership ----------------------------------------------------------------------

    def attach(self, tag: Tag) -> None:
        """Make ``tag`` and its subtree part of this tree (index their ids)."""
        for t in iter_subtree(tag):
            t._tree = self
            self.index[t.id] = t
            statics = t._lt_statics_html
            if statics is None:
                statics = class_statics(type(t))
            if statics:  # most classes have none
                for html in statics:
                    if html not in self.statics_sent:
                        self.statics_sent[html] = None
                        self._new_statics.append(html)
            if t._lt_hooks & MOUNT:
                self._mounted.append(t)
            # getattr, not t.__dict__: reading __dict__ creates it (72 bytes per live tag).
            pending = getattr(t, "_lt_pending_js", None)
            if pending:
                del t._lt_pending_js  # type: ignore[attr-defined]
                self._changes().js.extend(pending)
                self._mark()
            subs = getattr(t, "_lt_subs", None)
            if subs and self._topics is not None:
                self._subscribe(t, subs)

    def _subscribe(self, tag: Tag, subs: list[tuple[str, Any]]) -> None:
        topics = cast("TopicHost", self.topics)
        for topic, handler in subs:
            try:
                topics.add(tag, topic, handler)
            except Exception as exc:  # a bound: reported like a failed render, the tree stays whole
                self.failures.append((f"subscription of {tag!r} to {topic!r}", exc))

    def detach(self, tag: Tag) -> None:
        for t in iter_subtree(tag):
            t._tree = None
            if self._topics is not None and getattr(t, "_lt_subs", None):
                self._topics().remove(t)
            if self.index.get(t.id) is t:
                del self.index[t.id]
            for value in t._attrs.values():
                if isinstance(value, AttrSlot):
                    value.release()
            for child in t._children:
                if isinstance(child, ChildSlot):
                    child.release()
            if t._lt_hooks & MOUNT and t in self._mounted:
                self._mounted.remove(t)  # left before its on_mount ran: no hook at all
            elif t._lt_hooks & UNMOUNT:
                self._unmounted.append(t)

    def lookup(self, tag_id: str) -> Tag | None:
        """The live tag whose element id is ``tag_id``, or ``None``. O(1)."""
        tag = self.index.get(tag_id)
        return tag if tag is not None and tag._tree is self else None

    def renamed(self, tag: Tag, old_id: str) -> None:
        """``tag``'s element id changed from ``old_id``: re-index it, and patch the element
        through its old id."""
        self._changes().old_ids.setdefault(tag, old_id)
        if self.index.get(old_id) is tag:
            del self.index[old_id]
        self.index[tag.id] = tag
        self.attr_changed(tag, "id")

    # -- recording -----------------------------------------------------------------------

    def _changes(self) -> _Record:
        record = self._record
        if record is None:
            record = self._record = _Record()
        return record

    def _mark(self) -> None:
        if not self._pending:
            self._pending = True
            if self.on_change is not None:
                self.on_change()

    @property
    def has_changes(self) -> bool:
        return self._pending

    def attr_changed(self, tag: Tag, name: str) -> None:
        attrs = self._changes().attrs
        names = attrs.get(tag)
        if names is None:
            attrs[tag] = {name}
        else:
            names.add(name)
        self._mark()

    def appended(self, parent: Tag, child: Any) -> None:
        """``child`` (a tag, text or a reactive slot) was added at the end of ``parent``'s
        children; a tag joins the tree."""
        if isinstance(child, Tag):
            self.attach(child)
        if parent.tag_name is None:
            self._fragment_changed(parent)
            return
        record = self._changes()
        if parent in record.reset:
            self._mark()
            return
        record.appended.setdefault(parent, []).append(child)
        if isinstance(child, Tag):
            record.new[child] = None
        self._mark()

    def removed(self, parent: Tag, child: Tag) -> None:
        """``child`` left ``parent``'s children, and the tree."""
        self._record_removal(parent, child)
        self.detach(child)

    def children_replaced(self, parent: Tag, old: Sequence[Any]) -> None:
        """``parent``'s children ``old`` were all removed at once (its new children follow
        through ``appended``, rendered with the parent's patch)."""
        for child in old:
            if isinstance(child, ChildSlot):
                child.release()
                for node in child.nodes:
                    if isinstance(node, Tag):
                        self.detach(node)
            elif isinstance(child, Tag):
                self.detach(child)
        self.reset(parent)

    def _record_removal(self, parent: Tag, child: Tag) -> None:
        if parent.tag_name is None:
            self._fragment_changed(parent)
            return
        record = self._changes()
        if child in record.new:
            del record.new[child]
            pending = record.appended.get(parent)
            if pending is not None:
                for i, c in enumerate(pending):
                    if c is child:
                        del pending[i]
                        break
        elif parent not in record.reset:
            record.removed.setdefault(parent, []).append(record.old_ids.get(child, child.id))
        self._mark()

    def reset(self, parent: Tag) -> None:
        """``parent``'s children were replaced wholesale."""
        if parent.tag_name is None:
            self._fragment_changed(parent)
            return
        record = self._changes()
        record.reset[parent] = None
        record.appended.pop(parent, None)
        record.removed.pop(parent, None)
        self._mark()

    def _fragment_changed(self, fragment: Tag) -> None:
        # A fragment has no element of its own: re-render the element that hosts it.
        host = fragment._parent
        while host is not None and host.tag_name is None:
            host = host._parent
        if host is None:
            raise ValueError("expected a fragment inside an element, got a fragment at the root")
        self.reset(host)

    def slot_changed(self, slot: Slot) -> None:
        with self.lock:
            if self._slots is None:
                self._slots = {}
            self._slots[slot] = None
            self._mark()

    def is_stale(self, slot: Slot) -> bool:
        """True when ``slot`` read a state that changed since it was last evaluated."""
        return self._slots is not None and slot in self._slots

    def request_update(self, throttle: float | None = None) -> None:
        """Ask the owner for an update even if nothing was recorded; ``throttle``: the
        least seconds since the previous update (``None``: the owner's default)."""
        with self.lock:
            if throttle is not None:
                self.throttle = throttle if self.throttle is None else min(self.throttle, throttle)
            self._pending = False
            self._mark()

    def take_throttle(self) -> float | None:
        """The smallest ``throttle`` asked for since the last call, or ``None``."""
        with self.lock:
            throttle, self.throttle = self.throttle, None
            return throttle

    def slot_failed(self, slot: Slot, exc: BaseException) -> None:
        """A reactive source raised ``exc`` while evaluating. The owner reports it
        (``take_failures``)."""
        what = "reactive attribute" if isinstance(slot, AttrSlot) else "reactive child"
        self.failures.append((f"{what} of {slot.owner!r}", exc))

    def take_failures(self) -> list[tuple[str, BaseException]]:
        """``(what failed, the exception)`` of the reactive sources that raised since the last call."""
        failures, self.failures = self.failures, []
        return failures

    def take_statics(self) -> list[str]:
        """Statics of components that appeared since the last call (each once)."""
        new, self._new_statics = self._new_statics, []
        return new

    @property
    def has_lifecycle(self) -> bool:
        """Hooks are pending (see ``take_lifecycle``)."""
        return bool(self._mounted or self._unmounted)

    def take_lifecycle(self) -> tuple[list[Tag], list[Tag]]:
        """``(unmounted, mounted)`` tags whose hooks must run, in order, since the last call."""
        unmounted, self._unmounted = self._unmounted, []
        mounted, self._mounted = [t for t in self._mounted if t._tree is self], []
        return unmounted, mounted

    def remount(self) -> None:
        """Queue ``on_unmount`` then ``on_mount`` for every live tag that has them (a page
        reload of the same app instance)."""
        for t in iter_subtree(self.app):
            if t._lt_hooks & UNMOUNT:
                self._unmounted.append(t)
        for t in iter_subtree(self.app):
            if t._lt_hooks & MOUNT and t not in self._mounted:
                self._mounted.append(t)

    def destroyable(self) -> list[Tag]:
        return [t for t in iter_subtree(self.app) if t._lt_hooks & DESTROY]

    def call_js(self, script: str) -> None:
        self._changes().js.append(script)
        self._mark()

    def mark_all(self) -> None:
        """Record the whole app as changed (a client must re-render everything)."""
        self.reset(self.app)
        self.attr_changed(self.app, HANDLER_ATTR)

    # -- collecting ----------------------------------------------------------------------

    def collect(self) -> tuple[list[PatchOp], list[str]]:
        """The patch operations and scripts since the last collect; clears the record.

        Call it holding ``lock``. Changes recorded while it renders (by a render with side
        effects) belong to the next collect."""
        self.collecting = True
        try:
            return self._collect()
        finally:
            self.collecting = False

    def take_update(self) -> Update:
        """What an update carries since the last call, taken: ``(ops, js, statics,
        failures, lifecycle)``, what ``collect``, ``take_statics`` and ``take_failures``
        return, and whether mount/unmount hooks wait (``take_lifecycle`` takes them).
        One call where an event's flush would make four. Call it holding ``lock``."""
        ops, js = self.collect() if self._pending else ([], [])
        statics, failures = self._new_statics, self.failures
        if statics:
            self._new_statics = []
        if failures:
            self.failures = []
        return ops, js, statics, failures, bool(self._mounted or self._unmounted)

    def _collect(self) -> tuple[list[PatchOp], list[str]]:
        removals: list[PatchOp] = []
        self._evaluate_slots(removals)
        record, self._record = self._record, None
        self._pending = False
        if record is None:
            return removals, []
        reset = record.reset
        if len(reset) == 1 and not (record.attrs or record.appended or record.removed or record.slot_ops
                                    or record.new):
            # One tag's children replaced and nothing else (``tag.text = ...``, an
            # event's usual change): no ancestor can cover it, nothing to order.
            (tag,) = reset
            if tag._tree is self:
                removals.append(_children_op(tag))
            return removals, record.js
        touched = set(record.attrs)
        touched.update(record.appended, record.removed, record.reset, record.slot_ops)
        entries: list[tuple[int, Tag]] = []
        new = record.new
        for tag in touched:
            if tag._tree is not self:
                continue
            depth = _uncovered_depth(tag, reset, new)
            if depth >= 0:
                entries.append((depth, tag))
        if len(entries) > 1:  # one change (an event's usual patch) needs no order
            entries.sort(key=_FIRST)
        ops: list[PatchOp] = []
        for _, tag in entries:
            names = record.attrs.get(tag)
            if names:
                address = record.old_ids.get(tag, tag.id)
                ops.append(SetAttrs(address, {n: _attr_patch_value(tag, n) for n in sorted(names)}))
            if tag in record.reset:
                ops.append(_children_op(tag))
                continue
            for child_id in record.removed.get(tag, ()):
                removals.append(Remove(child_id))
            ops.extend(record.slot_ops.get(tag, ()))
            appended = record.appended.get(tag)
            if appended:
                parts: list[str] = []
                raw = tag.tag_name in RAW_TEXT_ELEMENTS
                for child in appended:
                    render_child(child, parts, raw)
                ops.append(Append(tag.id, "".join(parts)))
        return removals + ops, record.js

    def _evaluate_slots(self, removals: list[PatchOp]) -> None:
        slots, self._slots = self._slots, None
        if not slots:
            return
        child_slots: list[tuple[int, ChildSlot]] = []
        for slot in slots:
            owner = cast(Tag, slot.owner)
            if owner._tree is not self:
                continue
            if isinstance(slot, AttrSlot):
                if slot.refresh():
                    self.attr_changed(owner, slot.name)
            elif isinstance(slot, ChildSlot) and slot in owner._children:
                child_slots.append((sum(1 for _ in iter_ancestors(owner)), slot))
        # Shallow first: a reset found on the way covers the slots below it.
        child_slots.sort(key=_FIRST)
        for _, slot in child_slots:
            parent = cast(Tag, slot.owner)
            record = self._record
            if record is not None and (parent in record.reset
                                       or _uncovered_depth(parent, record.reset, record.new) < 0):
                continue  # the parent is re-rendered whole, which re-evaluates the slot
            if parent.tag_name is None:
                self.reset(parent)  # a fragment has no element to address: its host re-renders
                continue
            done = slot.refresh()
            anchor = _anchor_after(parent, slot)
            if anchor is _NO_ANCHOR or not done.elements:
                slot.fresh = True  # the parent's re-render uses these nodes, not a second evaluation
                self.reset(parent)  # text has no id to patch: re-render the parent
                continue
            # Only the middle changed: the nodes of the head and tail stay where they are.
            new, end = done.new, len(done.new) - done.tail
            if done.tail:
                anchor = new[end].id
            gone, ops = reconcile(parent.id, done.old_ids, new[done.head:end], anchor, done.changed)
            removals.extend(gone)
            if ops:
                self._changes().slot_ops.setdefault(parent, []).extend(ops)


#: ``LiveTree.take_update``'s result (a plain tuple: it is made for every event).
Update = tuple[list[PatchOp], list[str], list[str], list[tuple[str, BaseException]], bool]


class _Record:
    """What changed in a tree since its last collect, which takes it whole."""

    __slots__ = ("appended", "attrs", "js", "new", "old_ids", "removed", "reset", "slot_ops")

    def __init__(self) -> None:
        self.attrs: dict[Tag, set[str]] = {}
        self.appended: dict[Tag, list[Any]] = {}
        self.removed: dict[Tag, list[str]] = {}
        self.reset: dict[Tag, None] = {}  # sets kept as dicts (keys only): ordered, and smaller empty
        self.new: dict[Tag, None] = {}
        self.old_ids: dict[Tag, str] = {}
        self.slot_ops: dict[Tag, list[PatchOp]] = {}
        self.js: list[str] = []


#: Sort key of ``(depth, item)`` pairs: shallow first.
_FIRST = itemgetter(0)


def _uncovered_depth(tag: Tag, reset: dict[Tag, None], new: dict[Tag, None]) -> int:
    """``tag``'s depth, or -1 when a pending patch of an ancestor already renders it."""
    if tag in new:
        return -1
    depth = 0
    node = tag._parent
    while node is not None:
        if node in reset or node in new:
            return -1
        depth += 1
        node = node._parent
    return depth


_NO_ANCHOR: Any = object()


def _anchor_after(parent: Tag, slot: ChildSlot) -> Any:
    """The id of the first element after ``slot`` among ``parent``'s children, ``None``
    when nothing follows, ``_NO_ANCHOR`` when text (which has no id) follows first."""
    children = parent._children
    for child in children[children.index(slot) + 1 :]:
        if isinstance(child, ChildSlot):
            if not child.nodes:
                continue
            child = child.nodes[0]
        if isinstance(child, Tag) and child.tag_name is not None:
            return child.id
        if isinstance(child, str) and not child:
            continue
        return _NO_ANCHOR
    return None


def _attr_patch_value(tag: Tag, name: str) -> str | None:
    if name == HANDLER_ATTR:
        return handler_spec(tag)
    if name == "id":
        return tag.id
    value = tag._attrs.get(name)
    if isinstance(value, AttrSlot):
        value = value.current()
    rendered = render_attr_value(value)
    if rendered is True:
        return ""
    return rendered


def _children_op(tag: Tag) -> PatchOp:
    children = tag._children
    if tag.tag_name == "textarea" and "value" in tag._attrs:
        return SetText(tag.id, str(tag["value"] or ""))
    if only_text(children):  # plain text (tag.text = ...): nothing to render
        return SetText(tag.id, "".join(children))
    html = render_children_html(tag)  # refreshes reactive slots, so _nodes() is current
    nodes = list(tag._nodes()) if len(children) < 8 else children
    if all(isinstance(c, str) and not isinstance(c, HTML) for c in nodes):
        return SetText(tag.id, "".join(nodes))
    return SetHtml(tag.id, html)


__all__ = ["LiveTree"]
