"""``Session`` driven directly, with list-appending sinks (no transport)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from livetag import Event, Tag
from livetag.clients import Client
from livetag.errors import ProtocolError
from livetag.protocol import PROTOCOL_VERSION, EventMessage, Join
from livetag.session import Session


class Sink:
    """A client's sink that keeps every message, decoded."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, message: bytes) -> None:
        self.messages.append(orjson.loads(message))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["t"] == kind]

    @property
    def updates(self) -> list[dict[str, Any]]:
        """Updates that change something (not bare acknowledgements)."""
        return [m for m in self.of("up") if m["p"] or m.get("js")]

    def clear(self) -> None:
        self.messages.clear()


class App(Tag.App):
    def init(self) -> None:
        self.log: list[Any] = []
        self.out = Tag.span("0", _class="out")
        self.entry = Tag.input(_name="q", _value="")
        self.check = Tag.input(_type="checkbox")
        self.button = Tag.button("go", _onclick=self.clicked)
        self.plain = Tag.button("no handler")
        self.disabled = Tag.button("x", _disabled=True, _onclick=self.clicked)
        self.fieldset = Tag.fieldset(Tag.button("in fieldset", _onclick=self.clicked), _disabled=True)
        self.gone = Tag.button("gone", _onclick=self.clicked)
        self.add(self.out, self.entry, self.check, self.button, self.plain, self.disabled, self.fieldset, self.gone)

    def clicked(self, e: Event) -> None:
        self.log.append(e.value)
        self.out.text = str(len(self.log))


def bind(session: Session, sink: Sink, tag: Tag, handler: Any, event: str = "click") -> None:
    """Bind ``handler`` and send the resulting ``data-lt`` change, so that the next
    messages are about the event only."""
    tag[f"on{event}"] = handler
    session.flush()
    sink.clear()


def join(session: Session, sink: Sink, *, cid: str | None = None, rev: int | None = None) -> Client:
    return session.join(Join(PROTOCOL_VERSION, session.csrf_token, cid, session.revision if rev is None else rev),
                        sink)


def ev(seq: int, target: Tag | str, name: str = "click", data: dict[str, Any] | None = None,
       sync: dict[str, Any] | None = None) -> EventMessage:
    return EventMessage(seq, target if isinstance(target, str) else target.id, name, data or {}, sync or {})


Setup = tuple[Session, App, Client, Sink]


@pytest.fixture
async def setup() -> Setup:
    session = Session(App)
    sink = Sink()
    client = join(session, sink)
    sink.clear()
    assert isinstance(session.app, App)
    return session, session.app, client, sink


# -- join -------------------------------------------------------------------------------------


async def test_join_sends_joined_first_and_rerenders_only_a_stale_page() -> None:
    session = Session(App)
    current, stale = Sink(), Sink()
    c1 = join(session, current)
    assert current.messages == [{"t": "joined", "cid": c1.cid, "ack": 0, "rev": session.revision, "p": []}]
    c2 = join(session, stale, rev=session.revision + 5)
    (joined,) = stale.messages
    assert joined["t"] == "joined" and joined["cid"] != c1.cid
    assert joined["p"][0][0] == "o" and joined["p"][0][1] == session.app.id
    assert 'class="out"' in joined["p"][0][2]
    assert len(session.connected_clients) == 2 and c2.connected


async def test_an_app_instance_with_a_pending_call_js_is_adopted() -> None:
    app = App()
    app.call_js("window.x = 1")  # a change the tree reports as soon as it adopts the app
    session = Session(app)
    sink = Sink()
    join(session, sink, rev=session.revision + 1)
    assert sink.messages[0]["t"] == "joined"


async def test_join_with_a_wrong_token_is_rejected() -> None:
    session = Session(App)
    sink = Sink()
    for token in ("", "x" * 43, session.csrf_token[:-1], session.csrf_token + "x"):
        with pytest.raises(ProtocolError) as info:
            session.join(Join(PROTOCOL_VERSION, token, None, 0), sink)
        assert info.value.code == "csrf" and "expected the session's CSRF token" in str(info.value)
    assert sink.messages == [] and session.connected_clients == []


