"""The deployment recipe of ``docs/cluster.md``, end to end in Chromium: three gunicorn
machines (each a master with its Runner, its own port and runtime directory, the same
cluster secret) on the test's redis-server, behind haproxy configured as the recipe says
(round robin, no stickiness; the relay carries what lands on a machine that does not own
its session). A rolling restart under a page clicking every 50 ms, a machine killed, a
stuck handler under a stopping machine, Redis stopped and started: nothing lost, nothing
doubled, no error shown."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from haproxy import HAPROXY, HAProxy
from machines import Machine, saved
from playwright.sync_api import expect
from redis_server import RedisServer
from rt_procs import pid_alive, wait_until

from livetag.server.persistence import key as store_key

pytestmark = pytest.mark.browser

if not os.access(HAPROXY, os.X_OK):
    pytest.skip(f"no haproxy at {HAPROXY} (scripts/bootstrap installs Debian's)", allow_module_level=True)

Machines = Callable[..., Machine]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cluster.md"
#: Generous waits (ms): the CI machine is slower than this one, and shared.
RESUME_MS = 30_000

#: Clicks the counter every 50 ms from the page itself (a real click on the button, as a
#: user's), counting them in ``window.ltClicks``; ``window.ltStop()`` stops it.
CLICKER = """() => {
    window.ltClicks = 0;
    const timer = setInterval(() => {
        const button = document.querySelector("button.inc");
        if (button) { button.click(); window.ltClicks += 1; }
    }, 50);
    window.ltStop = () => { clearInterval(timer); return window.ltClicks; };
}"""


def recipe_block(language: str) -> str:
    """The ``language`` block of the recipe in ``docs/cluster.md``, as written."""
    text = DOCS.read_text()
    section = text[text.index("## Deploying N machines (recipe)"):]
    [block] = re.findall(rf"```{language}\n(.*?)```", section[:section.index("\n## ", 5)], re.S)
    return str(block)


def recipe() -> str:
    """The recipe's haproxy configuration."""
    return recipe_block("haproxy")


def recipe_env() -> dict[str, str]:
    """What the recipe's shell block exports that the test machines do not set already
    (``machines.Machine`` gives them their Redis, secrets, relay and names)."""
    exports = dict(re.findall(r"^export (\w+)=(\S+)", recipe_block("sh"), re.M))
    assert {"LIVETAG_REDIS_URL", "LIVETAG_CLUSTER_SECRET", "LIVETAG_SESSION_SECRET", "LIVETAG_RELAY"} <= set(exports)
    return {"LIVETAG_ALLOWED_HOSTS": exports["LIVETAG_ALLOWED_HOSTS"],
            "LIVETAG_DRAIN_TIMEOUT": exports["LIVETAG_DRAIN_TIMEOUT"]}


@pytest.fixture
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def proxies() -> Iterator[Callable[[list[Machine]], HAProxy]]:
    """``proxies(machines)``: haproxy with the recipe's configuration in front of them."""
    started: list[HAProxy] = []

    def start(machines: list[Machine]) -> HAProxy:
        proxy = HAProxy.from_recipe(recipe(), [m.server.port for m in machines])
        started.append(proxy)
        proxy.start()
        names = [f"m{n + 1}" for n in range(len(machines))]
        wait_until(lambda: all(proxy.up(name) for name in names), what="haproxy to see every machine up")
        return proxy

    yield start
    for proxy in started:
        proxy.close()


