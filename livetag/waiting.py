"""``cannot_wait``: plain code that provably cannot wait for anything (no I/O, no lock,
no sleep), read from its bytecode. Such code takes microseconds, so livetag runs it on
the event loop: a hop to a worker thread would cost more than the code itself (see
``livetag.execution``).

Code cannot wait when it is no generator or coroutine, loops nowhere, imports nothing,
enters no context manager, and every function it calls is one that returns without
waiting: a builtin that computes (``SAFE_BUILTINS``: ``len``, ``str``, ``isinstance``...)
or one of livetag's element classes (``Tag.div(...)``: building a tag). So an ``init``
that only builds tags (``self <= Tag.h1("Counter")``) and a handler such as
``self.label.text = str(self.count)`` qualify; a call of anything else (a method, a
function of the app, a component class of the app with its own ``init``) does not.

Callees are named at analysis time, once per code object, from the function's globals:
``Tag`` must be livetag's ``Tag`` and ``len`` the builtin (a module that rebinds such a
name after its functions first ran is not followed). What still runs is what any code
runs: attribute and operator hooks of the app's own classes, and the dunder methods the
builtins call (``str(x)`` calls ``x.__str__``); one that blocks would block the loop:
``@in_thread`` says otherwise.

The bytecode read is CPython 3.11's (the version this project runs and tests on); on
another version, any call makes code go to a thread, as code that calls what it cannot
name does here.
"""

from __future__ import annotations

import builtins
import dis
import inspect
import sys
from collections.abc import Mapping
from types import CodeType
from typing import Any

from .dom import tag as tag_module

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
_UNNAMED: Any = object()
_waits: dict[CodeType, bool] = {}


def cannot_wait(code: CodeType, namespace: Mapping[str, Any] | None = None,
                closure: Mapping[str, Any] | None = None) -> bool:
    """True when running ``code`` cannot wait for anything (module docstring);
    ``namespace``: the globals its names are looked up in (the function's
    ``__globals__``; ``None``: no call is named, so any call may wait); ``closure``: the
    values of its free variables (``function_closure``). Remembered per code object when
    it has no free variables (another function of the same code may close over others)."""
    known = _waits.get(code)
    if known is None:
        known = not code.co_flags & _SUSPENDS and _straight_and_safe(code, namespace, closure or {})
        if not code.co_freevars:
            _waits[code] = known
    return known


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


def _straight_and_safe(code: CodeType, namespace: Mapping[str, Any] | None, closure: Mapping[str, Any]) -> bool:
    instructions = list(dis.get_instructions(code))
    for ins in instructions:
        if ins.opname.startswith(_MAY_WAIT_PREFIXES):
            return False
        if ins.opcode in _JUMPS and isinstance(ins.argval, int) and ins.argval <= ins.offset:
            return False  # a loop
    if not any(ins.opname in _CALLS for ins in instructions):
        return True
    return namespace is not None and _READS_CALLS and _calls_are_safe(instructions, namespace, closure)


def _calls_are_safe(instructions: list[dis.Instruction], namespace: Mapping[str, Any],
                    closure: Mapping[str, Any]) -> bool:
    """Every call of this (loop-free) 3.11 bytecode targets a ``SAFE_BUILTINS`` member or
    an element class. A call begins with its callee: ``LOAD_GLOBAL (NULL + name)``, or
    ``PUSH_NULL`` and an expression, or ``LOAD_METHOD`` on an object (``Tag.h1`` when
    ``Tag`` is a free variable); its arguments follow, then ``PRECALL``. Calls nest as
    parentheses do (each branch of a conditional expression holds whole calls), so
    ``open_calls`` holds the callees of the calls begun and not yet made. A callee is
    named when it is a global or free variable, maybe followed by attributes of ``Tag``;
    anything else is not named, and not safe."""
    open_calls: list[Any] = []
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
            naming, loaded = False, closure.get(name, _UNNAMED)
        elif op == "LOAD_ATTR" and naming:
            open_calls[-1] = _attribute(open_calls[-1], name)
        elif op == "LOAD_ATTR":
            loaded = _attribute(loaded, name)
        elif op == "LOAD_METHOD":
            open_calls.append(_attribute(loaded, name))
            naming, loaded = False, _UNNAMED
        else:
            if op == "PRECALL" and (not open_calls or not _safe(open_calls.pop())):
                return False
            naming, loaded = False, _UNNAMED
        after_null = op == "PUSH_NULL"
    return not open_calls


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


def _safe(callee: Any) -> bool:
    if callee is _UNNAMED:
        return False
    try:
        if callee in SAFE_BUILTINS:
            return True
    except TypeError:  # unhashable: not one of them
        return False
    return tag_module.is_element_class(callee)
