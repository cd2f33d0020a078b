"""``Tag``: the element tree a livetag UI is written in.

``Tag.div(...)`` is an element, ``class Card(Tag.div)`` a component, ``Tag.App`` the root
of an application. Tags are plain Python objects; while a tag is part of a mounted tree
(a ``LiveTree``), every mutation is recorded there so the next update carries only what
changed. Outside a live tree, mutations are free.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, cast

from ..errors import NotInSession, TreeError
from .building import _stack as _building
from .building import builders
from .css import scope_class
from .events import Handler, as_handler, caller_source, check_handler, misused_handler
from .files import host_of, make_download
from .node import NO_ATTRS, Node, Recorder
from .reactive import AttrSlot, ChildSlot
from .render import (
    HANDLER_ATTR,
    handler_spec,
    render_attr_value,
    render_attrs,
    render_children_html,
    render_html,
    render_into,
)
from .state import State
from .topics import check_topic

_ROOT: type | None = None  # Tag, once defined (see _TagFactory)
_INSTANCE_API: frozenset[str] = frozenset()
_element_classes: dict[str, type[Tag]] = {}


#: The request (a Starlette ``Request`` or ``WebSocket``) of the interaction being run.
#: Set by the session around every call into user code; read through ``Tag.request``.
current_request: contextvars.ContextVar[Any] = contextvars.ContextVar("livetag_request", default=None)


def attr_name(keyword: str) -> str:
    """``"_data_id"`` -> ``"data-id"``; ``"_class"`` -> ``"class"``."""
    return keyword[1:].replace("_", "-")


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a mutator under its live tree's lock, so that threads may mutate safely."""

    def locked(self: Tag, *args: Any, **kwargs: Any) -> Any:
        tree = self._tree
        if tree is None:
            return method(self, *args, **kwargs)
        with tree.lock:
            return method(self, *args, **kwargs)

    locked.__name__ = method.__name__
    locked.__qualname__ = method.__qualname__
    locked.__doc__ = method.__doc__
    return locked


class _TagFactory(type):
    """The metaclass of ``Tag``: ``Tag.<name>`` is the element class of ``<name>``
    (``my_widget`` -> ``<my-widget>``), made on first use (``__getattr__``) and kept as an
    attribute of this metaclass, so that the next ``Tag.li`` is found by Python's own
    lookup, without a call (a list of 1,000 rows makes 1,000 of them).

    On ``Tag`` itself, a name of the tag API (``Tag.add``, ``Tag.text``...) is not an
    element: it raises ``AttributeError``, so that a typo never builds an ``<add>``
    element nor hands out an unbound method (``_NotOnTag``). Tag's subclasses are made
    with ``_TagClass``, which reads those names as usual."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> _TagFactory:
        if mcs is _TagFactory and _ROOT is not None:
            mcs = _TagClass
        return super().__new__(mcs, name, bases, namespace, **kwargs)

    def __getattr__(cls, name: str) -> type[Tag]:
        # Python calls it only when its lookup failed: a name not made into a class yet.
        if cls is _ROOT and name in _INSTANCE_API:
            raise AttributeError(
                f"Tag.{name} is the {name!r} member of tags, not an element factory: "
                f"call it on a tag (tag.{name}), or build <{name}> with "
                f"livetag.dom.tag.element_class({name!r})"
            )
        if cls is not _ROOT or name.startswith("_"):
            raise AttributeError(f"type object {cls.__name__!r} has no attribute {name!r}")
        return element_class(name)


class _TagClass(_TagFactory):
    """The metaclass of Tag's subclasses: each name of the tag API is ``None`` here, which
    hides ``_TagFactory``'s ``_NotOnTag`` (a class reads its methods as any class does)."""


