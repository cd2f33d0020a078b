"""``Tag``: the element tree a livetag UI is written in.

``Tag.div(...)`` is an element, ``class Card(Tag.div)`` a component, ``Tag.App`` the root
of an application. Tags are plain Python objects; while a tag is part of a mounted tree
(a ``LiveTree``), every mutation is recorded there so the next update carries only what
changed. Outside a live tree, mutations are free.
"""

from __future__ import annotations

import contextvars
import inspect
import re
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import TreeError
from .events import Handler, as_handler
from .reactive import AttrSlot, ChildSlot
from .render import HTML, RAW_TEXT_ELEMENTS, VOID_ELEMENTS, escape_attr, escape_text, render_raw_text, render_text
from .state import State
from .statics import scope_class

if TYPE_CHECKING:
    from .tree import LiveTree

HANDLER_ATTR = "data-lt"  # the attribute the client reads: "click submit.prevent"

_ids = itertools.count(1)
_digits = "0123456789abcdefghijklmnopqrstuvwxyz"


def _next_id() -> str:
    # A process-wide counter in base 36: short, unique per process, reveals no address.
    n = next(_ids)
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _digits[r] + out
    return "lt" + out


#: The request (a Starlette ``Request`` or ``WebSocket``) of the interaction being run.
#: Set by the session around every call into user code; read through ``Tag.request``.
current_request: contextvars.ContextVar[Any] = contextvars.ContextVar("livetag_request", default=None)


class _Context(threading.local):
    def __init__(self) -> None:
        self.stack: list[Tag | None] = []


_context = _Context()


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
    """``Tag.<name>`` returns the element class for ``<name>`` (``my_widget`` -> ``my-widget``)."""

    def __getattr__(cls, name: str) -> type[Tag]:
        if cls is not Tag or name.startswith("_"):
            raise AttributeError(f"type object {cls.__name__!r} has no attribute {name!r}")
        return element_class(name)


