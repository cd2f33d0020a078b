"""Where user code runs (``livetag.execution``): plain code that names asyncio on the
loop, other plain code in a worker thread, marks that override, and the error that names
the fix when threaded code reaches asyncio."""

from __future__ import annotations

import asyncio
import functools
import gc
import threading
import time
import weakref
from typing import Any

import pytest
from loop_helpers import touch_the_loop

from livetag import State, Tag, WebApp, in_thread, on_loop, prevent
from livetag.dom.events import Event
from livetag.errors import AsyncioOutsideLoop
from livetag.execution import init_runs_on_loop, runs_on_loop
from livetag.testing import TestClient


def plain(e: object) -> None:
    time.sleep(0)  # a call: it may block


def names_it() -> None:
    asyncio.create_task(asyncio.sleep(0))  # noqa: RUF006 - never run: inspected for the names it uses


def nested_names_it() -> None:
    def inner() -> None:
        asyncio.get_running_loop()

    inner()


async def coroutine() -> None:
    return None


class Callable_:
    def __call__(self) -> None:
        asyncio.ensure_future(asyncio.sleep(0))  # noqa: RUF006 - never run, as above


def test_placement_rules() -> None:
    assert not runs_on_loop(plain)
    assert runs_on_loop(names_it) and runs_on_loop(nested_names_it) and runs_on_loop(coroutine)
    assert runs_on_loop(lambda: asyncio.get_event_loop())
    assert not runs_on_loop(lambda: time.sleep(0))
    assert runs_on_loop(functools.partial(names_it)) and not runs_on_loop(functools.partial(plain, 1))
    assert runs_on_loop(Callable_())
    assert runs_on_loop(prevent(names_it)) and not runs_on_loop(prevent(plain))


class Bumps:
    count = 0
    value = Tag.span("0")
    items: list[str] = ["a"]

    def bump(self, e: object) -> None:  # cannot wait: reads, writes, arithmetic
        self.count += 1
        self.value.text = f"{self.count}"
        self.items[0] = "b" if self.count > 1 else "c"

    def spin(self) -> None:
        while self.count:  # a loop: it may spin for ever
            pass

    def with_lock(self) -> None:
        with self.value:  # a context manager's __enter__ may wait
            pass

    def computes(self) -> None:  # calls of computing builtins and element classes only
        self.count = len(self.items) + int(str(self.count))
        self.value.text = str(abs(self.count)) if isinstance(self.count, int) else repr(self.count)
        self.value <= Tag.b(str(self.count), _class="n")

    def calls_a_method(self) -> None:
        self.value.add(Tag.b("x"))  # a method: not named

    def calls_a_function(self) -> None:
        self.count = len(str(plain(None)))  # the app's own function, inside safe calls

    def builds_a_component(self) -> None:
        self.value <= Component()  # a class of the app: its init may block

    def calls_a_builtin_that_waits(self) -> None:
        print(self.count)  # a write to a pipe may block

    def iterates_in_a_builtin(self) -> None:
        self.count = sum(range(self.count))  # no loop in the bytecode, one in sum

    def steps(self):  # type: ignore[no-untyped-def]
        self.count = 1
        yield


class Component(Tag.div):  # type: ignore[misc, name-defined]
    def init(self) -> None:
        time.sleep(0)


def test_plain_code_that_cannot_wait_runs_on_the_loop() -> None:
    b = Bumps()
    assert runs_on_loop(b.bump) and runs_on_loop(lambda: None) and runs_on_loop(b.computes)
    assert runs_on_loop(lambda: Tag.p(str(len("x"))))
    assert not any(runs_on_loop(f) for f in (b.spin, b.with_lock, b.steps, b.calls_a_method, b.calls_a_function,
                                             b.builds_a_component, b.calls_a_builtin_that_waits,
                                             b.iterates_in_a_builtin))
    assert not runs_on_loop(lambda: Tag.App()) and not runs_on_loop(lambda: Tag.add(None))  # not elements
    assert not runs_on_loop(in_thread(Bumps.bump.__get__(b)))  # the mark wins (it marks the function)
    assert not runs_on_loop(b.bump)