class _NotOnTag:
    """``_TagFactory``'s attribute for a name of the tag API: ``Tag.<name>`` raises
    ``AttributeError``, and ``__getattr__`` says why. A data descriptor, as one on the
    metaclass comes before the class's own attributes in Python's lookup."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, cls: Any, meta: Any = None) -> Any:
        raise AttributeError(self.name)

    def __set__(self, cls: Any, value: Any) -> None:
        raise AttributeError(f"Tag.{self.name} is the tag API: set {self.name!r} on a subclass of Tag")


class Tag(Node, metaclass=_TagFactory):
    """An HTML element, or a component when subclassed.

    ``Tag.div(*children, _class="x", _onclick=handler, name=value)``:

    - positional arguments go to ``init()``; the default ``init`` adds them as children
      (tags, strings (escaped), ``HTML`` (raw), numbers, ``None`` (ignored), iterables);
    - ``_attr=value`` sets the HTML attribute ``attr`` (inner underscores become dashes);
      ``True`` renders a boolean attribute, ``False``/``None`` omits it; a callable for
      ``_on<event>`` is an event handler;
    - other keyword arguments become instance attributes before ``init()`` runs, and are
      passed to ``init()`` too when it names them (or takes ``**kwargs``); see
      ``_take_keywords`` for names of the tag API.

    Tags created while ``init()`` runs, or inside a ``with tag:`` block, join that tag
    (htag's rule; ``livetag.dom.building``). ``Tag()`` (no element name) is a fragment:
    its children render without a wrapper.
    """

    #: CSS scoped to this component: a rule matches its element (class ``lt-<Name>``) and
    #: the elements inside it; ``:host`` / ``&`` is the element alone. See ``livetag.dom.css``.
    styles: ClassVar[str | None] = None
    #: Tags (``Tag.style``, ``Tag.link``, ``Tag.script``, ``Tag.title``...) this component
    #: needs in ``<head>``: sent once per session, when the first instance appears.
    statics: ClassVar[Any] = ()
    _init_params: ClassVar[tuple[frozenset[str], bool] | None] = None
    _lt_no_proxy: ClassVar[bool] = True  # a State holding tags hands back the tags
    _lt_hooks: ClassVar[int] = 0
    _lt_scopes: ClassVar[tuple[str, ...]] = ()
    _lt_plain_init: ClassVar[bool] = True  # init is Tag.init (set per subclass)
    _lt_simple: ClassVar[bool] = True  # _lt_plain_init and no _lt_scopes: one class lookup per tag
    #: Set per class by ``livetag.dom.statics.class_statics``; ``None`` until then.
    _lt_statics_html: ClassVar[tuple[str, ...] | None] = None

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        base = _ROOT.__dict__
        cls._lt_hooks = (
            (MOUNT if cls.on_mount is not base["on_mount"] else 0)
            | (UNMOUNT if cls.on_unmount is not base["on_unmount"] else 0)
            | (DESTROY if cls.on_destroy is not base["on_destroy"] else 0)
        )
        cls._lt_scopes = tuple(scope_class(k) for k in reversed(cls.__mro__) if k.__dict__.get("styles"))
        cls._lt_plain_init = cls.init is base["init"]
        cls._lt_simple = cls._lt_plain_init and not cls._lt_scopes
        cls._lt_statics_html = None  # its own, not a base's

    def __init__(self, *args: Any, key: Any = None, **kwargs: Any) -> None:
        # Every tag of a page goes through here (8,000 rows x 3 cells: 32,000 times), so
        # the common cases are written out: builders() inlined, text children kept in
        # the call's own tuple, the generated id made when first needed.
        self._lt_id = ""
        self._attrs = NO_ATTRS  # _own_attrs() on the first write
        self._parent: Tag | None = None
        self._tree: Recorder | None = None
        self._handlers: dict[str, Handler] | None = None
        self._key = key
        # htag's construction rule: what init() builds joins this tag (livetag.dom.building).
        stack = _building.items
        simple = self._lt_simple
        if simple and not kwargs:
            # The most common tag (a row, a cell, a label: text or nothing): the tuple of
            # the call holds it as it is; a list is made on the first change (_own_children).
            # One object less to allocate, and one less for the garbage collector to track.
            for child in args:
                if type(child) is not str:
                    break
            else:
                self._children = args
                if stack and stack[-1] is not None:
                    stack[-1].add(self)
                return
        outer = stack[-1] if stack else None
        init_kwargs: dict[str, Any] | None = None
        if kwargs:
            self._children = ()  # text= may set them
            init_kwargs = {}
            self._take_keywords(kwargs, init_kwargs)
        if init_kwargs or not (simple or self._lt_plain_init):
            self._children = ()
            stack.append(self)
            try:
                if init_kwargs:
                    self.init(*args, **init_kwargs)
                else:
                    self.init(*args)
            finally:
                stack.pop()
        else:
            # The default init builds nothing: add the children, skip the stack. A new tag
            # is in no tree, so text needs no recording.
            for child in args:
                if type(child) is not str:
                    break
            else:
                if not kwargs or not self._children:  # text only (and no text= keyword)
                    self._children: list[Any] | tuple[Any, ...] = args
                    args = ()
            if args:
                children: list[Any] = self._own_children() if kwargs else []
                self._children = children
                for child in args:
                    kind = type(child)
                    if kind is str:
                        children.append(child)
                    elif kind is list:  # Tag.tr([Tag.td(...) for ...])
                        for item in child:
                            if type(item) is str:
                                children.append(item)
                            elif isinstance(item, Tag) and item._parent is None:  # free: nothing to detach
                                item._parent = self
                                children.append(item)
                            else:
                                self._add((item,))
                    elif isinstance(child, Tag) and child._parent is None:
                        child._parent = self
                        children.append(child)
                    else:
                        self._add((child,))
        if not simple and self._lt_scopes:
            add_classes(self, self._lt_scopes)
        if outer is not None and self._parent is None:
            outer.add(self)

    def _take_keywords(self, kwargs: dict[str, Any], init_kwargs: dict[str, Any]) -> None:
        """Sort constructor keywords: ``_name`` -> HTML attribute; any other name becomes
        an instance attribute (before ``init()``) and is also passed to ``init()`` when it
        accepts it. A name of the Tag API goes to ``init()`` only, or is assigned when the
        API allows it (``id``); otherwise ``TypeError``."""
        signature: tuple[frozenset[str], bool] | None = None
        for key, value in kwargs.items():
            if key[0] == "_":
                if key.startswith("_on") and not callable(value) and not isinstance(value, str):
                    # _onclick=self.go() (called, not passed) would bind nothing, silently.
                    raise misused_handler(key[3:], value, caller_source())
                name = _KEYWORD_ATTRS.get(key)
                if name is None or (callable(value) and not isinstance(value, type)) \
                        or isinstance(value, State) or name == "id":
                    self[attr_name(key)] = value  # handlers, slots, ids, checks: the general path
                    if name is None:
                        _KEYWORD_ATTRS[key] = attr_name(key)  # it passed the name check
                else:
                    self._own_attrs()[name] = value  # a plain value on a fresh tag: nothing to check or record
                continue
            if signature is None:
                signature = self._init_signature()
            names, var_kw = signature
            accepted = var_kw or key in names
            if accepted:
                init_kwargs[key] = value
            if key not in TAG_API:
                setattr(self, key, value)
            elif key in _ASSIGNABLE_API:
                if not accepted:
                    setattr(self, key, value)
            elif not accepted:
                raise TypeError(
                    f"{type(self).__name__}(): keyword {key!r} would shadow the Tag API; "
                    f"expected an HTML attribute (_{key}=...) or a parameter of init()"
                )

    @classmethod
    def _init_signature(cls) -> tuple[frozenset[str], bool]:
        sig = cls.__dict__.get("_init_params")
        if sig is None:
            params = inspect.signature(cls.init).parameters.values()
            names = frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
            var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
            sig = (names - {"self"}, var_kw)
            cls._init_params = sig
        return sig

    def init(self, *children: Any) -> None:
        """Build the component. Override it; the default adds ``children``."""
        if children:
            self.add(*children)

    # -- identity -------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The element id: the user's (``_id=``, ``tag.id = ...``, ``tag["id"] = ...``) when
        set, otherwise a generated ``lt...`` id. Assigning it renames the element in the
        browser too; ``None`` goes back to the generated id. Ids must be unique in a page
        (HTML, 3.2.6): ``TreeError`` when another tag of the live tree has it."""
        # A user id is always stored as a str (_change_id): a falsy one means none.
        return self._attrs.get("id") or self._lt_id or self._generated_id()

    @id.setter
    def id(self, value: Any) -> None:
        if value is None:
            del self["id"]
        else:
            self["id"] = value

    @property
    def tag(self) -> str | None:
        """The element name (``"sl-button"`` for ``Tag.sl_button``); ``None`` for a fragment."""
        return self.tag_name

    @property
    def parent(self) -> Tag | None:
        return self._parent

    @property
    def root(self) -> Tag | None:
        """The ``Tag.App`` this tag belongs to, or ``None`` when it is in none."""
        if self._tree is not None:
            return cast(Tag, self._tree.app)
        tag: Tag | None = self
        while tag is not None:
            if isinstance(tag, App):
                return tag
            tag = tag._parent
        return None

    @property
    def childs(self) -> list[Any]:
        """The children (tags and strings), in order, as a new list (editing it changes
        nothing: use ``add``/``remove``/``clear``); the current output of reactive
        children is included."""
        return list(self._nodes())

    def find_tag(self, tag_id: str) -> Tag | None:
        """The tag with id ``tag_id`` in this subtree, or ``None``. O(1) in a live tree."""
        if self._tree is not None:
            found: Tag | None = self._tree.lookup(tag_id)
            if found is not None and (found is self or self in iter_ancestors(found)):
                return found
            return None
        for tag in iter_subtree(self):
            if tag.id == tag_id:
                return tag
        return None

    def ancestors(self) -> Iterator[Tag]:
        """The parent, its parent, ... up to the root."""
        return iter_ancestors(self)

    def walk(self) -> Iterator[Tag]:
        """This tag and every descendant tag, depth first, in document order."""
        return iter_subtree(self)

    def _nodes(self) -> Iterator[Any]:
        """The children as the browser sees them: reactive slots expanded."""
        for child in self._children:
            if isinstance(child, ChildSlot):
                yield from child.nodes
            else:
                yield child

    @property
    def request(self) -> Any:
        """The Starlette ``Request``/``WebSocket`` of the current interaction, or ``None``
        outside one (set during init, events and lifecycle hooks)."""
        return current_request.get()

    # -- children ---------------------------------------------------------------------

    def add(self, *children: Any) -> Tag:
        """Append ``children`` (tags, text, ``HTML``, iterables of them). Returns ``self``.

        A tag that already has a parent is moved. Raises ``TreeError`` for a cycle.
        """
        tree = self._tree
        if tree is None:  # the common case while building: no lock, no wrapper frame
            self._add(children)
        else:
            with tree.lock:
                self._add(children)
        return self

    def _add(self, children: tuple[Any, ...]) -> None:
        for child in children:
            kind = type(child)
            if kind is str:
                self._append_text(child)
            elif child is None:
                continue
            elif isinstance(child, Tag):
                self._append_tag(child)
            elif isinstance(child, str):
                self._append_text(child)
            elif kind is int or kind is float or isinstance(child, (int, float)):
                self._append_text(str(child))
            elif isinstance(child, State) or (callable(child) and not isinstance(child, type)):
                self._append_slot(ChildSlot(self, child))
            elif isinstance(child, Iterable):
                self._add(tuple(child))
            else:
                raise TypeError(f"expected a Tag, str, HTML, number or iterable child, got {type(child).__name__}")

    def _append_tag(self, child: Tag) -> None:
        if child is self or (self._parent is not None and child in iter_ancestors(self)):
            raise TreeError(f"cannot add <{child.tag_name}> #{child.id} inside itself")
        if child._parent is not None:
            child._parent._detach_child(child)
        child._parent = self
        self._own_children().append(child)
        tree = self._tree
        if tree is not None:
            tree.appended(self, child)

    def _append_text(self, text: str) -> None:
        self._own_children().append(text)
        if self._tree is not None:
            self._tree.appended(self, text)

    def _append_slot(self, slot: ChildSlot) -> None:
        self._own_children().append(slot)
        if self._tree is not None:
            self._tree.appended(self, slot)

    def __le__(self, child: Any) -> Tag:
        return self.add(child)

    def __iadd__(self, child: Any) -> Tag:
        return self.add(child)

    def __add__(self, other: Any) -> list[Any]:
        """``tag + other`` -> ``[tag, other]``; ``tag + [a, b]`` -> ``[tag, a, b]`` (htag):
        a list to add, as in ``self <= a + b``."""
        return [self, *other] if isinstance(other, list) else [self, other]

    def __radd__(self, other: Any) -> list[Any]:
        return [*other, self] if isinstance(other, list) else [other, self]

    def __lshift__(self, other: Any) -> Any:
        raise TypeError("expected 'tag <= child' or 'tag += child' to add a child; '<<' is not an operator of tags")

    def __enter__(self) -> Tag:
        builders().append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        builders().pop()

    @_locked
    def remove(self, child: Tag | None = None) -> Tag:
        """Remove ``child`` from this tag, or with no argument remove this tag from its parent.

        Returns ``self``. Raises ``TreeError`` when ``child`` is not a child of this tag.
        """
        if child is None:
            if self._parent is not None:
                self._parent._detach_child(self)
            return self
        if not isinstance(child, Tag) or child._parent is not self:
            raise TreeError(f"expected a child of <{self.tag_name}> #{self.id}, got {child!r}")
        self._detach_child(child)
        return self

    def _detach_child(self, child: Node) -> None:
        children = self._own_children()
        # The child moved is most often one just added (htag's init rule): look at the end
        # first; else let C find it (list.index compares identity first), and check it.
        end = len(children)
        for i in range(end - 1, max(end - 8, 0) - 1, -1):
            if children[i] is child:
                del children[i]
                break
        else:
            i = children.index(child)
            if children[i] is not child:  # a component whose __eq__ matched another child
                i = next(j for j, c in enumerate(children) if c is child)
            del children[i]
        child._parent = None
        tree = self._tree
        if tree is not None:
            tree.removed(self, child)

    @_locked
    def clear(self, *children: Any) -> Tag:
        """Remove every child, then add ``children``. Returns ``self``."""
        tree = self._tree
        old = self._children
        self._children = ()
        for child in old:
            for node in child.nodes if isinstance(child, ChildSlot) else (child,):
                if isinstance(node, Tag):
                    node._parent = None
        if tree is not None:
            tree.children_replaced(self, old)
        else:
            for child in old:
                if isinstance(child, ChildSlot):
                    child.release()
        # Added while marked as replaced, so the whole new content goes in one patch.
        return self.add(*children)

    @property
    def text(self) -> str:
        """The text content of this subtree (like the DOM's ``textContent``); settable."""
        parts: list[str] = []
        for child in self._nodes():
            parts.append(child.text if isinstance(child, Tag) else str(child))
        return "".join(parts)

    @text.setter
    def text(self, value: Any) -> None:
        text = str(value) if isinstance(value, (int, float)) else value
        children = self._children
        if isinstance(text, str) and len(children) == 1 and children[0] == text and type(children[0]) is type(text):
            return
        if type(text) is str and only_text(children):
            # Text in place of text (a counter's value): nothing leaves the tree, so one
            # record of the change does what clear() and add() would.
            tree = self._tree
            if tree is None:
                self._children = (text,)
                return
            with tree.lock:
                self._children = (text,)
                tree.children_replaced(self, ())
            return
        self.clear(value)

    # -- attributes -----------------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        if name.startswith("on") and self._handlers and name[2:] in self._handlers:
            return self._handlers[name[2:]]
        value = self._attrs.get(name)
        return value.current() if isinstance(value, AttrSlot) else value

    @_locked
    def __setitem__(self, name: str, value: Any) -> None:
        if name.startswith("on") and callable(value):
            self.set_handler(name[2:], value)
            return
        if name.startswith("on") and value is None and self._attrs.get(name) is None:
            if self._handlers and name[2:] in self._handlers:
                self.set_handler(name[2:], None)  # tag["onclick"] = None unbinds
                return
            # tag["onclick"] = self.go(): called, not passed; it would bind nothing.
            raise misused_handler(name[2:], value, caller_source())
        if name == "id" and value != self._attrs.get("id"):
            self._change_id(value)
            return
        if isinstance(value, State) or (callable(value) and not isinstance(value, type)):
            value = AttrSlot(self, name, value)
        old = self._attrs.get(name, _MISSING)
        if old is value:
            return
        if old is _MISSING and not _ATTR_NAME.fullmatch(name):
            raise ValueError(f"expected an HTML attribute name (no space, quote, '>', '/', '='), got {name!r}")
        if isinstance(old, AttrSlot):
            old.release()
        self._own_attrs()[name] = value
        # Only a change of what renders is a change for the browser ("x" == 1 -> "1" no).
        if self._tree is not None and (
            isinstance(value, AttrSlot) or isinstance(old, AttrSlot)
            or render_attr_value(None if old is _MISSING else old) != render_attr_value(value)
        ):
            self._tree.attr_changed(self, name)

    @_locked
    def __delitem__(self, name: str) -> None:
        if name.startswith("on") and self._handlers and name[2:] in self._handlers:
            self.set_handler(name[2:], None)
            return
        if name == "id":
            self._change_id(None)
            return
        old = self._attrs.pop(name, _MISSING)
        if isinstance(old, AttrSlot):
            old.release()
        if old is not _MISSING and self._tree is not None:
            self._tree.attr_changed(self, name)

    def __contains__(self, name: str) -> bool:
        return name in self._attrs

    @property
    def attrs(self) -> dict[str, Any]:
        """A copy of the HTML attributes (handlers excluded; reactive ones evaluated)."""
        return {name: self[name] for name in self._attrs}

    def _change_id(self, value: Any) -> None:
        tree = self._tree
        old_id = self.id
        if tree is not None:
            other = tree.lookup(self._generated_id() if value is None else str(value))
            if other is not None and other is not self:
                raise TreeError(f"expected an id no other tag of the page has, got {value!r}, the id of {other!r}")
        if value is None:
            self._attrs.pop("id", None)
        else:
            self._own_attrs()["id"] = str(value)
        if tree is not None and self.id != old_id:
            tree.renamed(self, old_id)

    @_locked
    def set_handler(self, event: str, handler: Callable[..., Any] | None) -> None:
        """Bind ``handler`` to the DOM event ``event`` (``"click"``), or unbind with ``None``."""
        handlers = self._handlers
        if handler is None:
            if not handlers or handlers.pop(event, None) is None:
                return
        else:
            if handlers is None:
                handlers = self._handlers = {}
            new = as_handler(handler)
            check_handler(event, new.func)
            old = handlers.get(event)
            handlers[event] = new
            if old is not None and old.flags == new.flags:
                return  # same rendering, nothing for the browser
        if self._tree is not None:
            self._tree.attr_changed(self, HANDLER_ATTR)

    def handler(self, event: str) -> Handler | None:
        """The handler bound to ``event``, or ``None``."""
        return handler_of(self, event)

    def _classes(self) -> list[str]:
        value = self["class"]  # a reactive class is evaluated
        return value.split() if isinstance(value, str) else []

    def has_class(self, name: str) -> bool:
        return name in self._classes()

    def add_class(self, *names: str) -> Tag:
        """Add the class ``names`` that are not there yet. Returns ``self``."""
        add_classes(self, names)
        return self

    def remove_class(self, *names: str) -> Tag:
        slot = self._attrs.get("class")
        if isinstance(slot, AttrSlot):
            self["class"] = _edit_classes(slot.source, remove=names)
            return self
        classes = self._classes()
        kept = [c for c in classes if c not in names]
        if len(kept) != len(classes):
            self["class"] = " ".join(kept) if kept else None
        return self

    def toggle_class(self, name: str, force: bool | None = None) -> Tag:
        """Add ``name`` if absent (or ``force`` is true), remove it otherwise."""
        on = not self.has_class(name) if force is None else force
        return self.add_class(name) if on else self.remove_class(name)

    # -- browser side effects ----------------------------------------------------------

    def call_js(self, script: str) -> Tag:
        """Run ``script`` in the browser after the next update (``this`` is undefined;
        the element is reachable as ``document.getElementById(<tag>.id)``)."""
        if not isinstance(script, str):
            raise TypeError(f"expected JavaScript source as str, got {type(script).__name__}")
        tree = self._tree
        if tree is not None:
            tree.call_js(script)
        else:
            self.__dict__.setdefault("_lt_pending_js", []).append(script)
        return self

    # -- publish/subscribe (livetag.pubsub) ----------------------------------------------

    def subscribe(self, topic: str, handler: Callable[[Any], Any]) -> Tag:
        """Call ``handler(message)`` for each message published on ``topic`` (by any
        session, this one included) while this tag is in a live app tree: from the moment
        it joins (so ``init`` may subscribe), until it leaves (resumed if it comes back) or
        the session ends. ``message`` is the publisher's JSON value, decoded afresh for
        this handler. ``handler`` runs like an event handler: one at a time with the
        session's events, on the loop or in a thread (``livetag.execution``), any form
        (plain, ``async``, generators), followed by an update to every tab. The same
        handler subscribed twice to one topic counts once. Returns ``self``.

        Raises ``TypeError`` / ``ValueError`` for a topic that is not a str of 1 to
        ``MAX_TOPIC`` characters or a handler that is not callable, and
        ``livetag.errors.PubSubLimit`` past the session's bounds."""
        check_topic(topic)
        if not callable(handler):
            raise TypeError(f"expected a callable handler, got {type(handler).__name__}")
        with self._tree.lock if self._tree is not None else _NO_LOCK:
            subs: list[tuple[str, Any]] = self.__dict__.setdefault("_lt_subs", [])
            if any(t == topic and h == handler for t, h in subs):
                return self
            tree = self._tree
            if tree is not None and tree.topics is not None:
                tree.topics.add(self, topic, handler)
            subs.append((topic, handler))
        return self

    def unsubscribe(self, topic: str | None = None, handler: Callable[[Any], Any] | None = None) -> Tag:
        """Stop what ``subscribe`` started: ``handler`` on ``topic``, every handler of this
        tag on ``topic`` (``handler=None``), or everything (no argument). Returns ``self``."""
        with self._tree.lock if self._tree is not None else _NO_LOCK:
            subs: list[tuple[str, Any]] = self.__dict__.get("_lt_subs") or []
            kept = [(t, h) for t, h in subs
                    if not ((topic is None or t == topic) and (handler is None or h == handler))]
            if len(kept) == len(subs):
                return self
            self.__dict__["_lt_subs"] = kept
            tree = self._tree
            if tree is not None and tree.topics is not None:
                if topic is None and handler is None:
                    tree.topics.remove(self)
                else:
                    for t, h in subs:
                        if (t, h) not in kept:
                            tree.topics.remove(self, t, h)
        return self

    def publish(self, topic: str, message: Any) -> None:
        """Send ``message`` (a JSON value: dict, list, str, number, bool, None) to every
        session subscribed to ``topic``, this one included; from a handler, a hook, a
        background task or a thread. Never waits for the subscribers.

        Raises ``TypeError`` for a value JSON cannot carry, ``ValueError`` for a bad topic
        or a message over ``livetag.pubsub.MAX_MESSAGE`` bytes encoded,
        ``livetag.errors.PubSubLimit`` past the session's publish rate, and
        ``livetag.errors.NotInSession`` when this tag is in no live app tree (publish
        from ``on_mount`` rather than ``init``)."""
        tree = self._tree
        topics = tree.topics if tree is not None else None
        if topics is None:
            check_topic(topic)
            raise NotInSession(f"expected {self!r} in a live session's tree to publish on {topic!r}, got a tag "
                               "in none (publish from on_mount or a handler, not from init)")
        topics.publish(topic, message)

    def download(self, source: Any, filename: str | None = None, media_type: str | None = None) -> Tag:
        """Make the browser save a file: ``source`` is bytes, a path (``str`` or
        ``os.PathLike``) or an iterator (or async iterator) of bytes, read when the
        browser fetches it. The page gets a one-time URL of this session, valid
        ``download_seconds`` (see ``livetag.dom.files.make_download`` for the defaults
        of ``filename`` and ``media_type``). Raises ``NotInSession`` for a tag outside a
        served session, ``FileNotFoundError`` / ``TypeError`` for a bad ``source``."""
        host = host_of(self)
        if host is None:
            raise NotInSession(f"expected {self!r} in a session served by WebApp, Runner or TestClient to "
                               "download, got a tag in none (download from a handler or on_mount, not from init)")
        url = host.offer(make_download(source, filename, media_type))
        return self.call_js(f"livetag.download({json.dumps(url)})")

    # -- lifecycle ----------------------------------------------------------------------

    def on_mount(self) -> Any:
        """Called when this tag enters a live app tree (after a client is connected).
        May be a plain method, ``async def``, a generator or an async generator."""

    def on_unmount(self) -> Any:
        """Called when this tag leaves the live app tree (and on a page reload, before
        the app mounts again). Same forms as ``on_mount``."""

    def on_destroy(self) -> Any:
        """Called once when the session holding this tag is discarded."""

    def update(self, throttle: float | None = None) -> _Updated:
        """Send pending changes to the browser soon: at most one update per ``throttle``
        seconds (default 0.05; ``0``: at once, as htag's ``update(throttle=0)``).

        Changes from background tasks and threads are sent anyway; ``update()`` makes
        the intent explicit. Returns an awaitable, so ``await tag.update()`` works.
        Raises ``ValueError`` for a negative ``throttle``."""
        if throttle is not None and not throttle >= 0:
            raise ValueError(f"expected throttle >= 0 seconds, got {throttle!r}")
        if self._tree is not None:
            self._tree.request_update(throttle)
        return _UPDATED

    # -- rendering (the framework calls the module functions below, never these
    # methods, so that a component may define its own render(), walk(), ...) ----------

    def render(self) -> str:
        """The HTML of this subtree, escaped (``HTML`` children excepted)."""
        return render_html(self)

    def __str__(self) -> str:
        return render_html(self)

    def render_children(self) -> str:
        """The HTML of the children only."""
        return render_children_html(self)

    def render_attrs(self) -> str:
        """The attributes as rendered on the start tag, starting with ``id``."""
        return render_attrs(self)

    def handler_spec(self) -> str | None:
        """The value of the ``data-lt`` attribute: ``"click submit.prevent"``."""
        return handler_spec(self)

    def _render_into(self, out: list[str]) -> None:
        render_into(self, out)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.tag_name or 'fragment'}#{self.id}>"

    if TYPE_CHECKING:
        # What type checkers see of ``Tag.<name>``: each HTML element names a ``Tag`` class
        # (``_Element``, below), so that ``Tag.div(...)`` is a ``Tag`` and ``class Card(Tag.div)``
        # a component; at run time ``_TagFactory`` builds them on first use (these lines never
        # run; tests/unit/test_typing.py checks them, tests/typing users' code). Another name
        # (``Tag.my_widget``) is ``type[Tag]`` through ``_TagFactory.__getattr__``. An
        # instance attribute of a component named like an element (``self.label = ...``)
        # shadows the class for a type checker: name it otherwise (``self.label_ = ...``).
        App: TypeAlias = "_App"
        a: TypeAlias = "_Element"
        abbr: TypeAlias = "_Element"
        address: TypeAlias = "_Element"
        area: TypeAlias = "_Element"
        article: TypeAlias = "_Element"
        aside: TypeAlias = "_Element"
        audio: TypeAlias = "_Element"
        b: TypeAlias = "_Element"
        base: TypeAlias = "_Element"
        bdi: TypeAlias = "_Element"
        bdo: TypeAlias = "_Element"
        blockquote: TypeAlias = "_Element"
        body: TypeAlias = "_Element"
        br: TypeAlias = "_Element"
        button: TypeAlias = "_Element"
        canvas: TypeAlias = "_Element"
        caption: TypeAlias = "_Element"
        cite: TypeAlias = "_Element"
        code: TypeAlias = "_Element"
        col: TypeAlias = "_Element"
        colgroup: TypeAlias = "_Element"
        data: TypeAlias = "_Element"
        datalist: TypeAlias = "_Element"
        dd: TypeAlias = "_Element"
        details: TypeAlias = "_Element"
        dfn: TypeAlias = "_Element"
        dialog: TypeAlias = "_Element"
        div: TypeAlias = "_Element"
        dl: TypeAlias = "_Element"
        dt: TypeAlias = "_Element"
        em: TypeAlias = "_Element"
        embed: TypeAlias = "_Element"
        fieldset: TypeAlias = "_Element"
        figcaption: TypeAlias = "_Element"
        figure: TypeAlias = "_Element"
        footer: TypeAlias = "_Element"
        form: TypeAlias = "_Element"
        h1: TypeAlias = "_Element"
        h2: TypeAlias = "_Element"
        h3: TypeAlias = "_Element"
        h4: TypeAlias = "_Element"
        h5: TypeAlias = "_Element"
        h6: TypeAlias = "_Element"
        head: TypeAlias = "_Element"
        header: TypeAlias = "_Element"
        hgroup: TypeAlias = "_Element"
        hr: TypeAlias = "_Element"
        html: TypeAlias = "_Element"
        i: TypeAlias = "_Element"
        iframe: TypeAlias = "_Element"
        img: TypeAlias = "_Element"
        input: TypeAlias = "_Element"
        ins: TypeAlias = "_Element"
        kbd: TypeAlias = "_Element"
        label: TypeAlias = "_Element"
        legend: TypeAlias = "_Element"
        li: TypeAlias = "_Element"
        link: TypeAlias = "_Element"
        main: TypeAlias = "_Element"
        map: TypeAlias = "_Element"
        mark: TypeAlias = "_Element"
        menu: TypeAlias = "_Element"
        meta: TypeAlias = "_Element"
        meter: TypeAlias = "_Element"
        nav: TypeAlias = "_Element"
        noscript: TypeAlias = "_Element"
        object: TypeAlias = "_Element"
        ol: TypeAlias = "_Element"
        optgroup: TypeAlias = "_Element"
        option: TypeAlias = "_Element"
        output: TypeAlias = "_Element"
        p: TypeAlias = "_Element"
        picture: TypeAlias = "_Element"
        pre: TypeAlias = "_Element"
        progress: TypeAlias = "_Element"
        q: TypeAlias = "_Element"
        rp: TypeAlias = "_Element"
        rt: TypeAlias = "_Element"
        ruby: TypeAlias = "_Element"
        s: TypeAlias = "_Element"
        samp: TypeAlias = "_Element"
        script: TypeAlias = "_Element"
        search: TypeAlias = "_Element"
        section: TypeAlias = "_Element"
        select: TypeAlias = "_Element"
        slot: TypeAlias = "_Element"
        small: TypeAlias = "_Element"
        source: TypeAlias = "_Element"
        span: TypeAlias = "_Element"
        strong: TypeAlias = "_Element"
        style: TypeAlias = "_Element"
        sub: TypeAlias = "_Element"
        summary: TypeAlias = "_Element"
        sup: TypeAlias = "_Element"
        table: TypeAlias = "_Element"
        tbody: TypeAlias = "_Element"
        td: TypeAlias = "_Element"
        template: TypeAlias = "_Element"
        textarea: TypeAlias = "_Element"
        tfoot: TypeAlias = "_Element"
        th: TypeAlias = "_Element"
        thead: TypeAlias = "_Element"
        time: TypeAlias = "_Element"
        title: TypeAlias = "_Element"
        tr: TypeAlias = "_Element"
        track: TypeAlias = "_Element"
        u: TypeAlias = "_Element"
        ul: TypeAlias = "_Element"
        var: TypeAlias = "_Element"
        video: TypeAlias = "_Element"
        wbr: TypeAlias = "_Element"
        svg: TypeAlias = "_Element"
        math: TypeAlias = "_Element"


