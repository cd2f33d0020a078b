"""livetag's fork server (``forkserver`` / ``zygote``) on its own: forks, exit codes,
shared doubles, hostile requests, and the death of the fork server."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
from collections.abc import Iterator

import pytest
from rt_procs import pid_alive, wait_until

from livetag.errors import ForkServerError
from livetag.server.processes.appref import AppRef
from livetag.server.processes.forkserver import UNKNOWN_EXIT, ForkedProcess, ForkServer, SharedDoubles
from livetag.server.processes.process import ProcessConfig, SharedField

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Runner is Linux only")

CONFIG = ProcessConfig("", AppRef("runner_apps", "Counter")).to_json()


@pytest.fixture
def forks() -> Iterator[ForkServer]:
    lifeline, child_end = socket.socketpair()
    server = ForkServer(child_end)
    server.start()
    yield server
    zygote = server.pid
    server.close()
    lifeline.close()
    child_end.close()
    assert zygote is not None and not pid_alive(zygote)


def spare(forks: ForkServer) -> tuple[ForkedProcess, socket.socket, SharedDoubles]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    shared = SharedDoubles(len(SharedField))
    shared[SharedField.BUSY_SINCE] = 1.0
    process = ForkedProcess(forks, "spare", CONFIG, theirs, shared)
    process.start()
    theirs.close()
    return process, ours, shared


def dead(process: ForkedProcess) -> bool:
    return bool(select.select([process.sentinel], [], [], 0)[0])


def test_the_fork_server_forks_with_one_thread(forks: ForkServer) -> None:
    # fork() copies the calling thread only: a thread the preload or its warm-up started
    # (an executor, uvloop's resolver pool) would leave its locks to every child.
    process, control, _ = spare(forks)  # the first fork waits until the preload is done
    assert forks.pid is not None
    assert os.listdir(f"/proc/{forks.pid}/task") == [str(forks.pid)]
    control.close()  # no assignment will come: the spare ends cleanly
    wait_until(lambda: dead(process), what="the spare's sentinel")
    process.close()


def test_a_fork_shares_its_doubles_and_reports_its_exit_code(forks: ForkServer) -> None:
    process, control, shared = spare(forks)
    assert process.pid > 0 and process.pid != forks.pid and pid_alive(process.pid)
    # The spare writes 0.0 to BUSY_SINCE once ready: the same memory as ours.
    wait_until(lambda: shared[SharedField.BUSY_SINCE] == 0.0, what="the spare to report itself ready")
    assert process.exitcode is None and not dead(process)
    control.close()  # no assignment will come: the spare ends cleanly
    wait_until(lambda: dead(process), what="the spare's sentinel")
    assert process.exitcode == 0
    process.close()

    killed, control, _ = spare(forks)
    os.kill(killed.pid, signal.SIGKILL)
    wait_until(lambda: dead(killed), what="the killed process's sentinel")
    assert killed.exitcode == -signal.SIGKILL
    killed.close()
    control.close()


def test_hostile_requests_are_refused_and_the_fork_server_goes_on(forks: ForkServer) -> None:
    assert forks._socket is not None
    shared = SharedDoubles(len(SharedField))
    conn, other = socket.socketpair()
    with pytest.raises(ForkServerError):  # an entry point that does not exist
        forks.fork("exec", CONFIG, conn, shared, None)
    with pytest.raises(ForkServerError):  # not a configuration
        forks.fork("spare", b'{"nope": 1}', conn, shared, None)
    r, w = os.pipe()
    for junk in (b"\xff" * 100, b"{}", b'{"entry": "spare"}'):  # no descriptors, malformed
        forks._socket.send(junk)
    socket.send_fds(forks._socket, [b"[]"], [r, w])  # the wrong number of descriptors
    os.close(r)
    os.close(w)
    conn.close()
    other.close()
    process, control, _ = spare(forks)  # still serving, the same process
    assert pid_alive(process.pid)
    control.close()
    wait_until(lambda: dead(process), what="the spare to end")
    process.close()


def test_a_dead_fork_server_is_started_again_and_its_orphans_are_killed(forks: ForkServer) -> None:
    process, control, _ = spare(forks)
    first = forks.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    # Nobody will report the spare's exit any more: its sentinel says so, and the
    # process is made to match (killed).
    wait_until(lambda: dead(process), what="the sentinel to see the fork server die")
    assert process.exitcode == UNKNOWN_EXIT
    wait_until(lambda: not pid_alive(process.pid), what="the orphan to be killed")
    process.close()
    control.close()
    again, control, _ = spare(forks)
    assert forks.pid != first and pid_alive(again.pid)
    control.close()
    wait_until(lambda: dead(again), what="the spare to end")
    again.close()


def test_a_fork_server_that_cannot_preload_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    lifeline, child_end = socket.socketpair()
    monkeypatch.setenv("LIVETAG_RUNNER_SYS_PATH", "not json")  # the preload fails on it
    server = ForkServer(child_end)
    with contextlib.ExitStack() as stack:
        stack.callback(lifeline.close)
        stack.callback(child_end.close)
        stack.callback(server.close)
        server.start()  # it preloads in the background: the first fork finds out
        conn, other = socket.socketpair()
        stack.callback(conn.close)
        stack.callback(other.close)
        with pytest.raises(ForkServerError, match="ready"):
            server.fork("spare", CONFIG, conn, SharedDoubles(len(SharedField)), None)
