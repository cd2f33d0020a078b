"""Lifecycle hooks and background work: ``on_mount``/``on_unmount``/``on_destroy``, changes
from asyncio tasks and threads, ``update()``, ``self.request``."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import orjson
import pytest

from livetag import State, Tag
from livetag.dom import LiveTree
from livetag.protocol import PROTOCOL_VERSION, EventMessage, Join
from livetag.session import Session
from livetag.testing import TestClient


class Sink:
    """A client's sink that keeps every message, decoded."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, message: bytes) -> None:
        self.messages.append(orjson.loads(message))

    @property
    def updates(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["t"] == "up" and m["p"]]


def join(session: Session, sink: Sink) -> Any:
    return session.join(Join(PROTOCOL_VERSION, session.csrf_token, None, session.revision), sink)


async def settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    """Let the loop (and the handler threads) run until ``predicate()`` holds."""
    waited = 0.0
    while not predicate():
        assert waited < timeout, "condition still false after 5 s"
        await asyncio.sleep(0.01)
        waited += 0.01


class Hooked(Tag.div):
    """Records its hooks in ``log`` (a list shared by the test)."""

    def init(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self <= name

    async def on_mount(self) -> None:
        self.log.append(f"mount {self.name}")

    async def on_unmount(self) -> None:
        self.log.append(f"unmount {self.name}")

    def on_destroy(self) -> None:
        self.log.append(f"destroy {self.name}")


# -- which hooks are due (LiveTree) ------------------------------------------------------------


def test_mount_is_due_for_every_hooked_tag_in_document_order() -> None:
    log: list[str] = []
    inner = Hooked("inner", log)
    outer = Hooked("outer", log)
    outer <= inner
    app = Tag.App(outer, Hooked("second", log))
    tree = LiveTree(app)
    unmounted, mounted = tree.take_lifecycle()
    assert unmounted == [] and [t.name for t in mounted] == ["outer", "inner", "second"]
    assert tree.take_lifecycle() == ([], [])


def test_replacing_a_child_makes_unmount_then_mount_due() -> None:
    log: list[str] = []
    box = Tag.div(Hooked("a", log))
    tree = LiveTree(Tag.App(box))
    tree.take_lifecycle()
    box.clear(Hooked("b", log))
    unmounted, mounted = tree.take_lifecycle()
    assert [t.name for t in unmounted] == ["a"] and [t.name for t in mounted] == ["b"]


def test_a_tag_added_and_removed_before_its_mount_ran_gets_no_hook() -> None:
    log: list[str] = []
    box = Tag.div()
    tree = LiveTree(Tag.App(box))
    tree.take_lifecycle()
    passing = Hooked("passing", log)
    box <= passing
    passing.remove()
    assert tree.take_lifecycle() == ([], [])


def test_remount_makes_every_hooked_tag_unmount_then_mount() -> None:
    log: list[str] = []
    app = Tag.App(Hooked("a", log), Tag.div(Hooked("b", log)))
    tree = LiveTree(app)
    tree.take_lifecycle()
    tree.remount()
    unmounted, mounted = tree.take_lifecycle()
    assert [t.name for t in unmounted] == ["a", "b"] and [t.name for t in mounted] == ["a", "b"]


# -- running them (Session) ----------------------------------------------------------------------


class App(Tag.App):
    def init(self) -> None:
        self.log: list[str] = []
        self.box = Tag.div(Hooked("first", self.log), _class="box")
        self <= self.box
        self <= Tag.button("swap", _class="swap", _onclick=self.swap)

    def swap(self) -> None:
        self.box.clear(Hooked("second", self.log))


async def test_mount_waits_for_a_connected_client() -> None:
    session = Session(App)
    session.render_document()
    await settle()
    assert session.app.log == []
    join(session, Sink())
    await eventually(lambda: session.app.log == ["mount first"])


async def test_unmount_runs_before_mount_when_a_child_is_replaced() -> None:
    session = Session(App)
    sink = Sink()
    client = join(session, sink)
    await eventually(lambda: session.app.log == ["mount first"])
    await session.dispatch(client, EventMessage(1, session.app.childs[1].id, "click", {}, {}))
    await eventually(lambda: len(session.app.log) == 3)
    assert session.app.log == ["mount first", "unmount first", "mount second"]


async def test_a_page_reload_unmounts_and_mounts_the_same_instance() -> None:
    session = Session(App)
    app = session.app
    join(session, Sink())
    await eventually(lambda: app.log == ["mount first"])
    session.reload()
    session.render_document()
    join(session, Sink())
    await eventually(lambda: len(app.log) == 3)
    assert session.app is app
    assert app.log == ["mount first", "unmount first", "mount first"]


async def test_on_destroy_runs_once_when_the_session_is_discarded() -> None:
    session = Session(App)
    sink = Sink()
    join(session, sink)
    await settle()
    session.close()
    session.close()
    assert session.app.log.count("destroy first") == 1
    assert sink.messages[-1]["t"] == "bye"


async def test_async_on_destroy_is_run_on_the_loop() -> None:
    done: list[str] = []

    class Async(Tag.App):
        async def on_destroy(self) -> None:
            await asyncio.sleep(0)
            done.append("destroyed")

    session = Session(Async)
    join(session, Sink())
    session.close()
    await eventually(lambda: done == ["destroyed"])


class Streaming(Tag.App):
    """``on_mount`` as a generator: each ``yield`` sends the state reached so far."""

    def init(self) -> None:
        self.out = Tag.span("start")
        self <= self.out

    def on_mount(self) -> Any:
        for step in ("loading", "half", "done"):
            self.out.text = step
            yield


class AsyncStreaming(Streaming):
    async def on_mount(self) -> Any:  # type: ignore[override]
        for step in ("loading", "half", "done"):
            self.out.text = step
            yield
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("app", [Streaming, AsyncStreaming], ids=["generator", "async-generator"])
async def test_generator_hooks_stream_one_update_per_yield(app: type[Streaming]) -> None:
    session = Session(app)
    sink = Sink()
    join(session, sink)

    def texts() -> list[str]:
        return [op[2] for m in sink.updates for op in m["p"] if op[0] == "t"]

    await eventually(lambda: len(texts()) >= 3)
    await settle()
    assert texts() == ["loading", "half", "done"]


async def test_a_failing_hook_is_reported_and_the_session_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    class Failing(Tag.App):
        def init(self) -> None:
            self.out = Tag.span("x")
            self <= self.out

        def on_mount(self) -> None:
            self.out.text = "before the error"
            raise RuntimeError("boom")

    session = Session(Failing, debug=True)
    sink = Sink()
    join(session, sink)
    await eventually(lambda: any(m["t"] == "err" for m in sink.messages))
    errors = [m for m in sink.messages if m["t"] == "err"]
    assert len(errors) == 1 and "on_mount" in errors[0]["msg"] and "boom" in errors[0]["trace"]
    assert any(op == ["t", session.app.out.id, "before the error"] for m in sink.updates for op in m["p"])
    assert "boom" in caplog.text


# -- background work -----------------------------------------------------------------------------


class Ticker(Tag.App):
    def init(self) -> None:
        self.n = State(0)
        self <= Tag.span(self.n, _class="n")

    async def on_mount(self) -> None:
        asyncio.get_running_loop().create_task(self.tick())

    async def tick(self) -> None:
        for _ in range(3):
            await asyncio.sleep(0.01)
            self.n += 1


def test_changes_from_a_background_task_reach_the_page_without_events() -> None:
    with TestClient(Ticker) as client:
        client.wait_for(lambda c: c.text(".n") == "3", timeout=2)
        client.assert_synced()


class Threaded(Tag.App):
    def init(self) -> None:
        self.items = Tag.ul(_class="items")
        self.n = State(0)
        self <= Tag.span(lambda: f"{self.n} done", _class="n")
        self <= self.items
        self <= Tag.button("go", _class="go", _onclick=self.go)

    def go(self) -> None:
        for t in range(4):
            threading.Thread(target=self.work, args=(t,), daemon=True).start()

    def work(self, t: int) -> None:
        for i in range(25):
            self.items <= Tag.li(f"{t}-{i}")  # four threads mutate one tag at once
            if i % 5 == 0:
                time.sleep(0.001)
        with self.lock:
            self.n += 1
        self.update()

    lock = threading.Lock()


def test_concurrent_changes_from_threads_reach_the_page_intact() -> None:
    with TestClient(Threaded) as client:
        client.click("button.go")
        client.wait_for(lambda c: c.text(".n") == "4 done", timeout=5)
        client.advance(0.1)
        shown = sorted(li.text for li in client.find_all("ul.items li"))
        assert shown == sorted(f"{t}-{i}" for t in range(4) for i in range(25))
        client.assert_synced()


async def test_update_is_awaitable_and_sends_changes_made_outside_events() -> None:
    session = Session(Ticker)
    sink = Sink()
    join(session, sink)
    span = session.app.childs[0]

    def elsewhere() -> None:
        span["title"] = "from a thread"
        session.app.update()

    await asyncio.to_thread(elsewhere)
    await session.app.update()  # also fine from async code
    await eventually(lambda: any(op == ["a", span.id, {"title": "from a thread"}]
                                 for m in sink.updates for op in m["p"]))


# -- self.request --------------------------------------------------------------------------------


class Requests(Tag.App):
    def init(self) -> None:
        self.seen = [("init", self.request)]
        self.child = Tag.button("b", _onclick=self.clicked)
        self <= self.child

    def clicked(self) -> None:
        self.seen.append(("event", self.request))
        self.seen.append(("child", self.child.request))


async def test_request_is_visible_during_init_and_events_on_every_tag() -> None:
    first, second = object(), object()
    session = Session(Requests, request=first)
    client = join(session, Sink())
    await session.dispatch(client, EventMessage(1, session.app.child.id, "click", {}, {}), request=second)
    assert session.app.seen == [("init", first), ("event", second), ("child", second)]
    assert session.app.request is None  # outside an interaction


class SlowUnmount(Tag.div):
    """Plain (synchronous) hooks: they run in worker threads."""

    def init(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def on_mount(self) -> None:
        self.log.append(f"mount {self.name}")

    def on_unmount(self) -> None:
        time.sleep(0.5)  # releasing something takes a while
        self.log.append(f"unmounted {self.name}")


async def test_plain_hooks_unmount_before_the_replacement_mounts() -> None:
    log: list[str] = []
    box = Tag.div(SlowUnmount("old", log))
    session = Session(Tag.App(box, Tag.button("swap", _onclick=lambda: box.clear(SlowUnmount("new", log)))))
    client = join(session, Sink())
    await eventually(lambda: log == ["mount old"])
    await session.dispatch(client, EventMessage(1, session.app.childs[1].id, "click", {}, {}))
    await eventually(lambda: len(log) == 3)
    assert log == ["mount old", "unmounted old", "mount new"]