async def test_join_with_a_wrong_version_is_rejected() -> None:
    session = Session(App)
    sink = Sink()
    with pytest.raises(ProtocolError) as info:
        session.join(Join(PROTOCOL_VERSION + 1, session.csrf_token, None, 0), sink)
    assert info.value.code == "version" and f"expected protocol version {PROTOCOL_VERSION}" in str(info.value)
    assert sink.messages == []


async def test_rejoin_with_client_id_resumes_its_sequence(setup: Setup) -> None:
    session, app, client, sink = setup
    await session.dispatch(client, ev(1, app.button))
    await session.dispatch(client, ev(2, app.button))
    session.leave(client, sink)
    assert not client.connected
    again = Sink()
    resumed = join(session, again, cid=client.cid, rev=0)
    assert resumed is client
    assert again.messages[0]["ack"] == 2 and again.messages[0]["p"]  # stale: full render
    await session.dispatch(resumed, ev(2, app.button))  # re-sent after the reconnect
    assert app.log == [None, None]


async def test_a_restored_session_knows_its_pages_acknowledged_events(setup: Setup) -> None:
    session, app, client, _sink = setup
    await session.dispatch(client, ev(1, app.button))
    await session.dispatch(client, ev(2, app.button))
    assert session.acknowledged() == {client.cid: 2}
    restored = Session(App)  # on another machine, from the snapshot
    restored.resume_clients(session.acknowledged())
    again = Sink()
    resumed = join(restored, again, cid=client.cid, rev=0)
    assert again.messages[0]["ack"] == 2 and resumed.cid == client.cid
    assert isinstance(restored.app, App)
    await restored.dispatch(resumed, ev(2, restored.app.button))  # re-sent: already in the snapshot
    assert restored.app.log == []
    await restored.dispatch(resumed, ev(3, restored.app.button))  # after it: applied, once
    assert restored.app.log == [None]
    assert Session(App).acknowledged() == {}


async def test_a_page_that_saw_more_than_the_snapshot_is_told() -> None:
    session = Session(App)
    session.revision = 1005
    session.restored_root, session.restored_revision = (session.app.id, 1005), 5
    behind, ahead = Sink(), Sink()
    join(session, behind, rev=5)  # the snapshot holds all it saw
    join(session, ahead, rev=7)  # it saw two updates the snapshot lacks
    assert [m["t"] for m in behind.messages] == ["joined"]
    assert [m["t"] for m in ahead.messages] == ["joined", "err"] and ahead.messages[1]["code"] == "restored"


async def test_the_send_gate_holds_updates_back_until_it_opens(setup: Setup) -> None:
    session, app, client, sink = setup
    gate = [False]
    Session.send_gate = lambda: gate[0]
    try:
        await session.dispatch(client, ev(1, app.button))
        assert app.log == [None] and sink.messages == []  # applied, nothing sent
        gate[0] = True
        session.flush()
        assert [m["t"] for m in sink.messages] == ["up"] and sink.messages[0]["ack"] == 1
        bind(session, sink, app.plain, lambda e: None)
        gate[0] = False
        await session.dispatch(client, ev(2, app.plain))  # nothing changes: only an ack is due
        assert sink.messages == []
        gate[0] = True
        session.flush()
        assert sink.messages == [{"t": "ack", "ack": 2}]  # held back, then sent
    finally:
        Session.send_gate = None


# -- events -----------------------------------------------------------------------------------


async def test_event_runs_handler_and_sends_an_acknowledged_update(setup: Setup) -> None:
    session, app, client, sink = setup
    await session.dispatch(client, ev(1, app.button, data={"value": "v"}))
    assert app.log == ["v"]
    assert sink.messages == [{"t": "up", "rev": session.revision, "ack": 1, "p": [["t", app.out.id, "1"]]}]


async def test_every_client_gets_the_update_with_its_own_ack(setup: Setup) -> None:
    session, app, _client, sink = setup
    other_sink = Sink()
    other = join(session, other_sink)
    other_sink.clear()
    await session.dispatch(other, ev(7, app.button))
    assert sink.messages[-1]["ack"] == 0 and other_sink.messages[-1]["ack"] == 7
    assert sink.messages[-1]["p"] == other_sink.messages[-1]["p"] == [["t", app.out.id, "1"]]


