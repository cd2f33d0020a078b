"""``protocol.decode``: every valid shape parses, every malformed one says what was expected."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from livetag.errors import MessageTooLarge, ProtocolError
from livetag.protocol import MAX_SEQ, MAX_SYNC_ENTRIES, PROTOCOL_VERSION, EventMessage, Join, Resync, decode, encode
from livetag.protocol.messages import Ping
from livetag.protocol.server_messages import Pong

EVENT: dict[str, Any] = {"t": "ev", "s": 1, "id": "lt1", "n": "click", "d": {"clientX": 1}, "sync": {"lt2": "x"}}
JOIN: dict[str, Any] = {"t": "join", "v": PROTOCOL_VERSION, "token": "tok", "cid": None, "rev": 0}


def with_(base: dict[str, Any], **changes: Any) -> bytes:
    msg = dict(base)
    for key, value in changes.items():
        if value is ...:
            msg.pop(key, None)
        else:
            msg[key] = value
    return orjson.dumps(msg)


def test_valid_messages() -> None:
    assert decode(orjson.dumps(EVENT)) == EventMessage(1, "lt1", "click", {"clientX": 1}, {"lt2": "x"})
    assert decode(orjson.dumps(JOIN).decode()) == Join(PROTOCOL_VERSION, "tok", None, 0)
    assert decode(with_(JOIN, cid="abcdefgh_-12", rev=7)) == Join(PROTOCOL_VERSION, "tok", "abcdefgh_-12", 7)
    assert decode(b'{"t":"sync"}') == Resync()
    assert decode(b'{"t":"ping"}') == Ping() and Pong().encode() == b'{"t":"pong"}'
    # d and sync are optional; sync accepts bools and lists of str
    assert decode(with_(EVENT, d=..., sync=...)).data == {}
    sync = {"a": True, "b": ["x", "y"], "c": ""}
    assert decode(with_(EVENT, sync=sync)).sync == sync
    assert decode(with_(EVENT, s=MAX_SEQ)).seq == MAX_SEQ


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"not json", "expected a JSON object, got invalid JSON"),
        (b"", "expected a JSON object"),
        (b"[1, 2]", "expected a JSON object, got a list"),
        (b'"ev"', "expected a JSON object, got 'ev'"),
        (b"null", "expected a JSON object, got None"),
        (b'{"s": 1}', "expected message type 'join', 'ev', 'sync' or 'ping', got None"),
        (b'{"t": "hack"}', "expected message type 'join', 'ev', 'sync' or 'ping', got 'hack'"),
        (b'{"t": 1}', "expected message type"),
        # events
        (with_(EVENT, s=...), "expected field 's' to be a sequence number (int), got None"),
        (with_(EVENT, s="1"), "expected field 's' to be a sequence number (int), got '1'"),
        (with_(EVENT, s=1.0), "expected field 's' to be a sequence number (int), got 1.0"),
        (with_(EVENT, s=True), "expected field 's' to be a sequence number (int), got True"),
        (with_(EVENT, s=0), "expected field 's' in 1.."),
        (with_(EVENT, s=-5), "expected field 's' in 1.."),
        (with_(EVENT, s=MAX_SEQ + 1), "expected field 's' in 1.."),
        (b'{"t":"ev","s":99999999999999999999999,"id":"a","n":"click"}', "expected field 's' to be a sequence number"),
        (with_(EVENT, id=...), "expected field 'id' to be an element id (str), got None"),
        (with_(EVENT, id=5), "expected field 'id' to be an element id (str), got 5"),
        (with_(EVENT, id=""), "expected field 'id' to be 1-128 non-space chars, got ''"),
        (with_(EVENT, id="a b"), "expected field 'id' to be 1-128 non-space chars"),
        (with_(EVENT, id="x" * 129), "expected field 'id' to be 1-128 non-space chars, got a str of 129 chars"),
        (with_(EVENT, n=...), "expected field 'n' to be an event name (str), got None"),
        (with_(EVENT, n=["click"]), "expected field 'n' to be an event name (str), got a list"),
        (with_(EVENT, n="1click"), "expected field 'n' to be an event name like 'click'"),
        (with_(EVENT, n="on click"), "expected field 'n' to be an event name like 'click'"),
        (with_(EVENT, n="c" * 65), "expected field 'n' to be an event name like 'click'"),
        (with_(EVENT, d=[1]), "expected field 'd' to be an object, got a list"),
        (with_(EVENT, d="x"), "expected field 'd' to be an object, got 'x'"),
        (with_(EVENT, d=None), "expected field 'd' to be an object, got None"),
        (with_(EVENT, sync=[]), "expected field 'sync' to be an object, got a list"),
        (with_(EVENT, sync={"a": 1}), "expected sync value of 'a' to be str, bool or list of str, got 1"),
        (with_(EVENT, sync={"a": None}), "expected sync value of 'a' to be str, bool or list of str, got None"),
        (with_(EVENT, sync={"a": ["x", 2]}), "expected sync value of 'a' to be str, bool or list of str, got a list"),
        (with_(EVENT, sync={"a": {"b": "c"}}), "expected sync value of 'a' to be str, bool or list of str, got a dict"),
        (with_(EVENT, sync={str(i): "x" for i in range(MAX_SYNC_ENTRIES + 1)}),
         f"expected at most {MAX_SYNC_ENTRIES} 'sync' entries, got {MAX_SYNC_ENTRIES + 1}"),
        # joins
        (with_(JOIN, v=...), "expected field 'v' to be the protocol version (int), got None"),
        (with_(JOIN, v="1"), "expected field 'v' to be the protocol version (int), got '1'"),
        (with_(JOIN, token=...), "expected field 'token' to be the CSRF token (str), got None"),
        (with_(JOIN, token=123), "expected field 'token' to be the CSRF token (str), got 123"),
        (with_(JOIN, cid=5), "expected field 'cid' to be null or a client id, got 5"),
        (with_(JOIN, cid="short"), "expected field 'cid' to be null or a client id, got 'short'"),
        (with_(JOIN, cid="has space!"), "expected field 'cid' to be null or a client id"),
        (with_(JOIN, rev=...), "expected field 'rev' to be a revision number (int), got None"),
        (with_(JOIN, rev=False), "expected field 'rev' to be a revision number (int), got False"),
        (with_(JOIN, rev=-1), "expected field 'rev' in 0.."),
    ],
)
def test_malformed_messages_say_what_was_expected(raw: bytes, expected: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(raw)
    assert expected in str(info.value)
    assert str(info.value).startswith("expected ")
    # A join without a usable token is a CSRF refusal, everything else a malformed message.
    assert info.value.code == ("csrf" if "'token'" in expected else "bad_message")
    assert not isinstance(info.value, MessageTooLarge)


def test_client_values_are_not_echoed_at_length() -> None:
    with pytest.raises(ProtocolError) as info:
        decode(with_(EVENT, n="<script>" + "x" * 500))
    assert len(str(info.value)) < 200 and "xxxxxxxx" not in str(info.value)


def test_oversize_message() -> None:
    raw = with_(EVENT, d={"value": "x" * 2000})
    with pytest.raises(MessageTooLarge) as info:
        decode(raw, limit=1000)
    assert info.value.code == "too_large" and info.value.size == len(raw) and info.value.limit == 1000
    assert "expected a message of at most 1000 bytes" in str(info.value)
    assert isinstance(info.value, ProtocolError)
    # The limit counts bytes, not characters.
    text = orjson.dumps({"t": "ev", "s": 1, "id": "a", "n": "x", "d": {"v": "é" * 400}}).decode()
    assert len(text) < 500 < len(text.encode())
    with pytest.raises(MessageTooLarge):
        decode(text, limit=500)
    assert isinstance(decode(raw, limit=len(raw)), EventMessage)  # exactly at the limit is fine


def test_oversize_is_checked_before_parsing() -> None:
    with pytest.raises(MessageTooLarge):
        decode(b"{" * 5000, limit=100)


def test_encode_is_json() -> None:
    message = {"t": "bye", "code": "expired", "msg": "m <\u2028>"}
    assert orjson.loads(encode(message)) == message
