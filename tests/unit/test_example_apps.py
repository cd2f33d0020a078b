"""The examples, driven through ``livetag.testing.TestClient`` (the browser tests drive
them in Chromium)."""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from livetag import Tag, WebApp
from livetag.testing import TestClient

ALL = ["clock", "router", "paths", "table", "components", "progress", "todo", "counter"]


@pytest.mark.parametrize("name", ALL)
def test_each_example_exposes_webapp_and_app(example: Callable[[str], ModuleType], name: str) -> None:
    module = example(name)
    assert isinstance(module.webapp, WebApp)
    assert module.app is module.webapp.app


# -- clock --------------------------------------------------------------------------------------


def test_clock_ticks_without_user_input(example: Callable[[str], ModuleType]) -> None:
    clock = example("clock")

    class Fast(clock.Clock):
        interval = 0.02

    with TestClient(Fast) as client:
        assert re.fullmatch(r"\d\d:\d\d:\d\d", client.text(".time"))
        # Updates are throttled (50 ms) and ticks come every 20 ms: a count may be skipped.
        client.wait_for(lambda c: int(c.text(".ticks").split()[0]) >= 3)
        client.assert_synced()


def test_clock_runs_one_loop_after_a_reload_and_none_after_the_session_ends(example: Callable[[str], ModuleType]) -> None:
    clock = example("clock")

    class Fast(clock.Clock):
        interval = 0.02

    with TestClient(Fast) as client:
        client.advance(0.05)
        first = client.session.app.task
        client.session.reload()  # what a page load of the same session does
        client.session.render_document()
        client.session.flush()
        client.advance(0.05)
        app = client.session.app
        assert first.cancelled() or first.done()
        assert app.task is not None and app.task is not first and not app.task.done()
        client.close()
        assert app.task is None


# -- router -------------------------------------------------------------------------------------


def test_router_pages_links_buttons_and_not_found(example: Callable[[str], ModuleType]) -> None:
    router = example("router")
    with TestClient(router.RouterApp) as client:
        assert client.text("h2") == "Home" and client.text(".path") == "path: /"
        assert client.find("a.home").has_class("active")
        assert [a["href"] for a in client.find_all("a.user-link")] == ["#/users/1", "#/users/2", "#/users/7"]
        client.click("button.grace")
        assert client.text("h2") == "Grace Hopper" and client.text(".user-id") == "user id: 7"
        assert not client.find("a.home").has_class("active")
        client.navigate("/about")  # what following the About link does
        assert client.text("h2") == "About" and client.find("a.about").has_class("active")
        client.navigate("/users/1")
        assert client.text("h2") == "Ada Lovelace"
        client.navigate("/users/99")
        assert client.text("h2") == "No user 99"
        client.click("button.broken")
        assert client.text("h2") == "Not found" and client.text(".path") == "path: /nowhere"
        client.assert_synced()
        assert client.errors == []


# -- table --------------------------------------------------------------------------------------


def column(client: TestClient, key: str) -> list[str]:
    return [td.text for td in client.find_all(f"tbody td.{key}")]


def test_table_sorts_by_column_both_ways(example: Callable[[str], ModuleType]) -> None:
    table = example("table")
    with TestClient(table.Table) as client:
        assert client.text(".count") == "1000 of 1000 rows"
        assert column(client, "id") == [str(i) for i in range(1, 1001)]
        client.click("th[data-key=name]")
        names = column(client, "name")
        assert names == sorted(names) and len(names) == 1000
        assert client.find("th[data-key=name]").has_class("sorted") and client.text("th[data-key=name]") == "Name ▲"
        client.click("th[data-key=name]")
        assert column(client, "name") == sorted(names, reverse=True)
        assert client.text("th[data-key=name]") == "Name ▼"
        client.click("th[data-key=score]")
        scores = [int(s) for s in column(client, "score")]
        assert scores == sorted(scores)
        assert not client.find("th[data-key=name]").has_class("sorted")
        client.assert_synced()


def test_table_filters_and_keeps_the_sort(example: Callable[[str], ModuleType]) -> None:
    table = example("table")
    people = table.make_people()
    with TestClient(table.Table) as client:
        client.click("th[data-key=score]")
        client.fill("input.filter", "Paris")
        expected = sorted((p for p in people if "paris" in p["city"].lower() or "paris" in p["name"].lower()),
                          key=lambda p: (p["score"], p["id"]))
        assert column(client, "id") == [str(p["id"]) for p in expected]
        assert client.text(".count") == f"{len(expected)} of 1000 rows"
        client.fill("input.filter", "")
        assert len(column(client, "id")) == 1000
        client.fill("input.filter", "no such person")
        assert column(client, "id") == [] and client.text(".count") == "0 of 1000 rows"
        client.assert_synced()