def test_marks_override_the_rule_and_follow_bound_methods() -> None:
    class C:
        @on_loop
        def fast(self) -> None:
            pass

        @in_thread
        def blocking(self) -> None:
            asyncio.run(asyncio.sleep(0))  # names asyncio, but wants its own loop

    assert runs_on_loop(C().fast) and not runs_on_loop(C().blocking)
    with pytest.raises(TypeError, match="function or method"):
        on_loop(3)  # type: ignore[arg-type]


def test_an_app_whose_init_names_asyncio_is_built_on_the_loop() -> None:
    class Plain(Tag.App):
        def init(self) -> None:
            self.paragraph = Tag.p("x")

    class Calls(Plain):
        def init(self) -> None:
            super().init()

    class Loopy(Plain):
        def init(self) -> None:
            self.loop = asyncio.get_running_loop()
            super().init()

    # Building tags cannot wait; a call of anything else may (here: a method).
    assert init_runs_on_loop(Plain) and not init_runs_on_loop(Calls) and init_runs_on_loop(Loopy)
    assert WebApp(Plain).registry.creates_on_loop and not WebApp(Calls).registry.creates_on_loop
    with TestClient(Loopy) as client:
        assert client.session.app.loop is not None and client.text("p") == "x"


def test_callees_are_named_through_a_closure_too() -> None:
    def make(tags: Any, helper: Any) -> tuple[type, type]:
        class Built(tags.App):
            def init(self) -> None:
                self <= tags.h1(str(len("x")))  # Tag is a free variable here, not a global

        class Helped(tags.App):
            def init(self) -> None:
                self <= helper()

        return Built, Helped

    built, helped = make(Tag, lambda: Tag.p("x"))
    assert init_runs_on_loop(built) and init_runs_on_loop(helped)  # the helper only builds a tag
    assert not init_runs_on_loop(make(Tag, lambda: time.sleep(0))[1])

    def passes(value: Any) -> Any:
        def handler() -> None:
            unknown_helper(value)  # type: ignore[name-defined]  # noqa: F821 - a global no one defined
        return handler

    assert not runs_on_loop(passes(len))  # a safe value as argument does not name the callee


class Threads(Tag.App):
    def init(self) -> None:
        self.where = State("")
        Tag.button("plain", _class="plain", _onclick=self.plain)
        Tag.button("named", _class="named", _onclick=self.named)
        Tag.button("indirect", _class="indirect", _onclick=self.indirect)
        Tag.button("gen", _class="gen", _onclick=self.gen)
        Tag.span(self.where)

    def plain(self) -> None:
        self.where.set("main" if threading.current_thread() is threading.main_thread() else "worker")

    def named(self) -> None:
        loop = asyncio.get_running_loop()
        self.where.set(f"loop:{loop.is_running()}")

    def indirect(self) -> None:
        touch_the_loop()

    def gen(self):  # type: ignore[no-untyped-def]
        self.where.set("step 1")
        yield
        self.where.set("main" if threading.current_thread() is threading.main_thread() else "worker")


def test_handlers_run_where_the_rule_says() -> None:
    with TestClient(Threads) as client:
        client.click(".plain")
        assert client.text("span") == "worker"
        client.click(".named")
        assert client.text("span") == "loop:True"
        client.click(".gen")
        assert client.text("span") == "worker"
        assert client.errors == []


def test_asyncio_reached_from_a_worker_thread_names_the_fix() -> None:
    with TestClient(Threads, debug=True) as client:
        client.click(".indirect")
        [error] = client.errors
        assert error["code"] == "handler_error"
        assert "AsyncioOutsideLoop" in error["trace"] and "async def" in error["trace"]
        assert "Threads.indirect" in error["trace"]
        client.click(".plain")  # the session carries on
        assert client.text("span") == "worker"


