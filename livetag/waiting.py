"""``cannot_wait`` / ``loop_guards``: plain code that provably cannot wait for anything
(no I/O, no lock, no sleep), read from its bytecode. Such code takes microseconds, so
livetag runs it on the event loop: a hop to a worker thread would cost more than the
code itself (see ``livetag.execution``).

Code cannot wait when it is no generator or coroutine, loops nowhere, imports nothing,
enters no context manager, and every function it calls is one that returns without
waiting: a builtin that computes (``SAFE_BUILTINS``: ``len``, ``str``, ``isinstance``...),
one of livetag's element classes (``Tag.div(...)``: building a tag), one of the tag
methods that edit the tree as ``tag <= child`` does (``SAFE_METHODS``: ``self.add(...)``,
``self.clear()``...), or a function of the app that cannot wait itself, followed
``MAX_DEPTH`` calls deep: a global function, or a method called on the instance itself
(``self.refresh()``, looked up on the instance's class). So an ``init`` that only builds
tags (``self <= Tag.h1("Counter")``), a handler such as ``self.label.text =
str(self.count)`` and one that calls ``self.show(self.count)`` where ``show`` only does
such things qualify; a call of anything else (a method of another object, a component
class of the app with its own ``init``, ``print``) does not.

Other objects are followed on a condition, when called with one of ``SAFE_METHODS``
(which include a state's ``set`` and ``get``) or, on a builtin list, dict or set held as
it is or in a state, one of ``CONTAINER_METHODS`` (``self.items.append(x)``): a tag,
state or container the instance holds (``self.content.clear();
self.content.add(...)``), or, in the code analysed first, one that the value of a free
variable holds (``lambda e: self.count.set(self.count + 1)``, htag's way) or its event's
target (``e.target.add(...)``, htag's idiom). What they are is known only when the code
runs, so ``loop_guards`` gives such code's verdict with the guards (``Guard``) it relies
on, and ``livetag.guards`` checks them on the call's arguments each time (a dict lookup and
a type's cached method set): anything else sends the call to a thread. Code that stores
an attribute of a guarded name on any object, or reads a ``__dict__``, could change
what the check saw before it runs: not followed.

Callees are named at analysis time from the function's globals and closure: ``Tag`` must
be livetag's ``Tag`` and ``len`` the builtin (a module that rebinds such a name after its
functions first ran is not followed). A verdict is remembered per code object, and per
class of the instance for code that calls methods on it (a subclass may override one);
an attribute of an instance that shadows a method of its class is not seen. What still
runs is what any code runs: attribute and operator hooks of the app's own classes, and
the dunder methods the builtins call (``str(x)`` calls ``x.__str__``); one that blocks
would block the loop: ``@in_thread`` says otherwise.

The bytecode read is CPython 3.11's (the version this project runs and tests on); on
another version, any call makes code go to a thread, as code that calls what it cannot
name does here.
"""

from __future__ import annotations

import builtins
import dis
import inspect
import sys
import threading
import weakref
from collections.abc import Mapping
from types import CodeType
from typing import Any, NamedTuple, cast

from .dom import tag as tag_module
from .guards import GUARDED_NAMES, SAFE_METHODS, Guard, Guards

#: Builtins that compute a value from their arguments and return: calling one does not
#: make code wait. Those that iterate (``sum``, ``sorted``, ``max`` of an iterable,
#: ``range``...) are left out: ``sum(range(10**9))`` has no loop in its bytecode.
SAFE_BUILTINS: frozenset[Any] = frozenset({
    abs, bool, callable, chr, dict, divmod, float, format, frozenset, hasattr, hash, id, int, isinstance, issubclass,
    len, list, ord, repr, round, set, str, tuple, type,
})

#: Opcodes after which code may wait for something (call, loop, import, enter a context
#: manager, suspend); calls are looked at one by one (``_CALLS``).
_MAY_WAIT_PREFIXES = ("IMPORT", "JUMP_BACKWARD", "JUMP_ABSOLUTE", "FOR_ITER", "GET_", "YIELD", "SEND", "BEFORE_",
                      "SETUP_WITH", "SETUP_ASYNC_WITH", "LOAD_BUILD_CLASS", "END_ASYNC_FOR", "ASYNC_GEN_WRAP",
                      "CLEANUP_THROW", "CALL_FUNCTION_EX", "CALL_INTRINSIC")
