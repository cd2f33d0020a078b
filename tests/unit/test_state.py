"""``State`` and ``States``: values that behave like what they wrap and tell their readers."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import pytest

from livetag import State, States, Tag
from livetag.dom import LiveTree
from livetag.dom.state import Proxy


def watch(read: Callable[[], Any]) -> Callable[[], list[Any]]:
    """A live tree whose only reactive child calls ``read``; the returned function gives
    the patch operations since its last call (non-empty: the readers were told)."""
    app = Tag.App(Tag.span(lambda: repr(read())))
    tree = LiveTree(app)
    app.render()  # the first evaluation subscribes the slot
    assert tree.collect() == ([], [])

    def ops() -> list[Any]:
        return tree.collect()[0]

    return ops


# -- behaves like the value ----------------------------------------------------------------


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv,
                                operator.mod, operator.pow, operator.and_, operator.or_, operator.xor,
                                operator.lshift, operator.rshift])
def test_binary_operators_both_ways(op: Callable[[Any, Any], Any]) -> None:
    s = State(6)
    assert op(s, 4) == op(6, 4)
    assert op(4, s) == op(4, 6)
    assert op(s, State(4)) == op(6, 4)


def test_unary_operators_round_and_format() -> None:
    s = State(-2.345)
    assert -s == 2.345 and +s == -2.345 and abs(s) == 2.345
    assert round(s, 1) == -2.3 and round(State(2.5)) == 2
    assert ~State(5) == -6
    assert f"{State(3.14159):.2f}" == "3.14"


def test_matmul_forwards_to_the_value() -> None:
    class Vec:
        def __init__(self, x: int) -> None:
            self.x = x

        def __matmul__(self, other: Vec) -> int:
            return self.x * other.x

        def __rmatmul__(self, other: int) -> int:
            return self.x * other

    assert State(Vec(2)) @ Vec(3) == 6
    assert 2 @ State(Vec(3)) == 6  # int has no @: the reflected operator of the state runs


def test_comparisons() -> None:
    s = State(3)
    assert s == 3 and s != 4 and s < 4 and s <= 3 and s > 2 and s >= 3
    assert s == 3 and s < 4
    assert s == State(3)
    assert not (s == 4)


def test_conversions() -> None:
    assert int(State("12")) == 12
    assert float(State(2)) == 2.0 and isinstance(float(State(2)), float)
    assert bool(State(0)) is False and bool(State([1])) is True and bool(State("")) is False
    assert str(State(7)) == "7" and str(State("a")) == "a"
    assert [10, 20, 30][State(1)] == 20  # __index__
    assert math.isclose(float(State("1.5")), 1.5)


def test_len_indexing_iteration_and_in() -> None:
    s = State(["a", "b", "c"])
    assert len(s) == 3
    assert s[0] == "a" and s[-1] == "c"
    assert s[State(1)] == "b"
    assert list(s) == ["a", "b", "c"]
    assert "b" in s and "z" not in s
    assert list(reversed(s)) == ["c", "b", "a"]
    d = State({"x": 1})
    assert "x" in d and d["x"] == 1 and list(d) == ["x"] and len(d) == 1


def test_iteration_yields_proxies_for_containers_and_plain_values_otherwise() -> None:
    s = State([1, "two", [3], {"four": 4}, {5}])
    items = list(s)
    assert items[:2] == [1, "two"] and type(items[0]) is int and type(items[1]) is str
    assert all(isinstance(i, Proxy) for i in items[2:])
    assert items[2] == [3] and items[3] == {"four": 4} and items[4] == {5}


def test_tags_and_callables_held_in_a_state_come_back_as_they_are() -> None:
    tag = Tag.b("x")
    s = State([tag, len])
    assert s[0] is tag and s[1] is len


def test_state_of_a_state_is_the_same_state() -> None:
    s = State(1)
    assert State(s) is s
    assert State(s).get() == 1


def test_hash_is_identity_so_states_work_as_keys() -> None:
    a, b = State(1), State(1)
    assert a == b and len({a, b}) == 2


# -- get / set / notify --------------------------------------------------------------------


def test_get_and_set() -> None:
    s = State(1)
    assert s.get() == 1
    assert s.set(5) == 5
    assert s.get() == 5 and s.value == 5
    s.value = 6
    assert s.get() == 6


def test_get_with_key_and_default_on_dicts() -> None:
    s = State({"a": 1})
    assert s.get("a") == 1
    assert s.get("missing") is None
    assert s.get("missing", "dflt") == "dflt"


def test_set_notifies_readers_once_per_change_and_not_for_an_equal_value() -> None:
    s = State(1)
    ops = watch(lambda: s.get())
    s.set(2)
    assert ops() != []
    s.set(2)
    assert ops() == []  # the same immutable value: nobody to tell
    s.set(2.0)
    assert ops() != []  # another type renders differently


def test_set_unwraps_a_state_value() -> None:
    s = State(1)
    s.set(State(9))
    assert s.get() == 9 and type(s.get()) is int


def test_in_place_operators_write_and_keep_the_state() -> None:
    s = State(1)
    ops = watch(lambda: s.get())
    same = s
    s += 2
    assert s is same and s.get() == 3
    assert ops() != []
    s *= 2
    s -= 1
    assert s.get() == 5
    lst = State([1])
    inner = lst.get()
    lst += [2, 3]
    assert lst.get() is inner and inner == [1, 2, 3]  # list += extends in place


def test_notify_after_an_untracked_in_place_change() -> None:
    data = [1, 2]
    s = State(data)
    span = Tag.span(lambda: str(len(s)))
    app = Tag.App(span)
    tree = LiveTree(app)
    app.render()
    data.append(3)  # behind the state's back: nobody knows
    assert tree.collect()[0] == []
    s.notify()
    assert tree.collect()[0] == [["t", span.id, "3"]]


# -- mutation through the state notifies ---------------------------------------------------


MUTATIONS: list[tuple[str, Any, Callable[[Any], Any], Any]] = [
    ("list.append", [1], lambda s: s.append(2), [1, 2]),
    ("list.extend", [1], lambda s: s.extend([2, 3]), [1, 2, 3]),
    ("list.insert", [1], lambda s: s.insert(0, 0), [0, 1]),
    ("list.pop", [1, 2], lambda s: s.pop(), [1]),
    ("list.remove", [1, 2], lambda s: s.remove(1), [2]),
    ("list.clear", [1], lambda s: s.clear(), []),
    ("list.sort", [2, 1], lambda s: s.sort(), [1, 2]),
    ("list.reverse", [1, 2], lambda s: s.reverse(), [2, 1]),
    ("list[i] =", [1, 2], lambda s: s.__setitem__(0, 9), [9, 2]),
    ("del list[i]", [1, 2], lambda s: s.__delitem__(0), [2]),
    ("dict[k] =", {"a": 1}, lambda s: s.__setitem__("b", 2), {"a": 1, "b": 2}),
    ("del dict[k]", {"a": 1}, lambda s: s.__delitem__("a"), {}),
    ("dict.update", {}, lambda s: s.update(a=1), {"a": 1}),
    ("dict.setdefault", {}, lambda s: s.setdefault("a", 1), {"a": 1}),
    ("dict.pop", {"a": 1}, lambda s: s.pop("a"), {}),
    ("dict.popitem", {"a": 1}, lambda s: s.popitem(), {}),
    ("set.add", {1}, lambda s: s.add(2), {1, 2}),
    ("set.discard", {1}, lambda s: s.discard(1), set()),
    ("set.difference_update", {1, 2}, lambda s: s.difference_update({1}), {2}),
    ("set.intersection_update", {1, 2}, lambda s: s.intersection_update({1}), {1}),
    ("set.symmetric_difference_update", {1}, lambda s: s.symmetric_difference_update({2}), {1, 2}),
]


@pytest.mark.parametrize("name,initial,mutate,expected", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutating_methods_and_item_assignment_notify(name: str, initial: Any, mutate: Callable[[Any], Any],
                                                     expected: Any) -> None:
    s = State(initial)
    ops = watch(lambda: s.get())
    mutate(s)
    assert s.get() == expected
    assert ops() != [], f"{name} did not notify"


def test_mutating_methods_unwrap_state_arguments() -> None:
    s = State([])
    s.append(State(1))
    assert s.get() == [1] and type(s.get()[0]) is int


def test_reading_methods_do_not_notify() -> None:
    s = State([3, 1, 2])
    ops = watch(lambda: s.get())
    assert s.index(1) == 1 and s.count(3) == 1 and s.copy() == [3, 1, 2]
    assert ops() == []


class Point:
    def __init__(self) -> None:
        self.x = 0
        self.tags: list[str] = []


def test_attribute_assignment_on_an_object_notifies() -> None:
    s = State(Point())
    ops = watch(lambda: s.x)
    assert s.x == 0
    s.x = 5
    assert s.get().x == 5 and s.x == 5
    assert ops() != []


def test_nested_containers_reached_through_the_state_notify_it() -> None:
    s = State({"user": {"name": "a", "tags": ["x"]}, "points": [Point()]})
    ops = watch(lambda: s.get())
    s["user"]["name"] = "b"
    assert ops() != []
    s["user"]["tags"].append("y")
    assert ops() != []
    s["points"][0].x = 3
    assert ops() != []
    s["points"][0].tags.append("t")
    assert ops() != []
    assert s.get() == {"user": {"name": "b", "tags": ["x", "y"]}, "points": s.get()["points"]}
    assert s.get()["points"][0].x == 3 and s.get()["points"][0].tags == ["t"]


def test_items_reached_by_iteration_notify_the_state() -> None:
    s = State([{"done": False}, {"done": False}])
    ops = watch(lambda: [i["done"] for i in s])
    for item in s:
        item["done"] = True
    assert ops() != []
    assert s.get() == [{"done": True}, {"done": True}]


def test_a_list_attribute_of_an_object_notifies_the_state() -> None:
    s = State(Point())
    ops = watch(lambda: len(s.tags))
    s.tags.append("a")
    assert ops() != [] and s.get().tags == ["a"]


# -- tracking --------------------------------------------------------------------------------


def test_only_the_slots_that_read_a_state_are_told() -> None:
    a, b = State(1), State(1)
    sa = Tag.span(lambda: f"a={a}")
    sb = Tag.span(lambda: f"b={b}")
    app = Tag.App(sa, sb)
    tree = LiveTree(app)
    app.render()
    a.set(2)
    assert tree.collect()[0] == [["t", sa.id, "a=2"]]
    b.set(3)
    assert tree.collect()[0] == [["t", sb.id, "b=3"]]


def test_a_slot_that_stopped_reading_a_state_is_no_longer_told() -> None:
    flag, a = State(True), State(1)
    span = Tag.span(lambda: f"a={a}" if flag else "off")
    app = Tag.App(span)
    tree = LiveTree(app)
    app.render()
    flag.set(False)
    assert tree.collect()[0] == [["t", span.id, "off"]]
    a.set(2)
    assert tree.collect()[0] == []


def test_reads_outside_a_render_are_not_tracked_and_work() -> None:
    s = State([1, 2])
    assert s[0] + 1 == 2 and len(s) == 2  # no live tree at all


# -- States ----------------------------------------------------------------------------------


def test_states_attribute_access_gives_the_state() -> None:
    s = States(count=0, user={"name": "Ada"})
    assert isinstance(s.count, State)
    assert s.count == 0 and s.user["name"] == "Ada"
    assert list(s) == ["count", "user"]


def test_states_in_place_operator_writes_the_same_state() -> None:
    s = States(count=0)
    state = s.count
    ops = watch(lambda: s.count.get())
    s.count += 1
    assert s.count is state and s.count.get() == 1
    assert ops() != []


def test_states_assignment_sets_the_state() -> None:
    s = States(count=0)
    state = s.count
    s.count = 5
    assert s.count is state and state.get() == 5


def test_states_unknown_names_raise_a_clear_attribute_error() -> None:
    s = States(count=0, user=None)
    with pytest.raises(AttributeError, match=r"expected one of the states \['count', 'user'\], got 'cuont'"):
        s.cuont  # noqa: B018
    with pytest.raises(AttributeError, match="cuont"):
        s.cuont = 1
    assert getattr(s, "missing", "dflt") == "dflt"  # AttributeError, so getattr defaults work


def test_states_dump_and_load() -> None:
    s = States(count=1, user={"name": "Ada", "tags": {"x"}}, items=[(1, 2)])
    dumped = s.dump()
    assert dumped == {"count": 1, "user": {"name": "Ada", "tags": ["x"]}, "items": [[1, 2]]}
    dumped["user"]["name"] = "changed"
    assert s.user["name"] == "Ada"  # a copy, not the live value
    ops = watch(lambda: s.count.get())
    assert s.load({"count": 7}) is s
    assert s.count == 7 and s.user["name"] == "Ada"
    assert ops() != []
    s.load({"added": 1})  # a new name becomes a new state (htag)
    assert s.added == 1 and s.dump()["added"] == 1


def test_states_repr() -> None:
    assert repr(States(a=1)) == "States(a=1)"