class Page:
    """A Chromium page of the counter app, through ``url``, with its session's key and
    its page errors."""

    def __init__(self, context: Any, url: str, mode: str = "ws") -> None:
        if mode != "ws":
            context.add_cookies([{"name": "livetag_mode", "value": mode, "url": url}])
        self.page = context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        #: What the page saw of the network, printed when a test fails (``explain``).
        self.log: list[str] = []
        self.page.on("console", lambda message: self.log.append(f"console {message.text}"))
        self.page.on("requestfailed", lambda request: self.log.append(f"failed {request.method} {request.url}"))
        self.page.on("response", lambda response: self.log.append(f"{response.status} {response.request.method} "
                                                                  f"{response.url}"))
        self.page.goto(url + "/")
        self.page.wait_for_function("window.livetag && window.livetag.connected")
        self.sid = next(c["value"] for c in context.cookies() if c["name"].startswith("lt_sid"))
        self.key = store_key("", self.sid)

    def value(self) -> Any:
        return self.page.locator(".value")

    def pid(self) -> str:
        return str(self.page.locator(".pid").inner_text())

    def start_clicking(self) -> None:
        self.page.evaluate(CLICKER)

    def clicks(self) -> int:
        return int(self.page.evaluate("window.ltClicks"))

    def stop_clicking(self) -> int:
        return int(self.page.evaluate("window.ltStop()"))

    def explain(self, fleet: list[Machine], client: redis.Redis) -> None:
        """Print what may say why a page is stuck (pytest shows it with the failure)."""
        print("page:", self.page.evaluate("[document.getElementById('lt-status')?.textContent,"
                                          " document.getElementById('lt-error')?.textContent]"))
        print("owner:", owner_of(client, self.key), "snapshot:", saved(client, self.key))
        print("network and console, last 60:", *self.log[-60:], sep="\n  ")
        for machine in fleet:
            print(f"machine {machine.name}, last 30 lines:", *machine.server.lines[-30:], sep="\n  ")

    def assert_sound(self) -> None:
        """No uncaught error, no error shown, connected, no banner left."""
        expect(self.page.locator("#lt-status")).to_have_count(0, timeout=RESUME_MS)
        assert self.page.locator("#lt-error").count() == 0, self.page.locator("#lt-error").inner_text()
        assert self.page.evaluate("window.livetag.connected") and self.errors == []



def owner_of(client: redis.Redis, key: str) -> str:
    return (client.hget(f"livetag:s:{key}", "o") or b"").decode()


def gunicorn_machines(machines: Machines, count: int = 3, **options: Any) -> list[Machine]:
    return [machines(name, kind="gunicorn", relay=True, env=recipe_env(), **options) for name in "abc"[:count]]


@pytest.mark.parametrize("mode", ["ws", "sse", "http"])
def test_a_rolling_restart_under_a_clicking_page_loses_and_doubles_nothing(
        machines: Machines, proxies: Callable[[list[Machine]], HAProxy], context: Any, r: redis.Redis,
        mode: str) -> None:
    fleet = gunicorn_machines(machines)
    proxy = proxies(fleet)
    page = Page(context, proxy.url, mode)
    page.start_clicking()
    pids = {page.pid()}
    made = [page.clicks()]  # clicks made so far, after each machine stopped
    for n, machine in enumerate(fleet):
        # The recipe's steps: SIGTERM to the master, wait until the machine has drained
        # and exited, start the new version on the same port, wait until haproxy sees it.
        machine.terminate()
        made.append(page.clicks())
        machine.restart()
        wait_until(lambda name=f"m{n + 1}": proxy.up(name), what=f"haproxy to see m{n + 1} up again")
        pids.add(page.pid())
    clicks = page.stop_clicking()
    try:
        expect(page.value()).to_have_text(str(clicks), timeout=RESUME_MS)
    except AssertionError:
        page.explain(fleet, r)
        raise
    page.assert_sound()
    wait_until(lambda: saved(r, page.key) == clicks, what=f"the snapshot of {clicks} clicks")
    # It clicked while each machine stopped, and its session moved (a new process).
    assert made == sorted(set(made)) and made[-1] < clicks and len(pids) > 1, (made, clicks, pids)


def test_a_killed_machine_s_page_resumes_elsewhere_under_round_robin(
        machines: Machines, proxies: Callable[[list[Machine]], HAProxy], context: Any, r: redis.Redis) -> None:
    fleet = {m.name: m for m in gunicorn_machines(machines)}
    proxy = proxies(list(fleet.values()))
    page = Page(context, proxy.url)
    for _ in range(5):
        page.page.click("button.inc")
    expect(page.value()).to_have_text("5")
    wait_until(lambda: saved(r, page.key) == 5, what="the snapshot of 5 clicks")
    pid = page.pid()
    fleet[owner_of(r, page.key)].kill()
    for _ in range(3):  # while the page is away: kept, re-sent once it joins again
        page.page.click("button.inc")
    expect(page.page.locator(".pid")).not_to_have_text(pid, timeout=RESUME_MS)
    expect(page.value()).to_have_text("8", timeout=RESUME_MS)
    page.page.click("button.inc")
    expect(page.value()).to_have_text("9")
    wait_until(lambda: saved(r, page.key) == 9, what="the new owner's snapshot")
    page.assert_sound()


