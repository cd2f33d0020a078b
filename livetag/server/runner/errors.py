"""Exception classes of the process-per-session ``Runner``."""

from __future__ import annotations

from ...errors import LivetagError


class RunnerError(LivetagError):
    """Base class of the ``Runner``'s own errors."""


class UnsafeDirectory(RunnerError, PermissionError):
    """The private directory exists but is not ours alone (owner, mode or a symlink)."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"expected {path} to be a directory owned by uid {_uid()} with mode 0700, got {why}")
        self.path = path


class SupervisorUnavailable(RunnerError, ConnectionError):
    """The session supervisor could not be reached or started."""


class AppNotImportable(RunnerError, ValueError):
    """An app class that a session process cannot import by name (defined in a function,
    or in a module that is not on ``sys.path``)."""


def _uid() -> int:
    import os

    return os.getuid()