_CALLS = ("PRECALL", "CALL")
_SUSPENDS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)
#: The 3.11 bytecode of calls (``_calls_are_safe``); elsewhere a call is never named.
_READS_CALLS = sys.version_info[:2] == (3, 11)
#: How many calls deep functions of the app are followed.
MAX_DEPTH = 3
_UNNAMED: Any = object()
#: ``self`` in a method's code: the instance whose class the analysis was given.
_SELF: Any = object()


class _Found(NamedTuple):
    """What the analysis of code that cannot wait found: the guards it needs, and the
    attribute names it stores on any object (``__dict__``: it reads one), which must not
    include a guarded one."""

    guards: Guards
    stores: frozenset[str]


_NOTHING = _Found(frozenset(), frozenset())
_waits: dict[CodeType, _Found | None] = {}
#: Verdicts of code that calls methods on its instance, per class of the instance
#: (weakly: a class made at run time, in an ``init`` say, goes with its last instance).
_waits_for: weakref.WeakKeyDictionary[type, dict[CodeType, _Found | None]] = weakref.WeakKeyDictionary()
#: Per thread: what is being analysed (two threads may analyse the same code at once).
_local = threading.local()
_calls_self: dict[CodeType, bool] = {}


def cannot_wait(code: CodeType, namespace: Mapping[str, Any] | None = None,
                closure: Mapping[str, Any] | None = None, owner: type | None = None, depth: int = 0) -> bool:
    """True when running ``code`` cannot wait for anything, whatever the instance it runs
    on holds (``loop_guards`` gives the conditions under which it cannot); arguments as
    for ``loop_guards``."""
    found = _analyse(code, namespace, closure, owner, depth)
    return found is not None and not found.guards


def loop_guards(code: CodeType, namespace: Mapping[str, Any] | None = None,
                closure: Mapping[str, Any] | None = None, owner: type | None = None) -> Guards | None:
    """``None`` when running ``code`` may wait (module docstring); else the ``Guards``
    under which it cannot (empty: always), to check with ``guards.guards_hold`` at each
    call. A guard comes from ``self.<attribute>.<method>(...)`` (``<attribute>`` not one
    of the class's), in the code or the ``self`` methods it calls, or from ``<free
    variable>.<attribute>.<method>(...)`` or ``<argument>.target.<method>(...)`` in the
    code itself, ``<method>`` one of ``guards.GUARDED_NAMES``; code that stores a
    guarded attribute name on any object, or reads a ``__dict__``, may wait."""
    found = _analyse(code, namespace, closure, owner, 0)
    if found is None:
        return None
    if found.guards and ("__dict__" in found.stores
                         or any((guard.attribute or "target") in found.stores for guard in found.guards)):
        return None  # a guard checked at the call would not hold through it
    return found.guards


def _analyse(code: CodeType, namespace: Mapping[str, Any] | None, closure: Mapping[str, Any] | None,
             owner: type | None, depth: int) -> _Found | None:
    """``_Found`` when running ``code`` cannot wait for anything (module docstring), on
    the conditions it gives; ``None`` when it may;
    ``namespace``: the globals its names are looked up in (the function's
    ``__globals__``; ``None``: no call is named, so any call may wait); ``closure``: the
    values of its free variables (``function_closure``); ``owner``: for a method's code,
    the class of the instance it runs on (its first argument), so that the methods it
    calls on it are followed; ``depth``: how many calls deep this code is. Remembered per
    code object (and owner, when ``calls_methods_of_self(code)``) when it has no free
    variables (another function of the same code may close over others), for the code
    analysed first (``depth`` 0)."""
    if owner is not None and not calls_methods_of_self(code):
        owner = None
    cache = _waits if owner is None else _waits_for.setdefault(owner, {})
    if code in cache:
        return cache[code]
    key = (code, owner)
    analysing: set[Any] | None = getattr(_local, "analysing", None)
    if analysing is None:
        analysing = _local.analysing = set()
    if key in analysing:
        return None  # a call back into code being analysed: it may recurse for ever
    analysing.add(key)
    try:
        known = None if code.co_flags & _SUSPENDS else _straight_and_safe(code, namespace, closure or {}, owner, depth)
    finally:
        analysing.discard(key)
    if not code.co_freevars and depth == 0:  # deeper, MAX_DEPTH may have cut it short
        cache[code] = known
    return known


