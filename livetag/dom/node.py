"""The contract between tags and the live tree they may belong to.

``Node`` is the data every tag carries (``livetag.dom.tag.Tag`` is its only subclass):
the reactive layer and the live tree work on it without importing ``Tag``. ``Recorder``
is what a tag tells the live tree it belongs to (``livetag.dom.tree.LiveTree``
implements it): a tag outside any tree records nothing, so building a tree costs no
bookkeeping. Both live here, in a module that imports nothing of livetag, so that
``tag``, ``reactive`` and ``tree`` depend on it and never on each other in a cycle.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol


class _NoAttrs(dict):  # type: ignore[type-arg]
    """The attributes of a tag that has none: one empty mapping shared by all of them
    (most tags of a page have no attribute: a dict each would cost an allocation and 64
    bytes). Reads work as on any dict; writes raise, as a tag must take its own dict
    first (``Node._own_attrs``)."""

    __slots__ = ()

    def _shared(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("expected a tag's own attribute dict (Node._own_attrs()) to write to, "
                        "got the empty one all tags without attributes share")

    __setitem__ = setdefault = update = __ior__ = _shared


#: ``_attrs`` of every tag without attributes.
NO_ATTRS: dict[str, Any] = _NoAttrs()
#: The numbers of generated ids: process-wide, so ids are unique in a process and reveal
#: no address.
_ids = itertools.count(1)


class Node:
    """An element (or fragment) of the tag tree: the fields, not the API.

    ``_lt_id`` generated id (``""`` until ``_generated_id()`` makes it); ``_attrs``
    attributes (values, or reactive slots; the shared ``NO_ATTRS`` while there are none);
    ``_children`` tags, text and reactive slots (a list; a tuple of exact ``str`` while
    they are the text given to the constructor, or none); ``_parent``; ``_tree`` the
    recorder of the live tree it is in, or ``None``; ``_handlers`` event name -> handler;
    ``_key`` the identity in a reactive list (``key=``), or ``None``. Write to ``_attrs``
    and ``_children`` through ``_own_attrs()`` and ``_own_children()``.
    """

    __slots__ = ("__dict__", "__weakref__", "_attrs", "_children", "_handlers", "_key", "_lt_id", "_parent", "_tree")

    #: The element name; ``None`` for a fragment.
    tag_name: ClassVar[str | None] = None
    _lt_id: str
    _attrs: dict[str, Any]
    _children: list[Any] | tuple[Any, ...]
    _parent: Node | None
    _tree: Recorder | None
    _handlers: dict[str, Any] | None
    _key: Any
    #: Which lifecycle hooks the class defines (``livetag.dom.tag``'s MOUNT | UNMOUNT | DESTROY).
    _lt_hooks: ClassVar[int]

    @property
    def id(self) -> str:
        raise NotImplementedError

    def _generated_id(self) -> str:
        """The generated id, ``lt`` + a number in hex, made on first use: a tag built and
        thrown away (a list lambda's row that renders like the live one) never needs one."""
        lt_id = self._lt_id
        if not lt_id:
            new = "lt%x" % next(_ids)  # noqa: UP031 - formatted in C, ids are made for every tag shown
            # No call between the test and the store (the GIL is not released there): two
            # threads asking at once both get the id that was stored first.
            if not self._lt_id:
                self._lt_id = new
            lt_id = self._lt_id
        return lt_id

    def _own_attrs(self) -> dict[str, Any]:
        """The attributes as a dict of this tag's own, to write to."""
        attrs = self._attrs
        if attrs is NO_ATTRS:
            attrs = self._attrs = {}
        return attrs

    def _own_children(self) -> list[Any]:
        """The children as a list of this tag's own, to change."""
        children = self._children
        if type(children) is tuple:
            children = self._children = list(children)
        return children  # type: ignore[return-value]

    def _render_into(self, out: list[str]) -> None:
        """Append this node's HTML to ``out``."""
        raise NotImplementedError

    def _detach_child(self, child: Node) -> None:
        """Forget ``child`` (a direct child tag), recording the removal."""
        raise NotImplementedError


class Recorder(Protocol):
    """What tags and reactive slots tell the live tree they belong to.

    Membership: ``attach(node)`` / ``detach(node)`` make a subtree part of the tree or not
    (ids indexed, hooks queued). Changes, each recorded in O(1) for the next patch:
    ``appended`` (a child at the end; a tag child is attached), ``removed`` (a child tag,
    detached), ``children_replaced`` (all children at once, the old ones detached),
    ``attr_changed``, ``renamed`` (the element id changed from ``old_id``), ``call_js``.
    Reactive slots: ``slot_changed`` (a state it read changed), ``slot_failed`` (its
    source raised ``exc``), ``is_stale``, and
    ``collecting`` (a patch is being rendered). ``lookup`` finds a live tag by id,
    ``request_update`` asks for an update (at most one per ``throttle`` seconds),
    ``lock`` guards every change (threads may mutate), ``app`` is the root, ``topics``
    where the subscriptions of its tags go.
    """

    lock: threading.RLock
    app: Any
    collecting: bool
    @property
    def topics(self) -> Any:
        """The session's side of publish/subscribe (a ``dom.topics.TopicHost``), or ``None``."""

    # Nodes are typed Any here: the tree works on ``Tag``, the one ``Node`` subclass,
    # which this module cannot name.
    def lookup(self, tag_id: str) -> Any: ...
    def attach(self, node: Any) -> None: ...
    def detach(self, node: Any) -> None: ...
    def appended(self, parent: Any, child: Any) -> None: ...
    def removed(self, parent: Any, child: Any) -> None: ...
    def children_replaced(self, parent: Any, old: Sequence[Any]) -> None: ...
    def attr_changed(self, tag: Any, name: str) -> None: ...
    def renamed(self, tag: Any, old_id: str) -> None: ...
    def call_js(self, script: str) -> None: ...
    def request_update(self, throttle: float | None = None) -> None: ...
    def slot_changed(self, slot: Any) -> None: ...
    def slot_failed(self, slot: Any, exc: BaseException) -> None: ...
    def is_stale(self, slot: Any) -> bool: ...
