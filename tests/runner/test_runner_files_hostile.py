"""Hostile uploads and downloads under the Runner (no browser): the session process
refuses a forged token and an oversized file, and a download link is useless to another
session (its request is relayed to that session's own process) and works once."""

from __future__ import annotations

from collections.abc import Callable

from rt_procs import Server

from livetag.testing.wire import Tab, element_id

Serve = Callable[..., Server]


async def test_hostile_uploads_and_downloads_under_the_runner(serve: Serve) -> None:
    server = serve(target="files_apps:app", env={"LT_MAX_UPLOAD": str(1 << 20)})
    victim, thief = Tab(server.url), Tab(server.url)
    try:
        html = await victim.load()
        await victim.join()
        await thief.load()
        picker = element_id(html, "picker")
        url = victim.url + "_lt/upload"
        forged = await victim.http.post(url, params={"id": picker}, files={"f": ("a.txt", b"x")},
                                        headers={"X-Livetag-Token": thief.token})
        assert forged.status_code == 403 and forged.json()[0]["code"] == "csrf"
        big = await victim.http.post(url, params={"id": picker}, files={"f": ("a.bin", b"x" * (2 << 20))},
                                     headers={"X-Livetag-Token": victim.token})
        assert big.status_code == 413 and "at most 1048576 bytes" in big.json()[0]["msg"]
        messages = await victim.event(element_id(html, "get-bytes"))
        [script] = [js for m in messages for js in m.get("js", ())]
        link = victim.url + script.split('"')[1].lstrip("/")
        assert (await thief.http.get(link)).status_code == 404  # relayed to the thief's own process
        got = await victim.http.get(link)
        assert got.status_code == 200 and got.content == b"hello bytes\n"
        assert "filename*=UTF-8''r%C3%A9sum%C3%A9%201.txt" in got.headers["content-disposition"]
        assert (await victim.http.get(link)).status_code == 410
    finally:
        for tab in (victim, thief):
            await tab.aclose()
            await tab.http.aclose()
