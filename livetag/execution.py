"""Where user code runs: on the event loop, or in a worker thread.

livetag keeps two promises that pull apart for plain ``def`` code:

- htag's: plain code may use asyncio (``asyncio.create_task(run())`` in a plain
  ``on_mount``, as htag's documentation does), which needs the event loop's thread;
- the design's: a plain handler that blocks (``time.sleep(2)``, a slow C call) delays
  no other session, which needs any other thread than the event loop's.

The rule that keeps both (measured in ``docs/guide.md``, "Where your code runs"):

- ``async def`` code, and plain code that *names* asyncio (``asyncio``,
  ``create_task``, ``ensure_future``, ``get_running_loop``, ``get_event_loop``, ...
  anywhere in its body, in functions defined inside it, or in the functions and methods
  of its own module that it calls: ``reaches_asyncio``), runs on the event loop;
- plain code that cannot wait runs on the event loop too (``livetag.waiting``: no loop,
  no import, no ``with``, no call but of computing builtins, element classes, the tag
  methods that edit the tree, and the app's own functions and ``self`` methods that
  cannot wait either, or the same tag methods, a state's ``set``/``get`` and a builtin
  container's calm methods on what the instance (or a lambda's free variable) holds or on
  the event's target, checked at each call (``self.content.add(...)``, ``lambda e:
  self.count.set(...)``, ``self.items.append(x)``, ``e.target.add(...)``);
  such as ``self.count += 1; self.value.text = str(self.count)``,
  ``self.add(Tag.li(text))`` or an ``init`` that only builds tags): a thread hop would
  cost more than the code itself;
- any other plain code runs in a worker thread (``livetag.threads``);
- ``@on_loop`` and ``@in_thread`` override the rule for one function.

What gives way: plain code that names asyncio *and* blocks stalls the loop for as long
as it blocks (write it ``async def`` and ``await asyncio.to_thread(...)`` the blocking
part), and so does code that cannot wait reaching a blocking property setter or
operator method of the app's own classes (mark it ``@in_thread``). Plain code running in
a thread that reaches asyncio through another function gets ``AsyncioOutsideLoop``,
which names the fix, instead of asyncio's bare "no running event loop". A ``Runner``
session process runs everything inline on its loop: there the process is the isolation.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import weakref
from collections.abc import Callable, Mapping
from types import CodeType, CoroutineType
from typing import Any, TypeVar

from .dom.tag import Tag
from .errors import AsyncioOutsideLoop
from .guards import Guards, guards_hold
from .threads import HANDLER_THREADS
from .waiting import MAX_DEPTH, app_callees, calls_methods_of_self, cannot_wait, function_closure, loop_guards

F = TypeVar("F", bound=Callable[..., Any])

#: Where a function runs, remembered on it: ``True``/``False`` for a mark (``on_loop``,
#: ``in_thread``), ``1``/``0`` for the rule's verdict (one lookup per call either way),
#: or the ``Guards`` to check at each call (``e.target.add(...)``).
_PLACEMENT = "__livetag_placement__"
#: The rule's verdicts per class of the instance, for code whose callees depend on it
#: (``ByClass``); apart from ``_PLACEMENT``, so that a plain verdict stays one lookup.
_BY_CLASS = "__livetag_placement_by_class__"
#: Names whose presence in a function's code means "this code talks to the event loop".
ASYNCIO_NAMES = frozenset({
    "asyncio", "create_task", "ensure_future", "get_running_loop", "get_event_loop",
    "call_soon", "call_later", "call_at", "TaskGroup",
})
_cache: dict[CodeType, bool] = {}


def on_loop(func: F) -> F:
    """Run this plain function on the event loop (it must not block): asyncio works in
    it and a call costs no thread hop. Returns ``func`` itself, marked."""
    return _mark(func, True)


def in_thread(func: F) -> F:
    """Run this plain function in a worker thread even if it names asyncio or cannot
    wait (it may block, through a property of yours; it must not call asyncio).
    Returns ``func`` itself, marked."""
    return _mark(func, False)


def _mark(func: F, loop: bool) -> F:
    target = getattr(func, "__func__", func)  # a bound method: mark the function
    try:
        setattr(target, _PLACEMENT, loop)
    except AttributeError:
        raise TypeError(f"expected a function or method to mark, got {type(func).__name__}") from None
    return func


def runs_on_loop(func: Callable[..., Any], args: tuple[Any, ...] | None = None) -> bool:
    """True when ``func`` runs on the event loop (see the module docstring): a
    coroutine or async generator function, a function marked ``@on_loop``, plain code
    that names asyncio, or plain code that cannot wait (``waiting.loop_guards``, its
    guards checked on this call). ``args``: the positional arguments of the call about
    to be made (``None``: not known; code guarded on an event's target then goes to a
    thread). Follows bound methods, ``functools.partial``, livetag's ``Handler`` and
    callable objects."""
    seen = 0
    while seen < 8:  # wrappers of wrappers: a few levels, never a loop
        seen += 1
        placement = getattr(func, _PLACEMENT, None)
        if placement is None:
            by_class = getattr(func, _BY_CLASS, None)
            if by_class is not None:
                cls = _instance_class(func)
                placement = by_class.get(cls) if cls is not None else None
        if placement is not None:
            if type(placement) is frozenset:  # on the loop while what the call holds allows
                return guards_hold(_arguments(func, args), placement, getattr(func, "__func__", func))
            return bool(placement)
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            target = getattr(func, "__func__", func)
            if inspect.isfunction(target):
                setattr(target, _PLACEMENT, 1)
            return True
        if isinstance(func, functools.partial):
            func, args = func.func, None  # its arguments come first: positions unknown
            continue
        inner = getattr(func, "func", None)  # livetag.dom.events.Handler
        if inner is not None and callable(inner) and not inspect.isfunction(func):
            func, args = inner, None
            continue
        target = getattr(func, "__func__", func)
        owner = target if hasattr(target, "__code__") else getattr(type(func), "__call__", None)  # noqa: B004
        code = getattr(owner, "__code__", None)
        cls = _instance_class(func)
        namespace, closure = getattr(owner, "__globals__", None), function_closure(owner)
        guards: Guards | None = None
        if code is not None:
            guards = frozenset() if reaches_asyncio(code, namespace, closure, cls) else loop_guards(
                code, namespace, closure, cls)
        if inspect.isfunction(target):  # remembered on the function: the next call reads it back
            if cls is not None and code is not None and calls_methods_of_self(code):
                # What it calls on its instance depends on the instance's class.
                by_class = target.__dict__.get(_BY_CLASS)
                if by_class is None:
                    by_class = ByClass()
                    setattr(target, _BY_CLASS, by_class)
                by_class[cls] = guards if guards else int(guards is not None)
            else:
                setattr(target, _PLACEMENT, guards if guards else int(guards is not None))
        return guards is not None and (not guards or guards_hold(_arguments(func, args), guards, target))
    return False


def _arguments(func: Any, args: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """The positional arguments ``func``'s code gets for ``args``: a bound method's or a
    callable object's instance first; only the instance when ``args`` is unknown."""
    instance = getattr(func, "__self__", None)
    if instance is None and not inspect.isfunction(func):
        instance = func  # a callable object: its __call__'s self
    if instance is None:
        return args or ()
    return (instance, *args) if args else (instance,)