def test_asyncio_outside_loop_is_a_runtime_error_with_a_clear_message() -> None:
    error = AsyncioOutsideLoop("App.go")
    assert isinstance(error, RuntimeError)
    assert "App.go" in str(error) and "@livetag.on_loop" in str(error)


class Panel(Tag.App):
    """Handlers that call methods: of livetag's tags, and of the app's own that cannot wait."""

    def init(self) -> None:
        self.out = Tag.span("0")
        self.count = 0

    def adds(self) -> None:
        self.add(Tag.p("x"))
        self.call_js("void 0")
        self.toggle_class("on")

    def clears(self, e: object) -> None:
        self.clear(Tag.b("y"))

    def shows(self) -> None:
        self.count += 1
        self.show(self.count)

    def show(self, n: int) -> None:
        self.out.text = str(n)

    def saves(self) -> None:
        self.show(1)
        self.save()

    def save(self) -> None:
        time.sleep(0)

    def deep(self) -> None:
        self.deep1()

    def deep1(self) -> None:
        self.deep2()

    def deep2(self) -> None:
        self.deep3()

    def deep3(self) -> None:
        self.show(3)

    def again(self) -> None:
        self.count -= 1
        if self.count > 0:
            self.again()

    def publishes(self) -> None:
        self.publish("t", 1)  # livetag's, but not one of the methods that only edit the tree

    def rebinds(self) -> None:
        self = Panel.__new__(Panel)  # what it calls is no longer this instance's
        self.show(1)

    def on_target(self, e: Any) -> None:
        e.target.add(Tag.i("z"))  # without the call's event (runs_on_loop(f) alone): a thread


class LoudPanel(Panel):
    def show(self, n: int) -> None:
        print(n)  # a write to a pipe may block


def shows_twice(tag: Any) -> None:
    tag.text = "2"


def test_methods_of_the_instance_are_followed() -> None:
    p = Panel()
    assert runs_on_loop(p.adds) and runs_on_loop(p.clears) and runs_on_loop(p.shows)
    assert not runs_on_loop(p.saves) and not runs_on_loop(p.again) and not runs_on_loop(p.publishes)
    assert not runs_on_loop(p.deep)  # four calls deep: further than MAX_DEPTH
    assert runs_on_loop(p.deep2)
    assert not runs_on_loop(p.rebinds) and not runs_on_loop(p.on_target)
    assert runs_on_loop(lambda: p.show(2)) and runs_on_loop(lambda: p.add("x"))  # p: a free variable
    assert not runs_on_loop(lambda: p.save())
    assert runs_on_loop(lambda: shows_twice(p.out))  # a function of the app that cannot wait


def test_a_subclass_that_overrides_a_method_gets_its_own_verdict() -> None:
    loud, quiet = LoudPanel(), Panel()
    assert not runs_on_loop(loud.shows)  # LoudPanel.show prints
    assert runs_on_loop(quiet.shows)  # the same function, on a Panel
    assert not runs_on_loop(loud.shows) and runs_on_loop(Panel().shows)  # each remembered per class


class Probe:
    def __init__(self) -> None:
        object.__setattr__(self, "threads", [])

    def __setattr__(self, name: str, value: Any) -> None:  # a hook still runs wherever the code runs
        self.threads.append(threading.current_thread() is threading.main_thread())


class Placed(Tag.App):
    def init(self) -> None:
        self.probe = Probe()
        Tag.button("helper", _class="helper", _onclick=self.helper)
        Tag.button("loud", _class="loud", _onclick=self.loud)

    def helper(self) -> None:
        self.note()

    def note(self) -> None:
        self.probe.seen = 1

    def loud(self) -> None:
        self.note()
        print("loud")


def test_a_handler_that_calls_its_own_method_runs_on_the_loop() -> None:
    with TestClient(Placed) as client:
        client.click(".helper")
        client.click(".loud")
        assert client.session.app.probe.threads == [True, False]  # the loop's thread, then a worker
        assert client.errors == []