def add_classes(tag: Tag, names: Iterable[str]) -> None:
    """Add to ``tag``'s classes the ``names`` it lacks; a reactive class stays reactive."""
    slot = tag._attrs.get("class")
    if isinstance(slot, AttrSlot):  # add the names to what it computes
        tag["class"] = _edit_classes(slot.source, add=tuple(names))
        return
    classes = tag._classes()
    new = [n for n in dict.fromkeys(names) if n not in classes]
    if new:
        tag["class"] = " ".join(classes + new)


def handler_of(tag: Tag, event: str) -> Handler | None:
    """The handler ``tag`` binds to ``event``, or ``None``."""
    handlers = tag._handlers
    return handlers.get(event) if handlers else None


def only_text(children: Sequence[Any]) -> bool:
    """True when every one of ``children`` is plain text (``str`` exactly: not ``HTML``,
    not a tag); an empty sequence too."""
    if len(children) == 1:  # a counter's value, at every update: no generator for it
        return type(children[0]) is str
    return all(type(c) is str for c in children)


def iter_ancestors(tag: Tag) -> Iterator[Tag]:
    """``tag``'s parent, its parent, ... up to the root."""
    parent = tag._parent
    while parent is not None:
        yield parent
        parent = parent._parent


def iter_subtree(tag: Tag) -> Iterator[Tag]:
    """``tag`` and every descendant tag, depth first, in document order."""
    stack: list[Tag] = [tag]
    while stack:
        t = stack.pop()
        yield t
        for child in reversed(t._children):
            if isinstance(child, Tag):
                stack.append(child)
            elif isinstance(child, ChildSlot):
                stack.extend(n for n in reversed(child.nodes) if isinstance(n, Tag))


