"""Forged input: events and messages no real page would send.

Whatever a hostile client sends on its own session (ids not in the live tree, ids of
another session, events without a handler, disabled elements, malformed or wrongly
typed JSON, binary frames, a second join, data posing as ``target``/``name``): no handler
runs, an ``err`` goes to that client only, and the connection and the session carry on.
"""

from __future__ import annotations

from typing import Any

import orjson
from hostile import Board, Serve, is_bare_ack

from livetag import Event, State, Tag, WebApp
from livetag.protocol import MAX_SEQ, MAX_SYNC_ENTRIES
from livetag.testing.wire import Tab, element_id, text_of, texts


class Target(Board):
    """Elements an attacker aims at; ``hits`` counts every handler that ran."""

    def build(self) -> None:
        self.hits = Tag.span("0", _class="hits")
        self.probe = Tag.button("probe", _class="probe", _onclick=self.hit)
        self.doomed = Tag.button("doomed", _class="doomed", _onclick=self.hit)
        self.off = Tag.button("off", _class="off", _disabled=True, _onclick=self.hit)
        self.locked = Tag.input(_class="locked", _disabled=True, _value="set by the server", _onchange=self.hit)
        self.fenced = Tag.button("fenced", _class="fenced", _onclick=self.hit)
        self.switch = State(True)
        self.toggled = Tag.button("toggled", _class="toggled", _disabled=self.switch, _onclick=self.hit)
        self.seen = Tag.span("", _class="seen")
        self <= [self.hits, self.probe, self.doomed, self.off, self.locked, self.toggled, self.seen]
        self <= Tag.fieldset(Tag.div(self.fenced), _disabled=True)
        self <= Tag.button("drop", _class="drop", _onclick=lambda: self.doomed.remove())
        self <= Tag.button("show", _class="show", _onclick=self.show)

    def hit(self) -> None:
        self.hits.text = int(self.hits.text) + 1

    def show(self, e: Event) -> None:
        # What a handler sees of the event and of the disabled field's value.
        self.seen.text = f"{e.target.id}|{e.name}|{e.value}|{self.locked['value']}"


async def open_target(t: Tab) -> dict[str, str]:
    html = await t.load()
    await t.join()
    return {c: element_id(html, c) for c in ("inc", "value", "hits", "probe", "doomed", "off", "locked", "fenced",
                                             "toggled", "seen", "drop", "show")}


async def expect_error(t: Tab, code: str) -> dict[str, Any]:
    """The next message is an ``err`` with ``code``."""
    message = await t.recv()
    assert message["t"] == "err" and message["code"] == code, message
    return message


async def hits(t: Tab, ids: dict[str, str]) -> str:
    page = Tab(t.url, t.http)
    return text_of(await page.load(), ids["hits"])


async def test_events_the_live_tree_does_not_accept_are_refused(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Target).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        ids = await open_target(t)
        sibling = tab(server.url, t.http)  # another tab of the attacked session
        await sibling.load()
        await sibling.join()
        await t.event(ids["drop"])  # "doomed" leaves the tree; the Python object and its handler live on

        forged = [
            ("an id not in the tree", "lt-nope", "click"),
            ("a detached tag", ids["doomed"], "click"),
            ("a tag of another session", w.inc, "click"),
            ("an event the tag has no handler for", ids["probe"], "mouseover"),
            ("a tag without any handler", ids["value"], "click"),
            ("a disabled button", ids["off"], "click"),
            ("a disabled input", ids["locked"], "change"),
            ("a button inside a disabled fieldset", ids["fenced"], "click"),
            ("a button disabled by a State", ids["toggled"], "click"),
        ]
        for what, target, name in forged:
            t.seq += 1
            await t.send({"t": "ev", "s": t.seq, "id": target, "n": name, "d": {}, "sync": {}})
            err = await expect_error(t, "forbidden_event")
            assert err["msg"].startswith("expected "), (what, err)
            assert is_bare_ack(await t.recv(), t.seq), what  # acknowledged, nothing changed

        assert await hits(t, ids) == "0"  # no handler ran
        # The connection carries on, and only the attacker got errors.
        assert texts(await t.event(ids["probe"])) == ["1"]
        messages = await sibling.event(ids["inc"])
        assert [m for m in messages if m["t"] == "err"] == [] and texts(messages)[-1] == "1"
        await w.check()  # its own button was not clicked by the attacker
        assert w.count == 2