class Board(Tag.div):
    """Handlers that edit tags the instance holds (``self.content.add(...)``)."""

    def init(self) -> None:
        self.content = Tag.div()

    def refills(self, e: Any) -> None:
        self.content.clear()
        self.content.add(Tag.p("x"))

    def shows(self) -> None:
        self.fill()

    def fill(self) -> None:
        self.content <= Tag.p("y")
        self.content.add_class("full")

    def rebinds(self) -> None:
        self.content = Tag.div()
        self.content.add(Tag.p("z"))  # what the guard saw at the call is gone

    def rebinds_in_a_helper(self) -> None:
        self.content.add(Tag.p("z"))
        self.reset()

    def reset(self) -> None:
        self.content = Tag.div()

    def through_dict(self) -> None:
        self.content.add(Tag.p("z"))
        self.__dict__.clear()

    def other_method(self) -> None:
        self.content.publish("t", 1)  # livetag's, but not one that only edits the tree

    def two_deep(self) -> None:
        self.content.parent.add(Tag.p("z"))  # an attribute of an attribute: not followed

    def uses_class_attribute(self) -> None:
        self.label.add(Tag.p("z"))

    label = Tag.span()  # the class's: a descriptor of the app's could stand here

    @classmethod
    def on_class(cls) -> None:
        cls.label.add(Tag.p("z"))  # a class's attributes: a value there may be a descriptor


class Sink:
    """Not a tag, with an ``add`` that could block."""

    def add(self, *children: Any) -> None:
        time.sleep(0)


class SlowTag(Tag.div):
    def add(self, *children: Any) -> None:  # type: ignore[override]
        time.sleep(0)


def test_tag_methods_on_what_the_instance_holds_run_on_the_loop_while_it_holds_tags() -> None:
    board = Board()
    assert runs_on_loop(board.refills) and runs_on_loop(board.shows)
    board.content = Sink()  # the same handlers, checked again at each call
    assert not runs_on_loop(board.refills) and not runs_on_loop(board.shows)
    board.content = SlowTag()  # a tag whose add is not livetag's
    assert not runs_on_loop(board.refills)
    board.content = Tag.div()
    board.content.add = lambda *children: time.sleep(0)  # shadowed on the instance
    assert not runs_on_loop(board.refills)
    board.content = Tag.section()
    assert runs_on_loop(board.refills) and runs_on_loop(board.shows)
    del board.content
    assert not runs_on_loop(board.refills)


def test_code_that_could_change_a_guarded_attribute_goes_to_a_thread() -> None:
    board = Board()
    assert not runs_on_loop(board.rebinds) and not runs_on_loop(board.rebinds_in_a_helper)
    assert not runs_on_loop(board.through_dict) and not runs_on_loop(board.other_method)
    assert not runs_on_loop(board.two_deep) and not runs_on_loop(board.uses_class_attribute)
    assert not runs_on_loop(Board.on_class)


class Holder(Tag.App):
    def init(self) -> None:
        self.probe = Probe()
        self.panel = Tag.div()
        Tag.button("fill", _class="fill", _onclick=self.fill)

    def fill(self) -> None:
        self.panel.add(Tag.i("x"))
        self.probe.seen = 1


def test_a_handler_that_edits_a_tag_the_app_holds_runs_on_the_loop_while_it_is_one() -> None:
    with TestClient(Holder) as client:
        client.click(".fill")
        client.session.app.panel = Sink()
        client.click(".fill")
        assert client.session.app.probe.threads == [True, False]  # the loop's thread, then a worker
        assert client.errors == []


def marks(e: Any) -> None:
    e.target.add(Tag.span("!"))  # htag's idiom


