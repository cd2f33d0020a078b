"""A Chromium-family browser (Chromium, Chrome, Edge, Brave) showing one URL as an app window.

``find_browser`` looks in the usual places of Linux, macOS and Windows; ``BrowserWindow``
runs the browser in app mode (no URL bar, no tabs) with its own temporary profile.

Why the browser *process* tells when the window closed: with a private ``--user-data-dir``
the browser cannot hand the URL over to an instance the user already runs, so the
process started here is the one showing the window, and it exits (status 0) when its
last window closes. (On macOS a browser may stay running without windows; see
docs/desktop.md.)
"""

from __future__ import annotations

import collections
import enum
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import BrowserNotFound
from .processes import stop_process

log = logging.getLogger("livetag.runners.chrome")

#: Environment variables: the browser executable; extra arguments (shell syntax).
BROWSER_ENV = "LIVETAG_BROWSER"
BROWSER_ARGS_ENV = "LIVETAG_BROWSER_ARGS"

#: Flags that keep an app window quiet: no first-run UI, no background traffic.
BASE_FLAGS = (
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",  # no crash handler process that would outlive the browser
)

_LINUX_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                "microsoft-edge", "microsoft-edge-stable", "brave-browser")
_LINUX_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium",
                "/usr/bin/google-chrome", "/opt/google/chrome/chrome", "/usr/bin/microsoft-edge",
                "/opt/microsoft/msedge/msedge", "/usr/bin/brave-browser")
_MAC_APPS = ("Google Chrome.app/Contents/MacOS/Google Chrome", "Chromium.app/Contents/MacOS/Chromium",
             "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
             "Brave Browser.app/Contents/MacOS/Brave Browser")
_WINDOWS_PATHS = (r"Google\Chrome\Application\chrome.exe", r"Microsoft\Edge\Application\msedge.exe",
                  r"Chromium\Application\chrome.exe", r"BraveSoftware\Brave-Browser\Application\brave.exe")


