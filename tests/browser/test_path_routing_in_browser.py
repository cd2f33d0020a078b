"""``PathRouter`` in Chromium: deep links rendered by the server, links without reloads,
Back/Forward, query parameters, 404, a mount under a sub-path, and hostile URLs."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import ModuleType
from urllib.parse import urlsplit

import pytest
from lt_browser import connected, no_error_overlay
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from livetag import WebApp
from livetag.runners.serve import BackgroundServer

pytestmark = pytest.mark.browser

Serve = Callable[..., AbstractContextManager[BackgroundServer]]
Example = Callable[[str], ModuleType]


def mark(page: Page) -> None:
    """A marker that a page reload would lose."""
    page.evaluate("window.__marker = 'kept'")


def marked(page: Page) -> bool:
    return bool(page.evaluate("window.__marker === 'kept'"))


def raw_get(url: str, path: str) -> tuple[int, str]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..`` or ``%2F``)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def test_a_deep_link_is_server_rendered_then_live(live_server: Serve, example: Example, page: Page) -> None:
    paths = example("paths")
    with live_server(paths.app) as server:
        response = page.goto(server.url + "/users/7")
        assert response is not None and response.status == 200
        assert "Grace Hopper" in response.text()  # in the initial HTML, before any script
        expect(page.locator(".user-name")).to_have_text("Grace Hopper")
        connected(page)
        mark(page)
        page.click("a.posts")  # a link: no reload, the URL pushed, the page rendered by the server
        expect(page.locator(".tab")).to_have_text("tab: posts")
        assert page.url == server.url + "/users/7?tab=posts" and marked(page)
        page.click("a.about")
        expect(page.locator("h2")).to_have_text("About")
        expect(page.locator("a.about")).to_have_class("about active")
        assert page.url == server.url + "/about" and marked(page)
        page.go_back()
        expect(page.locator(".tab")).to_have_text("tab: posts")
        assert page.url == server.url + "/users/7?tab=posts"
        page.go_back()
        expect(page.locator(".tab")).to_have_text("tab: profile")
        page.go_forward()
        expect(page.locator(".tab")).to_have_text("tab: posts")
        page.go_forward()
        expect(page.locator("h2")).to_have_text("About")
        assert marked(page)
        page.click("button.grace")  # router.navigate("/users/7") from Python pushes the URL
        expect(page.locator(".user-name")).to_have_text("Grace Hopper")
        page.wait_for_url(server.url + "/users/7")
        page.go_back()
        expect(page.locator("h2")).to_have_text("About")
        assert marked(page)
        page.reload()  # the same session, at the URL shown
        expect(page.locator("h2")).to_have_text("About")
        no_error_overlay(page)


def test_query_parameters_reach_the_page(live_server: Serve, example: Example, page: Page) -> None:
    paths = example("paths")
    with live_server(paths.app) as server:
        page.goto(server.url + "/search?q=a&q=b%20c")
        expect(page.locator(".searched")).to_have_text("searching for: a, b c")
        connected(page)
        mark(page)
        page.click("a.search")
        expect(page.locator(".searched")).to_have_text("searching for: livetag")
        assert page.url == server.url + "/search?q=livetag" and marked(page)


def test_an_unknown_path_is_404_with_the_not_found_page(live_server: Serve, example: Example, page: Page) -> None:
    paths = example("paths")
    with live_server(paths.app) as server:
        response = page.goto(server.url + "/no/such/page")
        assert response is not None and response.status == 404
        expect(page.locator(".missing")).to_have_text("Not found")
        connected(page)
        mark(page)
        page.click("text=back home")
        expect(page.locator("h2")).to_have_text("Home")
        assert page.url == server.url + "/" and marked(page)


def test_the_browser_keeps_links_it_should(live_server: Serve, example: Example, page: Page) -> None:
    """Modifier clicks, target=_blank, download links, external links and data-lt-reload
    are the browser's; an in-page handler that prevents the default keeps its link."""
    paths = example("paths")
    with live_server(paths.app) as server:
        page.goto(server.url + "/")
        connected(page)
        page.evaluate("""() => {
            const add = (cls, attrs) => { const a = document.createElement('a'); a.className = cls;
                a.textContent = cls; Object.entries(attrs).forEach(([k, v]) => a.setAttribute(k, v));
                document.body.appendChild(a); };
            add('blank', {href: '/about', target: '_blank'});
            add('reload', {href: '/about', 'data-lt-reload': ''});
            add('outside', {href: 'http://localhost:9/elsewhere'});
        }""")
        mark(page)
        with page.context.expect_page() as popup:
            page.click("a.blank")  # a new tab, as the link asks
        expect(popup.value.locator("h2")).to_have_text("About")
        popup.value.close()
        # The tabs of a session show one app: this one follows, its URL too, unreloaded.
        expect(page.locator("h2")).to_have_text("About")
        page.wait_for_url(server.url + "/about")
        assert marked(page)
        with page.context.expect_page() as popup:
            page.click("a.home", modifiers=["Control"])  # a new tab, as the user asked
        expect(popup.value.locator("h2")).to_have_text("Home")
        popup.value.close()
        page.wait_for_url(server.url + "/")
        assert marked(page)
        page.click("a.reload")  # a real page load
        page.wait_for_function("window.__marker === undefined")
        expect(page.locator("h2")).to_have_text("About")
        connected(page)
        mark(page)
        hrefs = page.evaluate("""() => { let prevented = null;
            const a = document.createElement('a'); a.href = 'http://localhost:9/elsewhere';
            a.addEventListener('click', (e) => { prevented = e.defaultPrevented; e.preventDefault(); });
            document.body.appendChild(a); a.click(); return prevented; }""")
        assert hrefs is False  # router.js left the external link alone
        assert marked(page)


