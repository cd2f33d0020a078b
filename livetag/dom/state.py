"""Reactive values: ``State``, ``States`` and the dependency tracking behind them.

Reading a ``State`` while a reactive *slot* evaluates (a reactive child or attribute, see
``livetag.dom.reactive``) subscribes that slot to the state; writing the state marks
every subscribed slot stale, and the next update re-evaluates only those slots.

A state wrapping a list, dict, set or object behaves like it: operators, comparisons,
conversions, ``len``, indexing, iteration and ``in`` read the value; mutating methods,
item and attribute assignment notify. Containers reached through a state (by indexing,
attribute access or iteration) come back as proxies that notify the same state.
Tracking is per state, not per key: a slot that reads ``todos`` re-evaluates when any
item of ``todos`` changes. Give items their own states (or components) when a list is
long and items change often.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterator
from typing import Any, Protocol

_IMMUTABLE = (int, float, str, bytes, bool, type(None), tuple, frozenset, complex)
_ATOMIC = frozenset({str, int, float, bool, type(None), bytes})
#: Container methods a state passes through to its value, then notifies its readers.
MUTATORS = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "update", "setdefault",
    "popitem", "add", "discard", "difference_update", "intersection_update", "symmetric_difference_update",
})


class Subscriber(Protocol):
    """A reactive slot: told when a state it read changed."""

    sources: list[State]

    def invalidate(self) -> None: ...


class _Tracking(threading.local):
    def __init__(self) -> None:
        self.slot: Subscriber | None = None


tracking = _Tracking()


def _wrap(value: Any, owner: State) -> Any:
    """A proxy for containers and plain objects; values, callables and tags as they are."""
    if type(value) in _ATOMIC:  # the common case (a list of strings), answered first
        return value
    if isinstance(value, (list, dict, set)):
        return Proxy(value, owner)
    if (
        isinstance(value, (_IMMUTABLE, _Reactive, type))
        or callable(value)
        or getattr(type(value), "_lt_no_proxy", False)
        or not hasattr(value, "__dict__")
    ):
        return value
    return Proxy(value, owner)


class _Reactive:
    """Behaviour shared by ``State`` and ``Proxy``: act like the wrapped value."""

    __slots__ = ()

    def _target(self) -> Any:
        raise NotImplementedError

    def _owner(self) -> State:
        raise NotImplementedError

    def _read(self) -> Any:
        owner = self._owner()
        owner._track()
        return self._target()

    # conversions and comparisons
    def __str__(self) -> str:
        return str(self._read())

    def __repr__(self) -> str:
        return repr(self._read())  # as htag: a state shows as its value

    def __format__(self, spec: str) -> str:
        return format(self._read(), spec)

    def __int__(self) -> int:
        return int(self._read())

    def __float__(self) -> float:
        return float(self._read())

    def __index__(self) -> int:
        return operator.index(self._read())

    def __bool__(self) -> bool:
        return bool(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def __contains__(self, item: Any) -> bool:
        return _unwrap(item) in self._read()

    def __iter__(self) -> Iterator[Any]:
        owner = self._owner()
        items = list(self._read())  # a copy: the loop may change the value
        if _ATOMIC.issuperset(map(type, items)):
            return iter(items)  # nothing to wrap (checked in C): no generator step per item
        return (_wrap(item, owner) for item in items)

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._read()[_unwrap(key)], self._owner())

    def __setitem__(self, key: Any, value: Any) -> None:
        self._target()[_unwrap(key)] = _unwrap(value)
        self._owner().notify()

    def __delitem__(self, key: Any) -> None:
        del self._target()[_unwrap(key)]
        self._owner().notify()

    def __eq__(self, other: object) -> Any:
        return self._read() == _unwrap(other)

    def __ne__(self, other: object) -> Any:
        return self._read() != _unwrap(other)

    def __lt__(self, other: Any) -> Any:
        return self._read() < _unwrap(other)

    def __le__(self, other: Any) -> Any:
        return self._read() <= _unwrap(other)

    def __gt__(self, other: Any) -> Any:
        return self._read() > _unwrap(other)

    def __ge__(self, other: Any) -> Any:
        return self._read() >= _unwrap(other)

    __hash__ = object.__hash__  # identity: a state is a mutable cell

    def __neg__(self) -> Any:
        return -self._read()

    def __pos__(self) -> Any:
        return +self._read()

    def __abs__(self) -> Any:
        return abs(self._read())

    def __invert__(self) -> Any:
        return ~self._read()

    def __round__(self, ndigits: int | None = None) -> Any:
        return round(self._read(), ndigits)


def _unwrap(value: Any) -> Any:
    if isinstance(value, State):
        return value._value
    if isinstance(value, Proxy):
        return value._lt_target
    return value


def _operator(name: str) -> Any:
    return getattr(operator, name + "_" if name in ("and", "or") else name)


def _binary(name: str) -> None:
    op = _operator(name)

    def forward(self: _Reactive, other: Any) -> Any:
        return op(self._read(), _unwrap(other))

    def reflected(self: _Reactive, other: Any) -> Any:
        return op(_unwrap(other), self._read())

    setattr(_Reactive, f"__{name}__", forward)
    setattr(_Reactive, f"__r{name}__", reflected)


_OPERATORS = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor", "lshift", "rshift")
for _name in (*_OPERATORS, "matmul"):
    _binary(_name)


class Proxy(_Reactive):
    """A container or object reached through a state: reads track, writes notify the state."""

    __slots__ = ("_lt_owner", "_lt_target")

    def __init__(self, target: Any, owner: State) -> None:
        object.__setattr__(self, "_lt_target", target)
        object.__setattr__(self, "_lt_owner", owner)

    def _target(self) -> Any:
        return self._lt_target

    def _owner(self) -> State:
        owner: State = self._lt_owner
        return owner

    def get(self, *args: Any) -> Any:
        """The wrapped container or object; with arguments, its ``get(key[, default])``."""
        self._lt_owner._track()
        if args:
            return self._lt_target.get(*args)
        return self._lt_target

    def __getattr__(self, name: str) -> Any:
        return _attribute(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._lt_target, name, _unwrap(value))
        self._lt_owner.notify()

    def __delattr__(self, name: str) -> None:
        delattr(self._lt_target, name)
        self._lt_owner.notify()


def _attribute(reactive: _Reactive, name: str) -> Any:
    target, owner = reactive._target(), reactive._owner()
    owner._track()
    value = getattr(target, name)
    if name in MUTATORS and callable(value):
        def mutate(*args: Any, **kwargs: Any) -> Any:
            result = value(*(_unwrap(a) for a in args), **kwargs)
            owner.notify()
            return result
        return mutate
    return _wrap(value, owner)


class State(_Reactive):
    """A reactive value.

    ``State(0)``, ``State([...])``, ``State({...})``; ``State(existing)`` returns
    ``existing``. ``get()`` reads the value (``get(key, default)`` on a dict), ``set(v)``
    writes it and returns ``v``, ``notify()`` tells dependents after an untracked
    in-place change. In-place operators (``s += 1``) write.
    """

    __slots__ = ("__weakref__", "_subscribers", "_value")

    def __new__(cls, value: Any = None) -> State:
        if isinstance(value, State):
            return value
        return super().__new__(cls)

    def __init__(self, value: Any = None) -> None:
        if value is self:
            return
        object.__setattr__(self, "_value", _unwrap(value))
        object.__setattr__(self, "_subscribers", set())

    def _target(self) -> Any:
        return self._value

    def _owner(self) -> State:
        return self

    def _track(self) -> None:
        slot = tracking.slot
        if slot is not None and self not in slot.sources:
            slot.sources.append(self)

    @property
    def value(self) -> Any:
        """The wrapped value (tracked read)."""
        self._track()
        return self._value

    @value.setter
    def value(self, new: Any) -> None:
        self.set(new)

    def get(self, *args: Any) -> Any:
        """The value; with arguments, ``value.get(key[, default])`` (dict-like values)."""
        self._track()
        if args:
            return self._value.get(*args)
        return self._value

    def set(self, value: Any) -> Any:
        """Write ``value`` and notify dependents (unless an immutable value is unchanged)."""
        value = _unwrap(value)
        old = self._value
        object.__setattr__(self, "_value", value)
        if not (isinstance(value, _IMMUTABLE) and type(old) is type(value) and old == value):
            self.notify()
        return value

    def notify(self) -> None:
        """Mark every slot that read this state as stale."""
        for slot in list(self._subscribers):
            slot.invalidate()

    def __getattr__(self, name: str) -> Any:
        return _attribute(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "value":
            self.set(value)
            return
        setattr(self._value, name, _unwrap(value))
        self.notify()

    def __delattr__(self, name: str) -> None:
        delattr(self._value, name)
        self.notify()



def _inplace(name: str) -> None:
    op = _operator(name)

    def inplace(self: State, other: Any) -> State:
        if name == "add" and isinstance(self._value, list):
            self._value.extend(_unwrap(other))  # like list +=: same list, extended
            self.notify()
        else:
            self.set(op(self._value, _unwrap(other)))
        return self

    setattr(State, f"__i{name}__", inplace)


for _name in _OPERATORS:
    _inplace(_name)


class States:
    """A namespace of states: ``s = States(count=0)``; ``s.count += 1``; ``s.count`` is
    the ``State`` (use it as a reactive child or read it in a lambda).

    Unknown names raise ``AttributeError`` naming the known ones. ``dump()`` returns a
    plain dict of the values, ``load(mapping)`` writes the given names (adding new ones).
    """

    __slots__ = ("_states",)

    def __init__(self, **values: Any) -> None:
        object.__setattr__(self, "_states", {k: State(v) for k, v in values.items()})

    def __getattr__(self, name: str) -> State:
        states: dict[str, State] = object.__getattribute__(self, "_states")
        try:
            return states[name]
        except KeyError:
            raise AttributeError(f"expected one of the states {sorted(states)}, got {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        state = self.__getattr__(name)
        if value is not state:
            state.set(value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def dump(self) -> dict[str, Any]:
        return {name: _plain(state._value) for name, state in self._states.items()}

    def load(self, values: dict[str, Any]) -> States:
        """Write each given value; a name not declared yet becomes a new state (htag)."""
        states = self._states
        for name, value in values.items():
            if name in states:
                setattr(self, name, value)
            else:
                states[name] = State(value)
        return self

    def __repr__(self) -> str:
        return f"States({', '.join(f'{k}={s._value!r}' for k, s in self._states.items())})"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return [_plain(v) for v in value]
    return value
