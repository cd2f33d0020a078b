"""``Runner(drain_timeout=)`` / ``$LIVETAG_DRAIN_TIMEOUT``: how long a stopping server's
session processes get before they are killed. The value reaches the supervisor, and a
process asked to stop that outlives its grace is killed (a real child process here). The
whole drain under a stuck handler: ``tests/cluster/test_cluster_deploy.py``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livetag import Runner, Tag
from livetag.server.processes.config import DRAIN_TIMEOUT_ENV, SupervisorConfig, drain_timeout
from livetag.server.processes.process import SharedField
from livetag.server.processes.sessions import TERM_GRACE_SECONDS, EndReason, ProcessState, SessionRecord, SessionTable


class App(Tag.App):
    def init(self) -> None:
        self <= "hello"


def sent(runner: Runner) -> float:
    return SupervisorConfig.from_json(runner._supervisor_config().to_json()).drain_timeout


def test_the_drain_timeout_reaches_the_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DRAIN_TIMEOUT_ENV, raising=False)
    assert sent(Runner(App)) == 5.0
    assert sent(Runner(App, drain_timeout=2)) == 2.0
    monkeypatch.setenv(DRAIN_TIMEOUT_ENV, "0.5")
    assert sent(Runner(App)) == 0.5
    assert sent(Runner(App, drain_timeout=7)) == 7.0  # the argument wins


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), 3601, True, "5"])
def test_a_drain_timeout_that_is_not_seconds_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="expected drain_timeout as seconds"):
        Runner(App, drain_timeout=value)  # type: ignore[arg-type]


def test_a_malformed_environment_value_is_refused() -> None:
    with pytest.raises(ValueError, match=r"expected \$LIVETAG_DRAIN_TIMEOUT as seconds, got 'soon'"):
        drain_timeout(None, {DRAIN_TIMEOUT_ENV: "soon"})
    with pytest.raises(ValueError, match=r"\$LIVETAG_DRAIN_TIMEOUT as seconds from 0 to 3600"):
        drain_timeout(None, {DRAIN_TIMEOUT_ENV: "-2"})


class _Child:
    """A real process in the place of a session process, stuck as a blocked handler is: it
    ignores SIGTERM (``SessionTable`` reads ``exitcode`` and signals ``pid``)."""

    def __init__(self) -> None:
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); " \
               "time.sleep(60)"
        self.popen = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert self.popen.stdout is not None and self.popen.stdout.readline() == "ready\n"
        self.pid = self.popen.pid

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()


def test_a_process_that_outlives_its_grace_is_killed(tmp_path: Path) -> None:
    table = SessionTable(tmp_path)
    child = _Child()
    try:
        shared = [0.0] * len(SharedField)
        record = SessionRecord("n" * 32, "", (), None, (False, False, False), shared)  # type: ignore[arg-type]
        record.process, record.pid, record.state = child, child.pid, ProcessState.LIVE
        table.add(record)
        start = time.monotonic()
        table.terminate(record, EndReason.SHUTDOWN, grace=0.25)
        assert start + 0.25 <= record.term_deadline < start + TERM_GRACE_SECONDS  # this grace, not the default
        table.kill_overdue(record.term_deadline - 0.01)  # within its grace: left alone (SIGTERM ignored)
        assert child.exitcode is None and record in table.closing
        table.kill_overdue(record.term_deadline + 0.01)
        assert child.popen.wait(10) == -signal.SIGKILL
    finally:
        if child.popen.poll() is None:
            child.popen.kill()
            child.popen.wait()
        assert child.popen.stdout is not None
        child.popen.stdout.close()
