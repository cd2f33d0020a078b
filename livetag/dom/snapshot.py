"""Session snapshots: the part of an app's state that survives a server restart.

``capture(app)`` returns JSON bytes (orjson) holding, for the root ``app`` only:

- every attribute that is a ``States`` (its ``dump()``) or a ``State`` (its value);
- every attribute named in the class attribute ``persist`` (a tuple of names; a ``State``
  or ``States`` there counts as above).

Shape: ``{"v": SCHEMA_VERSION, "app": "module:qualname", "states": {name: {..}},
"state": {name: value}, "attrs": {name: value}}``. Only what JSON carries exactly is
accepted: ``None``, ``bool``, ``int`` (64-bit), ``float``, ``str``, lists, and dicts with
``str`` keys; tuples and sets come back as lists. Anything else (a datetime, a tag, an
object) raises ``SnapshotError`` naming the attribute, rather than coming back as
something else.

``restore(app, data)`` applies a snapshot to an app whose ``init`` already ran: states
are written (so their dependents re-render), names the app no longer has are skipped.
It raises ``SnapshotError`` for another app class, another schema version or bytes that
are not a snapshot. Components' own states are not captured: a component is rebuilt by
the app's ``init`` and gets its state from there (pass it a ``State`` of the app).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import SnapshotError
from .state import State, States, _plain
from .tag import Tag

#: Bumped when the shape changes; a snapshot of another version is ignored.
SCHEMA_VERSION = 1
#: Snapshots larger than this (bytes) are refused at capture time.
MAX_SNAPSHOT_BYTES = 4 << 20

# Datetimes, dataclasses and numpy values would come back as strings or lists: refuse them.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def app_name(app: Tag | type[Tag]) -> str:
    """``"module:qualname"`` of ``app``'s class: what a snapshot belongs to."""
    cls = app if isinstance(app, type) else type(app)
    return f"{cls.__module__}:{cls.__qualname__}"


def declared(app: Tag) -> tuple[str, ...]:
    """The names ``app``'s class lists in ``persist`` (a string counts as one name)."""
    names = getattr(type(app), "persist", ())
    if isinstance(names, str):
        return (names,)
    if not isinstance(names, (tuple, list, frozenset, set)) or not all(isinstance(n, str) for n in names):
        raise SnapshotError(f"expected {type(app).__qualname__}.persist to be a tuple of attribute names, "
                            f"got {names!r}")
    return tuple(names)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=_OPTIONS)


def capture(app: Tag) -> bytes:
    """The snapshot of ``app`` (module docstring). Raises ``SnapshotError`` for a value
    JSON cannot carry exactly, or a snapshot above ``MAX_SNAPSHOT_BYTES``."""
    states: dict[str, Any] = {}
    single: dict[str, Any] = {}
    attrs: dict[str, Any] = {}
    names = declared(app)
    fields = getattr(app, "__dict__", {})
    for name, value in list(fields.items()):
        if isinstance(value, States):
            states[name] = value.dump()
        elif isinstance(value, State):
            single[name] = _plain(value._value)
    for name in names:
        if name in states or name in single:
            continue
        if name not in fields:
            raise SnapshotError(f"expected {type(app).__qualname__}.{name} (listed in persist) to be set by init, "
                                "got no such attribute")
        attrs[name] = _plain(fields[name])
    document = {"v": SCHEMA_VERSION, "app": app_name(app), "states": states, "state": single, "attrs": attrs}
    try:
        data = _json(document)
    except TypeError:
        _explain(app, states, single, attrs)
        raise
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(f"expected a snapshot of at most {MAX_SNAPSHOT_BYTES} bytes, got {len(data)}")
    return data


def _explain(app: Tag, *groups: dict[str, Any]) -> None:
    """Raise ``SnapshotError`` naming the first attribute JSON cannot carry."""
    for group in groups:
        for name, value in group.items():
            try:
                _json(value)
            except TypeError as exc:
                raise SnapshotError(f"expected JSON values (None, bool, int, float, str, list, dict with str keys) "
                                    f"in persistent attribute {type(app).__qualname__}.{name}, got: {exc}") from None


def restore(app: Tag, data: bytes) -> None:
    """Write snapshot ``data`` into ``app`` (module docstring). Raises ``SnapshotError``."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"expected a JSON snapshot, got invalid bytes ({exc})") from None
    if not isinstance(document, dict):
        raise SnapshotError(f"expected a snapshot object, got {type(document).__name__}")
    version = document.get("v")
    if version != SCHEMA_VERSION:
        raise SnapshotError(f"expected snapshot schema version {SCHEMA_VERSION}, got {version!r}")
    owner = document.get("app")
    if owner != app_name(app):
        raise SnapshotError(f"expected a snapshot of {app_name(app)}, got one of {owner!r}")
    states, single, attrs = (document.get(k, {}) for k in ("states", "state", "attrs"))
    if not all(isinstance(g, dict) for g in (states, single, attrs)) or \
            not all(isinstance(v, dict) for v in states.values()):
        raise SnapshotError("expected objects under 'states', 'state' and 'attrs', got another shape")
    fields = getattr(app, "__dict__", {})
    for name, values in states.items():
        target = fields.get(name)
        if isinstance(target, States):
            target.load(values)
    for name, value in single.items():
        target = fields.get(name)
        if isinstance(target, State):
            target.set(value)
    persistent = set(declared(app))
    for name, value in attrs.items():
        if name not in persistent:
            continue  # no longer declared: never let stored data set arbitrary attributes
        target = fields.get(name)
        if isinstance(target, State):
            target.set(value)
        elif isinstance(target, States) and isinstance(value, dict):
            target.load(value)
        else:
            setattr(app, name, value)
