"""The one table from livetag's errors to WebSocket close codes and HTTP statuses."""

from __future__ import annotations

import orjson
import pytest

from livetag.errors import (
    ClientTooSlow,
    ForbiddenEvent,
    MessageTooLarge,
    OriginNotAllowed,
    ProtocolError,
    RateLimited,
    ServerStopping,
    SessionEnded,
    SessionExpired,
    StalePage,
    TooManySessions,
    UnknownClient,
)
from livetag.protocol import (
    Ack,
    Bye,
    ByeCode,
    CookieSync,
    Error,
    ErrorCode,
    Joined,
    MessageType,
    Update,
    encode_extras,
    encode_update,
)
from livetag.protocol.closing import TABLE, CloseCode, HttpStatus, close_code_for, close_code_for_bye, http_status_for


@pytest.mark.parametrize("exc, close, status", [
    (MessageTooLarge(10, 5), (CloseCode.TOO_LARGE, "message too large"), HttpStatus.TOO_LARGE),
    (StalePage("x", "csrf"), (CloseCode.POLICY, "csrf"), HttpStatus.REFUSED),
    (StalePage("x", "version"), (CloseCode.POLICY, "version"), HttpStatus.REFUSED),
    (ProtocolError("x"), (CloseCode.POLICY, "bad_message"), HttpStatus.BAD),
    (ForbiddenEvent("x"), (CloseCode.POLICY, "forbidden_event"), HttpStatus.BAD),
    (OriginNotAllowed(), (CloseCode.POLICY, "origin not allowed"), HttpStatus.REFUSED),
    (RateLimited("x"), (CloseCode.POLICY, "rate limit: too many messages"), HttpStatus.SLOW_DOWN),
    (ClientTooSlow("x"), (CloseCode.POLICY, "update queue overflow: client too slow"), HttpStatus.REJOIN),
    (UnknownClient("x"), (CloseCode.POLICY, "rejoin"), HttpStatus.REJOIN),
    (SessionExpired(), (CloseCode.SESSION_EXPIRED, "session expired"), HttpStatus.ENDED),
    (SessionEnded("why"), (CloseCode.SESSION_ENDED, "ended"), HttpStatus.ENDED),
])
def test_each_error_has_one_close_code_and_one_status(exc: Exception, close: tuple[int, str], status: int) -> None:
    assert close_code_for(exc) == close
    assert http_status_for(exc) == status


def test_http_only_refusals_have_no_close_code() -> None:
    for exc in (ServerStopping(), TooManySessions(3)):
        assert http_status_for(exc) == HttpStatus.STOPPING
        with pytest.raises(LookupError, match="can end a WebSocket"):
            close_code_for(exc)


def test_an_error_outside_the_table_is_a_bug() -> None:
    with pytest.raises(LookupError, match="got KeyError"):
        http_status_for(KeyError("x"))


def test_subclasses_come_before_their_bases() -> None:
    classes = [kind for kind, _ in TABLE]
    for i, kind in enumerate(classes):
        assert not any(issubclass(kind, earlier) for earlier in classes[:i]), f"{kind.__name__} is shadowed"


def test_close_codes_after_a_bye() -> None:
    assert close_code_for_bye(ByeCode.EXPIRED) == (4404, "session expired")
    assert close_code_for_bye(ByeCode.ENDED) == (1000, "ended")
    assert close_code_for_bye("evicted") == (1000, "ended")


def test_application_close_codes_are_in_rfc_6455s_private_range() -> None:
    for code in CloseCode:
        assert 1000 <= code < 1016 or 4000 <= code <= 4999


def test_server_messages_encode_to_the_catalogue_shapes() -> None:
    assert Joined("c" * 8, 3, 4, [], []).encode() == b'{"t":"joined","cid":"cccccccc","ack":3,"rev":4,"p":[]}'
    assert orjson.loads(Joined("c" * 8, 0, 1, [["t", "a", "x"]], ["<style></style>"]).encode())["st"] == [
        "<style></style>"]
    assert Ack(7).encode() == b'{"t":"ack","ack":7}'
    assert Error(ErrorCode.HANDLER_ERROR, "boom").encode() == b'{"t":"err","code":"handler_error","msg":"boom"}'
    assert Error("render_error", "x", "ab12", "tb").encode() == (
        b'{"t":"err","code":"render_error","msg":"x","eid":"ab12","trace":"tb"}')
    assert Bye(ByeCode.EXPIRED, "the session ended").encode() == (
        b'{"t":"bye","code":"expired","msg":"the session ended"}')
    assert CookieSync().encode() == b'{"t":"cookie"}'
    up = Update(2, 1, [["t", "a", "x"]], ["<b>"], ["f()"])
    assert up.encode() == encode_update(2, 1, b'[["t","a","x"]]', encode_extras(["<b>"], ["f()"]))
    assert orjson.loads(up.encode()) == {"t": "up", "rev": 2, "ack": 1, "p": [["t", "a", "x"]], "st": ["<b>"],
                                         "js": ["f()"]}
    for message in (Joined("c" * 8, 0, 0, [], []), up, Ack(1), Error("x", "y"), Bye("x", "y"), CookieSync()):
        assert orjson.loads(message.encode())["t"] == message.kind == MessageType(message.kind)
