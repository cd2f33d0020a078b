"""The event model: ``Event`` objects, handler wrappers, ``prevent`` and ``stop``.

A handler is any callable bound to an element's ``on<name>`` attribute. It is called
with one ``Event`` when it accepts a positional argument, otherwise with none. It may be
a plain function, an ``async def``, a generator or an async generator (each ``yield``
sends the UI state reached so far to the browser).
"""

from __future__ import annotations

import inspect
import linecache
import re
import reprlib
import sys
from collections.abc import Callable
from types import FrameType, FunctionType, MethodType
from typing import Any

from ..tracebacks import is_app_frame
from .files import FileHost, UploadedFile, host_of, upload_id
from .node import Node


class Event:
    """What a handler receives.

    ``target`` is the tag the handler is bound to and ``name`` the event name
    (``"click"``); both come from the server's tree, never from client data. ``value``
    is the element's value (for a ``<form>`` submit: a dict of its named fields, where
    checkboxes are booleans and multiple selects lists); ``checked``, ``key`` and mouse
    coordinates (``client_x``/``clientX``, ``x``/``y`` as in the DOM's ``MouseEvent``)
    come from the DOM event; ``newURL``/``oldURL`` from a ``hashchange``. Any other field
    the client sent is readable as an attribute (``e.shiftKey``, ``e.shift_key``; what
    ``htag_event(id, name, {key: ...})`` sends in the page) and by subscript, after the
    form fields (``e["email"]``).

    Client data only ever fills in names the class does not define, and never a name
    with a leading underscore (Python probes those: ``__deepcopy__``, ``__reduce__``...);
    every field stays in ``e.data``. A field the client did not send reads as ``None``
    (as in htag, and as ``undefined`` in the page: ``if e.ctrlKey:`` works whatever the
    event).
    """

    __slots__ = ("_data", "_files", "_host", "name", "target")

    def __init__(self, target: Node, name: str, data: dict[str, Any] | None = None) -> None:
        self.target = target
        self.name = name
        self._data: dict[str, Any] = data or {}
        self._files: list[UploadedFile] | None = None
        # Found now: the handler may take the target out of the tree before the files go.
        self._host: FileHost | None = host_of(target) if "files" in self._data else None

    @property
    def files(self) -> list[UploadedFile]:
        """The files of an upload (the ``change`` of an ``<input type="file">``, the
        ``drop`` of a ``FileDrop``): ``UploadedFile`` objects, in the order chosen, ``[]``
        for any other event or an upload the server refused (``upload_error`` says why).
        They are removed when the handler returns or raises."""
        if self._files is None:
            uid = upload_id(self._data)
            host = self._host
            self._files = host.claim(uid, self.target.id) if uid is not None and host is not None else []
        return self._files

    @property
    def upload_error(self) -> str | None:
        """Why the server refused this event's upload (too large...), else ``None``."""
        error = self._data.get("upload_error")
        return error if isinstance(error, str) else None

    def release_files(self) -> None:
        """Remove this event's uploaded files (the session calls it when the handler ends)."""
        if not self._data and not self._files:  # a click: nothing was uploaded
            return
        uid = upload_id(self._data)
        if uid is not None and self._host is not None:
            self._host.release(uid)
        for file in self._files or ():
            file.close()

    @property
    def value(self) -> Any:
        return self._data.get("value")

    @property
    def checked(self) -> bool | None:
        return self._data.get("checked")

    @property
    def key(self) -> str | None:
        return self._data.get("key")

    @property
    def data(self) -> dict[str, Any]:
        """Every field the client sent with the event (a copy)."""
        return dict(self._data)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails, so target/name (and every other name of
        # the class) can never be shadowed by client data.
        if name.startswith("_"):
            raise AttributeError(name)
        data = object.__getattribute__(self, "_data")
        for field in (name, _camel(name), _ALIASES.get(name)):
            if field is not None and field in data:
                return data[field]
        return None

    def __getitem__(self, field: str) -> Any:
        """``e["email"]``: a form field of a submit, else a field the client sent.

        Raises ``KeyError`` when there is neither.
        """
        value = self._data.get("value")
        if isinstance(value, dict) and field in value:
            return value[field]
        if field in self._data:
            return self._data[field]
        if isinstance(value, dict):
            raise KeyError(field)
        raise KeyError(f"expected a form event whose value is a dict of fields, or a field of the event, "
                       f"got {field!r} on a {type(value).__name__} value")

    def __str__(self) -> str:
        return f"{self.name} on <{self.target.tag_name}> #{self.target.id}"

    def __repr__(self) -> str:
        # Client data is bounded in bytes, not in depth or breadth: a bounded repr keeps a
        # log line short and a deeply nested value from raising RecursionError.
        return f"<Event {self.name} on {self.target.tag_name}#{self.target.id} {_DATA_REPR.repr(self._data)}>"


_DATA_REPR = reprlib.Repr()
_DATA_REPR.maxlevel, _DATA_REPR.maxdict, _DATA_REPR.maxlist, _DATA_REPR.maxstring = 3, 12, 12, 80

# DOM names that mean the same field: MouseEvent.x is clientX (CSSOM View).
_ALIASES = {"x": "clientX", "y": "clientY"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class Handler:
    """A callable plus how the browser must treat the DOM event that triggers it.

    ``prevent`` makes the client call ``preventDefault()``, ``stop`` makes it call
    ``stopPropagation()``. Also a descriptor, so ``@prevent`` works on methods.
    """

    __slots__ = ("_accepts_event", "func", "prevent", "stop")
    func: Callable[..., Any]
    prevent: bool
    stop: bool

    def __init__(self, func: Callable[..., Any], *, prevent: bool = False, stop: bool = False) -> None:
        if isinstance(func, Handler):
            prevent = prevent or func.prevent
            stop = stop or func.stop
            func = func.func
        if not callable(func):
            raise TypeError(f"expected a callable event handler, got {type(func).__name__}")
        self.func = func
        self.prevent = prevent
        self.stop = stop
        self._accepts_event: bool | None = None

    def __get__(self, instance: object, owner: type | None = None) -> Handler:
        if instance is None:
            return self
        return Handler(self.func.__get__(instance, owner), prevent=self.prevent, stop=self.stop)

    @property
    def flags(self) -> str:
        """The suffix the client reads: ``""``, ``".prevent"``, ``".stop"`` or both."""
        return (".prevent" if self.prevent else "") + (".stop" if self.stop else "")

    @property
    def accepts_event(self) -> bool:
        """True when ``func`` takes the ``Event`` (one positional argument)."""
        if self._accepts_event is None:
            self._accepts_event = accepts_argument(self.func)
        return self._accepts_event

    def __call__(self, event: Event) -> Any:
        return self.func(event) if self.accepts_event else self.func()


def accepts_argument(func: Callable[..., Any]) -> bool:
    """True when ``func`` can be called with one positional argument."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


def check_handler(event: str, func: Callable[..., Any]) -> None:
    """Raise ``TypeError`` when ``func`` cannot be a handler of ``event``: a handler is
    called with the ``Event`` when it takes a positional argument, else with nothing
    (htag's rule), so it must accept one of those two calls. Default values, ``*args``
    and ``**kwargs`` are fine; two required positional parameters, or a required
    keyword-only one, are not."""
    if _plainly_callable(func):
        return
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return
    for args in ((None,), ()):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return
    name = getattr(func, "__qualname__", None) or type(func).__name__
    signature = signature.replace(  # the parameters are what matters here, not their types
        parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
        return_annotation=signature.empty)
    raise TypeError(
        f"expected a handler for on{event} callable with the event or with no argument, "
        f"got {name}{signature}: give its other parameters default values, "
        f"or bind them first (functools.partial, a lambda)"
    )


def _plainly_callable(func: Any) -> bool:
    """The common case without ``inspect.signature`` (tags with handlers are built in
    loops): a function or bound method callable with one positional argument or none."""
    bound = 0
    if type(func) is MethodType:
        func, bound = func.__func__, 1
    if type(func) is not FunctionType:
        return False
    code = func.__code__
    positional = code.co_argcount - bound
    required = positional - len(func.__defaults__ or ())
    keyword_required = code.co_kwonlyargcount - len(func.__kwdefaults__ or ())
    return positional >= 0 and keyword_required <= 0 and required <= 1


def caller_source() -> str | None:
    """The source of the statement in the app's code that led here (the innermost frame
    outside livetag and libraries), its lines joined; ``None`` when unknown."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and not is_app_frame(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:
        return None
    code = frame.f_code
    start = end = frame.f_lineno
    positions = list(code.co_positions())
    index = frame.f_lasti // 2
    if 0 <= index < len(positions):
        start = positions[index][0] or start
        end = positions[index][1] or end
    lines = [linecache.getline(code.co_filename, n) for n in range(start or 0, (end or 0) + 1)]
    return " ".join(line.strip() for line in lines) or None


def misused_handler(event: str, value: Any, source_line: str | None) -> TypeError:
    """The error for a non-callable ``value`` given as the handler of ``event``; when
    ``source_line`` (the caller's line) shows ``_on<event>=f()``, it names the fix."""
    got = "None" if value is None else f"{type(value).__name__} {reprlib.repr(value)}"
    hint = "pass the function itself, not the result of calling it"
    if source_line:
        match = re.search(rf"_?on{re.escape(event)}['\"]?\]?\s*=\s*([A-Za-z_][\w.]*)\(\s*\)", source_line)
        if match:
            hint = f"pass {match.group(1)}, not {match.group(1)}()"
    return TypeError(f"expected a callable for on{event}, got {got}: {hint}")


def prevent(func: Callable[..., Any]) -> Handler:
    """Make the browser call ``preventDefault()`` on the DOM event (decorator or wrapper)."""
    return Handler(func, prevent=True)


def stop(func: Callable[..., Any]) -> Handler:
    """Make the browser call ``stopPropagation()`` on the DOM event (decorator or wrapper)."""
    return Handler(func, stop=True)


def as_handler(value: Callable[..., Any]) -> Handler:
    return value if isinstance(value, Handler) else Handler(value)