def _edit_classes(source: Any, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> Callable[[], str | None]:
    """A reactive class source: what ``source`` (a ``State`` or callable) computes, with
    ``remove`` taken out and ``add`` appended."""

    def classes() -> str | None:
        value = source.get() if isinstance(source, State) else source()
        if isinstance(value, State):
            value = value.get()
        names = [n for n in (value.split() if isinstance(value, str) else []) if n not in remove]
        names += [n for n in dict.fromkeys(add) if n not in names]
        return " ".join(names) or None

    return classes


_MISSING: Any = object()
_NO_LOCK = contextlib.nullcontext()
# HTML Living Standard, 13.1.2.3: attribute names exclude controls, space, " ' > / = and noncharacters.
#: Keyword -> attribute name, for keywords already seen to make a valid name.
_KEYWORD_ATTRS: dict[str, str] = {}
_ATTR_NAME = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\"'>/=\ufdd0-\ufdef]+")
MOUNT, UNMOUNT, DESTROY = 1, 2, 4


class _Updated:
    """An already-completed awaitable: ``await tag.update()`` and ``tag.update()`` both work."""

    __slots__ = ()

    def __await__(self) -> Iterator[None]:
        return iter(())


_UPDATED = _Updated()


_element_lock = threading.Lock()


def element_class(name: str) -> type[Tag]:
    """The (cached) class of element ``name``: ``"my_widget"`` -> ``<my-widget>``."""
    cls = _element_classes.get(name)
    if cls is None:
        with _element_lock:
            cls = _element_classes.get(name)
            if cls is None:
                cls = type(name, (Tag,), {"tag_name": name.replace("_", "-"), "__module__": __name__, "__slots__": ()})
                _element_classes[name] = cls
                if name.isidentifier() and name not in _INSTANCE_API and not hasattr(_TagFactory, name):
                    setattr(_TagFactory, name, cls)  # Tag.<name> from now on (not the API, nor type's own)
    return cls


