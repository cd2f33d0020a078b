"""XSS: user data reaches the page only as text, whatever HTML context it lands in.

Every test sends ``PAYLOAD`` (markup that would run script from text, from a quoted
attribute, from ``<title>`` or ``<textarea>``) and checks the server-rendered page and the
patches: the payload comes back as the exact text typed, and no element or ``on*``
attribute appears from it. Text patches (``t``) and attribute patches (``a``) are applied
by the client with ``textContent``/``setAttribute``, so they may carry the raw string;
markup patches (``h``, ``+``, ``o``, ``i``) must carry it escaped.
"""

from __future__ import annotations

import re
from importlib import resources

from hostile import PAYLOAD, Board, Serve, assert_inert, html_ops

from livetag import Event, Tag, WebApp
from livetag.testing.wire import element_id

PAGE_TAGS = {"html", "head", "meta", "title", "script", "style", "body", "span", "button", "input", "div",
             "textarea", "ul", "li"}


class Echo(Board):
    """Puts what the user typed (and the event's data) into every kind of place."""

    def build(self) -> None:
        self.field = Tag.input(_class="field", _value="")
        self.out = Tag.div(_class="out")
        self.attr = Tag.div("attr", _class="attr")
        self.box = Tag.textarea(_class="box")
        self.items = Tag.ul(_class="items")
        self <= Tag.button("echo", _class="echo", _onclick=self.echo)
        self <= Tag.button("data", _class="data", _onclick=self.echo_data)
        self <= [self.field, self.out, self.attr, self.box, self.items]

    def echo(self) -> None:
        typed = self.field["value"]
        self.out.text = typed
        self.attr["title"] = typed
        self.attr["data-typed"] = typed
        self.box["value"] = typed
        # A new element: its markup travels in a patch, with the user's id and title.
        self.items <= Tag.li(typed, _id=f"u-{typed}", _title=typed, _class="item")

    def echo_data(self, e: Event) -> None:
        self.items <= Tag.li(str(e.value), _class="item", _data_extra=str(e.data.get("extra")))


def page_scripts(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", html)


async def test_typed_text_stays_text_in_patches_and_in_the_page(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Echo).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join()
        field, out, attr, box = (element_id(html, c) for c in ("field", "out", "attr", "box"))

        messages = await t.event(element_id(html, "echo"), sync={field: PAYLOAD})
        assert [m for m in messages if m["t"] == "err"] == []
        ops = [op for m in messages if m["t"] == "up" for op in m["p"]]
        # Text and attribute patches carry the string itself: the client never parses them.
        assert ["t", out, PAYLOAD] in ops
        assert any(op[0] == "a" and op[1] == attr and op[2] == {"title": PAYLOAD, "data-typed": PAYLOAD} for op in ops)
        assert any(op[0] == "a" and op[1] == box and op[2] == {"value": PAYLOAD} for op in ops)
        # Markup patches carry it escaped: one <li>, its id, title and text exactly as typed.
        (markup,) = html_ops(messages)
        assert_inert(markup, {"li"})
        assert f'id="u-{PAYLOAD}"' not in markup and "<script>" not in markup

        # The server-rendered page (a reload of the same session) is just as inert.
        page = await t.load()
        assert_inert(page, PAGE_TAGS)
        assert len(page_scripts(page)) == 1  # livetag.js, nothing else
        await w.check()


async def test_event_data_echoed_back_stays_text(live_server: Serve, tab, witness) -> None:
    with live_server(WebApp(Echo).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join()
        messages = await t.event(element_id(html, "data"), data={"value": PAYLOAD, "extra": PAYLOAD})
        (markup,) = html_ops(messages)
        assert_inert(markup, {"li"})
        assert_inert(await t.load(), PAGE_TAGS)
        await w.check()


async def test_user_set_ids_are_escaped_in_the_page_and_in_patches(live_server: Serve, tab) -> None:
    class Ids(Board):
        def build(self) -> None:
            self <= Tag.div("static", _id=PAYLOAD, _class="hostile")

    with live_server(WebApp(Ids).app) as server:
        t = tab(server.url)
        html = await t.load()
        assert_inert(html, PAGE_TAGS)
        assert element_id(html, "hostile") == PAYLOAD
        await t.join()
        await t.send({"t": "sync"})  # a page that lost track: the whole tree in one "o" patch
        (markup,) = html_ops([await t.recv()])
        assert_inert(markup, PAGE_TAGS - {"html", "head", "meta", "title", "script", "style"})


class Titled(Board):
    statics = [Tag.title(PAYLOAD)]


async def test_the_page_title_is_escaped(live_server: Serve, tab) -> None:
    named = type(PAYLOAD, (Board,), {})  # the class name is the default title
    for app in (Titled, named):
        with live_server(WebApp(app).app) as server:
            html = await tab(server.url).load()
            head = html.split("<body", 1)[0]
            title = re.search(r"<title>(.*?)</title>", head, re.S)
            assert title is not None and "<" not in title.group(1), head
            assert_inert(head + "</head>", {"html", "head", "meta", "title", "script", "style"})
            assert len(page_scripts(html)) == 1


async def test_tracebacks_in_debug_mode_stay_text(live_server: Serve, tab, witness) -> None:
    class Failing(Board):
        def build(self) -> None:
            self <= Tag.button("fail", _class="fail", _onclick=self.fail)

        def fail(self) -> None:
            raise ValueError(PAYLOAD)

    with live_server(WebApp(Failing, debug=True).app) as server:
        w = await witness(server.url).start()
        t = tab(server.url)
        html = await t.load()
        await t.join()
        messages = await t.event(element_id(html, "fail"))
        (err,) = [m for m in messages if m["t"] == "err"]
        # The traceback travels as a JSON string, shown by the client with textContent.
        assert err["code"] == "handler_error" and PAYLOAD in err["trace"] and err["eid"]
        assert html_ops(messages) == []
        assert_inert(await t.load(), PAGE_TAGS, payload=None)
        await w.check()


def test_the_client_shows_errors_as_text_never_as_markup() -> None:
    # The debug overlay is safe only because the client writes err messages with
    # textContent: no markup sink (innerHTML, insertAdjacentHTML) may see msg or trace.
    # The modules of livetag/client/src, as written (livetag.js is their minified bundle).
    modules = resources.files("livetag.client").joinpath("src").iterdir()
    source = "\n".join(m.read_text() for m in sorted(modules, key=str) if m.name.endswith(".js"))
    sinks = [line for line in source.splitlines() if re.search(r"innerHTML|insertAdjacentHTML|outerHTML", line)]
    assert sinks and not [line for line in sinks if re.search(r"\.(msg|trace)\b", line)]
    assert re.search(r"textContent\s*=[^;]*\.msg", source)


async def test_an_app_failing_to_start_in_debug_mode_shows_an_escaped_traceback(live_server: Serve, tab) -> None:
    class Broken(Board):
        def build(self) -> None:
            raise RuntimeError(PAYLOAD)

    with live_server(WebApp(Broken, debug=True).app) as server:
        response = await tab(server.url).http.get(server.url + "/")
        assert response.status_code == 500
        assert_inert(response.text, {"html", "head", "meta", "title", "style", "body", "h1", "p", "pre"})


def test_an_attribute_name_from_user_data_cannot_inject_markup() -> None:
    tag = Tag.div("x")
    try:
        tag['"><script>alert(1)</script'] = "v"  # e.g. Tag.div(**{f"_data_{key}": v}) with a hostile key
    except (ValueError, TypeError):
        return  # refusing the name is a fine answer
    assert_inert(tag.render(), {"div"}, payload="x")