def calls_methods_of_self(code: CodeType) -> bool:
    """True when ``code`` (CPython 3.11) calls a method on its first argument
    (``self.refresh()``) or on one of its attributes (``self.content.add(...)``) and
    never rebinds it: what it calls then depends on the class of the instance it runs on
    (and, for an attribute, on what the instance holds: ``loop_guards``)."""
    known = _calls_self.get(code)
    if known is None:
        known = False
        if _READS_CALLS and code.co_argcount:
            first = code.co_varnames[0]
            instructions = list(dis.get_instructions(code))
            rebinds = any(ins.opname in ("STORE_FAST", "DELETE_FAST") and ins.argval == first for ins in instructions)
            known = not rebinds and any(
                ins.opname == "LOAD_FAST" and ins.argval == first and (after.opname == "LOAD_METHOD" or (
                    after.opname == "LOAD_ATTR" and then is not None and then.opname == "LOAD_METHOD"))
                for ins, after, then in zip(instructions, instructions[1:], [*instructions[2:], None], strict=False))
        _calls_self[code] = known
    return known


def app_callees(code: CodeType, namespace: Mapping[str, Any] | None, closure: Mapping[str, Any],
                owner: type | None = None) -> list[tuple[Any, type | None]]:
    """The functions of the app that ``code`` (CPython 3.11) may call and that can be
    named: global and closure functions called by name, methods called on its first
    argument (looked up on ``owner``, the class of the instance it runs on) or on a free
    variable's value; livetag's own are left out. Each comes with the class of the
    instance it would run on (``None`` for a plain function)."""
    if not _READS_CALLS:
        return []
    this = code.co_varnames[0] if owner is not None and calls_methods_of_self(code) else None
    found: list[tuple[Any, type | None]] = []
    instructions = list(dis.get_instructions(code))
    for i, ins in enumerate(instructions):
        after = instructions[i + 1] if i + 1 < len(instructions) else None
        callee: Any = _UNNAMED
        if ins.opname == "LOAD_GLOBAL" and ins.arg is not None and ins.arg & 1 and namespace is not None:
            callee = _global(namespace, ins.argval)
        elif ins.opname == "PUSH_NULL" and after is not None and after.opname == "LOAD_DEREF":
            callee = closure.get(after.argval, _UNNAMED)
        elif after is not None and after.opname == "LOAD_METHOD" and (
                (ins.opname == "LOAD_FAST" and ins.argval == this) or (ins.opname == "LOAD_DEREF"
                                                                        and ins.argval in closure)):
            target = _Instance(_SELF if ins.opname == "LOAD_FAST" else closure[ins.argval])
            callee = _method(target, after.argval, owner)
        if isinstance(callee, _Method):
            callee, cls = callee.func, callee.owner
        else:
            cls = None
        if _is_app_function(callee):
            found.append((callee, cls))
    return found


def function_closure(func: Any) -> dict[str, Any]:
    """The values of ``func``'s free variables by name (an empty cell: left out)."""
    code, cells = getattr(func, "__code__", None), getattr(func, "__closure__", None) or ()
    values: dict[str, Any] = {}
    for name, cell in zip(code.co_freevars if code is not None else (), cells, strict=False):
        try:
            values[name] = cell.cell_contents
        except ValueError:  # not bound yet
            pass
    return values


def _straight_and_safe(code: CodeType, namespace: Mapping[str, Any] | None, closure: Mapping[str, Any],
                       owner: type | None, depth: int) -> _Found | None:
    instructions = list(dis.get_instructions(code))
    stores: set[str] = set()
    for ins in instructions:
        if ins.opname.startswith(_MAY_WAIT_PREFIXES):
            return None
        if ins.opcode in _JUMPS and isinstance(ins.argval, int) and ins.argval <= ins.offset:
            return None  # a loop
        if ins.opname == "STORE_ATTR" or ins.opname == "DELETE_ATTR" or ins.argval == "__dict__":
            stores.add(ins.argval)
    if not any(ins.opname in _CALLS for ins in instructions):
        return _Found(frozenset(), frozenset(stores))
    if namespace is None or not _READS_CALLS:
        return None
    this = code.co_varnames[0] if owner is not None else None
    # A handler's own arguments, for its event's target; deeper, what a caller passed is
    # not what a guard checked at the call.
    params = {} if depth else {name: i for i, name in enumerate(code.co_varnames[:code.co_argcount])
                               if name != this and not any(ins.opname in ("STORE_FAST", "DELETE_FAST")
                                                           and ins.argval == name for ins in instructions)}
    return _calls_are_safe(instructions, namespace, closure, this, owner, depth, stores, params)


