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
    styles = """
        .track { width: 300px; height: 1.2em; border: 1px solid #888; border-radius: 4px }
        .bar { height: 100%; background: #4a4; transition: width .05s linear }
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