def is_element_class(obj: Any) -> bool:
    """True when ``obj`` is one of the classes ``element_class`` makes (``Tag.div``), not
    a class of the app's (which may have an ``init`` of its own)."""
    return isinstance(obj, type) and _element_classes.get(obj.__name__) is obj


_ROOT = Tag
#: Public names of the tag API: keywords with these names are not instance attributes,
#: and ``Tag.<name>`` is not an element (see ``_TagFactory``).
TAG_API = frozenset(name for name in type.__dir__(Tag) if not name.startswith("_"))
_INSTANCE_API = TAG_API - {"tag_name", "styles", "statics"}
for _name in _INSTANCE_API:
    setattr(_TagClass, _name, None)
    setattr(_TagFactory, _name, _NotOnTag(_name))
del _name
_ASSIGNABLE_API = frozenset({"id", "text"})


#: Builds the ASGI application behind ``App.app`` from an app instance. The server layer
#: registers it (``livetag.server.webapp``): this layer does no I/O and imports no server.
host_factory: Callable[[Tag], Any] | None = None


class App(Tag.body):
    """The root component of an application: renders as the page's ``<body>``."""

    @functools.cached_property
    def app(self) -> Any:
        """A Starlette ASGI application serving *this instance* to every visitor (htag's
        ``.app``; one private instance per visitor is ``WebApp(AppClass).app``). Built
        on first access; an instance attribute named ``app`` of the user's wins over it.
        Raises ``RuntimeError`` when no server layer is loaded (``import livetag`` loads it)."""
        if host_factory is None:
            raise RuntimeError("expected livetag.server to be imported to build App.app, got no server layer")
        return host_factory(self)


_App = App  # Tag.App, for type checkers (Tag declares it as an alias of _App)
if TYPE_CHECKING:
    class _Element(Tag):
        """``Tag.div``, ``Tag.span``...: for a type checker, an element is a plain ``Tag``."""
else:
    Tag.App = App