async def test_events_are_applied_in_order_one_at_a_time() -> None:
    running = 0
    overlap: list[int] = []

    class Slow(App):
        async def clicked(self, e: Event) -> None:
            nonlocal running
            running += 1
            overlap.append(running)
            await asyncio.sleep(0.01 * (5 - e.value))  # early events take longest
            self.log.append(e.value)
            running -= 1

    session = Session(Slow)
    sink = Sink()
    client = join(session, sink)
    app = session.app
    await asyncio.gather(*(session.dispatch(client, ev(i, app.button, data={"value": i})) for i in range(1, 6)))
    assert app.log == [1, 2, 3, 4, 5]
    assert overlap == [1] * 5
    assert [m["ack"] for m in sink.messages if m["t"] in ("up", "ack")] == [1, 2, 3, 4, 5]


async def test_sync_handlers_are_applied_in_order_too(setup: Setup) -> None:
    session, app, client, _sink = setup
    await asyncio.gather(*(session.dispatch(client, ev(i, app.button, data={"value": i})) for i in range(1, 11)))
    assert app.log == list(range(1, 11))


async def test_duplicate_sequence_number_is_applied_once_but_acknowledged(setup: Setup) -> None:
    session, app, client, sink = setup
    await session.dispatch(client, ev(1, app.button))
    sink.clear()
    await session.dispatch(client, ev(1, app.button))
    assert app.log == [None]
    assert sink.messages == [{"t": "ack", "ack": 1}]
    await session.dispatch(client, ev(2, app.button))
    assert app.log == [None, None]


async def test_sync_values_are_applied_without_a_patch(setup: Setup) -> None:
    session, app, client, sink = setup
    seen: dict[str, Any] = {}

    def read(e: Event) -> None:
        seen.update(value=app.entry["value"], checked=app.check["checked"])

    bind(session, sink, app.plain, read)
    await session.dispatch(client, ev(1, app.plain, sync={app.entry.id: "typed <text>", app.check.id: True}))
    assert seen == {"value": "typed <text>", "checked": True}
    assert sink.messages == [{"t": "ack", "ack": 1}]
    assert 'value="typed &lt;text&gt;"' in app.render()  # a later full render shows it


async def test_sync_ignores_unknown_ids_and_non_controls(setup: Setup) -> None:
    session, app, client, _sink = setup
    await session.dispatch(client, ev(1, app.button, sync={"nope": "x", app.out.id: "y", app.entry.id: ["a"]}))
    assert app.out.text == "1" and app.out["value"] is None and app.entry["value"] == ""


async def test_a_handler_that_resets_a_synced_value_sends_the_reset(setup: Setup) -> None:
    session, app, client, sink = setup

    def submit(e: Event) -> None:
        app.log.append(app.entry["value"])
        app.entry["value"] = ""

    bind(session, sink, app.plain, submit)
    await session.dispatch(client, ev(1, app.plain, sync={app.entry.id: "milk"}))
    assert app.log == ["milk"]
    assert sink.messages[-1]["p"] == [["a", app.entry.id, {"value": ""}]]


@pytest.mark.parametrize("which", ["unknown", "detached", "no handler", "wrong event", "disabled", "fieldset"])
async def test_forbidden_events_are_reported_and_run_nothing(setup: Setup, which: str, caplog: pytest.LogCaptureFixture) -> None:
    session, app, client, sink = setup
    app.gone.remove()
    session.flush()
    sink.clear()
    target, name = {
        "unknown": ("lt-nope", "click"),
        "detached": (app.gone.id, "click"),
        "no handler": (app.plain.id, "click"),
        "wrong event": (app.button.id, "dblclick"),
        "disabled": (app.disabled.id, "click"),
        "fieldset": (app.fieldset.childs[0].id, "click"),
    }[which]
    with caplog.at_level(logging.WARNING, "livetag.session"):
        await session.dispatch(client, ev(1, target, name))
    assert app.log == []
    err, ack = sink.messages
    assert err["t"] == "err" and err["code"] == "forbidden_event" and err["msg"].startswith("expected ")
    assert ack == {"t": "ack", "ack": 1}
    assert "rejected event" in caplog.text
    await session.dispatch(client, ev(2, app.button))  # the session carries on
    assert app.log == [None]


