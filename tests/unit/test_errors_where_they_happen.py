"""Mistakes caught where they are made, and failures of user code reported where they
happen: construction-time handler checks, tracebacks with the app's frames first,
background tasks and handler return values."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import pytest
from test_session import Sink, bind, ev, join

from livetag import Event, Tag, prevent
from livetag.session import Session
from livetag.tracebacks import format_user_trace, is_app_frame

# -- handlers checked at construction ------------------------------------------------------


class Widget(Tag.div):
    def go(self) -> None:
        pass

    def takes_event(self, e: Event) -> None:
        pass

    def two(self, a: Any, b: Any) -> None:
        pass

    @prevent
    def decorated(self, e: Event) -> None:
        pass


def test_a_handler_called_instead_of_passed_names_the_fix_at_construction() -> None:
    w = Widget()
    with pytest.raises(TypeError) as info:
        Tag.button("go", _onclick=w.go())  # type: ignore[func-returns-value]
    assert str(info.value) == "expected a callable for onclick, got None: pass w.go, not w.go()"


def test_the_fix_is_named_on_a_call_spread_over_lines() -> None:
    w = Widget()
    with pytest.raises(TypeError, match=r"pass w\.go, not w\.go\(\)"):
        Tag.button(
            "go",
            _onclick=w.go(),  # type: ignore[func-returns-value]
        )


def test_a_handler_called_instead_of_passed_by_subscript_names_the_fix() -> None:
    w, button = Widget(), Tag.button("go")
    with pytest.raises(TypeError, match=r"^expected a callable for onclick, got None: pass w\.go, not w\.go\(\)$"):
        button["onclick"] = w.go()  # type: ignore[func-returns-value]


def test_other_values_for_a_handler_are_refused_with_a_generic_hint() -> None:
    with pytest.raises(TypeError, match=r"^expected a callable for oninput, got int 3: pass the function itself"):
        Tag.input(_oninput=3)


def test_none_unbinds_a_bound_handler_and_a_js_string_stays_an_attribute() -> None:
    button = Tag.button("go", _onclick=Widget().go)
    button["onclick"] = None
    assert button.handler("click") is None
    assert 'onclick="alert(1)"' in str(Tag.button(_onclick="alert(1)"))


@pytest.mark.parametrize("handler", [
    lambda: None, lambda e: None, lambda e=None: None, lambda e, extra=1: None, lambda *args: None,
    lambda *args, **kwargs: None, lambda e, *, flag=False: None, print, functools.partial(lambda a, e: None, 1),
], ids=["none", "event", "default", "extra-default", "varargs", "anything", "kwonly-default", "builtin", "partial"])
def test_every_signature_htag_calls_is_accepted(handler: Any) -> None:
    assert Tag.button(_onclick=handler).handler("click") is not None


def test_methods_with_and_without_the_event_and_decorated_ones_are_accepted() -> None:
    w = Widget()
    for method in (w.go, w.takes_event, w.decorated):
        assert Tag.button(_onclick=method).handler("click") is not None
    assert w.decorated.prevent


@pytest.mark.parametrize(("handler", "shown"), [
    (lambda a, b: None, "(a, b)"),
    (lambda e, *, key: None, "(e, *, key)"),
    (functools.partial(lambda a, b, c: None, 1), "(b, c)"),
], ids=["two-positional", "required-keyword", "partial"])
def test_a_handler_no_call_can_satisfy_is_refused_at_construction(handler: Any, shown: str) -> None:
    with pytest.raises(TypeError) as info:
        Tag.button(_onclick=handler)
    message = str(info.value)
    assert message.startswith("expected a handler for onclick callable with the event or with no argument, got ")
    assert shown in message and "default values" in message


def test_a_bound_method_needing_two_arguments_is_refused_by_subscript_too() -> None:
    w, button = Widget(), Tag.button()
    with pytest.raises(TypeError, match=r"got Widget\.two\(a, b\)"):
        button["onclick"] = w.two
    assert button.handler("click") is None


# -- tracebacks ----------------------------------------------------------------------------


def _fails() -> None:
    raise KeyError("missing")


def test_a_trace_lists_the_app_frames_first_with_file_line_and_source() -> None:
    try:
        _fails()
    except KeyError as exc:
        trace = format_user_trace(exc)
    lines = trace.splitlines()
    assert lines[0] == "KeyError: 'missing'"
    assert lines[2] == "in your code (innermost first):"
    assert "test_errors_where_they_happen.py:" in lines[3] and lines[3].endswith("in _fails")
    assert lines[4].strip() == 'raise KeyError("missing")'


def test_livetag_and_library_frames_come_after_the_app_frames() -> None:
    import json

    def parse() -> Any:
        return json.loads("{")

    try:
        parse()
    except ValueError as exc:
        trace = format_user_trace(exc)
    assert trace.index("in parse") < trace.index("in livetag and libraries") < trace.index("json/decoder.py")
    assert not is_app_frame(json.__file__) and not is_app_frame(asyncio.__file__)
    assert not is_app_frame(Tag.__init__.__code__.co_filename) and is_app_frame(__file__)


def test_a_chained_exception_shows_its_cause() -> None:
    try:
        try:
            _fails()
        except KeyError as exc:
            raise RuntimeError("could not load") from exc
    except RuntimeError as exc:
        trace = format_user_trace(exc)
    assert trace.startswith("RuntimeError: could not load") and "caused by:\nKeyError: 'missing'" in trace


# -- the session ---------------------------------------------------------------------------


class Ticker(Tag.App):
    def init(self) -> None:
        self.out = Tag.span("0")
        self.start = Tag.button("start", _onclick=self.spawn)
        self.ok = Tag.button("ok", _onclick=self.fine)
        self.awaited = Tag.button("awaited", _onclick=self.awaits)
        self.add(self.out, self.start, self.ok, self.awaited)

    async def spawn(self) -> None:
        async def job() -> None:
            await asyncio.sleep(0)
            raise LookupError("in the background")

        self.task = asyncio.create_task(job())

    async def awaits(self) -> None:
        async def job() -> None:
            raise LookupError("handled")

        try:
            await asyncio.create_task(job())
        except LookupError:
            self.out.text = "handled"

    def fine(self) -> Any:
        self.out.text = "fine"
        return 42


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("debug", [True, False])
async def test_a_failing_background_task_is_reported_and_the_session_lives_on(
        debug: bool, caplog: pytest.LogCaptureFixture) -> None:
    session = Session(Ticker, debug=debug)
    sink = Sink()
    client = join(session, sink)
    app = session.app
    assert isinstance(app, Ticker)
    with caplog.at_level(logging.ERROR, "livetag.session"):
        await session.dispatch(client, ev(1, app.start))
        await _settle()
    (err,) = sink.of("err")
    assert err["eid"] in caplog.text and "LookupError: in the background" in caplog.text
    if debug:
        assert err["msg"].startswith("background task") and "LookupError" in err["msg"]
        assert "in job" in err["trace"].split("\n\n")[1]
    else:
        assert err["msg"] == "an internal error occurred" and "trace" not in err
    await session.dispatch(client, ev(2, app.ok))
    assert app.out.text == "fine" and sink.messages[-1]["ack"] == 2


async def test_a_task_whose_exception_the_app_handles_is_not_reported() -> None:
    session = Session(Ticker, debug=True)
    sink = Sink()
    client = join(session, sink)
    app = session.app
    assert isinstance(app, Ticker)
    await session.dispatch(client, ev(1, app.awaited))
    await _settle()
    assert sink.of("err") == [] and app.out.text == "handled"


@pytest.mark.parametrize("debug", [True, False])
async def test_a_value_returned_by_a_handler_is_ignored_with_a_warning_in_debug(
        debug: bool, caplog: pytest.LogCaptureFixture) -> None:
    session = Session(Ticker, debug=debug)
    sink = Sink()
    client = join(session, sink)
    app = session.app
    assert isinstance(app, Ticker)
    with caplog.at_level(logging.WARNING, "livetag.session"):
        await session.dispatch(client, ev(1, app.ok))
    assert app.out.text == "fine" and sink.of("err") == []
    warned = [r for r in caplog.records if "returned int, which is ignored" in r.getMessage()]
    assert len(warned) == (1 if debug else 0)
    caplog.clear()
    bind(session, sink, app.ok, lambda: app.fine())  # a lambda's value is incidental: no warning
    with caplog.at_level(logging.WARNING, "livetag.session"):
        await session.dispatch(client, ev(2, app.ok))
    assert "ignored" not in caplog.text and sink.messages[-1]["ack"] == 2


async def test_a_failing_hook_is_reported_to_every_page_of_the_session() -> None:
    class Hooked(Tag.App):
        def init(self) -> None:
            self.button = Tag.button("add", _onclick=self.add_child)
            self.add(self.button)

        def add_child(self) -> None:
            self.add(Failing())

    class Failing(Tag.div):
        def on_mount(self) -> None:
            raise ValueError("mount failed")

    session = Session(Hooked, debug=True)
    first, second = Sink(), Sink()
    client = join(session, first)
    join(session, second)
    app = session.app
    assert isinstance(app, Hooked)
    await session.dispatch(client, ev(1, app.button))
    await _settle()
    for sink in (first, second):
        (err,) = sink.of("err")
        assert err["msg"].startswith("on_mount of") and "ValueError: mount failed" in err["msg"]


async def test_a_reactive_child_failure_names_the_exception_and_puts_the_app_frame_first() -> None:
    class Reactive(Tag.App):
        def init(self) -> None:
            self.add(Tag.div(lambda: _fails()))

    session = Session(Reactive, debug=True)
    session.render_document()
    sink = Sink()
    join(session, sink)
    (err,) = sink.of("err")
    assert err["code"] == "render_error" and err["msg"].endswith("raised KeyError: 'missing'")
    assert err["trace"].splitlines()[3].endswith("in _fails")


@pytest.mark.parametrize("how", ["join", "resync"])
async def test_a_reactive_failure_in_the_render_a_join_or_resync_sends_is_reported_to_that_page(how: str) -> None:
    class Reactive(Tag.App):
        def init(self) -> None:
            self.add(Tag.div(lambda: _fails()))

    session = Session(Reactive, debug=False)
    sink = Sink()
    if how == "join":
        join(session, sink, rev=99)  # a page at another revision: it gets everything
    else:
        client = join(session, sink)  # up to date: nothing rendered yet
        assert sink.of("err") == []
        session.resync(client)  # the page lost track: the first render of the slot
    (err,) = sink.of("err")
    assert err["code"] == "render_error" and err["msg"] == "an internal error occurred"


def test_a_bound_handler_checked_when_bound_through_the_session() -> None:
    session = Session(Ticker)
    sink = Sink()
    app = session.app
    with pytest.raises(TypeError):
        bind(session, sink, app, lambda a, b: None)