def test_mounted_under_a_sub_path(live_server: Serve, example: Example, page: Page) -> None:
    paths = example("paths")
    webapp = WebApp(paths.PathsApp)
    host = Starlette(routes=[Route("/", lambda r: PlainTextResponse("host home")),
                             Mount("/sub", app=webapp.app)], lifespan=webapp.lifespan)
    with live_server(host) as server:
        response = page.goto(server.url + "/sub/users/2")
        assert response is not None and response.status == 200
        expect(page.locator(".user-name")).to_have_text("Alan Turing")
        expect(page.locator("a.about")).to_have_attribute("href", "/sub/about")
        connected(page)
        mark(page)
        page.click("a.about")
        expect(page.locator("h2")).to_have_text("About")
        assert page.url == server.url + "/sub/about" and marked(page)
        page.click("button.grace")
        page.wait_for_url(server.url + "/sub/users/7")
        page.go_back()
        expect(page.locator("h2")).to_have_text("About")
        # A forged navigate event to a path outside the mount changes nothing.
        router = page.locator("[data-lt-router]").get_attribute("id")
        page.evaluate("([id]) => livetag.event(id, 'navigate', '/users/1')", [router])
        page.evaluate("([id]) => livetag.event(id, 'navigate', '/sub/../users/1')", [router])
        expect(page.locator("h2")).to_have_text("About")
        page.evaluate("([id]) => livetag.event(id, 'navigate', '/sub/users/1')", [router])
        expect(page.locator(".user-name")).to_have_text("Ada Lovelace")
        assert marked(page)
        status, body = raw_get(server.url, "/sub/nowhere")
        assert status == 404 and "Not found" in body
        assert raw_get(server.url, "/")[1] == "host home"  # the host's own routes are the host's
        no_error_overlay(page)


def test_hostile_paths(live_server: Serve, example: Example) -> None:
    paths = example("paths")
    with live_server(paths.app) as server:
        status, body = raw_get(server.url, "/users/../users/7")  # resolved, as a browser would
        assert status == 200 and "Grace Hopper" in body
        status, body = raw_get(server.url, "/../../../etc/passwd")
        assert status == 404 and "root:" not in body
        status, body = raw_get(server.url, "/users/a%2F..%2F..%2Fb")  # an encoded slash is a parameter's
        assert status == 200 and "user id: a/../../b" in body
        status, body = raw_get(server.url, "/%3Cscript%3Ealert(1)%3C/script%3E")
        assert status == 404 and "<script>alert(1)" not in body and "&lt;script&gt;alert(1)" in body
        status, body = raw_get(server.url, "/x" * 3000)  # over MAX_URL_CHARS: not found, not echoed whole
        assert status == 404 and "/x" * 3000 not in body
        status, body = raw_get(server.url, "/_lt/unknown")  # livetag's own paths are never pages
        assert status == 404 and "<html" not in body
        assert raw_get(server.url, "/users/7")[0] == 200  # the server still serves


def test_an_app_without_a_path_router_keeps_404s(live_server: Serve, example: Example, page: Page) -> None:
    """A hash-router app (htag's): other paths are 404 and a page load of one does not
    reload the session's app."""
    router = example("router")
    with live_server(router.app) as server:
        page.goto(server.url + "/#/users/7")
        expect(page.locator(".user-id")).to_have_text("user id: 7")
        connected(page)
        response = page.request.get(server.url + "/favicon.ico")  # with the session's cookie
        assert response.status == 404 and response.text() == "Not Found"
        mark(page)
        page.click("a.about")
        expect(page.locator("h2")).to_have_text("About")
        assert marked(page) and page.url == server.url + "/#/about"
        assert raw_get(server.url, "/users/7")[0] == 404
