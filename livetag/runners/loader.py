"""Import strings: how a process names an app so that another process can import it.

Shapes (``Name`` may be dotted: ``module:obj.attr``):

- ``path/to/app.py``            the single ``Tag.App`` subclass defined in that file
- ``path/to/app.py:Name``       attribute ``Name`` of that file
- ``package.module``            the single ``Tag.App`` subclass defined in that module
- ``package.module:Name``       attribute ``Name`` of an importable module

What an import string names is a ``Tag.App`` subclass (or any ``Tag`` subclass, a ``Tag``
instance shared by all sessions, a factory returning a ``Tag``), a ``WebApp``, or a
Starlette application; ``servable`` turns any of them into an ASGI app.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from ..dom.tag import Tag
from ..errors import AmbiguousApp, AppFileNotFound, AppImportFailed, AppNotFound

#: Modules this process imported from a file path: module name -> absolute path.
_PATH_MODULES: dict[str, str] = {}



@dataclass(frozen=True)
class ImportString:
    """A parsed import string: ``location`` (a ``.py`` path or a module name) and the
    optional attribute path after the last ``:``."""

    location: str
    attr: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImportString:
        """Split ``text`` at its last ``:`` when what follows is a dotted identifier (so a
        Windows drive letter, ``C:\\app.py``, stays part of the path).

        Raises ``ValueError`` for an empty string or an empty attribute."""
        text = text.strip()
        location, sep, attr = text.rpartition(":")
        if sep and attr == "":
            raise ValueError(f"expected an attribute name after ':' in {text!r}, got nothing")
        if sep and location and all(part.isidentifier() for part in attr.split(".")):
            return cls(location, attr)
        if not text:
            raise ValueError("expected an import string like 'app.py' or 'app.py:MyApp', got ''")
        return cls(text, None)

    def __str__(self) -> str:
        return self.location if self.attr is None else f"{self.location}:{self.attr}"

    @property
    def is_path(self) -> bool:
        """``True`` when ``location`` is a file path rather than a module name."""
        loc = self.location
        return loc.endswith(".py") or "/" in loc or os.sep in loc or not all(
            part.isidentifier() for part in loc.split("."))

    @property
    def path(self) -> Path:
        return Path(self.location).expanduser().resolve()

    def check_exists(self) -> None:
        """Raise ``AppFileNotFound`` when ``location`` is a path to a missing file."""
        if self.is_path and not self.path.is_file():
            raise AppFileNotFound(f"no such file: {self.location}")

    def import_module(self) -> ModuleType:
        """Import (execute) the module; a path is imported under its file's stem, with its
        directory first on ``sys.path`` so that its sibling modules import too.

        Raises ``AppFileNotFound`` or ``AppImportFailed`` (with the original exception as
        ``__cause__`` and a one-line summary as message)."""
        self.check_exists()
        try:
            if not self.is_path:
                return importlib.import_module(self.location)
            return _import_path(self.path)
        except Exception as exc:
            where = self.location
            raise AppImportFailed(f"importing {where} failed: {summarize(exc)}") from exc

    def load(self) -> Any:
        """What the string names (see the module docstring).

        Raises ``AppLoadError`` subclasses: ``AppFileNotFound``, ``AppImportFailed``,
        ``AppNotFound`` (no such attribute; no ``Tag.App`` subclass), ``AmbiguousApp``."""
        module = self.import_module()
        if self.attr is None:
            return single_app_class(module, str(self))
        obj: Any = module
        for part in self.attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise AppNotFound(f"expected {self.location} to define {self.attr!r}, it does not") from None
        return obj


def _import_path(path: Path) -> ModuleType:
    name = path.stem if path.stem.isidentifier() else "livetag_app"
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) != str(path):
        name = f"livetag_app_{abs(hash(str(path))):x}"  # never shadow another module
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"expected a Python source file, got {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _PATH_MODULES[name] = str(path)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        _PATH_MODULES.pop(name, None)
        raise
    return module


def app_classes(module: ModuleType) -> list[type[Tag]]:
    """The ``Tag.App`` subclasses *defined* in ``module`` (not imported), in order."""
    app_base = Tag.App
    return [obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, app_base) and obj is not app_base
            and obj.__module__ == module.__name__]


def single_app_class(module: ModuleType, where: str) -> type[Tag]:
    """The one ``Tag.App`` subclass of ``module``; ``AppNotFound`` / ``AmbiguousApp``."""
    found = app_classes(module)
    if len(found) == 1:
        return found[0]
    if not found:
        raise AppNotFound(f"expected {where} to define a Tag.App subclass, found none "
                          f"(name the app with {where}:NAME)")
    names = [cls.__name__ for cls in found]
    raise AmbiguousApp(f"{where} defines {len(names)} Tag.App subclasses: {', '.join(names)}; "
                       f"name one, e.g. {where}:{names[0]}", names)


def summarize(exc: BaseException) -> str:
    """``exc`` as one line: ``Type: message (file.py, line N)``, the line being the
    innermost frame outside the import machinery when the exception does not say it."""
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc}"  # already ends with "(file.py, line N)"
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "importlib" not in f.filename and not f.filename.startswith("<frozen")
              and os.path.dirname(f.filename) != os.path.dirname(__file__)]
    if frames:
        text += f" ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})"
    return text


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without the frames of livetag's loader and importlib."""
    tb = exc.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename == __file__
                              or "importlib" in tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


