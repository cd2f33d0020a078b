"""What an open page sees when its session's process ends."""

from __future__ import annotations

from livetag.testing.wire import ABNORMAL_CLOSURE, Closed, SyncTab


def told_gone(tab: SyncTab, *, direct: bool = True) -> Closed:
    """How ``tab`` learns that its session's process ended: its WebSocket closed with the
    ``bye``. A relayed WebSocket (``direct`` false) is told at once by the web worker; one
    the process served itself (direct WebSockets, the default) drops with the process,
    and the page's next connection is told (the real client reconnects on a drop)."""
    closed = tab.closed(abrupt=direct)
    if closed.code != ABNORMAL_CLOSURE:
        return closed
    tab.connect()
    again = tab.closed()
    return Closed(again.code, again.reason, closed.messages + again.messages)