def _calls_are_safe(instructions: list[dis.Instruction], namespace: Mapping[str, Any],
                    closure: Mapping[str, Any], this: str | None, owner: type | None, depth: int,
                    stores: set[str], params: Mapping[str, int]) -> _Found | None:
    """Every call of this (loop-free) 3.11 bytecode targets a ``SAFE_BUILTINS`` member or
    an element class. A call begins with its callee: ``LOAD_GLOBAL (NULL + name)``, or
    ``PUSH_NULL`` and an expression, or ``LOAD_METHOD`` on an object (``Tag.h1`` when
    ``Tag`` is a free variable); its arguments follow, then ``PRECALL``. Calls nest as
    parentheses do (each branch of a conditional expression holds whole calls), so
    ``open_calls`` holds the callees of the calls begun and not yet made. A callee is
    named when it is a global or free variable, maybe followed by attributes of ``Tag``,
    or a method of ``this`` (the instance of class ``owner``) or of a free variable's
    value, or a ``SAFE_METHODS`` name on an attribute of ``this`` or on the ``target`` of
    one of ``params`` (the code's arguments by position: a ``Guard``); anything else is
    not named, and not safe. ``stores``: the code's own, joined by its callees'."""
    open_calls: list[Any] = []
    guards: set[Guard] = set()
    naming = False  # the instructions since the last call began only loaded its callee
    after_null = False  # the instruction before was PUSH_NULL: what follows is the callee
    loaded: Any = _UNNAMED  # what the instruction before loaded, when named
    for ins in instructions:
        op, name = ins.opname, ins.argval
        if op == "LOAD_DEREF" and after_null:
            open_calls[-1] = closure.get(name, _UNNAMED)
        elif op == "LOAD_GLOBAL":
            value = _global(namespace, name)
            if ins.arg is not None and ins.arg & 1:  # NULL + name: a call's callee
                open_calls.append(value)
                naming, loaded = True, _UNNAMED
            else:
                naming, loaded = False, value
        elif op == "PUSH_NULL":
            open_calls.append(_UNNAMED)
            naming, loaded = True, _UNNAMED
        elif op == "LOAD_DEREF":
            naming, loaded = False, _Instance(closure[name], name) if name in closure else _UNNAMED
        elif op == "LOAD_FAST" and name == this:
            naming, loaded = False, _Instance(_SELF)
        elif op == "LOAD_FAST" and name in params:
            naming, loaded = False, _Argument(params[name])
        elif op == "LOAD_ATTR" and naming:
            open_calls[-1] = _attribute(open_calls[-1], name)
        elif op == "LOAD_ATTR" and isinstance(loaded, _Instance) and (loaded.value is _SELF or (
                depth == 0 and loaded.name is not None and not isinstance(loaded.value, type))):
            # An attribute the instance holds (not a property, method... of its class); a
            # free variable's only in the code analysed first, whose function is the one called.
            cls = owner if loaded.value is _SELF else type(loaded.value)
            held = inspect.getattr_static(cls, name, _UNNAMED) is _UNNAMED and isinstance(name, str)
            loaded = _Held(0 if loaded.value is _SELF else cast(str, loaded.name), name) if held else _UNNAMED
        elif op == "LOAD_ATTR" and isinstance(loaded, _Argument):
            loaded = _Held(loaded.position, None) if name == "target" else _UNNAMED  # an event's target
        elif op == "LOAD_ATTR":
            loaded = _attribute(loaded.value if isinstance(loaded, _Instance) else loaded, name)
        elif op == "LOAD_METHOD":
            if isinstance(loaded, _Held):
                open_calls.append(Guard(loaded.holder, loaded.attribute, name) if name in GUARDED_NAMES
                                  else _UNNAMED)
            else:
                open_calls.append(_method(loaded, name, owner) if isinstance(loaded, _Instance)
                                  else _attribute(loaded, name))
            naming, loaded = False, _UNNAMED
        else:
            if op == "PRECALL":
                found = _safe(open_calls.pop(), depth) if open_calls else None
                if found is None:
                    return None
                guards.update(found.guards)
                stores.update(found.stores)
            naming, loaded = False, _UNNAMED
        after_null = op == "PUSH_NULL"
    return None if open_calls else _Found(frozenset(guards), frozenset(stores))