async def test_a_button_enabled_by_its_state_accepts_clicks(live_server: Serve, tab) -> None:
    class Toggle(Board):
        def build(self) -> None:
            self.off = State(False)
            self <= Tag.button("go", _class="go", _disabled=self.off, _onclick=self.increment)

    with live_server(WebApp(Toggle).app) as server:
        t = tab(server.url)
        html = await t.load()
        assert "disabled" not in html
        await t.join()
        messages = await t.event(element_id(html, "go"))
        assert [m for m in messages if m["t"] == "err"] == [] and texts(messages) == ["1"]


async def test_sync_cannot_write_a_disabled_control(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Target).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        ids = await open_target(t)
        messages = await t.event(ids["show"], sync={ids["locked"]: "forged by the client"})
        assert texts(messages) == [f"{ids['show']}|click|None|set by the server"]
        await w.check()


async def test_event_data_never_overwrites_target_or_name(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Target).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        ids = await open_target(t)
        data = {"target": w.inc, "name": "submit", "_data": {}, "__class__": "x", "value": "v"}
        messages = await t.event(ids["show"], data=data)
        assert texts(messages) == [f"{ids['show']}|click|v|set by the server"]
        await w.check()


MALFORMED: list[tuple[str, Any]] = [
    ("not JSON", "{not json"),
    ("an empty frame", ""),
    ("deeply nested JSON", "[" * 2000 + "]" * 2000),
    ("a JSON array", "[]"),
    ("a JSON string", '"ev"'),
    ("a JSON number", "1"),
    ("null", "null"),
    ("no type", {"s": 1, "id": "x", "n": "click"}),
    ("an unknown type", {"t": "eval", "code": "1"}),
    ("a numeric type", {"t": 1}),
    ("s as a string", {"t": "ev", "s": "1", "id": "x", "n": "click"}),
    ("s as a bool", {"t": "ev", "s": True, "id": "x", "n": "click"}),
    ("s as a float", {"t": "ev", "s": 1.5, "id": "x", "n": "click"}),
    ("s zero", {"t": "ev", "s": 0, "id": "x", "n": "click"}),
    ("s negative", {"t": "ev", "s": -1, "id": "x", "n": "click"}),
    ("s too big", {"t": "ev", "s": MAX_SEQ + 1, "id": "x", "n": "click"}),
    ("s missing", {"t": "ev", "id": "x", "n": "click"}),
    ("id as a number", {"t": "ev", "s": 1, "id": 1, "n": "click"}),
    ("id empty", {"t": "ev", "s": 1, "id": "", "n": "click"}),
    ("id with a space", {"t": "ev", "s": 1, "id": "a b", "n": "click"}),
    ("id too long", {"t": "ev", "s": 1, "id": "x" * 129, "n": "click"}),
    ("id as a list", {"t": "ev", "s": 1, "id": ["x"], "n": "click"}),
    ("n as a number", {"t": "ev", "s": 1, "id": "x", "n": 1}),
    ("n empty", {"t": "ev", "s": 1, "id": "x", "n": ""}),
    ("n not a name", {"t": "ev", "s": 1, "id": "x", "n": "on click"}),
    ("n too long", {"t": "ev", "s": 1, "id": "x", "n": "c" * 65}),
    ("d as a list", {"t": "ev", "s": 1, "id": "x", "n": "click", "d": []}),
    ("d as a string", {"t": "ev", "s": 1, "id": "x", "n": "click", "d": "x"}),
    ("sync as a list", {"t": "ev", "s": 1, "id": "x", "n": "click", "sync": []}),
    ("a sync value as a number", {"t": "ev", "s": 1, "id": "x", "n": "click", "sync": {"x": 1}}),
    ("a sync value as null", {"t": "ev", "s": 1, "id": "x", "n": "click", "sync": {"x": None}}),
    ("a sync value as an object", {"t": "ev", "s": 1, "id": "x", "n": "click", "sync": {"x": {"a": 1}}}),
    ("a sync list of numbers", {"t": "ev", "s": 1, "id": "x", "n": "click", "sync": {"x": [1]}}),
    ("too many sync entries", {"t": "ev", "s": 1, "id": "x", "n": "click",
                               "sync": {f"i{i}": "v" for i in range(MAX_SYNC_ENTRIES + 1)}}),
    ("a join without a version", {"t": "join", "token": "x", "cid": None, "rev": 0}),
    ("a join with a bad client id", {"t": "join", "v": 1, "token": "x", "cid": "../../x", "rev": 0}),
    ("a join with a negative revision", {"t": "join", "v": 1, "token": "x", "cid": None, "rev": -1}),
]