class Tag(metaclass=_TagFactory):
    """An HTML element, or a component when subclassed.

    ``Tag.div(*children, _class="x", _onclick=handler, name=value)``:

    - positional arguments go to ``init()``; the default ``init`` adds them as children
      (tags, strings (escaped), ``HTML`` (raw), numbers, ``None`` (ignored), iterables);
    - ``_attr=value`` sets the HTML attribute ``attr`` (inner underscores become dashes);
      ``True`` renders a boolean attribute, ``False``/``None`` omits it; a callable for
      ``_on<event>`` is an event handler;
    - other keyword arguments are passed to ``init()`` when it names them (or takes
      ``**kwargs``), and otherwise become instance attributes before ``init()`` runs.

    ``Tag()`` (no element name) is a fragment: its children render without a wrapper.
    """

    tag_name: ClassVar[str | None] = None
    #: CSS scoped to this component: selectors apply inside elements of class ``lt-<Name>``
    #: (``:host`` / ``&`` is the component's own element). See ``livetag.dom.statics``.
    styles: ClassVar[str | None] = None
    #: Tags (``Tag.style``, ``Tag.link``, ``Tag.script``, ``Tag.title``...) this component
    #: needs in ``<head>``: sent once per session, when the first instance appears.
    statics: ClassVar[Any] = ()
    _init_params: ClassVar[tuple[frozenset[str], bool] | None] = None
    _lt_no_proxy: ClassVar[bool] = True  # a State holding tags hands back the tags
    _lt_hooks: ClassVar[int] = 0
    _lt_scopes: ClassVar[tuple[str, ...]] = ()

    __slots__ = ("_lt_id", "_attrs", "_children", "_parent", "_tree", "_handlers", "_key", "__dict__", "__weakref__")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._lt_hooks = (
            (MOUNT if cls.on_mount is not Tag.on_mount else 0)
            | (UNMOUNT if cls.on_unmount is not Tag.on_unmount else 0)
            | (DESTROY if cls.on_destroy is not Tag.on_destroy else 0)
        )
        cls._lt_scopes = tuple(scope_class(k) for k in reversed(cls.__mro__) if k.__dict__.get("styles"))

    def __init__(self, *args: Any, key: Any = None, **kwargs: Any) -> None:
        self._lt_id = _next_id()
        self._attrs: dict[str, Any] = {}
        self._children: list[Any] = []
        self._parent: Tag | None = None
        self._tree: LiveTree | None = None
        self._handlers: dict[str, Handler] | None = None
        self._key = key
        init_kwargs: dict[str, Any] = {}
        if kwargs:
            names, var_kw = self._init_signature()
            for key, value in kwargs.items():
                if key.startswith("_"):
                    self[attr_name(key)] = value
                elif var_kw or key in names:
                    init_kwargs[key] = value
                elif hasattr(type(self), key):
                    raise TypeError(
                        f"{type(self).__name__}(): keyword {key!r} would shadow the Tag API; "
                        f"expected an HTML attribute (_{key}=...) or a parameter of init()"
                    )
                else:
                    setattr(self, key, value)
        stack = _context.stack
        if stack:
            stack.append(None)  # tags built inside init() are not auto-added to an outer `with`
            try:
                self.init(*args, **init_kwargs)
            finally:
                stack.pop()
            target = stack[-1]
            if target is not None and self._parent is None:
                target.add(self)
        else:
            self.init(*args, **init_kwargs)
        if self._lt_scopes:
            self.add_class(*self._lt_scopes)

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
        """The element id: the user's ``_id`` when set, otherwise a generated ``lt...`` id."""
        user = self._attrs.get("id")
        return user if isinstance(user, str) and user else self._lt_id

    @property
    def parent(self) -> Tag | None:
        return self._parent

    @property
    def root(self) -> Tag:
        """The top of this tag's tree: the app when mounted, else the topmost ancestor."""
        if self._tree is not None:
            return self._tree.app
        tag = self
        while tag._parent is not None:
            tag = tag._parent
        return tag

    @property
    def childs(self) -> tuple[Any, ...]:
        """The children (tags and strings), in order, as a tuple snapshot; the current
        output of reactive children is included."""
        return tuple(self._nodes())

    def find_tag(self, tag_id: str) -> Tag | None:
        """The tag with id ``tag_id`` in this subtree, or ``None``. O(1) in a live tree."""
        if self._tree is not None:
            found = self._tree.index.get(tag_id)
            if found is not None and (found is self or self in found.ancestors()):
                return found
            return None
        for tag in self.walk():
            if tag.id == tag_id:
                return tag
        return None

    def ancestors(self) -> Iterator[Tag]:
        tag = self._parent
        while tag is not None:
            yield tag
            tag = tag._parent

    def walk(self) -> Iterator[Tag]:
        """This tag and every descendant tag, depth first, in document order."""
        stack: list[Tag] = [self]
        while stack:
            tag = stack.pop()
            yield tag
            for child in reversed(tag._children):
                if isinstance(child, Tag):
                    stack.append(child)
                elif isinstance(child, ChildSlot):
                    stack.extend(n for n in reversed(child.nodes) if isinstance(n, Tag))

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

    @_locked
    def add(self, *children: Any) -> Tag:
        """Append ``children`` (tags, text, ``HTML``, iterables of them). Returns ``self``.

        A tag that already has a parent is moved. Raises ``TreeError`` for a cycle.
        """
        for child in children:
            if child is None:
                continue
            if isinstance(child, Tag):
                self._append_tag(child)
            elif isinstance(child, str):
                self._append_text(child)
            elif isinstance(child, (int, float)):
                self._append_text(str(child))
            elif isinstance(child, State) or (callable(child) and not isinstance(child, type)):
                self._append_slot(ChildSlot(self, child))
            elif isinstance(child, Iterable):
                self.add(*child)
            else:
                raise TypeError(f"expected a Tag, str, HTML, number or iterable child, got {type(child).__name__}")
        return self

    def _append_tag(self, child: Tag) -> None:
        if child is self or (self._parent is not None and child in self.ancestors()):
            raise TreeError(f"cannot add <{child.tag_name}> #{child.id} inside itself")
        if child._parent is not None:
            child._parent._detach_child(child)
        child._parent = self
        self._children.append(child)
        tree = self._tree
        if tree is not None:
            tree.attach(child)
            tree.appended(self, child)

    def _append_text(self, text: str) -> None:
        self._children.append(text)
        if self._tree is not None:
            self._tree.appended(self, text)

    def _append_slot(self, slot: ChildSlot) -> None:
        self._children.append(slot)
        if self._tree is not None:
            self._tree.appended(self, slot)

    def __le__(self, child: Any) -> Tag:
        return self.add(child)

    def __iadd__(self, child: Any) -> Tag:
        return self.add(child)

    def __enter__(self) -> Tag:
        _context.stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _context.stack.pop()

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

    def _detach_child(self, child: Tag) -> None:
        children = self._children
        if children and children[-1] is child:
            children.pop()
        else:
            for i, c in enumerate(children):
                if c is child:
                    del children[i]
                    break
        child._parent = None
        tree = self._tree
        if tree is not None:
            tree.removed(self, child)
            tree.detach(child)

    @_locked
    def clear(self, *children: Any) -> Tag:
        """Remove every child, then add ``children``. Returns ``self``."""
        tree = self._tree
        old = self._children
        self._children = []
        for child in old:
            nodes = child.nodes if isinstance(child, ChildSlot) else (child,)
            if isinstance(child, ChildSlot):
                child.release()
            for node in nodes:
                if isinstance(node, Tag):
                    node._parent = None
                    if tree is not None:
                        tree.detach(node)
        if tree is not None:
            tree.reset(self)
        # Added while marked as reset, so the whole new content goes in one patch.
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
        self._attrs[name] = value
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
        if tree is not None:
            tree.unindex(self)
        if value is None:
            self._attrs.pop("id", None)
        else:
            self._attrs["id"] = str(value)
        if tree is not None:
            tree.index_tag(self)
            tree.id_changed(self)

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
            old = handlers.get(event)
            handlers[event] = new
            if old is not None and old.flags == new.flags:
                return  # same rendering, nothing for the browser
        if self._tree is not None:
            self._tree.attr_changed(self, HANDLER_ATTR)

    def handler(self, event: str) -> Handler | None:
        """The handler bound to ``event``, or ``None``."""
        return self._handlers.get(event) if self._handlers else None

    def _classes(self) -> list[str]:
        value = self["class"]  # a reactive class is evaluated
        return value.split() if isinstance(value, str) else []

    def has_class(self, name: str) -> bool:
        return name in self._classes()

    def add_class(self, *names: str) -> Tag:
        slot = self._attrs.get("class")
        if isinstance(slot, AttrSlot):  # keep it reactive: add the names to what it computes
            self["class"] = _edit_classes(slot.source, add=names)
            return self
        classes = self._classes()
        new = [n for n in dict.fromkeys(names) if n not in classes]
        if new:
            self["class"] = " ".join(classes + new)
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

    # -- lifecycle ----------------------------------------------------------------------

    def on_mount(self) -> Any:
        """Called when this tag enters a live app tree (after a client is connected).
        May be a plain method, ``async def``, a generator or an async generator."""

    def on_unmount(self) -> Any:
        """Called when this tag leaves the live app tree (and on a page reload, before
        the app mounts again). Same forms as ``on_mount``."""

    def on_destroy(self) -> Any:
        """Called once when the session holding this tag is discarded."""

    def update(self) -> _Updated:
        """Send pending changes to the browser now (throttled to one update per 50 ms).

        Changes from background tasks and threads are sent anyway; ``update()`` makes
        the intent explicit. Returns an awaitable, so ``await tag.update()`` works."""
        if self._tree is not None:
            self._tree.request_update()
        return _UPDATED

    # -- rendering --------------------------------------------------------------------

    def render(self) -> str:
        """The HTML of this subtree, escaped (``HTML`` children excepted)."""
        out: list[str] = []
        self._render_into(out)
        return "".join(out)

    __str__ = render

    def render_children(self) -> str:
        out: list[str] = []
        self._render_children_into(out)
        return "".join(out)

    def render_attrs(self) -> str:
        """The attributes as rendered on the start tag, starting with ``id``."""
        parts = [' id="', escape_attr(self.id), '"']
        for name, value in self._attrs.items():
            if name == "id":
                continue
            if isinstance(value, AttrSlot):
                value.refresh()
                value = value.value
            rendered = render_attr_value(value)
            if rendered is None:
                continue
            if rendered is True:
                parts.append(" " + name)
            else:
                parts.append(f' {name}="{escape_attr(rendered)}"')
        if self._handlers:
            parts.append(f' {HANDLER_ATTR}="{self.handler_spec()}"')
        return "".join(parts)

    def handler_spec(self) -> str | None:
        """The value of the ``data-lt`` attribute: ``"click submit.prevent"``."""
        if not self._handlers:
            return None
        return " ".join(name + h.flags for name, h in self._handlers.items())

    def _render_into(self, out: list[str]) -> None:
        name = self.tag_name
        if name is None:
            self._render_children_into(out)
            return
        out.append(f"<{name}{self.render_attrs()}>")
        if name in VOID_ELEMENTS:
            return
        if name == "textarea" and "value" in self._attrs:
            out.append(escape_text(str(self._attrs["value"] or "")))
        else:
            self._render_children_into(out)
        out.append(f"</{name}>")

    def _render_children_into(self, out: list[str]) -> None:
        raw = self.tag_name in RAW_TEXT_ELEMENTS
        for child in self._children:
            render_child(child, out, raw)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.tag_name or 'fragment'}#{self.id}>"