def _global(namespace: Mapping[str, Any], name: Any) -> Any:
    value = namespace.get(name, _UNNAMED)
    if value is _UNNAMED:
        space = namespace.get("__builtins__", builtins.__dict__)
        value = (space if isinstance(space, dict) else vars(space)).get(name, _UNNAMED)
    return value


def _attribute(owner: Any, name: Any) -> Any:
    """``Tag.<name>``, the only attribute followed (others may run a descriptor of the
    app's: not at analysis time)."""
    if owner is not tag_module.Tag or not isinstance(name, str):
        return _UNNAMED
    found = inspect.getattr_static(owner, name, _UNNAMED)
    if found is _UNNAMED and name.isidentifier() and not name.startswith("_") and name not in tag_module.TAG_API:
        found = tag_module.element_class(name)  # what ``Tag.<name>`` makes on first use
    return found


class _Instance:
    """An object a method is called on: ``_SELF`` (the analysed method's instance) or a
    free variable's value (``name``: the variable's)."""

    __slots__ = ("name", "value")

    def __init__(self, value: Any, name: str | None = None) -> None:
        self.value, self.name = value, name


class _Method:
    """A function called as a method of an instance of ``owner``: the analysed method's
    own instance (``on_self``) or a free variable's value."""

    __slots__ = ("func", "on_self", "owner")

    def __init__(self, func: Any, owner: type, on_self: bool) -> None:
        self.func, self.owner, self.on_self = func, owner, on_self


class _Argument:
    """The analysed handler's positional argument ``position`` (not its instance)."""

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position


class _Held:
    """What ``holder`` (``Guard``) holds: ``<holder>.<attribute>``, or (``None``) an
    event's target."""

    __slots__ = ("attribute", "holder")

    def __init__(self, holder: int | str, attribute: str | None) -> None:
        self.holder, self.attribute = holder, attribute


def _method(instance: _Instance, name: Any, owner: type | None) -> Any:
    """What ``<instance>.<name>(...)`` calls: a ``_Method`` when ``name`` is a plain
    function of the instance's class (and not an attribute of the instance: a free
    variable's value is looked at as it is)."""
    value = instance.value
    if value is _SELF:
        cls = owner
    elif value is tag_module.Tag:
        return _attribute(value, name)
    else:
        if not isinstance(name, str) or name in getattr(value, "__dict__", ()):
            return _UNNAMED
        cls = type(value)
    if cls is None or not isinstance(name, str):
        return _UNNAMED
    found = inspect.getattr_static(cls, name, _UNNAMED)
    return _Method(found, cls, value is _SELF) if inspect.isfunction(found) else _UNNAMED


def _safe(callee: Any, depth: int) -> _Found | None:
    """What calling ``callee`` needs so as not to wait (``None``: it may wait)."""
    if callee is _UNNAMED:
        return None
    if isinstance(callee, Guard):
        return _Found(frozenset({callee}), frozenset())
    if isinstance(callee, _Method):
        if callee.func in SAFE_METHODS:
            return _NOTHING
        found = _follows(callee.func, callee.owner, depth)
        # Guards of another instance than the analysed one's, or of a callee's own
        # arguments or free variables (a verdict of it as a handler), cannot be checked
        # at the call.
        return found if found is None or not found.guards or (callee.on_self and all(
            guard.holder == 0 and guard.attribute is not None for guard in found.guards)) else None
    try:
        if callee in SAFE_BUILTINS:
            return _NOTHING
    except TypeError:  # unhashable: not one of them
        return None
    if tag_module.is_element_class(callee):
        return _NOTHING
    found = _follows(callee, None, depth)
    return None if found is not None and found.guards else found  # its guards: of another call's arguments


def _is_app_function(func: Any) -> bool:
    """A Python function that is not livetag's own (of livetag's, only ``SAFE_METHODS``
    and element classes count)."""
    return inspect.isfunction(func) and not getattr(func, "__module__", "").startswith("livetag.")


def _follows(func: Any, owner: type | None, depth: int) -> _Found | None:
    """A function of the app, called ``depth + 1`` deep, that cannot wait itself."""
    if depth >= MAX_DEPTH or not _is_app_function(func):
        return None
    return _analyse(func.__code__, func.__globals__, function_closure(func), owner, depth + 1)