# -- the other direction: from a live object to its import string -----------------------


def module_reference(module_name: str) -> str:
    """How another process imports module ``module_name``: its name, or for the script
    being run (``__main__``) its ``python -m`` name or its absolute file path.

    Raises ``ValueError`` for code that has no file (an interactive session, ``-c``)."""
    module = sys.modules.get(module_name)
    if module_name in _PATH_MODULES:
        return _PATH_MODULES[module_name]  # its name only works with its directory on sys.path
    if module_name != "__main__":
        return module_name
    spec: ModuleSpec | None = getattr(module, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return spec.name  # python -m package.module
    file: str | None = getattr(module, "__file__", None)
    if not file:
        raise ValueError("expected the app to live in a file; code typed in an interactive session "
                         "or passed with -c cannot be reloaded")
    return os.path.abspath(file)


def import_string_for(obj: Any, search: Iterable[ModuleType] = ()) -> str:
    """An import string under which a fresh process finds ``obj``.

    A class or function must be defined at module level; an instance must be bound to a
    module-level name of ``__main__`` or of a module in ``search``.
    Raises ``ValueError`` when there is no such name."""
    if isinstance(obj, (type, FunctionType)):
        qualname = obj.__qualname__
        if "<locals>" in qualname:
            raise ValueError(f"expected {qualname} to be defined at module level, so that the "
                             "reloaded process can import it; it is defined inside a function")
        return f"{module_reference(obj.__module__)}:{qualname}"
    modules = [m for m in (sys.modules.get("__main__"), *search) if m is not None]
    for module in modules:
        for name, value in list(vars(module).items()):
            if value is obj and name.isidentifier() and not name.startswith("__"):
                return f"{module_reference(module.__name__)}:{name}"
    raise ValueError(f"expected the {type(obj).__name__} to be bound to a module-level name, "
                     "so that the reloaded process can import it; it is not")


def servable(obj: Any, webapp_options: Mapping[str, Any] | None = None) -> Any:
    """The ASGI app serving ``obj`` (what an import string named): a ``WebApp`` or an ASGI
    app (``webapp.app``, a Starlette app, any ``async (scope, receive, send)`` callable) as
    they are, anything else wrapped in ``WebApp(obj, **webapp_options)``.

    Raises ``AppNotFound`` when ``obj`` is none of the shapes in the module docstring."""
    # The server's WebApp, not ``livetag.WebApp``: what is returned is served as it is,
    # never ``.run()`` (and the public class sits above this module: ``runners.apps``).
    from ..server.webapp import WebApp

    if isinstance(obj, WebApp) or _is_asgi(obj):
        return obj
    if (isinstance(obj, type) and issubclass(obj, Tag)) or isinstance(obj, Tag) or (
            callable(obj) and not isinstance(obj, type)):
        options = dict(webapp_options or {})
        if "allowed_origins" in options:
            options["allowed_origins"] = tuple(options["allowed_origins"])
        return WebApp(obj, **options)
    raise AppNotFound(f"expected a Tag.App subclass, a WebApp or a Starlette app, got {type(obj).__name__}")


def _is_asgi(obj: Any) -> bool:
    """``obj`` is an ASGI 3 application: an async callable of ``(scope, receive, send)``
    (a ``Tag`` factory, by contrast, is a plain callable without arguments)."""
    import inspect

    if isinstance(obj, type) or not callable(obj):
        return False
    call = obj if inspect.isfunction(obj) or inspect.ismethod(obj) else getattr(type(obj), "__call__", None)  # noqa: B004 - the method
    if not inspect.iscoroutinefunction(call):
        return False
    try:
        return len(inspect.signature(obj).parameters) == 3
    except (TypeError, ValueError):
        return False


def webapp_options_of(webapp: Any) -> dict[str, Any]:
    """The keyword arguments that rebuild ``webapp`` (a ``WebApp``) in another process: each
    parameter of ``WebApp.__init__`` found as an attribute of the WebApp or of its
    ``limits``, when its value is JSON-ready. Secrets (``session_secret``) are not kept:
    give them through the environment (``$LIVETAG_SESSION_SECRET``)."""
    import inspect
    import json

    options: dict[str, Any] = {}
    for name in list(inspect.signature(type(webapp).__init__).parameters)[2:]:
        if "secret" in name:
            continue
        for holder in (webapp, getattr(webapp, "limits", None)):
            if holder is not None and hasattr(holder, name):
                value = getattr(holder, name)
                if isinstance(value, (set, frozenset, tuple)):
                    value = sorted(value)
                try:
                    json.dumps(value)
                except (TypeError, ValueError):
                    break
                options[name] = value
                break
    return options