def render_child(child: Any, out: list[str], raw: bool = False) -> None:
    """Append the HTML of one entry of a tag's children: a tag, a reactive slot
    (re-evaluated) or text. ``raw``: the parent is a ``<script>``/``<style>``, whose
    text is not escaped (see ``render_raw_text``)."""
    text = render_raw_text if raw else render_text
    if isinstance(child, Tag):
        child._render_into(out)
    elif isinstance(child, ChildSlot):
        for node in child.current():
            if isinstance(node, Tag):
                node._render_into(out)
            else:
                out.append(text(node))
    else:
        out.append(text(child))


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
# HTML Living Standard, 13.1.2.3: attribute names exclude controls, space, " ' > / = and noncharacters.
_ATTR_NAME = re.compile(r"[^\s\x00-\x1f\x7f-\x9f\"'>/=\ufdd0-\ufdef]+")
MOUNT, UNMOUNT, DESTROY = 1, 2, 4


class _Updated:
    """An already-completed awaitable: ``await tag.update()`` and ``tag.update()`` both work."""

    __slots__ = ()

    def __await__(self) -> Iterator[None]:
        return iter(())


_UPDATED = _Updated()


def render_attr_value(value: Any) -> str | bool | None:
    """``True`` -> ``True`` (boolean attribute), ``False``/``None`` -> ``None`` (omitted),
    anything else -> its ``str``."""
    if value is True:
        return True
    if value is None or value is False:
        return None
    return value if isinstance(value, str) else str(value)


_element_classes: dict[str, type[Tag]] = {}
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
    return cls


class App(element_class("body")):  # type: ignore[misc]
    """The root component of an application: renders as the page's ``<body>``."""


Tag.App = App  # type: ignore[attr-defined]
