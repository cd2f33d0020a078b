"""The private directory of one ``Runner``: where its IPC endpoints live, and the lock
that makes web workers start exactly one supervisor.

Layout (the base directory is named from a hash of the Runner's identity, never from a
session id; session sockets are named by an HMAC of the session key under a secret of
the supervisor instance)::

    $XDG_RUNTIME_DIR (else /tmp)/lt-<uid>-<12 hex>/     mode 0700
        lock                 flock(2): held while a worker discovers or starts a supervisor
        current.json         {"pid", "anchor", "instance"}: the supervisor to attach to
        <instance>/          one per supervisor run (8 hex), removed by its clean shutdown
            ctl              the supervisor's control socket
            keys.json        per-instance secrets (HMAC key of socket names, cookie secret)
            s/<32 hex>       one listening socket per session process

A clean shutdown removes the instance directory, then the base directory when nothing
else is left in it. Leftovers of a crashed supervisor (its ``ctl`` refuses connections)
are removed by the next start; nothing outside the base directory is touched.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import logging
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ...errors import UnsafeDirectory

log = logging.getLogger("livetag.server.processes.paths")

#: Longest usable AF_UNIX path on Linux (108 bytes with the terminating NUL).
MAX_SOCKET_PATH = 107


def runtime_root(override: str | None = None) -> Path:
    """``override``, else ``$XDG_RUNTIME_DIR`` when it is a usable directory, else the
    system temporary directory (``/tmp``)."""
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.access(xdg, os.W_OK | os.X_OK):
        return Path(xdg)
    return Path(tempfile.gettempdir())


def identity_hash(identity: str) -> str:
    """12 hex digits naming the base directory of a Runner identity (app + port)."""
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def base_dir(identity: str, root: str | None = None) -> Path:
    return runtime_root(root) / f"lt-{os.getuid()}-{identity_hash(identity)}"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` with mode 0700 (parents must exist), or check that the existing
    one is a real directory owned by us with mode 0700. Raises ``UnsafeDirectory``."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(str(path), "something that is not a directory (a symlink?)")
    if st.st_uid != os.getuid():
        raise UnsafeDirectory(str(path), f"owner uid {st.st_uid}")
    if stat.S_IMODE(st.st_mode) != 0o700:
        # Ours, with a wider mode (umask, an old version): narrow it rather than refuse.
        os.chmod(path, 0o700)
    return path


@contextlib.contextmanager
def locked(base: Path) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``base/lock`` (blocking). Safe against the lock file
    being removed and recreated by a shutting-down supervisor meanwhile: after locking,
    the descriptor must still be the file at that path, else it locks again."""
    path = base / "lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                ensure_private_dir(base)
                continue
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def try_locked(base: Path) -> Iterator[bool]:
    """Like ``locked`` without waiting: yields ``False`` when someone else holds it."""
    path = base / "lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed over it), mode 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(data))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def socket_alive(path: Path) -> bool:
    """Something accepts connections on the unix socket ``path``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def session_name(key: bytes, base: str, session_id: str) -> str:
    """The file name of a session's socket: an HMAC of (mount path, session id) under the
    instance's key, so that the raw id never appears in a path."""
    return hmac.new(key, f"{base}\x00{session_id}".encode(), hashlib.sha256).hexdigest()[:32]


def check_socket_path(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise OSError(errno.ENAMETOOLONG, f"expected a unix socket path of at most {MAX_SOCKET_PATH} bytes, "
                      f"got {len(os.fsencode(path))}: set XDG_RUNTIME_DIR (or runtime_dir=) to a shorter directory",
                      str(path))


def sweep_stale_instances(base: Path, keep: str | None = None) -> None:
    """Remove instance directories of supervisors that are gone (their control socket
    refuses connections). Call with the lock held. Only entries of ``base`` are touched."""
    for entry in base.iterdir():
        if entry.name == keep or not entry.is_dir() or entry.is_symlink() or len(entry.name) != 8:
            continue
        if socket_alive(entry / "ctl"):
            continue
        log.info("removing the leftovers of a stopped supervisor (%s)", entry.name)
        shutil.rmtree(entry, ignore_errors=True)


def remove_instance(base: Path, instance: str, pid: int) -> None:
    """The clean-shutdown cleanup of one supervisor: its instance directory, then
    ``current.json`` if it names this supervisor, then the base directory if empty."""
    shutil.rmtree(base / instance, ignore_errors=True)
    with try_locked(base) as got:
        if not got:
            return  # a worker is starting a new supervisor: the directory stays theirs
        current = read_json(base / "current.json")
        if current is not None and current.get("pid") == pid:
            with contextlib.suppress(OSError):
                os.unlink(base / "current.json")
        leftovers = [e for e in base.iterdir() if e.name != "lock"]
        if not leftovers:
            with contextlib.suppress(OSError):
                os.unlink(base / "lock")
            with contextlib.suppress(OSError):
                os.rmdir(base)