class ByClass(weakref.WeakKeyDictionary[type, "int | Guards"]):
    """Where a method runs, per class of its instance: what it calls on ``self`` depends
    on the class (a subclass may override it); ``1``/``0``, or the ``Guards`` on what the
    instance holds under which it runs on the loop (``waiting.loop_guards``). Weak, so
    that a class made at run time goes with its last instance."""


def _instance_class(func: Any) -> type | None:
    """The class of the instance ``func`` runs on: a bound method's, a callable object's;
    ``None`` for a plain function."""
    instance = getattr(func, "__self__", None)
    if instance is not None:
        return type(instance)
    return None if inspect.isfunction(func) or inspect.isbuiltin(func) else type(func)


def init_runs_on_loop(app: Any) -> bool:
    """True when building ``app`` (a ``Tag`` class or a factory) belongs on the loop: an
    ``init`` of the class or of its bases needs the loop (names asyncio, ``async``,
    ``@on_loop``), or none of them may wait; a factory, by the rule above."""
    if isinstance(app, type):
        # Tag's own default only adds the children it is given: it cannot wait.
        inits = [k.__dict__["init"] for k in app.__mro__ if "init" in k.__dict__ and k is not Tag]
        return any(_needs_loop(init, app) for init in inits) or all(_init_on_loop(init, app) for init in inits)
    return callable(app) and runs_on_loop(app)


def _init_on_loop(init: Any, cls: type) -> bool:
    """``runs_on_loop`` for an ``init`` that will run on an instance of ``cls``: the
    methods it calls on ``self`` are followed on ``cls``."""
    mark = getattr(init, _PLACEMENT, None)
    if mark is True or mark is False or not inspect.isfunction(init):
        return runs_on_loop(init)
    code = init.__code__
    return cannot_wait(code, init.__globals__, function_closure(init), cls)