class Marker(Tag.div):
    def init(self) -> None:
        self.out = Tag.div()

    def marks(self, e: Any) -> None:
        e.target.add(Tag.span("!"))
        self.out.clear()

    def relays(self, e: Any) -> None:
        self.marks(e)  # a handler called as a helper: its event is not checked

    def retargets(self, e: Any) -> None:
        e.target = self.out  # what the check saw is gone
        e.target.add(Tag.span("!"))

    def deep_target(self, e: Any) -> None:
        e.target.parent.add(Tag.span("!"))


class SlowButton(Tag.button):
    def add(self, *children: Any) -> None:  # type: ignore[override]
        time.sleep(0)


def test_tag_methods_on_an_events_target_run_on_the_loop_when_the_target_is_a_tag() -> None:
    event = Event(Tag.button("b"), "click")
    assert runs_on_loop(marks, (event,)) and runs_on_loop(Marker().marks, (event,))
    assert not runs_on_loop(marks) and not runs_on_loop(marks, (object(),))  # arguments unknown, not an event
    assert not runs_on_loop(marks, (Event(SlowButton("b"), "click"),))  # an add of the app's
    assert not runs_on_loop(functools.partial(marks), (event,))  # a wrapper: positions unknown
    marker = Marker()
    assert not runs_on_loop(marker.relays, (event,)) and not runs_on_loop(marker.retargets, (event,))
    assert not runs_on_loop(marker.deep_target, (event,))
    marker.out = Sink()
    assert not runs_on_loop(marker.marks, (event,))  # its other guard, on what the instance holds


class Clicked(Tag.App):
    def init(self) -> None:
        self.probe = Probe()
        Tag.button("mark", _class="mark", _onclick=self.mark)

    def mark(self, e: Any) -> None:
        e.target.add(Tag.i("!"))
        self.probe.seen = 1


def test_a_handler_that_edits_its_events_target_runs_on_the_loop() -> None:
    with TestClient(Clicked) as client:
        client.click(".mark")
        assert client.session.app.probe.threads == [True]
        assert client.text(".mark") == "mark!"
        assert client.errors == []


class Slider(Tag.div):
    """Lambdas over the instance they are made in, htag's way of writing handlers."""

    def init(self) -> None:
        self.value = State(0)
        self.panel = Tag.div()
        self.up = lambda e: self.value.set(self.value + 1)
        self.fill = lambda e: self.panel.add(Tag.p("x"))
        self.reads = lambda e: self.value.get()

    def bump(self) -> None:
        self.value.set(self.value + 1)


class LoudState(State):
    def set(self, value: Any) -> Any:
        print(value)
        return super().set(value)


def test_lambdas_that_edit_what_their_instance_holds_run_on_the_loop_while_it_holds_tags_and_states() -> None:
    slider = Slider()
    event = Event(Tag.button("b"), "click")
    assert runs_on_loop(slider.up, (event,)) and runs_on_loop(slider.fill, (event,))
    assert runs_on_loop(slider.reads, (event,)) and runs_on_loop(slider.bump)
    slider.value = LoudState(0)  # a set of the app's own: checked again at each call
    assert not runs_on_loop(slider.up, (event,)) and not runs_on_loop(slider.bump)
    slider.value, slider.panel = State(1), Sink()
    assert runs_on_loop(slider.up, (event,)) and not runs_on_loop(slider.fill, (event,))


class Adder:
    """``n + Adder()`` is ``n + 1``, noting the thread it was computed on (an operator
    hook of the app's runs wherever the code runs)."""

    def __init__(self) -> None:
        self.threads: list[bool] = []

    def __radd__(self, other: int) -> int:
        self.threads.append(threading.current_thread() is threading.main_thread())
        return other + 1


class Stepper(Tag.App):
    def init(self) -> None:
        self.count = State(0)
        self.step = Adder()
        Tag.button("+", _class="plus", _onclick=lambda e: self.count.set(self.count + self.step))
        Tag.span(self.count, _class="count")


