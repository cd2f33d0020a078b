"""Reactive slots: attributes and children computed from states, and keyed reconciliation.

A *slot* is one place in the tree whose content comes from a ``State`` or a callable:
``Tag.div(lambda: ...)`` (a child slot) or ``Tag.div(_class=lambda: ...)`` (an attribute
slot). Evaluating a slot records the states it read; when one of them changes, the slot
is re-evaluated at the next update and only its difference is sent.

A child slot that yields tags is reconciled by key, as keyed lists are in React or
Phoenix LiveView streams: the key of a tag is its ``key=`` argument when given, else the
tag object itself. Unchanged items are reused (no bytes), removed ones get ``["-", id]``,
new ones ``["i", parent, before, html]``, moved ones ``["m", id, parent, before]`` (only
those outside the longest increasing subsequence of old positions move), and an item
whose explicit key matches an old item but renders differently ``["o", id, html]``.
"""

from __future__ import annotations

import gc
import re
import sys
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from ..protocol.patch import Insert, Morph, Move, PatchOp, Remove
from .building import builders
from .html import HTML
from .node import NO_ATTRS, Node
from .state import State, tracking

Source = State | Callable[[], Any]
#: Above this many rows, a refresh holds the garbage collector off while it builds and
#: compares (see ``ChildSlot.refresh``).
_GC_PAUSE_ROWS = 64
#: What ``Slot.evaluate`` returns when the source raised inside a live tree.
FAILED: Any = type("Failed", (), {"__repr__": lambda self: "FAILED", "__slots__": ()})()


class Slot:
    """A reactive place owned by ``owner``: evaluates ``source`` while tracking reads."""

    __slots__ = ("owner", "source", "sources")

    def __init__(self, owner: Node, source: Source) -> None:
        self.owner = owner
        self.source = source
        self.sources: list[State] = []

    def evaluate(self) -> Any:
        source = self.source
        if isinstance(source, State):
            # Its one dependency is the state itself: subscribe once, no tracking pass.
            if self.owner._tree is None:
                self.release()
            elif not self.sources:
                self.sources = [source]
                source._subscribers.add(self)
            return source._value
        self.release()
        previous = tracking.slot
        tracking.slot = self
        # Tags the source builds are its output, not children of a tag being built.
        building = builders()
        barrier = bool(building)
        if barrier:
            building.append(None)
        tree = self.owner._tree
        try:
            value = source()
        except Exception as exc:
            if tree is None:
                raise  # a plain render: the caller sees the error
            # In a live tree the page keeps what it shows and the session reports the
            # error; the states read before it stay subscribed, so a fix retries.
            tree.slot_failed(self, exc)
            value = FAILED
        finally:
            tracking.slot = previous
            if barrier:
                building.pop()
        if tree is not None:  # only live slots are kept alive by their states
            for state in self.sources:
                state._subscribers.add(self)
        else:
            self.sources = []
        return value

    def release(self) -> None:
        for state in self.sources:
            state._subscribers.discard(self)
        self.sources = []

    def invalidate(self) -> None:
        tree = self.owner._tree
        if tree is not None:
            tree.slot_changed(self)


class AttrSlot(Slot):
    """An attribute whose value is computed; ``value`` is the last evaluated value."""

    __slots__ = ("fresh", "name", "value")

    def __init__(self, owner: Node, name: str, source: Source) -> None:
        super().__init__(owner, source)
        self.name = name
        self.value: Any = None
        self.fresh = False

    def current(self) -> Any:
        if not self.fresh:
            self.refresh()
        return self.value

    def refresh(self) -> bool:
        """Re-evaluate; True when the value changed (a failed evaluation keeps the last
        value)."""
        value = self.evaluate()
        if value is FAILED:
            self.fresh = True
            return False
        if isinstance(value, State):
            value = value.get()
        changed = not self.fresh or value != self.value or type(value) is not type(self.value)
        self.value = value
        self.fresh = True
        return changed


class Refreshed(NamedTuple):
    """What ``ChildSlot.refresh`` did: ``new`` replaced ``old``. Their first ``head`` and
    last ``tail`` nodes are the same objects, in place (nothing to patch there); the
    middle, ``old[head:len(old) - tail]`` -> ``new[head:len(new) - tail]``, is what
    changed. ``old_ids``: the element ids the old middle had (before a new tag took one);
    ``changed``: ids of new tags that took an old element and render differently;
    ``elements``: both lists hold elements only (tags with an element name, each
    addressable by its id)."""

    old: list[Any]
    new: list[Any]
    head: int
    tail: int
    old_ids: list[str]
    changed: set[str]
    elements: bool