def rows_ops(table: ModuleType, *acts: Callable[[Any], None]) -> list[list[Any]]:
    """The patch operations the last of ``acts`` (each called with the app, one collect
    each) causes on a mounted table."""
    from livetag.dom import LiveTree

    app = table.Table()
    tree = LiveTree(app)
    app.render()
    ops = tree.collect()[0]
    for act in acts:
        act(app)
        ops = tree.collect()[0]
    return ops


ROW_OPS = ("m", "i", "-", "o", "h")


def test_table_sort_sends_only_moves_and_filter_only_removals_and_inserts(example: Callable[[str], ModuleType]) -> None:
    table = example("table")
    ops = rows_ops(table, lambda app: app.s.load({"sort": "name"}))
    row_ops = [op for op in ops if op[0] in ROW_OPS]
    assert row_ops and {op[0] for op in row_ops} == {"m"}
    assert all(len(op) == 4 for op in row_ops)  # moves carry ids, never html

    narrow = lambda app: setattr(app.s, "query", "Paris")  # noqa: E731
    ops = rows_ops(table, narrow)
    assert {op[0] for op in ops if op[0] in ROW_OPS} == {"-"}
    ops = rows_ops(table, narrow, lambda app: setattr(app.s, "query", ""))
    assert {op[0] for op in ops if op[0] in ROW_OPS} == {"i"}


def test_table_moves_are_fewer_than_the_rows(example: Callable[[str], ModuleType]) -> None:
    table = example("table")
    ops = rows_ops(table, lambda app: setattr(app.s, "descending", True))  # reverse the id order
    assert len([op for op in ops if op[0] == "m"]) == 999


# -- components ---------------------------------------------------------------------------------


def test_components_scoped_styles_and_lazy_statics(example: Callable[[str], ModuleType]) -> None:
    components = example("components")
    with TestClient(components.Library) as client:
        card_css = [s for s in client.statics if ".lt-Card h3" in s]
        assert len(card_css) == 1 and "@media (max-width: 500px){.lt-Card{" in card_css[0]
        assert not any("ltRulerMeasure" in s for s in client.statics)
        assert client.find(".lt-Card.raised h3").text == "A raised card"
        assert client.find(".lt-Badge.ok").text == "new"
        client.click("button.add")
        client.click("button.add")
        assert [s for s in client.statics if "function ltRulerMeasure" in s] == [
            "<script>" + components.RULER_SCRIPT + "</script>"]
        assert sum("@keyframes lt-ruler-in" in s for s in client.statics) == 1
        assert [h.text for h in client.find_all(".rulers .lt-Ruler h3")] == ["Ruler 1lazy", "Ruler 2lazy"]
        assert all(r.has_class("lt-Card") for r in client.find_all(".lt-Ruler"))
        client.assert_synced()


def test_components_measure_round_trip_through_a_custom_event(example: Callable[[str], ModuleType]) -> None:
    components = example("components")
    with TestClient(components.Library) as client:
        client.click("button.add")
        ruler = client.find(".lt-Ruler")
        client.click(".lt-Ruler button.measure")
        assert client.scripts == [f'ltRulerMeasure("{ruler.id}")']
        client.event(f"#{ruler.id}", "measured", {"width": 300, "height": 80})  # what the script sends
        assert client.text(".lt-Ruler .size") == "300 x 80 px"


# -- progress -----------------------------------------------------------------------------------


def test_progress_bar_driven_by_a_thread_reaches_100(example: Callable[[str], ModuleType]) -> None:
    progress = example("progress")

    class Fast(progress.Progress):
        step = 0.002

    with TestClient(Fast) as client:
        assert client.text(".label") == "0%"
        client.click("button.start")
        assert client.find("button.start")["disabled"] == ""
        client.wait_for(lambda c: c.text(".label") == "100%" and c.find("button.start")["disabled"] is None)
        assert client.find(".bar")["style"] == "width: 100%"
        assert client.find("[role=progressbar]")["aria-valuenow"] == "100"
        assert client.text("button.start") == "Again"
        client.assert_synced()
        client.click("button.start")  # and again
        client.wait_for(lambda c: c.text("button.start") == "Again" and c.find("button.start")["disabled"] is None)
        assert client.errors == []


def test_examples_are_plain_tag_apps(example: Callable[[str], ModuleType]) -> None:
    for name, cls in [("clock", "Clock"), ("router", "RouterApp"), ("table", "Table"), ("components", "Library"),
                      ("progress", "Progress")]:
        assert issubclass(getattr(example(name), cls), Tag.App)
