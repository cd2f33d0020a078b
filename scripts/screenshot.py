"""Take docs/demo.png: the todo demo (examples/todo.py, what scripts/demo serves) with a
few items, in Debian's Chromium driven by Playwright.

    .venv/bin/python scripts/screenshot.py [--out docs/demo.png]

The demo runs in this process (a uvicorn on 127.0.0.1, a free port), stopped on exit.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from livetag.runners.serve import BackgroundServer

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LIVETAG_TEST_BROWSER", "/usr/bin/chromium")
ITEMS = ["Buy oat milk", "Book the dentist", "Review the router pull request", "Water the plants"]
DONE = ["Buy oat milk", "Water the plants"]


def load_demo() -> object:
    spec = importlib.util.spec_from_file_location("todo_demo", ROOT / "examples" / "todo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "demo.png"))
    out = Path(parser.parse_args().out)
    demo = load_demo()
    with BackgroundServer(demo.app) as server, sync_playwright() as pw:  # type: ignore[attr-defined]
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 720, "height": 560})
            page.goto(server.url + "/")
            page.wait_for_function("window.livetag && window.livetag.connected")
            for title in ITEMS:
                page.locator("input.new").fill(title)
                page.keyboard.press("Enter")
                expect(page.locator("ul.todos > li")).to_have_count(ITEMS.index(title) + 1)
            for title in DONE:
                page.locator("ul.todos > li", has_text=title).locator("input.toggle").check()
            expect(page.locator(".left")).to_have_text(f"{len(ITEMS) - len(DONE)} items left")
            page.locator("input.new").focus()  # the focus ring shows in the picture
            page.keyboard.press("Shift+Tab")
            page.keyboard.press("Tab")
            page.screenshot(path=str(out))
        finally:
            browser.close()
    print(out)


if __name__ == "__main__":
    main()
