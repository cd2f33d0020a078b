"""A clock: a background task started in ``on_mount`` updates the page every second,
with no user input.

Run: python examples/clock.py (127.0.0.1:8000), or livetag run examples/clock.py --port 0
"""

from __future__ import annotations

import asyncio
import time

from livetag import State, Tag, WebApp


class Clock(Tag.App):
    statics = [Tag.title("livetag clock")]
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
        & { padding-top: 20vh; text-align: center }
        .time { font-size: 4rem; font-weight: 600; font-variant-numeric: tabular-nums }
        .ticks { color: #4b5563 }
    """
    #: Seconds between two ticks (a class attribute so that tests can shorten it).
    interval = 1.0

    def init(self) -> None:
        self.now = State(time.strftime("%H:%M:%S"))
        self.ticks = State(0)
        self.task: asyncio.Task[None] | None = None
        self <= Tag.h1("Clock")
        self <= Tag.div(self.now, _class="time")
        self <= Tag.p(lambda: f"{self.ticks} ticks", _class="ticks")

    async def on_mount(self) -> None:
        # Runs once a browser tab is connected, again after each page reload.
        self.task = asyncio.create_task(self.tick())

    async def on_unmount(self) -> None:
        # A reload unmounts before it mounts again: stop this loop so only one runs.
        self.stop()

    def on_destroy(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.now.set(time.strftime("%H:%M:%S"))  # the change reaches the page by itself
            self.ticks += 1


webapp = WebApp(Clock)
app = webapp.app

if __name__ == "__main__":  # or: livetag run examples/clock.py --port 0
    webapp.run()