def browser_candidates(platform: str = sys.platform) -> list[str]:
    """Where a Chromium-family browser usually is on ``platform`` (``sys.platform``
    values), most preferred first: names to look up on ``PATH`` and absolute paths."""
    if platform == "darwin":
        roots = ["/Applications", str(Path.home() / "Applications")]
        return [f"{root}/{app}" for app in _MAC_APPS for root in roots] + ["chromium", "google-chrome"]
    if platform == "win32":
        roots = [r for r in (os.environ.get(v) for v in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")) if r]
        return [str(Path(root) / p) for p in _WINDOWS_PATHS for root in roots if root] + ["chrome", "msedge"]
    return [*_LINUX_NAMES, *_LINUX_PATHS]


def _resolve(candidate: str) -> str | None:
    found = shutil.which(candidate)
    if found:
        return found
    path = Path(candidate).expanduser()
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def find_browser(override: str | None = None, candidates: Sequence[str] | None = None) -> str:
    """The absolute path of the browser to run.

    ``override`` (a path or a name on ``PATH``), else ``$LIVETAG_BROWSER``, else the first
    of ``candidates`` (default: ``browser_candidates()``) that exists. Raises
    ``BrowserNotFound`` with a one-line message when there is none."""
    explicit, source = (override, "browser=") if override else (os.environ.get(BROWSER_ENV), BROWSER_ENV)
    if explicit:
        found = _resolve(explicit)
        if found is None:
            raise BrowserNotFound(f"expected an executable browser at {explicit!r} (from {source}), found none")
        return found
    for candidate in candidates if candidates is not None else browser_candidates():
        found = _resolve(candidate)
        if found:
            return found
    raise BrowserNotFound(
        "no Chromium, Chrome, Edge or Brave browser found; install one, or set "
        f"{BROWSER_ENV}=/path/to/browser, or serve the app in any browser with "
        "WebApp(App).run() or 'livetag run app.py'")


class WindowState(enum.Enum):
    """Life cycle of a ``BrowserWindow``."""

    NEW = enum.auto()
    OPEN = enum.auto()
    EXITED = enum.auto()   # the browser process ended on its own: window closed, or a crash
    CLOSED = enum.auto()   # ``close()`` ran: process gone, profile removed


class BrowserWindow:
    """One browser process showing ``url`` in an app window of ``width`` x ``height`` CSS
    pixels, with a private profile in a temporary directory.

    ``extra_args`` come last (after ``$LIVETAG_BROWSER_ARGS``), so they can override.
    The browser's own output goes to the ``livetag.runners.chrome`` DEBUG log, and its
    last lines into the error message when it fails.
    """

    def __init__(self, executable: str, url: str, *, width: int = 600, height: int = 800,
                 extra_args: Sequence[str] = ()) -> None:
        self.executable = executable
        self.url = url
        self.width = width
        self.height = height
        self.extra_args = list(extra_args)
        self.profile_dir: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.state = WindowState.NEW
        self.output_tail: collections.deque[str] = collections.deque(maxlen=20)

    def command(self) -> list[str]:
        """The browser's command line (``profile_dir`` must be set)."""
        args = [self.executable, f"--app={self.url}", f"--window-size={self.width},{self.height}",
                f"--user-data-dir={self.profile_dir}", *BASE_FLAGS]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox
        args += shlex.split(os.environ.get(BROWSER_ARGS_ENV, ""))
        return args + self.extra_args

    def open(self) -> None:
        """Start the browser (returns at once; the window appears shortly after).
        Raises ``OSError`` when the executable cannot be started."""
        self.profile_dir = tempfile.mkdtemp(prefix="livetag-profile-")
        kwargs: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        else:
            kwargs["start_new_session"] = True  # Ctrl-C reaches us, and we close the window in order
        try:
            process: subprocess.Popen[bytes] = subprocess.Popen(self.command(), **kwargs)
        except OSError:
            self._remove_profile()
            raise
        self.process = process
        self.state = WindowState.OPEN
        threading.Thread(target=self._drain, name="livetag-browser-output", daemon=True).start()
        log.info("window opened: %s (pid %d, profile %s)", Path(self.executable).name, process.pid,
                 self.profile_dir)

    def _drain(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self.output_tail.append(line)
                log.debug("browser: %s", line)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def exited(self) -> bool:
        """``True`` once the browser process has ended (the window is gone)."""
        if self.process is not None and self.state is WindowState.OPEN and self.process.poll() is not None:
            self.state = WindowState.EXITED
        return self.state in (WindowState.EXITED, WindowState.CLOSED)

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the browser exits (``None`` after ``timeout`` seconds)."""
        if self.process is None:
            return None
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.exited()
        return code

    def close(self, timeout: float = 5.0) -> None:
        """Close the window: SIGTERM the browser (Chromium then shuts down cleanly), SIGKILL
        it after ``timeout`` seconds, end whatever it left in its process group, remove
        the profile directory. Idempotent."""
        if self.state is WindowState.CLOSED:
            return
        process = self.process
        if process is not None:
            if process.poll() is None:
                stop_process(process, timeout, "the browser")
            if sys.platform != "win32":
                try:  # helpers (GPU, renderers) that outlived the browser, same process group
                    os.killpg(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self._remove_profile()
        self.state = WindowState.CLOSED

    def _remove_profile(self, timeout: float = 5.0) -> None:
        """Remove the profile, retrying while exiting helpers still write into it."""
        if self.profile_dir is None:
            return
        deadline = time.monotonic() + timeout
        while True:
            shutil.rmtree(self.profile_dir, ignore_errors=True)
            if not os.path.exists(self.profile_dir) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if os.path.exists(self.profile_dir):
            log.warning("could not remove the browser profile %s", self.profile_dir)
        else:
            log.debug("profile %s removed", self.profile_dir)

    def failure(self) -> str:
        """A one-line description of how the browser ended, with its last output line."""
        code = self.returncode
        last = self.output_tail[-1] if self.output_tail else "no output"
        return f"the browser exited with status {code} ({last})"
