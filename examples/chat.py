"""A chat room: every session subscribed to one topic; what one sends, all see.

Open it in two browsers (or a private window) and talk. Each session keeps the last
``KEEP`` messages it received; nothing is stored on the server besides the sessions.

Run: python examples/chat.py (127.0.0.1:8000), or livetag run examples/chat.py --port 0
"""

from __future__ import annotations

import secrets
from typing import Any

from livetag import Tag, WebApp, prevent

ROOM = "chat:lobby"
KEEP = 100


class Message(Tag.li):
    def init(self, name: str, text: str, mine: bool = False) -> None:
        self.add(Tag.b(name, _class="name"), " ", Tag.span(text, _class="text"))
        if mine:
            self.add_class("mine")


class Chat(Tag.App):
    styles = """
        :host { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
        ul.messages { list-style: none; padding: .5rem; border: 1px solid #ccc; border-radius: 6px;
                      height: 20rem; overflow-y: auto; margin: 0 0 .5rem; }
        li { padding: .15rem 0; }
        li.mine .name { color: #0a6; }
        .name { color: #06c; }
        form { display: flex; gap: .5rem; }
        input.text { flex: 1; }
    """

    def init(self) -> None:
        self.me = secrets.token_hex(4)  # tells our own messages apart (names may repeat)
        self.name = Tag.input(_name="name", _placeholder="your name", _class="name", _autocomplete="off",
                              _maxlength=40, _required=True)
        self.entry = Tag.input(_name="text", _placeholder="say something", _class="text", _autocomplete="off",
                               _maxlength=500, _required=True)
        self.messages = Tag.ul(_class="messages")
        self <= Tag.h1("livetag chat")
        self <= self.messages
        self <= Tag.form(self.name, self.entry, Tag.button("Send", _type="submit"), _onsubmit=self.send)
        self.subscribe(ROOM, self.received)

    @prevent
    def send(self, e: Any) -> None:
        name = str(e["name"] or "").strip()[:40] or "anonymous"
        text = str(e["text"] or "").strip()[:500]
        if text:
            self.publish(ROOM, {"from": self.me, "name": name, "text": text})
        self.entry["value"] = ""

    def received(self, message: Any) -> None:
        if not isinstance(message, dict):
            return  # another app on the same topic: not a chat message
        name, text = str(message.get("name", "?")), str(message.get("text", ""))
        self.messages <= Message(name, text, mine=message.get("from") == self.me)
        while len(self.messages.childs) > KEEP:
            self.messages.remove(self.messages.childs[0])
        self.messages.call_js(f"const m = document.getElementById('{self.messages.id}'); "
                              "m.scrollTop = m.scrollHeight")


webapp = WebApp(Chat)
app = webapp.app

if __name__ == "__main__":  # or: livetag run examples/chat.py --port 0
    webapp.run()
