"""``livetag.dom.snapshot``: what of an app survives a restart, and what is refused."""

from __future__ import annotations

import datetime

import orjson
import pytest

from livetag import State, States, Tag
from livetag.dom import snapshot
from livetag.errors import SnapshotError


class Todo(Tag.App):
    persist = ("todos", "user")

    def init(self) -> None:
        self.s = States(count=0, items=[])
        self.total = State(0)
        self.todos = ["milk"]
        self.user = {"name": "Guest"}
        self.scratch = "not persisted"
        self <= Tag.span(self.s.count, _class="count")


class Other(Tag.App):
    def init(self) -> None:
        self.s = States(count=0)


def test_states_state_and_declared_attributes_round_trip() -> None:
    app = Todo()
    app.s.count += 5
    app.s.items.append({"a": 1})
    app.total.set(2.5)
    app.todos.append("eggs")
    app.user["name"] = "Ann"
    app.scratch = "changed"
    data = snapshot.capture(app)
    assert orjson.loads(data)["app"].endswith(":Todo")

    fresh = Todo()
    snapshot.restore(fresh, data)
    assert fresh.s.dump() == {"count": 5, "items": [{"a": 1}]}
    assert fresh.total.get() == 2.5
    assert fresh.todos == ["milk", "eggs"]
    assert fresh.user == {"name": "Ann"}
    assert fresh.scratch == "not persisted"


def test_a_declared_state_is_written_not_replaced() -> None:
    class Declared(Tag.App):
        persist = ("n",)

        def init(self) -> None:
            self.n = State(1)

    app = Declared()
    app.n.set(7)
    fresh = Declared()
    kept = fresh.n
    snapshot.restore(fresh, snapshot.capture(app))
    assert fresh.n is kept and kept.get() == 7  # its dependents stay subscribed


def test_values_json_cannot_carry_are_refused_naming_the_attribute() -> None:
    app = Todo()
    app.user = {"when": datetime.datetime(2026, 1, 1)}
    with pytest.raises(SnapshotError, match=r"Todo\.user"):
        snapshot.capture(app)
    app = Todo()
    app.s.count = object()
    with pytest.raises(SnapshotError, match=r"Todo\.s"):
        snapshot.capture(app)
    app = Todo()
    app.user = {1: "int key"}
    with pytest.raises(SnapshotError, match="user"):
        snapshot.capture(app)


def test_a_declared_attribute_init_did_not_set_is_an_error() -> None:
    class Missing(Tag.App):
        persist = ("nothing",)

    with pytest.raises(SnapshotError, match="nothing"):
        snapshot.capture(Missing())


def test_another_apps_or_schemas_snapshot_is_refused() -> None:
    data = snapshot.capture(Todo())
    with pytest.raises(SnapshotError, match="Other"):
        snapshot.restore(Other(), data)
    document = orjson.loads(data)
    document["v"] = snapshot.SCHEMA_VERSION + 1
    with pytest.raises(SnapshotError, match="schema version"):
        snapshot.restore(Todo(), orjson.dumps(document))


@pytest.mark.parametrize("data", [b"", b"\xff\x00", b"[]", b'{"v": 1}', b'{"v":1,"app":"x"}'])
def test_damaged_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(SnapshotError):
        snapshot.restore(Todo(), data)


def test_stored_data_never_sets_undeclared_attributes() -> None:
    app = Todo()
    document = orjson.loads(snapshot.capture(app))
    document["attrs"]["scratch"] = "injected"
    document["attrs"]["init"] = "injected"
    document["state"]["todos"] = "not a state"
    fresh = Todo()
    snapshot.restore(fresh, orjson.dumps(document))
    assert fresh.scratch == "not persisted"
    assert callable(fresh.init)
    assert fresh.todos == ["milk"]


def test_names_the_app_lost_are_skipped() -> None:
    document = orjson.loads(snapshot.capture(Todo()))
    document["states"]["gone"] = {"x": 1}
    document["state"]["gone_too"] = 3
    fresh = Todo()
    snapshot.restore(fresh, orjson.dumps(document))
    assert not hasattr(fresh, "gone")