def test_a_stuck_handler_does_not_hold_a_stopping_machine_past_its_drain_timeout(
        machines: Machines, context: Any, browser: Any, r: redis.Redis) -> None:
    drain = 3  # seconds; the stuck handler sleeps 600 s, its machine's timeout_interaction is 900 s
    a = machines("a", target="cluster_apps:stuck", kind="gunicorn", env={"LIVETAG_DRAIN_TIMEOUT": str(drain)})
    b = machines("b", target="cluster_apps:stuck", kind="gunicorn")
    proxy = HAProxy([a.server.port], backups=[b.server.port]).start()  # every request to a while it lives
    other = browser.new_context()
    try:
        idle = Page(context, proxy.url)
        for _ in range(3):
            idle.page.click("button.inc")
        expect(idle.value()).to_have_text("3")
        wait_until(lambda: saved(r, idle.key) == 3, what="the idle session's snapshot")
        stuck = Page(other, proxy.url)
        assert owner_of(r, idle.key) == owner_of(r, stuck.key) == "a"
        marker = Path(a.runtime, "stuck")
        stuck.page.click("button.stuck")
        stuck_pid = int(wait_until(lambda: marker.exists() and marker.read_text(), what="the handler to hang"))
        stuck.page.close()  # else the page would re-send its event to b, and hang there too
        pid = idle.pid()
        before = a.pids()
        assert stuck_pid in before
        a.server.popen.send_signal(15)  # SIGTERM: the gunicorn master, as a deploy does
        a.server.sock.close()  # the test's copy: once gunicorn's closes, a refuses connections
        # Every process of a ends within the drain timeout (plus the time to stop the
        # workers and a margin for a slow machine), far from the handler's 600 s.
        wait_until(lambda: not any(pid_alive(p) for p in before), timeout=drain + 25,
                   what="every process of the stopped machine to end")
        expect(idle.page.locator(".pid")).not_to_have_text(pid, timeout=RESUME_MS)
        expect(idle.value()).to_have_text("3", timeout=RESUME_MS)
        idle.page.click("button.inc")
        expect(idle.value()).to_have_text("4")
        wait_until(lambda: owner_of(r, idle.key) == "b" and saved(r, idle.key) == 4, what="b's snapshot")
        idle.assert_sound()
    finally:
        other.close()
        proxy.close()


def test_redis_stopped_and_started_again_under_clicking_pages(
        machines: Machines, proxies: Callable[[list[Machine]], HAProxy], browser: Any, r: redis.Redis,
        redis_server: RedisServer) -> None:
    fleet = gunicorn_machines(machines)
    proxy = proxies(fleet)
    contexts = [browser.new_context() for _ in range(3)]  # three users: three sessions
    try:
        pages = [Page(ctx, proxy.url) for ctx in contexts]
        for page in pages:
            page.start_clicking()
        wait_until(lambda: all(saved(r, p.key) > 5 for p in pages), what="snapshots of the first clicks")
        redis_server.stop()
        # The pages click on while Redis is away, well past a lease: their owners apply the
        # events but hold the updates past their lease (from a machine, a Redis outage
        # looks like a partition, in which another machine may own the session already).
        for page in pages:
            page.page.wait_for_function(f"window.ltClicks > {page.clicks() + 40}", timeout=RESUME_MS)
        counts = [page.stop_clicking() for page in pages]
        redis_server.start()  # without its data: every claim and snapshot is gone
        for page, clicks in zip(pages, counts, strict=True):  # the held updates go out, exact
            expect(page.value()).to_have_text(str(clicks), timeout=RESUME_MS)
            page.assert_sound()
        for page, clicks in zip(pages, counts, strict=True):  # the snapshots catch up, with no change
            wait_until(lambda p=page, c=clicks: saved(r, p.key) == c, what=f"the snapshot of {clicks} clicks")
        for page, clicks in zip(pages, counts, strict=True):  # and the sessions go on
            for _ in range(3):
                page.page.click("button.inc")
            expect(page.value()).to_have_text(str(clicks + 3))
            wait_until(lambda p=page, c=clicks + 3: saved(r, p.key) == c, what="the snapshot of 3 more clicks")
            page.assert_sound()
    finally:
        for ctx in contexts:
            ctx.close()
