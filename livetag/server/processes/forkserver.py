"""livetag's fork server, the supervisor's side: session and spare processes are forks of
a preloaded *zygote* (``zygote``), asked for over a socket pair.

multiprocessing's fork server would do, but each of its children runs multiprocessing's
bootstrap after the fork (unpickling the process object, ``spawn.prepare``,
``_bootstrap``), which touches, and so copies, about 1 MB of the fork server's pages per
process. A zygote child calls its entry point straight after ``os.fork()`` with what the
request carried: a few objects of its own, the rest shared copy-on-write.

One request is one ``SOCK_SEQPACKET`` datagram: JSON ``{"entry": "spare"|"session",
"config": <ProcessConfig JSON>, "priority": <nice>|null}`` with three descriptors
attached (``SCM_RIGHTS``): the process's socket (a spare's control socket, a session's
listening socket), its shared doubles (a memfd, ``SharedDoubles``) and the write end of
its status pipe. The zygote writes the child's pid (``!q``) to the status pipe once
forked, its exit code (``!q``, negative: killed by that signal) once reaped, and closes
it: the read end is the process's sentinel, as with multiprocessing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import weakref

import orjson

from ...errors import ForkServerError

_STATUS = struct.Struct("!q")
#: Largest request the zygote accepts (one datagram).
MAX_REQUEST_BYTES = 64 << 10
#: Exit code reported for a process whose fork server died before it (unknown).
UNKNOWN_EXIT = 255
#: Seconds the zygote may take to preload (imports, the app, the warm-up).
START_SECONDS = 120.0


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value


class SharedDoubles:
    """``count`` doubles in memory shared between the supervisor and one process (a
    memfd, mapped by each; no descriptor kept open once mapped). Indexed like a list of
    floats. ``fd``: a memfd to map (``count`` doubles long; closed here), else a new one
    is made and kept in ``.fd`` until ``close_fd``."""

    __slots__ = ("__weakref__", "_array", "fd")

    def __init__(self, count: int, fd: int | None = None) -> None:
        size = count * ctypes.sizeof(ctypes.c_double)
        owned = fd is None
        if fd is None:
            fd = os.memfd_create("livetag-shared", os.MFD_CLOEXEC)
            os.ftruncate(fd, size)
        address = _libc.mmap(None, size, 0x1 | 0x2, 0x01, fd, 0)  # PROT_READ | PROT_WRITE, MAP_SHARED
        if address is None or address == _MAP_FAILED:
            os.close(fd)
            raise OSError(ctypes.get_errno(), "mmap of the shared doubles failed")
        self._array = (ctypes.c_double * count).from_address(address)
        weakref.finalize(self, _libc.munmap, address, size)
        self.fd: int | None = fd if owned else None
        if not owned:
            os.close(fd)

    def close_fd(self) -> None:
        """Close the memfd (the mapping stays): once a process has it."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __getitem__(self, index: int) -> float:
        return self._array[index]

    def __setitem__(self, index: int, value: float) -> None:
        self._array[index] = value

    def __len__(self) -> int:
        return len(self._array)


class ForkedProcess:
    """A process forked by the zygote, as the supervisor sees it: ``pid``, ``sentinel``
    (readable once it died), ``exitcode`` (``None`` while alive; negative: killed by that
    signal), ``close()``. ``start()`` asks the fork server (blocking: the supervisor's
    spawning thread)."""

    def __init__(self, server: ForkServer, entry: str, config: bytes, conn: socket.socket, shared: SharedDoubles,
                 priority: int | None = None) -> None:
        self._server = server
        self._request = (entry, config, conn, shared, priority)
        self.pid = 0
        self.sentinel = -1
        self._exitcode: int | None = None

    def start(self) -> None:
        entry, config, conn, shared, priority = self._request
        self.pid, self.sentinel = self._server.fork(entry, config, conn, shared, priority)
        del self._request

    @property
    def exitcode(self) -> int | None:
        if self._exitcode is None and self.sentinel >= 0:
            ready, _, _ = select.select([self.sentinel], [], [], 0)
            if ready:
                data = b""
                with contextlib.suppress(OSError):
                    data = os.read(self.sentinel, _STATUS.size)
                if len(data) == _STATUS.size:
                    self._exitcode = _STATUS.unpack(data)[0]
                else:
                    # The fork server died first: nobody will report this process, which
                    # its supervisor treats as gone from now on; make sure it is.
                    with contextlib.suppress(OSError):
                        os.kill(self.pid, signal.SIGKILL)
                    self._exitcode = UNKNOWN_EXIT
        return self._exitcode

    def close(self) -> None:
        if self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1


class ForkServer:
    """The zygote process and the socket to it. ``lifeline``: the end of the supervisor's
    lifeline every forked process inherits. ``start`` and ``fork`` block (call them from
    one thread: the supervisor's spawning thread)."""

    def __init__(self, lifeline: socket.socket) -> None:
        self.lifeline = lifeline
        self.popen: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._ready = False  # the zygote said it has preloaded

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def start(self) -> None:
        """Start the zygote (at this thread's nice value, which its children inherit); it
        preloads in the background (the first ``fork`` waits for it). Raises
        ``ForkServerError``."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = ("import sys, orjson; sys.path[:] = orjson.loads(sys.argv[1]); "
                "from livetag.server.processes.zygote import main; main(int(sys.argv[2]), int(sys.argv[3]))")
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", code, orjson.dumps(sys.path).decode(), str(theirs.fileno()),
                 str(self.lifeline.fileno())], pass_fds=(theirs.fileno(), self.lifeline.fileno()),
                stdin=subprocess.DEVNULL)
        except OSError as exc:
            ours.close()
            raise ForkServerError(f"expected to start the fork server, got {exc}") from exc
        finally:
            theirs.close()
        self._socket = ours
        self._ready = False

    def _wait_ready(self) -> None:
        assert self._socket is not None
        self._socket.settimeout(START_SECONDS)
        try:
            ready = self._socket.recv(64)
        except OSError:
            ready = b""
        self._socket.settimeout(None)
        if ready != b"ready":
            self._stop()
            raise ForkServerError(f"expected the fork server to be ready, got {ready!r}")
        self._ready = True

    def _stop(self) -> None:
        if self._socket is not None:
            self._socket.close()  # the zygote ends at EOF
            self._socket = None
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait()
            self.popen = None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def fork(self, entry: str, config: bytes, conn: socket.socket, shared: SharedDoubles,
             priority: int | None) -> tuple[int, int]:
        """Fork a process running ``entry`` (see the module docstring). Returns (pid,
        sentinel). A fork server that died is started again first. Raises
        ``ForkServerError``."""
        assert shared.fd is not None
        with self._lock:
            if self.popen is None or self.popen.poll() is not None:
                self._start()
            if not self._ready:
                self._wait_ready()
            assert self._socket is not None
            status_r, status_w = os.pipe2(os.O_CLOEXEC)
            try:
                request = orjson.dumps({"entry": entry, "config": config.decode(), "priority": priority})
                try:
                    socket.send_fds(self._socket, [request], [conn.fileno(), shared.fd, status_w])
                finally:
                    os.close(status_w)
                data = os.read(status_r, _STATUS.size)
            except OSError as exc:
                os.close(status_r)
                raise ForkServerError(f"expected the fork server to fork, got {exc}") from exc
            if len(data) != _STATUS.size:
                os.close(status_r)
                raise ForkServerError("expected a pid from the fork server, got end of stream")
            shared.close_fd()
            return _STATUS.unpack(data)[0], status_r
