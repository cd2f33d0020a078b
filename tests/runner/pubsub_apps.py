"""Apps of the Runner's publish/subscribe tests (importable by name: session processes
import them): ``app`` serves the chat example at ``/`` and, at ``/flood``, a page whose
button publishes on the chat's topic as fast as its session may."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from examples.chat import ROOM, Chat
from livetag import Runner, Tag
from livetag.errors import PubSubLimit


class Flood(Tag.App):
    def init(self) -> None:
        self.sent = Tag.span("", _class="sent")
        self <= Tag.button("flood", _class="flood", _onclick=self.flood)
        self <= self.sent

    def flood(self, e: Any) -> None:
        sent = 0
        try:
            for n in range(100_000):
                self.publish(ROOM, {"from": "flood", "name": "flood", "text": str(n)})
                sent += 1
        except PubSubLimit:
            pass
        self.sent.text = f"sent {sent}"


async def flood(request: Request) -> Any:
    return await request.app.handle(request, Flood)


app = Runner(Chat, debug=True, spare_processes=1)
app.add_route("/flood", flood)