async def test_client_data_cannot_replace_target_or_name(setup: Setup) -> None:
    session, app, client, sink = setup
    got: list[Event] = []
    bind(session, sink, app.plain, got.append)
    await session.dispatch(client, ev(1, app.plain, data={"target": app.button.id, "name": "submit", "value": 3}))
    (e,) = got
    assert e.target is app.plain and e.name == "click" and e.value == 3


# -- kinds of handlers ---------------------------------------------------------------------------


async def test_handler_without_event_parameter(setup: Setup) -> None:
    session, app, client, sink = setup
    calls: list[str] = []
    bind(session, sink, app.plain, lambda: calls.append("called"))
    await session.dispatch(client, ev(1, app.plain))
    assert calls == ["called"]


async def test_sync_handler_runs_off_the_event_loop(setup: Setup) -> None:
    session, app, client, sink = setup
    threads: list[int] = []
    bind(session, sink, app.plain, lambda: threads.append(threading.get_ident()))
    await session.dispatch(client, ev(1, app.plain))
    assert threads and threads[0] != threading.get_ident()


async def test_async_handler(setup: Setup) -> None:
    session, app, client, sink = setup

    async def handler(e: Event) -> None:
        await asyncio.sleep(0)
        app.out.text = "async"

    bind(session, sink, app.plain, handler)
    await session.dispatch(client, ev(1, app.plain))
    assert sink.updates[-1]["p"] == [["t", app.out.id, "async"]]


async def test_generator_handler_sends_an_update_per_yield(setup: Setup) -> None:
    session, app, client, sink = setup

    def steps(e: Event) -> Iterator[None]:
        for i in range(3):
            app.out.text = f"step {i}"
            yield

    bind(session, sink, app.plain, steps)
    await session.dispatch(client, ev(1, app.plain))
    assert [m["p"] for m in sink.updates] == [[["t", app.out.id, f"step {i}"]] for i in range(3)]
    assert sink.messages[-1]["ack"] == 1
    revs = [m["rev"] for m in sink.updates]
    assert revs == sorted(set(revs))


async def test_async_generator_handler_sends_an_update_per_yield(setup: Setup) -> None:
    session, app, client, sink = setup

    async def steps() -> AsyncIterator[None]:
        for i in range(3):
            app.out.text = f"step {i}"
            yield
            await asyncio.sleep(0)
        app.out.text = "done"

    bind(session, sink, app.plain, steps)
    await session.dispatch(client, ev(1, app.plain))
    texts = [m["p"][0][2] for m in sink.updates]
    assert texts == ["step 0", "step 1", "step 2", "done"]


async def test_yield_with_nothing_changed_sends_no_empty_update(setup: Setup) -> None:
    session, app, client, sink = setup

    def idle() -> Iterator[None]:
        yield
        yield

    bind(session, sink, app.plain, idle)
    await session.dispatch(client, ev(1, app.plain))
    assert sink.updates == [] and sink.messages[-1] == {"t": "ack", "ack": 1}


# -- failures -----------------------------------------------------------------------------------


def boom(e: Event) -> None:
    e.target.root.out.text = "partial"
    raise ValueError("<b>boom</b>")


async def test_raising_handler_with_debug_sends_the_trace(caplog: pytest.LogCaptureFixture) -> None:
    session = Session(App, debug=True)
    sink = Sink()
    client = join(session, sink)
    app = session.app
    bind(session, sink, app.plain, boom)
    with caplog.at_level(logging.ERROR, "livetag.session"):
        await session.dispatch(client, ev(1, app.plain))
    (err,) = sink.of("err")
    assert err["code"] == "handler_error" and err["eid"]
    # The app's frame comes first, with file:line and its source line; livetag's after.
    lines = err["trace"].splitlines()
    assert lines[0] == "ValueError: <b>boom</b>"
    first = next(i for i, line in enumerate(lines) if line.startswith("  "))
    assert lines[first].endswith("in boom") and "test_session.py:" in lines[first]
    assert lines[first + 1].strip() == 'raise ValueError("<b>boom</b>")'
    assert err["trace"].index("livetag/session.py") > err["trace"].index("in boom")
    assert err["msg"] == "handler of 'click' on <button> raised ValueError: <b>boom</b>"
    assert err["eid"] in caplog.text and "ValueError" in caplog.text
    # The changes made before the exception still reach the page, and the event is acknowledged.
    assert sink.messages[-1]["p"] == [["t", app.out.id, "partial"]] and sink.messages[-1]["ack"] == 1


