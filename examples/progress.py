"""A progress bar driven by a worker thread: the thread changes the tree, livetag sends
the changes to the page (at most one update per 50 ms).

Run: python examples/progress.py (127.0.0.1:8000), or livetag run examples/progress.py --port 0
"""

from __future__ import annotations

import threading
import time

from livetag import State, Tag, WebApp


class Progress(Tag.App):
    statics = [Tag.title("livetag progress")]
    # Scoped to the app (livetag.dom.css); system fonts, visible focus, WCAG AA contrast.
    styles = """
        & { max-width: 44rem; margin: 0 auto; padding: 2rem 1rem; background: #f3f4f6; color: #111827;
            font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif }
        h1 { margin: 0 0 1rem; color: #1e3a8a }
        button { font: inherit; padding: .4rem 1rem; border: 1px solid #1d4ed8; border-radius: 8px;
                 background: #1d4ed8; color: #fff; cursor: pointer }
        button:hover { background: #1e40af }
        button:disabled { border-color: #9ca3af; background: #9ca3af; color: #111827; cursor: default }
        input { font: inherit; padding: .4rem .7rem; border: 1px solid #6b7280; border-radius: 8px }
        a { color: #1d4ed8 }
        :focus-visible { outline: 3px solid #2563eb; outline-offset: 2px }
        .track { width: 20rem; max-width: 100%; height: 1.25rem; border: 1px solid #6b7280; border-radius: 999px;
                 background: #fff; overflow: hidden }
        .bar { height: 100%; background: #15803d; transition: width .05s linear }
        .label { font-variant-numeric: tabular-nums }
    """
    #: Seconds of "work" per percent (a class attribute so that tests can shorten it).
    step = 0.03

    def init(self) -> None:
        self.percent = State(0)
        self.worker: threading.Thread | None = None
        self.start = Tag.button("Start", _class="start", _onclick=self.begin)
        self <= Tag.h1("Progress")
        self <= Tag.div(Tag.div(_class="bar", _style=lambda: f"width: {self.percent}%"), _class="track",
                        _role="progressbar", _aria_valuenow=self.percent)
        self <= Tag.p(lambda: f"{self.percent}%", _class="label")
        self <= self.start

    def begin(self) -> None:
        if self.worker is not None and self.worker.is_alive():
            return
        self.start["disabled"] = True
        self.percent.set(0)
        self.worker = threading.Thread(target=self.work, daemon=True)
        self.worker.start()

    def work(self) -> None:
        # Another thread: tree and state changes are safe here and reach the browser.
        for percent in range(1, 101):
            time.sleep(self.step)  # the "work"
            self.percent.set(percent)
        self.start["disabled"] = False
        self.start.text = "Again"
        self.update()  # optional: changes from threads are sent anyway; this says so


webapp = WebApp(Progress)
app = webapp.app

if __name__ == "__main__":  # or: livetag run examples/progress.py --port 0
    webapp.run()
