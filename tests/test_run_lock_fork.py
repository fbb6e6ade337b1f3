"""A run's lock belongs to the process that runs it, not to what that process forks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from smartdc_nb.run_locks import RunLock

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")


def test_a_killed_runner_s_forked_worker_does_not_keep_the_run_locked(tmp_path):
    """A runner forks a worker (a health check's multiprocessing pool, say) and is killed with
    kill -9: the worker lives on, and held the run's lock, so resume was refused until it
    ended, naming a dead process."""
    journal = tmp_path / "journal.jsonl"
    ready = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import os, time
        from smartdc_nb.run_locks import RunLock
        RunLock({str(journal)!r}, "run-1").acquire("busy")
        child = os.fork()
        if child == 0:                       # the worker: outlives its parent
            # ready once the worker runs (its at-fork handlers done), not once the parent
            # returns from fork(): under load the killed runner's child had not run yet
            open({str(ready)!r}, "w").write(str(os.getpid()))
            time.sleep(60)
            os._exit(0)
        time.sleep(60)
    """)
    runner = subprocess.Popen([sys.executable, "-c", script])
    worker = None
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() or not ready.read_text():
            assert time.monotonic() < deadline and runner.poll() is None, "the runner never forked"
            time.sleep(0.05)
        worker = int(ready.read_text())
        runner.kill()                        # kill -9
        runner.wait(10)
        with RunLock(journal, "run-1").acquire("busy"):  # the worker still lives
            os.kill(worker, 0)
    finally:
        if worker is not None:
            os.kill(worker, signal.SIGKILL)
        if runner.poll() is None:
            runner.kill()