class ChildSlot(Slot):
    """Children computed by ``source``: text, a tag, or an iterable of them."""

    __slots__ = ("elements", "evaluated", "fresh", "nodes")

    def __init__(self, owner: Node, source: Source) -> None:
        super().__init__(owner, source)
        self.nodes: list[Any] = []
        self.fresh = False  # nodes were just evaluated: the next render may use them as they are
        self.evaluated = False
        self.elements = True  # every entry of nodes is an element (_elements)

    def current(self) -> list[Any]:
        """The nodes to render: evaluated now, unless they just were, or unless this is a
        live tree rendered outside a patch (a page load, ``str(tag)``): re-evaluating
        there would swap tags under the pages' feet with no patch to tell them."""
        if self.fresh:
            self.fresh = False
        elif not self.evaluated:
            self.refresh()
        else:
            tree = self.owner._tree
            if tree is None or tree.collecting:
                self.refresh()
            elif tree.is_stale(self):
                # Show the new output, but leave the live tree to the next patch.
                value = self.evaluate()
                return self.nodes if value is FAILED else flatten(value)
        return self.nodes

    def refresh(self) -> Refreshed:
        """Re-evaluate and re-parent (see ``Refreshed``). A new item that takes an old
        item's element swaps ids with it."""
        parent = self.owner
        tree = parent._tree
        old = self.nodes
        # A list source builds a tag per row, most of which die a moment later in
        # _common_ends: young-generation collections meanwhile would only walk them.
        collecting = len(old) > _GC_PAUSE_ROWS and gc.isenabled()
        if collecting:
            gc.disable()
        try:
            value = self.evaluate()
            self.evaluated = True
            if value is FAILED:
                return Refreshed(old, old, len(old), 0, [], set(), self.elements)
            kind = value.__class__
            if (kind is str or kind is int or kind is float) and (not old or (len(old) == 1
                                                                              and old[0].__class__ is str)):
                # Text for text (a state shown as it is: a counter's value): nothing to
                # match, re-parent or detach.
                self.nodes = new = [value if kind is str else str(value)]
                self.elements = False
                return Refreshed(old, new, 0, 0, [], set(), False)
            # Rows that render as before (most of them, when one item of a list changed) stay
            # the live tags they are, when nothing tells them from the throwaway ones the
            # source just built: only the rest (the middle) is matched and re-parented.
            # What stands for an old row is a tag or text as it is: a list's rows are
            # compared first, and only the middle goes through flatten (which turns None,
            # numbers and nested lists into rows).
            rows = tree is not None and (type(value) is list or type(value) is tuple)
            new = list(value) if rows else flatten(value)  # a copy: the list may be the app's
            del value  # from here on only ``new`` refers to what the source built (see _alike)
            head, tail = _common_ends(old, new) if tree is not None else (0, 0)
            end = len(new) - tail
            if rows and head < end:
                new[head:end] = flatten(new[head:end])
        finally:
            if collecting:
                gc.enable()
        changed: set[str] = set()
        old_mid = old[head:len(old) - tail] if head or tail else old
        new_mid = new[head:len(new) - tail] if head or tail else new
        old_ids = [n.id for n in old_mid if isinstance(n, Node)]
        # The head and tail of ``new`` are old nodes: only the middle can bring non-elements.
        elements = self.elements and _elements(new_mid)
        self.elements = elements if self.elements else _elements(new)
        self.nodes = new
        result = Refreshed(old, new, head, tail, old_ids, changed, elements)
        if not old_mid and not new_mid:
            return result
        keyed_old = {n._key: n for n in old_mid if isinstance(n, Node) and n._key is not None}
        old_set = {id(n) for n in old_mid}
        if keyed_old:
            for n in new_mid:
                if isinstance(n, Node) and n._key is not None and id(n) not in old_set:
                    previous = keyed_old.get(n._key)
                    if previous is not None and previous.tag_name == n.tag_name:
                        before = _html(previous)
                        adopt_ids(previous, n)
                        if _html(n) != before:
                            changed.add(n.id)
        new_set = {id(n) for n in new_mid}
        # New objects only, never a tag that is live elsewhere in the tree (its id is in use).
        fresh = [n for n in new_mid if isinstance(n, Node) and n._key is None and id(n) not in old_set
                 and n._tree is None]
        if fresh:
            leaving = [n for n in old_mid if isinstance(n, Node) and n._key is None and id(n) not in new_set]
            if leaving:
                changed.update(match_unkeyed(leaving, fresh))
        for n in old_mid:
            if isinstance(n, Node) and id(n) not in new_set:
                n._parent = None
                if tree is not None:
                    tree.detach(n)
        for n in new_mid:
            if isinstance(n, Node) and id(n) not in old_set:
                if n._parent is not None and n._parent is not parent:
                    n._parent._detach_child(n)
                n._parent = parent
                if tree is not None:
                    tree.attach(n)
        return result


