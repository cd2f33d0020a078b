"""What differs between the Starlette releases livetag supports (``pyproject.toml``'s range).

htag 2 users run Starlette 0.x next to their own Starlette code, new projects run 1.x;
livetag imports from here whatever is not spelled the same in both, so that the rest of
``livetag/server`` reads as plain Starlette. ``scripts/test`` runs the tests on the lowest
allowed versions as well as the newest.
"""

from __future__ import annotations

from typing import Any, Self

from starlette import routing

try:
    # Starlette >= 1.0: request.session records whether a handler changed it.
    from starlette.middleware.sessions import Session as CookieSession
except ImportError:  # Starlette 0.x: request.session is a plain dict

    class CookieSession(dict[str, Any]):  # type: ignore[no-redef]
        """``request.session`` that records changes, as Starlette 1.x's ``Session`` does.

        ``modified`` becomes true on any write (set, delete, clear, update, pop...), even
        one that leaves the content equal: the caller then sends the cookie again, which
        is harmless. Reads never set it.
        """

        modified: bool = False

        def _touch(self) -> None:
            self.modified = True

        def __setitem__(self, key: str, value: Any) -> None:
            self._touch()
            super().__setitem__(key, value)

        def __delitem__(self, key: str) -> None:
            self._touch()
            super().__delitem__(key)

        def __ior__(self, other: Any) -> Self:  # type: ignore[override,misc]
            self._touch()
            super().__ior__(other)
            return self

        def clear(self) -> None:
            self._touch()
            super().clear()

        def pop(self, key: str, *default: Any) -> Any:
            self._touch()
            return super().pop(key, *default)

        def popitem(self) -> tuple[str, Any]:
            self._touch()
            return super().popitem()

        def setdefault(self, key: str, default: Any = None) -> Any:
            self._touch()
            return super().setdefault(key, default)

        def update(self, *args: Any, **kwargs: Any) -> None:
            self._touch()
            super().update(*args, **kwargs)


__all__ = ["CookieSession"]


def get_route_path(scope: dict[str, Any] | Any) -> str:
    """The path of ``scope`` below its mount point (``root_path`` removed), as Starlette's
    routing computes it (its ``get_route_path`` is public but not exported for typing)."""
    return routing.get_route_path(scope)  # type: ignore[attr-defined]