async def test_malformed_and_wrongly_typed_messages_get_an_error_and_the_connection_carries_on(
        live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Target).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        ids = await open_target(t)
        for what, message in MALFORMED:
            await t.send(message if isinstance(message, str) else orjson.dumps(message).decode())
            err = await expect_error(t, "bad_message")
            assert err["msg"].startswith("expected "), (what, err)
            assert set(err) == {"t", "code", "msg"}, err
        await t.send(b"\x00\x01 binary")
        assert "binary frame" in (await expect_error(t, "bad_message"))["msg"]
        await t.send({"t": "join", "v": 1, "token": t.token, "cid": t.cid, "rev": t.rev})
        await expect_error(t, "already_joined")
        # The session still has its first client, in its state: the next event applies once.
        assert texts(await t.event(ids["inc"])) == ["1"]
        assert await hits(t, ids) == "0"
        await w.check()


async def test_a_malformed_first_message_closes_the_connection_and_a_valid_join_still_works(
        live_server: Serve, tab, witness) -> None:
    # Before a join, a connection has proved nothing: anything but a join ends it (1008).
    with live_server(WebApp(Target).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        for garbage in ("{not json", b"\x00"):
            await t.connect()
            await t.send(garbage)
            assert (await t.closed())[:2] == (1008, "bad_message")
        await t.connect()
        await t.join()
        assert texts(await t.event(element_id(html, "inc"))) == ["1"]
        await w.check()


async def test_forged_and_malformed_input_over_http(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Target).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        ids = {c: element_id(html, c) for c in ("inc", "hits", "off", "probe")}
        await t.join(transport="http")
        # A forbidden event is answered in the response (200: the request itself was fine).
        for target, name in (("lt-nope", "click"), (w.inc, "click"), (ids["off"], "click"), (ids["probe"], "keyup")):
            messages = await t.event(target, name)
            assert [m["code"] for m in messages if m["t"] == "err"] == ["forbidden_event"]
            assert is_bare_ack(messages[-1], t.seq)
        # Malformed bodies are refused whole, before any message runs.
        for body in (b"{not json", b"{}", b"[1]", b'[{"t":"ev","s":"1","id":"x","n":"click"}]', b"",
                     orjson.dumps([t.ev(ids["inc"]), {"t": "ev", "s": 1, "id": 1, "n": "click"}])):
            response = await t.post_events(body)
            assert response.status_code == 400, body
            (err,) = t.messages(response)
            assert err["t"] == "err" and err["code"] == "bad_message" and err["msg"].startswith("expected ")
        # An id of another session's client is no way into that session.
        stranger = await t.http.post(t.url + "_lt/event", params={"cid": w.tab.cid, "mode": "http"},
                                     content=orjson.dumps([t.ev(w.inc)]),
                                     headers={"X-Livetag-Token": t.token, "Origin": t.origin})
        assert stranger.status_code == 409 and t.messages(stranger)[0]["code"] == "rejoin"
        # A join among events is refused, the events around it run.
        response = await t.post_events([{"t": "join", "v": 1, "token": t.token, "cid": None, "rev": 0},
                                        t.ev(ids["inc"])])
        messages = t.messages(response)
        assert [m["code"] for m in messages if m["t"] == "err"] == ["already_joined"]
        assert texts(messages) == ["1"]  # the event batched with the forged ones' siblings ran once
        assert text_of(await t.load(), ids["hits"]) == "0"
        await w.check()
        assert w.count == 2