def _elements(nodes: list[Any]) -> bool:
    """True when every node is an element: a tag with an element name (not text, not a
    fragment), which a patch can address by its id."""
    return all(isinstance(n, Node) and n.tag_name is not None for n in nodes)


def match_unkeyed(leaving: list[Node], fresh: list[Node]) -> set[str]:
    """Pair new unkeyed tags with old ones that leave, as a virtual-DOM differ does, so
    that a list rebuilt from scratch (``lambda: [Tag.li(x) for x in items]``) costs only
    what changed. Pairs that render the same keep their element and send nothing; the
    rest keep their element and are morphed. Matching goes: the common head and tail in
    order (cheap, ``same_render``), then the middle by content (the same HTML but for
    generated ids), then what is left in order, by element name. A paired new tag takes
    the old one's ids (``adopt_ids``). Returns the ids of the morphed ones."""
    head = 0
    limit = min(len(leaving), len(fresh))
    while head < limit and same_render(leaving[head], fresh[head]):
        adopt_ids(leaving[head], fresh[head])
        head += 1
    tail = 0
    while tail < limit - head and same_render(leaving[-1 - tail], fresh[-1 - tail]):
        adopt_ids(leaving[-1 - tail], fresh[-1 - tail])
        tail += 1
    leaving = leaving[head:len(leaving) - tail]
    fresh = fresh[head:len(fresh) - tail]
    morphed: set[str] = set()
    if not leaving or not fresh:
        return morphed
    by_content: dict[str, list[Node]] = {}
    for n in leaving:
        by_content.setdefault(_signature(n), []).append(n)
    paired: set[int] = set()
    unmatched: list[Node] = []
    for n in fresh:
        bucket = by_content.get(_signature(n))
        if bucket:
            previous = bucket.pop(0)
            adopt_ids(previous, n)
            paired.add(id(previous))
        else:
            unmatched.append(n)
    rest = [n for n in leaving if id(n) not in paired]
    start = 0
    for n in unmatched:
        for i in range(start, len(rest)):
            if rest[i].tag_name == n.tag_name:
                adopt_ids(rest[i], n)
                morphed.add(n.id)
                start = i + 1
                break
    return morphed


def _common_ends(old: list[Any], new: list[Any]) -> tuple[int, int]:
    """``(head, tail)``: how many leading and trailing entries of ``new`` may stand for
    those of ``old`` as they are: the same object or text, or a tag ``_alike`` the old
    one, which then takes its place in ``new``."""
    limit = min(len(old), len(new))
    head = _standing(old, new, range(limit))
    return head, _standing(old, new, range(-1, head - limit - 1, -1))


def _standing(old: list[Any], new: list[Any], indexes: range) -> int:
    """How many entries of ``new``, at ``indexes`` in turn, stand for those of ``old``
    (see ``_common_ends``). Every row of a list lambda goes through this loop, so the
    usual row (a tag with text children only, no attribute, no handler) is checked
    inline, as ``_alike`` would check it; others go to ``_alike``."""
    count = 0
    # Whether the rows' class is a Node without lifecycle hooks, found when the class
    # changes (the rows of a list share one; a hook is a class attribute, which reading
    # through each row would look for in its dict first).
    kind: Any = str
    plain = False
    for i in indexes:
        a = old[i]
        b = new[i]
        if b is not a:
            if type(a) is not kind:
                kind = type(a)
                if kind is not str and not issubclass(kind, Node):
                    break
                plain = kind is not str and not getattr(kind, "_lt_hooks", 1)
            if kind is str:
                if type(b) is not str or b != a:
                    break
            else:
                if (plain and kind is type(b) and type(a._children) is tuple
                        and a._children == b._children and a._key == b._key
                        and a._attrs is NO_ATTRS and b._attrs is NO_ATTRS and a._handlers is None
                        and b._handlers is None and b._tree is None and not b.__dict__
                        # ``new`` alone refers to it (the local ``b`` is counted in _ALONE_BOUND).
                        and not _getweakrefcount(b) and _getrefcount(b) == _ALONE_BOUND):
                    new[i] = a
                else:
                    del b  # this frame's own reference would count in _alike's
                    if not _alike(a, new, i):
                        break
                    new[i] = a
        count += 1
    return count


