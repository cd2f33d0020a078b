"""Guards: what a verdict of ``livetag.waiting`` relies on about the objects code calls
methods on, checked at each call.

Code that calls ``self.content.add(...)`` cannot wait while ``self.content`` is a tag whose
``add`` is livetag's own, which only the call can tell: the analysis names such
conditions (a ``Guard`` each) and ``guards_hold`` checks them before each call, on the
call's arguments and the function's free variables (a dict lookup and a class's cached
method sets per guard). What a guard may name: livetag's methods that return without
waiting (``SAFE_METHODS``, tags' and states'), and the calm methods of the builtin
containers (``CONTAINER_METHODS``), on a container held as it is or in a ``State``.
"""

from __future__ import annotations

import inspect
import weakref
from typing import Any, NamedTuple

from .dom import tag as tag_module
from .dom.events import Event
from .dom.state import MUTATORS, State

#: livetag's tag methods that return without waiting: they edit the tree under its lock,
#: as ``tag <= child`` (``Tag.__le__``, which calls ``add``) does; and a state's
#: ``set``/``get``, which mark what reads it stale (it is read again at the next render).
SAFE_METHODS: frozenset[Any] = frozenset([*(vars(tag_module.Tag)[name] for name in (
    "add", "remove", "clear", "call_js", "add_class", "remove_class", "toggle_class", "has_class",
)), State.set, State.get])
SAFE_METHOD_NAMES = frozenset(func.__name__ for func in SAFE_METHODS)
#: Methods of the builtin containers that return without running the app's code (but the
#: ``__eq__`` and ``__hash__`` of their items, as ``str(x)`` runs ``__str__``), followed
#: on a container the instance holds, as it is or in a ``State``: ``self.items.append(x)``.
#: Not those that iterate an argument (``extend``, ``update``) or compare items (``sort``).
CONTAINER_METHODS: dict[type, frozenset[str]] = {
    list: frozenset({"append", "insert", "pop", "remove", "clear", "reverse", "copy", "count", "index"}),
    dict: frozenset({"get", "pop", "popitem", "setdefault", "clear", "copy", "keys", "values", "items"}),
    set: frozenset({"add", "discard", "remove", "pop", "clear", "copy"}),
}
#: Of those, the ones a ``State`` passes to its container (and then notifies).
_STATE_PASSES = frozenset().union(*CONTAINER_METHODS.values()) & MUTATORS
#: The method names a guard may name.
GUARDED_NAMES = SAFE_METHOD_NAMES | frozenset().union(*CONTAINER_METHODS.values())


class Guard(NamedTuple):
    """A condition under which code cannot wait, checked at each call (``guards_hold``):
    "``holder`` holds, under ``attribute``, a tag or state whose ``method`` is livetag's
    own, or a builtin container whose ``method`` is calm". ``holder``: the code's
    positional argument at that position (a method's instance is 0), or the name of one
    of its free variables (``lambda e: self.count.set(...)``: ``"self"``).
    ``attribute``: an attribute the holder keeps in its own ``__dict__``
    (``self.content.add(...)``), or ``None``: the holder is a livetag ``Event`` and the
    tag is its target (``e.target.add(...)``)."""

    holder: int | str
    attribute: str | None
    method: str


Guards = frozenset[Guard]
#: Per class of a guarded object: its methods that are livetag's own ``SAFE_METHODS``, and
#: (a ``State``'s) those it passes to its container (``guards_hold``).
_safe_on: weakref.WeakKeyDictionary[type, tuple[frozenset[str], frozenset[str]]] = weakref.WeakKeyDictionary()
_MISSING: Any = object()


def guards_hold(arguments: tuple[Any, ...], guards: Guards, function: Any = None) -> bool:
    """True when every ``Guard`` holds now for a call of ``function`` (whose free
    variables hold what a guard names by name) with its code's positional ``arguments``
    (a method's: its instance first): the object it names is a value of the holder's own
    ``__dict__`` (an ``Event``'s target) whose method is livetag's (``SAFE_METHODS``, not
    shadowed on the object) or a calm one of a builtin container (``CONTAINER_METHODS``),
    held as it is or in a ``State``."""
    for guard in guards:
        where = guard.holder
        if isinstance(where, str):
            holder = _free_variable(function, where)
            if holder is _MISSING:
                return False
        elif where < len(arguments):
            holder = arguments[where]
        else:
            return False
        if guard.attribute is None:
            if type(holder) is not Event:
                return False
            value = holder.target
        else:
            # An instance's own attributes, never a class's (whose values may be descriptors).
            attributes = None if isinstance(holder, type) else getattr(holder, "__dict__", None)
            if attributes is None:
                return False
            value = attributes.get(guard.attribute)
        if not _calls_nothing_of_the_app(value, guard.method):
            return False
    return True


def _calls_nothing_of_the_app(value: Any, method: str) -> bool:
    """``value.<method>(...)`` is livetag's (``SAFE_METHODS``) or a calm method of a
    builtin container (``CONTAINER_METHODS``), held as it is or in a ``State``."""
    cls = type(value)
    calm = CONTAINER_METHODS.get(cls)
    if calm is not None:
        return method in calm
    known = _safe_on.get(cls)
    if known is None:
        own = frozenset(name for name in SAFE_METHOD_NAMES if inspect.getattr_static(cls, name, None) in SAFE_METHODS)
        passes = issubclass(cls, State) and inspect.getattr_static(cls, "__getattr__") is State.__getattr__
        passed = frozenset(name for name in _STATE_PASSES if passes and inspect.getattr_static(cls, name, None) is None)
        known = _safe_on[cls] = (own, passed)
    own, passed = known
    if method in getattr(value, "__dict__", ()):
        return False  # shadowed on the instance
    if method in own:
        return True
    # A State passing it to its container: one of the builtins, and a calm method of it.
    return method in passed and method in CONTAINER_METHODS.get(type(value._value), ())


def _free_variable(function: Any, name: str) -> Any:
    """The value of ``function``'s free variable ``name`` (``_MISSING``: none, or unbound)."""
    code, cells = getattr(function, "__code__", None), getattr(function, "__closure__", None)
    if code is None or not cells or name not in code.co_freevars:
        return _MISSING
    try:
        return cells[code.co_freevars.index(name)].cell_contents
    except ValueError:  # not bound yet
        return _MISSING
