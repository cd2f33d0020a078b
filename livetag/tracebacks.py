"""Tracebacks written for the person who wrote the app: their own frames first.

A handler or a reactive source that raises is usually called from deep inside livetag
(the session, the execution layer, the reactive slots). Python's traceback lists those
frames first, and the line that matters (the user's) comes last. ``format_user_trace``
puts the app's frames first, innermost (where it happened) first, each with ``file:line``
and its source line, then the other frames on one line each (livetag's own, the
standard library's, installed packages'), then the exception's cause or context the same
way. With no frame of the app at all (a bug of livetag or of a library called directly),
it is Python's usual traceback.

Pure standard library (layer 0): the DOM layer formats failures of reactive sources
with it, the session those of handlers and hooks.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import traceback

#: Directories whose frames are not the app's: livetag itself, the standard library and
#: installed packages.
_LIVETAG = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARIES = tuple(sorted({
    os.path.abspath(p) + os.sep
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (p := sysconfig.get_paths().get(key))
}))
#: Chained exceptions shown at most (cause of a cause...).
_MAX_CHAIN = 4


def is_app_frame(filename: str) -> bool:
    """True when ``filename`` (a code object's ``co_filename``) is the app's code, not
    livetag's, the standard library's or an installed package's."""
    if filename.startswith("<") and filename not in ("<stdin>", "<string>"):
        return False  # <frozen runpy> and friends
    path = os.path.abspath(filename)
    if path.startswith(_LIVETAG):
        return False
    # Installed packages live in site-packages/dist-packages; the standard library in
    # the interpreter's prefix. A virtualenv's app code is neither.
    if f"{os.sep}site-packages{os.sep}" in path or f"{os.sep}dist-packages{os.sep}" in path:
        return False
    return not any(path.startswith(lib) for lib in _LIBRARIES)


def format_user_trace(exc: BaseException) -> str:
    """The traceback of ``exc`` with the app's frames first (module docstring). Ends with
    a newline."""
    return "".join(_format(exc, 0, set()))


def _format(exc: BaseException, depth: int, seen: set[int]) -> list[str]:
    seen.add(id(exc))
    frames = traceback.extract_tb(exc.__traceback__)
    head = "".join(traceback.format_exception_only(type(exc), exc))
    mine = [f for f in frames if is_app_frame(f.filename)]
    if not mine:
        lines = ["".join(traceback.format_exception(type(exc), exc, exc.__traceback__, chain=False))]
    else:
        lines = [head, "\nin your code (innermost first):\n"]
        for frame in reversed(mine):
            lines.append(f"  {_short(frame.filename)}:{frame.lineno} in {frame.name}\n")
            if frame.line:
                lines.append(f"    {frame.line.strip()}\n")
        others = [f for f in frames if not is_app_frame(f.filename)]
        if others:
            lines.append("\nthen, in livetag and libraries (innermost first):\n")
            lines.extend(f"  {_short(f.filename)}:{f.lineno} in {f.name}\n" for f in reversed(others))
    chained = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if chained is not None and id(chained) not in seen and depth < _MAX_CHAIN:
        why = "caused by" if exc.__cause__ is not None else "raised while handling"
        lines.append(f"\n{why}:\n")
        lines.extend(_format(chained, depth + 1, seen))
    return lines


def _short(filename: str) -> str:
    """A path relative to the working directory when under it, else as it is."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith("..") else relative


def current_user_trace() -> str:
    """``format_user_trace`` of the exception being handled (inside ``except``)."""
    exc = sys.exc_info()[1]
    return format_user_trace(exc) if exc is not None else ""