def _alike(old: Any, nodes: list[Any], i: int) -> bool:
    """True when nobody can tell the tag ``nodes[i]`` from ``old`` (a live tag), so that
    ``old`` may stay in the tree in its place: it renders the same (as ``same_render``
    checks), has the same type, key and equal handlers (a new lambda is not equal: it
    may see other values), no lifecycle hooks, the new tag no instance attributes, and
    nothing but ``nodes`` refers to it nor to a tag inside it (no dict, closure or weak
    reference of the app's: a tag the app holds must become the live one, as the app
    expects). References are counted with ``sys.getrefcount``; the count can only err
    upwards, which costs time (the new tag takes the old one's ids), never correctness.

    The live tag's own instance attributes are not looked at: reading ``__dict__`` makes
    one (an empty dict per row of a list: 70 KiB for 1,000 rows), and what the source
    gives a tag, the new one has too. So attributes that code set on a live tag after it
    was built stay with it."""
    new = nodes[i]
    # Cheapest first; the type check makes ``new`` a Node (``old`` is one).
    if type(old) is not type(new) or new._tree is not None or old._key != new._key or old._lt_hooks:
        return False
    children_a, children_b = old._children, new._children
    if len(children_a) != len(children_b):
        return False
    attrs_a, attrs_b = old._attrs, new._attrs
    if attrs_a or attrs_b:
        if attrs_a != attrs_b or list(attrs_a) != list(attrs_b):  # the order shows in the HTML
            return False
        for name, value in attrs_a.items():
            # The type too: True == 1, but they render differently.
            if isinstance(value, Slot) or type(value) is not type(attrs_b[name]):
                return False
    ha, hb = old._handlers, new._handlers
    if ha or hb:
        if not ha or not hb or list(ha) != list(hb):
            return False
        for name, h in ha.items():
            other = hb[name]
            if other.func != h.func or other.prevent != h.prevent or other.stop != h.stop:
                return False
    if new.__dict__:
        return False
    back = 0  # child tags refer to their parent
    a: Any = None
    if type(children_a) is tuple and type(children_b) is tuple:
        # Tuples of children hold exact strs only (Node._children): compared in C.
        if children_a != children_b:
            return False
        children_a = ()
    for j in range(len(children_a)):
        a = children_a[j]
        if type(a) is str:
            if type(children_b[j]) is not str or children_b[j] != a:
                return False
        elif isinstance(a, Node):
            if not isinstance(children_b[j], Node) or children_b[j]._parent is not new:
                return False
            back += 1
        elif isinstance(a, Slot) or type(a) is not type(children_b[j]) or a != children_b[j]:
            return False
    del new, a  # this frame's own references would count
    # The same expression as _refs (which measured _ALONE), so the same count.
    if _getweakrefcount(nodes[i]) or _getrefcount(nodes[i]) - back != _ALONE:
        return False
    if back:
        for j in range(len(children_a)):
            if isinstance(children_a[j], Node) and not _alike(children_a[j], children_b, j):
                return False
    return True


_getweakrefcount = weakref.getweakrefcount
# CPython's; elsewhere no tag is kept (_ALONE below never matches).
_getrefcount: Callable[[Any], int] = getattr(sys, "getrefcount", lambda obj: 0)


def _refs(nodes: list[Any], i: int) -> int:
    return _getrefcount(nodes[i])


class _Probe:
    __slots__ = ()


def _bound_refs(nodes: list[Any], i: int) -> int:
    b = nodes[i]
    return _getrefcount(b)


#: What ``_getrefcount(nodes[i])`` counts for an object that ``nodes`` alone refers to
#: (once): measured, not assumed, as the call's own references differ between versions.
_ALONE = _refs([_Probe()], 0) if hasattr(sys, "getrefcount") else -(1 << 62)  # never matches
#: The same with the object also bound to one local name (``_standing``'s ``b``).
_ALONE_BOUND = _bound_refs([_Probe()], 0) if hasattr(sys, "getrefcount") else -(1 << 62)