async def test_raising_handler_without_debug_sends_a_generic_message(caplog: pytest.LogCaptureFixture) -> None:
    session = Session(App, debug=False)
    sink = Sink()
    client = join(session, sink)
    app = session.app
    bind(session, sink, app.plain, boom)
    with caplog.at_level(logging.ERROR, "livetag.session"):
        await session.dispatch(client, ev(1, app.plain))
    (err,) = sink.of("err")
    assert "trace" not in err
    assert "boom" not in orjson.dumps(err).decode() and "ValueError" not in err["msg"]
    assert err["code"] == "handler_error" and err["msg"] == "an internal error occurred"
    assert len(err["eid"]) >= 6
    assert err["eid"] in caplog.text and "Traceback" in caplog.text and "<b>boom</b>" in caplog.text
    # The session keeps working.
    sink.clear()
    await session.dispatch(client, ev(2, app.button))
    assert app.log == [None] and sink.messages[-1]["p"] == [["t", app.out.id, "1"]]


@pytest.mark.parametrize("kind", ["async", "generator", "async generator"])
async def test_raising_handlers_of_every_kind_are_reported(setup: Setup, kind: str) -> None:
    session, app, client, sink = setup

    async def coro() -> None:
        raise RuntimeError("x")

    def gen() -> Iterator[None]:
        app.out.text = "before"
        yield
        raise RuntimeError("x")

    async def agen() -> AsyncIterator[None]:
        app.out.text = "before"
        yield
        raise RuntimeError("x")

    bind(session, sink, app.plain, {"async": coro, "generator": gen, "async generator": agen}[kind])
    await session.dispatch(client, ev(1, app.plain))
    assert len(sink.of("err")) == 1 and sink.messages[-1]["ack"] == 1
    await session.dispatch(client, ev(2, app.button))
    assert app.log == [None]



@pytest.mark.parametrize("inline", [False, True], ids=["thread", "inline"])
async def test_a_plain_handler_raising_stop_iteration_is_reported_not_hung(setup: Setup, inline: bool,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # An asyncio future refuses StopIteration: passed on as is, the event would never end.
    from livetag.threads import HANDLER_THREADS

    monkeypatch.setattr(HANDLER_THREADS, "inline", inline)
    session, app, client, sink = setup

    def stops() -> None:
        next(iter(()))

    bind(session, sink, app.plain, stops)
    await asyncio.wait_for(session.dispatch(client, ev(1, app.plain)), 5)
    assert len(sink.of("err")) == 1 and sink.messages[-1]["ack"] == 1
    await session.dispatch(client, ev(2, app.button))
    assert app.log == [None]


# -- background changes ---------------------------------------------------------------------------


async def test_changes_from_another_thread_reach_the_clients(setup: Setup) -> None:
    _session, app, _client, sink = setup
    thread = threading.Thread(target=lambda: setattr(app.out, "text", "from thread"))
    thread.start()
    thread.join()
    for _ in range(200):
        if sink.updates:
            break
        await asyncio.sleep(0.01)
    assert sink.updates and sink.updates[0]["p"] == [["t", app.out.id, "from thread"]]


async def test_changes_from_a_background_task_reach_the_clients(setup: Setup) -> None:
    _session, app, _client, sink = setup

    async def ticker() -> None:
        for i in range(3):
            app.out.text = f"tick {i}"
            await asyncio.sleep(0.06)

    await ticker()
    for _ in range(200):
        if sink.updates and sink.updates[-1]["p"] == [["t", app.out.id, "tick 2"]]:
            break
        await asyncio.sleep(0.01)
    assert sink.updates[-1]["p"] == [["t", app.out.id, "tick 2"]]
    revs = [m["rev"] for m in sink.updates]
    assert revs == sorted(set(revs))


async def test_resync_sends_the_whole_tree(setup: Setup) -> None:
    session, app, client, sink = setup
    session.resync(client)
    (up,) = sink.messages
    assert up["t"] == "joined" and up["p"][0][0] == "o" and up["p"][0][2] == app.render()
