"""Apps of the cluster's Runner tests, one machine per server (the cluster comes from the
environment: ``LIVETAG_REDIS_URL``, ``LIVETAG_CLUSTER_SECRET``, ``LIVETAG_MACHINE_ID``,
``LIVETAG_LEASE``): ``app``, a ``States`` counter that shows its process's pid
(``beating``: the same with a heartbeat of one second); ``chat``, the chat example."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from examples.chat import Chat
from livetag import Runner, States, Tag


class Clicks(Tag.App):
    def init(self) -> None:
        self.s = States(count=0)
        self.scratch = 0  # not persisted: a failover starts it afresh
        self <= Tag.button("+", _class="inc", _onclick=self.increment)
        self <= Tag.span(self.s.count, _class="value")
        self <= Tag.span(str(os.getpid()), _class="pid")

    def increment(self, e: Any) -> None:
        self.s.count += 1


class Stuck(Clicks):
    """``Clicks`` with a button whose handler never returns in time (a plain ``def``: it
    blocks its process's loop); it first writes its pid to ``$XDG_RUNTIME_DIR/stuck``."""

    def init(self) -> None:
        super().init()
        self <= Tag.button("stuck", _class="stuck", _onclick=self.hang)

    def hang(self, e: Any) -> None:
        Path(os.environ["XDG_RUNTIME_DIR"], "stuck").write_text(str(os.getpid()))
        time.sleep(600)


app = Runner(Clicks, timeout_interaction=30)  # a spare process: sessions start in one
#: ``app`` whose pages check every second that their server still answers (``heartbeat``).
beating = Runner(Clicks, timeout_interaction=30, heartbeat=1)
stuck = Runner(Stuck, timeout_interaction=900)  # never killed for its time: only the drain ends it
chat = Runner(Chat, timeout_interaction=30, spare_processes=0)
