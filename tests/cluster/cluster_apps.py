"""Apps of the cluster's Runner tests, one machine per server (the cluster comes from the
environment: ``LIVETAG_REDIS_URL``, ``LIVETAG_CLUSTER_SECRET``, ``LIVETAG_MACHINE_ID``,
``LIVETAG_LEASE``): ``app``, a ``States`` counter that shows its process's pid
(``beating``: the same with a heartbeat of one second); ``chat``, the chat example."""

from __future__ import annotations

import os
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


app = Runner(Clicks, timeout_interaction=30)  # a spare process: sessions start in one
#: ``app`` whose pages check every second that their server still answers (``heartbeat``).
beating = Runner(Clicks, timeout_interaction=30, heartbeat=1)
chat = Runner(Chat, timeout_interaction=30, spare_processes=0)
