"""``docs/guide.md``: every Python snippet runs, and the apps it defines do what the text
around them says (driven through ``TestClient``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from livetag.testing import TestClient

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)


def run(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "guide_snippet"}
    exec(compile(source, str(GUIDE), "exec"), namespace)
    return namespace


def snippet(defining: str, containing: str = "") -> dict[str, Any]:
    """The namespace of the one snippet that defines ``defining`` at its top level (and
    contains ``containing``)."""
    found = [s for s in SNIPPETS
             if re.search(rf"^(class|def) {defining}\b|^{defining} =", s, re.M) and containing in s]
    assert len(found) == 1, f"expected one snippet defining {defining}, found {len(found)}"
    return run(found[0])


def test_the_guide_has_snippets() -> None:
    assert len(SNIPPETS) >= 15


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_every_snippet_runs(index: int) -> None:
    run(SNIPPETS[index])


def test_events_snippet() -> None:
    ns = snippet("Form")
    with TestClient(ns["Form"]) as client:
        client.fill("input[name=email]", "a@b.c")
        client.fill("input[name=news]", True)
        client.click("form button")
        assert client.text("span") == "a@b.c True"
        assert client.find("a")["data-lt"] == "click.prevent"
        client.click("div > button")
        assert client.text("span") == "click on button"  # stop: the div's handler did not run


def test_generator_handler_snippet() -> None:
    ns = snippet("Search")
    with TestClient(ns["Search"]) as client:
        client.click("button")
        assert client.text("span") == "3 results"


def test_reactive_counter_snippet() -> None:
    ns = snippet("Counter", containing="parity")
    with TestClient(ns["Counter"]) as client:
        buttons = client.find_all("button")
        assert buttons[1]["hidden"] == ""
        client.click("button")
        assert client.text("span") == "1" and client.text("p") == "odd"
        assert client.find("p").has_class("parity-1") and not client.find("p").has_class("parity") and client.find_all("button")[1]["hidden"] is None
        client.click("button:nth-of-type(2)")  # reset
        assert client.text("span") == "0"
        client.assert_synced()


def test_keyed_list_snippet() -> None:
    ns = snippet("People")
    with TestClient(ns["People"]) as client:
        assert [li.text for li in client.find_all("li")] == ["Ada", "Alan"]
        ids = [li.id for li in client.find_all("li")]
        client.click("button")
        assert [li.text for li in client.find_all("li")] == ["Alan", "Ada"]
        assert [li.id for li in client.find_all("li")] == ids[::-1]  # moved, not re-created


def test_statics_snippet() -> None:
    ns = snippet("Chart")
    with TestClient(ns["App"]) as client:
        assert client.statics == ["<title>Sales &amp; co</title>"]
        client.click("button")
        assert any("function drawChart" in s for s in client.statics)
        assert client.scripts == [f"drawChart('{client.find('body > div').id}')"]


def test_background_snippets() -> None:
    ns = snippet("Clock")
    with TestClient(ns["Worker"]) as client:
        client.click("button")
        client.wait_for(lambda c: c.find("progress")["value"] == "100")
    with TestClient(ns["Clock"]) as client:
        client.advance(0.05)
        assert client.session.app.task is not None and not client.session.app.task.done()


def test_router_snippet() -> None:
    ns = snippet("NotFound")
    with TestClient(ns["App"]) as client:
        assert client.text("h1") == "Home"
        client.click("nav button")
        assert client.text("h1") == "User 7" and client.text("p") == "You are at /users/7"
        client.navigate("/nope")
        assert client.text("h1") == "Not found"


def test_custom_event_snippet() -> None:
    ns = snippet("Picker")
    with TestClient(ns["Picker"]) as client:
        assert client.find("input")["oninput"].startswith("livetag.event(this.id, 'picked'")
        client.event("input", "picked", {"hex": "#ff0000"})
        assert client.text("span") == "#ff0000"


def test_mounting_snippet(live_server) -> None:
    import httpx

    ns = snippet("main")
    with live_server(ns["main"]) as server, httpx.Client(trust_env=False) as http:
        assert http.get(server.url + "/health").json() == {"status": "ok"}
        assert "Mounted</h1>" in http.get(server.url + "/ui/").text


def test_where_code_runs_plain_on_mount_uses_asyncio_and_on_loop_handlers_run() -> None:
    ns = snippet("Ticker")
    assert ns["App"].bump.__livetag_placement__ is True
    with TestClient(ns["App"]) as client:
        client.click("button")
        assert client.find("div").text == "1"
        client.advance(0.6)  # the task started by the plain on_mount ticked
        assert int(client.find("div").text) >= 2
        assert client.errors == []


def test_path_router_snippet() -> None:
    ns = snippet("Store")
    with TestClient(ns["Store"]) as client:
        assert client.text("h1") == "Catalog" and client.text("div > p") == "sorted by name"
        client.event("[data-lt-router]", "navigate", "/?sort=price")
        assert client.text("div > p") == "sorted by price"
        client.click("nav button")
        assert client.text("h1") == "Product 3"
        client.event("[data-lt-router]", "navigate", "/nowhere")
        assert client.text("h1") == "Nothing at /nowhere"


def test_publish_subscribe_section() -> None:
    ns = snippet("Room")
    tests = snippet("test_room", "new_session")
    tests["Room"] = ns["Room"]
    tests["test_room"]()
