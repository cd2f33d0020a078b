"""The supervisor's files in the server's private directory (``paths``): its own
directory ``<base>/<instance>/`` with ``keys.json`` (what web workers share with it), the
control socket ``ctl`` and the sessions' sockets under ``s/``; and ``<base>/current.json``,
which names the supervisor web workers attach to.

When someone deletes or damages them (a cleaned ``/tmp``, a wrong ``rm``), ``intact``
notices and ``repair_directories`` / ``repair_current`` make them again, so that web
workers reach this supervisor and its sessions again; session processes put their own
sockets back (see ``process.SessionHost``) once ``s/`` exists.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from . import paths

log = logging.getLogger("livetag.server.processes.supervisor")


def control_of(session_socket: str) -> str:
    """The control socket of the supervisor that made session socket ``session_socket``
    (``<dir>/s/<name>`` -> ``<dir>/ctl``, see ``InstanceFiles``)."""
    return str(Path(session_socket).parent.parent / "ctl")


class InstanceFiles:
    """The files of supervisor ``instance`` (hex) of the server whose private directory is
    ``base`` and whose life is process ``anchor``'s. ``path_key`` / ``cookie_secret``: what
    ``keys.json`` gives web workers (session socket names, the ``request.session`` key)."""

    def __init__(self, base: Path, instance: str, anchor: int, path_key: bytes, cookie_secret: str) -> None:
        self.base = base
        self.instance = instance
        self.anchor = anchor
        self.path_key = path_key
        self.cookie_secret = cookie_secret
        self.dir = base / instance
        self.sockets = self.dir / "s"
        self.control = self.dir / "ctl"

    def make(self) -> None:
        """Create this instance's directories (private) and ``keys.json``. Raises ``OSError``."""
        os.umask(0o077)
        os.mkdir(self.dir, 0o700)
        os.mkdir(self.sockets, 0o700)
        self.write_keys()

    def write_keys(self) -> None:
        paths.write_json(self.dir / "keys.json", {"path_key": self.path_key.hex(), "cookie_secret": self.cookie_secret,
                                                  "pid": os.getpid(), "anchor": self.anchor})

    def intact(self, control_ino: int) -> bool:
        """Everything web workers need to reach this supervisor is in place: the control
        socket (the same one: inode ``control_ino``), the keys, the sockets' directory,
        ``current.json`` naming us."""
        try:
            if os.stat(self.control).st_ino != control_ino or not self.sockets.is_dir():
                return False
            if not (self.dir / "keys.json").is_file():
                return False
        except OSError:
            return False
        current = paths.read_json(self.base / "current.json")
        return current is not None and current.get("instance") == self.instance

    def repair_directories(self) -> None:
        """Make the directories and keys again (blocking: call it in a thread)."""
        os.makedirs(self.base.parent, 0o700, exist_ok=True)
        paths.ensure_private_dir(self.base)
        for directory in (self.dir, self.sockets):
            paths.ensure_private_dir(directory)
        self.write_keys()

    def repair_current(self) -> None:
        """Name this supervisor in ``current.json`` again, unless another live supervisor
        of the same server took over meanwhile (blocking: call it in a thread)."""
        with paths.locked(self.base):
            current = paths.read_json(self.base / "current.json")
            if current is not None and current.get("instance") not in (None, self.instance) \
                    and current.get("anchor") == self.anchor \
                    and paths.socket_alive(self.base / str(current.get("instance")) / "ctl"):
                log.warning("another supervisor (%s) serves this server now: this one keeps only its own sessions",
                            current.get("instance"))
                return
            paths.write_json(self.base / "current.json", {"pid": os.getpid(), "anchor": self.anchor,
                                                          "instance": self.instance})

    def remove(self) -> None:
        """Remove this instance's files (the base directory too when nothing else is in it)."""
        paths.remove_instance(self.base, self.instance, os.getpid())
