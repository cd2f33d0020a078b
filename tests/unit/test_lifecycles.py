"""The connection life cycles: each an enum and a table of checked transitions."""

from __future__ import annotations

import enum

import orjson
import pytest

from livetag import Tag
from livetag.clients import CLIENT_LIFECYCLE, Client, ClientState
from livetag.errors import InvalidTransition
from livetag.lifecycle import Transitions
from livetag.protocol import PROTOCOL_VERSION, Join
from livetag.protocol.server_messages import Bye, ByeCode
from livetag.server.channel import MAILBOX_LIFECYCLE, Mailbox, MailboxState
from livetag.server.websocket import CONNECTION_LIFECYCLE, ConnectionState
from livetag.session import Session


class Door(enum.Enum):
    OPEN = enum.auto()
    SHUT = enum.auto()
    GONE = enum.auto()


DOOR = Transitions("a door", {Door.OPEN: {Door.SHUT}, Door.SHUT: {Door.OPEN, Door.GONE}})


def test_an_allowed_transition_gives_the_new_state() -> None:
    assert DOOR.check(Door.OPEN, Door.SHUT) is Door.SHUT
    assert DOOR.allows(Door.SHUT, Door.GONE) and not DOOR.allows(Door.OPEN, Door.GONE)


def test_an_illegal_transition_names_both_states_and_what_was_allowed() -> None:
    with pytest.raises(InvalidTransition, match="a door in state OPEN to go to SHUT, got a transition to GONE"):
        DOOR.check(Door.OPEN, Door.GONE)
    with pytest.raises(InvalidTransition, match="nothing \\(it is final\\)"):
        DOOR.check(Door.GONE, Door.OPEN)


@pytest.mark.parametrize("table, final", [
    (CONNECTION_LIFECYCLE, {ConnectionState.ABANDONED}),
    (MAILBOX_LIFECYCLE, {MailboxState.DROPPED}),
    (CLIENT_LIFECYCLE, {ClientState.ENDED}),
])
def test_each_life_cycle_has_one_way_out(table: Transitions, final: set[enum.Enum]) -> None:
    states = set(type(next(iter(final))))
    for state in states - final:
        assert any(table.allows(state, other) for other in states), f"{state} is a dead end"
    for state in final:
        assert not any(table.allows(state, other) for other in states)


def test_websocket_connection_table() -> None:
    s = ConnectionState
    assert CONNECTION_LIFECYCLE.allows(s.CONNECTING, s.JOINED)
    assert CONNECTION_LIFECYCLE.allows(s.JOINED, s.CLOSING) and CONNECTION_LIFECYCLE.allows(s.CLOSING, s.CLOSED)
    assert not CONNECTION_LIFECYCLE.allows(s.CLOSED, s.JOINED)
    assert not CONNECTION_LIFECYCLE.allows(s.JOINED, s.CONNECTING)


class App(Tag.App):
    def init(self) -> None:
        self.add(Tag.span("x"))


async def test_a_client_connects_leaves_resumes_and_ends() -> None:
    session = Session(App)
    got: list[bytes] = []
    byes: list[Bye] = []
    client = session.join(Join(PROTOCOL_VERSION, session.csrf_token, None, session.revision), got.append,
                          on_bye=byes.append)
    assert client.state is ClientState.CONNECTED and client.sink is not None
    session.leave(client, got.append)
    assert client.state is ClientState.DISCONNECTED and client.sink is None
    session.leave(client)  # leaving twice changes nothing
    assert client.state is ClientState.DISCONNECTED
    again = session.join(Join(PROTOCOL_VERSION, session.csrf_token, client.cid, session.revision), got.append,
                         on_bye=byes.append)
    assert again is client and client.state is ClientState.CONNECTED
    got.clear()
    session.close(ByeCode.EXPIRED, "gone")
    assert client.state is ClientState.ENDED and client.sink is None
    assert [orjson.loads(m) for m in got] == [{"t": "bye", "code": "expired", "msg": "gone"}]
    assert byes == [Bye(ByeCode.EXPIRED, "gone")]
    with pytest.raises(InvalidTransition, match="ENDED"):
        client.connect(got.append)


def test_a_new_client_cannot_be_disconnected_before_it_connected() -> None:
    client = Client("abcdefgh")
    with pytest.raises(InvalidTransition, match="DISCONNECTED to go to CONNECTED or ENDED, got a transition to DISCONNECTED"):
        client.disconnect()
    client.end()
    assert client.state is ClientState.ENDED
    client.end()  # ending twice changes nothing


async def test_a_mailbox_is_pending_open_then_dropped() -> None:
    session = Session(App)
    mailbox = Mailbox(session, limit=2)
    assert mailbox.state is MailboxState.PENDING
    mailbox.attach(session.join(Join(PROTOCOL_VERSION, session.csrf_token, None, session.revision), mailbox.sink))
    assert mailbox.state is MailboxState.OPEN and mailbox.take()
    mailbox.put(b"1")
    mailbox.put(b"2")
    mailbox.put(b"3")  # overflow: dropped
    assert mailbox.dropped and mailbox.take() == []
    assert mailbox.client is not None and mailbox.client.state is ClientState.DISCONNECTED
    mailbox.close()  # closing a dropped mailbox does nothing
    with pytest.raises(InvalidTransition, match="an HTTP mailbox in state DROPPED"):
        mailbox.attach(mailbox.client)
