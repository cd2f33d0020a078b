"""The ``Event`` as htag 2's ``htag_event(id, name, value)`` fills it: an object's properties
become fields (``e.key``), a primitive is ``e.value``; client data, however hostile, never
replaces what the server owns (``target``, ``name``, the class's own names)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from livetag import Event, Tag
from livetag.testing import TestClient


def test_a_primitive_is_the_value() -> None:
    e = Event(Tag.div(), "custom", {"value": "x"})
    assert e.value == "x" and e["value"] == "x" and e.data == {"value": "x"}


def test_an_objects_properties_are_fields() -> None:
    div = Tag.div()
    e = Event(div, "custom", {"key": "v", "count": 3, "someField": [1, 2]})
    assert (e.key, e.count, e.someField, e.some_field) == ("v", 3, [1, 2], [1, 2])
    assert e["key"] == "v" and e["count"] == 3  # htag's subscript reads fields too
    assert e.value is None  # the object had no `value` property
    assert e.absent is None  # a field the client did not send (htag)
    with pytest.raises(KeyError):
        e["absent"]


def test_form_fields_come_before_event_fields_in_a_subscript() -> None:
    e = Event(Tag.form(), "submit", {"value": {"key": "form"}, "key": "Enter"})
    assert e["key"] == "form" and e.key == "Enter"


def test_hashchange_fields() -> None:
    e = Event(Tag.body(), "hashchange", {"value": "#/b", "hash": "#/b", "newURL": "http://h/#/b",
                                         "oldURL": "http://h/#/a"})
    assert (e.newURL, e.oldURL, e.hash) == ("http://h/#/b", "http://h/#/a", "#/b")


def test_mouse_x_and_y_are_the_client_coordinates() -> None:
    e = Event(Tag.div(), "click", {"clientX": 5, "clientY": 7})
    assert (e.x, e.y) == (5, 7)
    assert Event(Tag.div(), "custom", {"x": 1, "clientX": 5}).x == 1  # a field named x wins


HOSTILE = {
    "target": "evil", "name": "evil", "_data": {"value": "evil"}, "data": "evil", "__class__": "evil",
    "__dict__": {}, "__slots__": "evil", "__deepcopy__": "evil", "__reduce_ex__": "evil", "__getstate__": "evil",
    "__html__": "<b>evil</b>", "_private": "evil", "__getattr__": "evil", "accepts_event": "evil",
}


def test_hostile_field_names_never_replace_what_the_server_owns() -> None:
    button = Tag.button()
    e = Event(button, "custom", dict(HOSTILE, value=1))
    assert e.target is button and e.name == "custom" and type(e) is Event and e.__class__ is Event
    assert e.value == 1 and e.data["target"] == "evil"  # still readable as data
    # Python's protocols probe instances for dunder and private names: client data never answers.
    for name in ("__deepcopy__", "__html__", "_private", "__getattr__x"):
        assert getattr(e, name, None) is None, name
    e.data["target"] = "changed"  # a copy
    assert e.data["target"] == "evil"


def test_copy_probes_do_not_reach_client_data() -> None:
    # copy.deepcopy looks up __deepcopy__ on the instance: a client's "__deepcopy__": "evil"
    # once made it call a string.
    e = Event(Tag.div(), "custom", dict(HOSTILE, k=1))
    assert copy.copy(e).target is e.target
    assert copy.deepcopy(e).k == 1


def test_huge_and_deeply_nested_data_is_safe_to_read_and_log() -> None:
    wide = {f"k{i}": "v" * 100 for i in range(10_000)}
    e = Event(Tag.div(), "custom", wide)
    assert e.k9999 == "v" * 100
    assert len(repr(e)) < 2_000
    # The deepest object the protocol's JSON parser accepts (orjson: 1024 levels).
    deep = orjson.loads('{"a":' * 1000 + "1" + "}" * 1000)
    e = Event(Tag.div(), "custom", deep)
    assert isinstance(e.a, dict)
    text = repr(e)  # no RecursionError
    assert "..." in text and len(text) < 500
    str(e)


class Custom(Tag.App):
    def init(self) -> None:
        self.seen: list[Any] = []
        self.t = Tag.div("t", _class="t")
        self.t["oncustom"] = lambda e: self.seen.append((e.target is self.t, e.name, e.key, e.value, e.data))
        self <= self.t


def test_through_a_session_the_handler_sees_fields_and_the_real_target() -> None:
    with TestClient(Custom) as client:
        client.event(".t", "custom", key="v", target="evil", **{"__class__": 1})
        client.event(".t", "custom", "x")
        first, second = client.session.app.seen
        assert first[:4] == (True, "custom", "v", None)
        assert first[4] == {"key": "v", "target": "evil", "__class__": 1}
        assert second[:4] == (True, "custom", None, "x")
