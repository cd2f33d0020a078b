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
    styles = """
        :host { font-family: sans-serif; text-align: center; margin-top: 20vh }
        .time { font-size: 4em; font-variant-numeric: tabular-nums }
        .ticks { color: #888 }
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