def same_render(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` (tags or text) surely render the same HTML but for
    generated ids. ``False`` may be wrong (reactive parts are not compared), never
    ``True``: a false ``False`` costs bytes, a false ``True`` would lose an update."""
    if type(a) is not type(b):
        return False
    if not isinstance(a, Node):
        return bool(a == b)
    if a.tag_name != b.tag_name or len(a._children) != len(b._children):
        return False
    ha, hb = a._handlers, b._handlers
    if (ha or hb) and ([(k, h.flags) for k, h in (ha or {}).items()] != [(k, h.flags) for k, h in (hb or {}).items()]):
        return False
    attrs_a, attrs_b = a._attrs, b._attrs
    if len(attrs_a) != len(attrs_b):
        return False
    for name, value in attrs_a.items():
        other = attrs_b.get(name, _MISSING)
        # The type too: True == 1, but they render differently.
        if type(value) is not type(other) or isinstance(value, Slot) or value != other:
            return False
    for x, y in zip(a._children, b._children, strict=False):
        if isinstance(x, Slot) or not same_render(x, y):
            return False
    return True


_MISSING: Any = object()


def _signature(tag: Node) -> str:
    """``tag``'s HTML without its generated ids: equal for equal content."""
    return _GENERATED_ID.sub("", _html(tag))


_GENERATED_ID = re.compile(r' id="lt[0-9a-z]+"')


def _html(tag: Node) -> str:
    # Not tag.render(): a component may define its own render() method.
    out: list[str] = []
    tag._render_into(out)
    return "".join(out)


def flatten(value: Any) -> list[Any]:
    """Normalise a slot's value to a list of tags and strings (``None`` -> nothing)."""
    if type(value) is list or type(value) is tuple:
        # A list lambda's usual output, tags and strings only, is taken as it is (a copy:
        # the list may be the app's). Its types are gathered in C, not one item at a time.
        for kind in set(map(type, value)):
            if not issubclass(kind, (Node, str)):
                break
        else:
            return list(value)
    out: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or item is False:
            continue
        if isinstance(item, (Node, HTML)):
            out.append(item)
        elif isinstance(item, State):
            stack.append(item.get())
        elif isinstance(item, str):
            out.append(item)
        elif isinstance(item, (int, float)):
            out.append(str(item))
        elif isinstance(item, Iterable):
            stack.extend(reversed(list(item)))
        else:
            out.append(str(item))
    return out


def adopt_ids(old: Node, new: Node) -> None:
    """Give ``new``'s subtree the generated ids of ``old``'s where the shapes match, so
    that the browser's elements stay the same ones. The ids are swapped, not copied: a
    tag the app keeps and shows again later must not come back with a live tag's id."""
    pairs = [(old, new)]
    while pairs:
        a, b = pairs.pop()
        if a.tag_name != b.tag_name:
            continue
        a._lt_id, b._lt_id = b._lt_id, a._lt_id
        a_tags = [c for c in a._children if hasattr(c, "_lt_id")]
        b_tags = [c for c in b._children if hasattr(c, "_lt_id")]
        pairs.extend(zip(a_tags, b_tags, strict=False))


def reconcile(parent_id: str, old_ids: list[str], new: list[Node], anchor: str | None,
              changed: set[str]) -> tuple[list[PatchOp], list[PatchOp]]:
    """Patch operations turning the element list ``old_ids`` into ``new`` (see the module
    docstring). ``anchor`` is the id of the element after the list (``None``: the end).
    Returns ``(removals, ops)``; apply removals first, then ``ops`` in order."""
    new_ids = [n.id for n in new]
    if new_ids == old_ids:  # the same elements in the same order (a row changed in place)
        return [], [Morph(nid, _html(node)) for node, nid in zip(reversed(new), reversed(new_ids), strict=True)
                    if nid in changed] if changed else []
    position = {oid: i for i, oid in enumerate(old_ids)}
    kept = set(new_ids)
    removals: list[PatchOp] = [Remove(oid) for oid in old_ids if oid not in kept]
    stable = _lis_members([position[i] for i in new_ids if i in position])
    ops: list[PatchOp] = []
    run: list[str] = []  # html of consecutive new items, last first
    run_first: str | None = None
    for node, nid in zip(reversed(new), reversed(new_ids), strict=False):
        if nid in position:
            if run:
                ops.append(Insert(parent_id, anchor, "".join(reversed(run))))
                anchor, run = run_first, []
            if position[nid] not in stable:
                ops.append(Move(nid, parent_id, anchor))
            if nid in changed:
                ops.append(Morph(nid, _html(node)))
            anchor = nid
        else:
            run.append(_html(node))
            run_first = nid
    if run:
        ops.append(Insert(parent_id, anchor, "".join(reversed(run))))
    return removals, ops


def _lis_members(seq: list[int]) -> set[int]:
    """The values of one longest strictly increasing subsequence of ``seq``."""
    tails: list[int] = []
    tail_index: list[int] = []
    previous = [-1] * len(seq)
    for i, value in enumerate(seq):
        k = bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tail_index.append(i)
        else:
            tails[k] = value
            tail_index[k] = i
        previous[i] = tail_index[k - 1] if k else -1
    members: set[int] = set()
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        members.add(seq[i])
        i = previous[i]
    return members
