"""A helper module of an app, for ``test_execution``: functions of another module than
the handler's are not followed when livetag looks for code that talks to the loop."""

from __future__ import annotations


def touch_the_loop() -> None:
    import asyncio as aio

    aio.get_running_loop()
