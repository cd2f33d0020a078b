"""``AppRef``: how a session process finds the app class a web worker names.

A class crosses process boundaries by name (module + qualified name), the way pickle
does. An app defined in the script that was run (``python server.py``: module
``__main__``) is found through that script's path, imported under another module name in
the helper processes (its ``Runner(...).run()`` returns at once there).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

from ...errors import AppNotImportable

#: Set in the supervisor, the fork server and session processes (inherited).
ROLE_ENV = "LIVETAG_RUNNER_ROLE"
MAIN_ALIAS = "__livetag_main__"


@dataclass(frozen=True)
class AppRef:
    """``module``: dotted module name (``"__main__"`` for the script that was run);
    ``qualname``: the class's qualified name; ``file``: the script's path for
    ``__main__``."""

    module: str
    qualname: str
    file: str | None = None

    @classmethod
    def of(cls, app: Any) -> AppRef:
        """The reference of ``app`` (a class, or a module-level factory function).
        Raises ``AppNotImportable`` for what another process cannot import."""
        if not isinstance(app, type) and not callable(app):
            raise AppNotImportable(f"expected a Tag subclass, got an instance of {type(app).__name__}: "
                                   "each session gets its own instance in its own process")
        module = getattr(app, "__module__", None)
        qualname = getattr(app, "__qualname__", None)
        if not module or not qualname or "<locals>" in qualname:
            raise AppNotImportable(f"expected an app defined at the top level of a module, got {qualname!r} "
                                   f"(in {module!r}): session processes import it by name")
        file = None
        if module in ("__main__", MAIN_ALIAS):
            main = sys.modules.get(module)
            file = getattr(main, "__file__", None)
            if not file:
                raise AppNotImportable(f"expected {qualname} in a module or a script file, got it in an "
                                       "interactive session: put it in a file")
            file = os.path.abspath(file)
            module = "__main__"
        return cls(module, qualname, file)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppRef:
        return cls(str(data["module"]), str(data["qualname"]), data.get("file"))

    def resolve(self) -> Any:
        """Import and return the app class. Raises ``AppNotImportable``."""
        try:
            module = _load_main(self.file or "") if self.module == "__main__" else importlib.import_module(self.module)
            obj: Any = module
            for part in self.qualname.split("."):
                obj = getattr(obj, part)
            return obj
        except AppNotImportable:
            raise
        except Exception as exc:
            raise AppNotImportable(f"expected to import {self.module}:{self.qualname} in a session process, "
                                   f"got {type(exc).__name__}: {exc}") from exc


def _load_main(path: str) -> Any:
    module = sys.modules.get(MAIN_ALIAS)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(MAIN_ALIAS, path)
    if spec is None or spec.loader is None:
        raise AppNotImportable(f"expected a Python script at {path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MAIN_ALIAS] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[MAIN_ALIAS]
        raise
    return module


def in_helper_process() -> bool:
    """True in the supervisor, the fork server and session processes."""
    return bool(os.environ.get(ROLE_ENV))
