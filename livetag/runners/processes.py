"""Helpers for the processes the runners start and stop: a browser, a server child."""

from __future__ import annotations

import logging
import subprocess
import threading
import webbrowser

log = logging.getLogger("livetag.runners")


def stop_process(process: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    """SIGTERM ``process`` and wait up to ``timeout`` seconds, then SIGKILL it (and log
    it as ``what``); returns once it has exited."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s (pid %d) did not stop within %.0f s: killing it", what, process.pid, timeout)
        process.kill()
        process.wait()


def open_in_browser_soon(url: str, delay: float = 0.5) -> None:
    """Open ``url`` in the default browser after ``delay`` seconds (the server is up by
    then); without a browser on this machine, nothing happens: the URL is in the log."""
    threading.Timer(delay, _open, args=(url,)).start()


def _open(url: str) -> None:
    try:
        webbrowser.open(url)
    except Exception:
        log.debug("could not open a browser", exc_info=True)