class Basket(Tag.div):
    """Handlers that change a container the instance holds, as it is or in a state."""

    def init(self) -> None:
        self.items = State([])
        self.seen: list[int] = []
        self.counts = State({})

    def adds(self) -> None:
        self.items.append("x")
        self.seen.append(len(self.seen))
        self.counts.setdefault("x", 0)

    def extends(self) -> None:
        self.items.extend(["x"])  # iterates its argument: may run the app's code

    def sorts(self) -> None:
        self.seen.sort()  # compares items


class SlowList(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        time.sleep(0)


def test_calm_methods_of_a_container_the_instance_holds_run_on_the_loop() -> None:
    basket = Basket()
    assert runs_on_loop(basket.adds)
    assert not runs_on_loop(basket.extends) and not runs_on_loop(basket.sorts)
    basket.items = State({})  # a dict has no append: checked again at each call
    assert not runs_on_loop(basket.adds)
    basket.items = State(SlowList())
    assert not runs_on_loop(basket.adds)
    basket.items, basket.seen = State([]), SlowList()
    assert not runs_on_loop(basket.adds)
    basket.seen = []
    assert runs_on_loop(basket.adds)


class Shelf(Tag.App):
    def init(self) -> None:
        self.items = State([])
        self.step = Adder()
        Tag.button("add", _class="add", _onclick=self.add_one)
        Tag.ul(lambda: [Tag.li(x) for x in self.items], _class="items")

    def add_one(self) -> None:
        self.items.append(len(self.items) + self.step)


@pytest.mark.parametrize(("app", "button", "shown", "text"), [
    (Stepper, ".plus", ".count", "2"),  # a lambda that sets a state of the app
    (Shelf, ".add", ".items", "12"),  # a handler that appends to a state list
])
def test_handlers_that_change_the_apps_states_run_on_the_loop(app: type, button: str, shown: str, text: str) -> None:
    with TestClient(app) as client:
        client.click(button)
        client.click(button)
        assert client.text(shown) == text
        assert client.session.app.step.threads == [True, True]  # the loop's thread both times
        assert client.errors == []


def test_an_init_that_calls_its_own_methods_that_cannot_wait_is_built_on_the_loop() -> None:
    class Rows(Tag.App):
        def init(self) -> None:
            self.head = Tag.h1("rows")
            self.add_row("a")

        def add_row(self, text: str) -> None:
            self <= Tag.li(text)

    class SlowRows(Rows):
        def add_row(self, text: str) -> None:
            time.sleep(0)

    assert init_runs_on_loop(Rows) and not init_runs_on_loop(SlowRows)
    assert WebApp(Rows).registry.creates_on_loop and not WebApp(SlowRows).registry.creates_on_loop


class Timer(Tag.App):
    def init(self) -> None:
        self.where = State("")
        Tag.button("start", _class="start", _onclick=self.go)
        Tag.span(self.where)

    def go(self) -> None:
        self.start()

    def start(self) -> None:  # names asyncio: its callers talk to the loop through it
        loop = asyncio.get_running_loop()
        self.where.set(f"loop:{loop.is_running()}")


def starts_the_loop() -> None:
    asyncio.get_running_loop()


def test_code_that_reaches_asyncio_through_its_own_module_runs_on_the_loop() -> None:
    assert runs_on_loop(Timer().go) and runs_on_loop(lambda: starts_the_loop())
    assert not runs_on_loop(lambda: touch_the_loop())  # another module's helper: not followed
    with TestClient(Timer) as client:
        client.click(".start")
        assert client.text("span") == "loop:True" and client.errors == []


def test_verdicts_per_class_do_not_keep_a_class_made_at_run_time_alive() -> None:
    def make() -> type:
        class Made(Panel):
            def show(self, n: int) -> None:
                self.out.text = f"made {n}"

        return Made

    made = make()
    assert runs_on_loop(made().shows) and runs_on_loop(Panel().shows)
    gone = weakref.ref(made)
    del made
    gc.collect()
    assert gone() is None
    assert runs_on_loop(Panel().shows)
