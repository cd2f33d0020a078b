import importlib.util, pathlib
import pytest
from playwright.sync_api import expect

def load(name):
    path = pathlib.Path(__file__).parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod); return mod

def test_counter(live_server, context):
    mod = load("counter")
    with live_server(mod.webapp.app) as server:
        page = context.new_page()
        page.on("console", lambda m: print("console:", m.text))
        page.goto(server.url + "/")
        for _ in range(5):
            page.click("button.inc")
        expect(page.locator(".value")).to_have_text("5")