def _needs_loop(func: Any, cls: type) -> bool:
    mark = getattr(func, _PLACEMENT, None)
    if mark is True or mark is False:  # a mark, not the rule's verdict
        return mark
    code = getattr(func, "__code__", None)
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func) or (
        code is not None and reaches_asyncio(code, getattr(func, "__globals__", None), function_closure(func), cls))


def reaches_asyncio(code: CodeType, namespace: Mapping[str, Any] | None, closure: Mapping[str, Any],
                    owner: type | None = None, depth: int = 0) -> bool:
    """True when ``code`` names asyncio, or one of the functions of its own module that it
    calls does (``waiting.app_callees``: ``self.start_timer()``), ``MAX_DEPTH`` calls
    deep: such code talks to the event loop through its helpers, and runs there. Other
    modules' functions are not followed: a library's sync facade over asyncio
    (``asyncio.run`` inside) needs a thread, not the running loop."""
    if names_asyncio(code):
        return True
    if depth >= MAX_DEPTH or namespace is None:
        return False
    module = namespace.get("__name__")
    return any(reaches_asyncio(f.__code__, f.__globals__, function_closure(f), cls, depth + 1)
               for f, cls in app_callees(code, namespace, closure, owner) if f.__module__ == module)


def names_asyncio(code: CodeType) -> bool:
    """True when ``code`` or a function defined in it names one of ``ASYNCIO_NAMES``."""
    known = _cache.get(code)
    if known is None:
        known = not ASYNCIO_NAMES.isdisjoint(code.co_names) or any(
            isinstance(const, CodeType) and names_asyncio(const) for const in code.co_consts
        )
        _cache[code] = known
    return known


def explain_missing_loop(exc: BaseException, func: Callable[..., Any]) -> BaseException:
    """``AsyncioOutsideLoop`` in place of asyncio's "no running/current event loop"
    ``RuntimeError`` raised by ``func`` in a worker thread; any other ``exc`` as is."""
    message = str(exc) if isinstance(exc, RuntimeError) else ""
    if "no running event loop" not in message and "no current event loop" not in message:
        return exc
    name = getattr(func, "__qualname__", None) or repr(func)
    error = AsyncioOutsideLoop(name)
    error.__cause__ = exc
    return error


async def run_user_code(func: Callable[..., Any], args: tuple[Any, ...], step: Callable[[], None]) -> Any:
    """Run ``func(*args)`` where the rule above places it, in whatever form it has: plain,
    coroutine, generator or async generator function; ``step()`` runs after each
    ``yield`` (the session sends an update). Returns what a plain or ``async`` function
    returned (``None`` for a generator). Exceptions propagate, asyncio's "no running
    event loop" from a worker thread as ``AsyncioOutsideLoop``."""
    on_loop = getattr(func, _PLACEMENT, None)  # runs_on_loop's first step, without its call
    if on_loop is None or on_loop.__class__ is frozenset:
        on_loop = runs_on_loop(func, args)
    result = func(*args) if on_loop else await _in_thread(func, func, *args)
    if result is None or result.__class__ in _PLAIN_VALUES:  # a plain handler (a lambda's value)
        return result
    if type(result) is CoroutineType or inspect.isawaitable(result):
        result = await result
        if result is None:
            return None
    if inspect.isgenerator(result):
        while (next(result, _DONE) if on_loop else await _in_thread(func, next, result, _DONE)) is not _DONE:
            step()
    elif inspect.isasyncgen(result):
        async for _ in result:
            step()
    else:
        return result
    return None


def to_thread(func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Run ``func(*args)`` in a worker thread (inline in a ``Runner`` session process:
    see ``livetag.threads``); the future holds its result."""
    return HANDLER_THREADS.run(func, *args)


async def _in_thread(owner: Callable[..., Any], call: Callable[..., Any], *args: Any) -> Any:
    try:
        return await to_thread(call, *args)
    except RuntimeError as exc:
        explained = explain_missing_loop(exc, owner)
        if explained is exc:
            raise
        raise explained from exc


_DONE = object()
#: What a plain handler returns most often besides ``None`` (``lambda e: state.set(v)``
#: returns ``v``): no awaitable nor generator, so nothing more to look at.
_PLAIN_VALUES = frozenset({bool, int, float, str, bytes, tuple, list, dict})
