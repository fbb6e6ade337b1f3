"""Resume and the requests the cloud refused: a refusal is not a change made, so it is sent
again (or said to have failed), never reported as done or skipped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter

from test_machine_support import FAST, accepted_stops

from smartdc_nb.journal_views import journal_runs
from smartdc_nb.machinelist import MachineList
from smartdc_nb.resuming import resume


def test_requests_the_cloud_refused_are_sent_again_on_resume(emu, connect):
    dc = connect(retries=1, retry_budget=2, backoff=0.01)
    a, b, c = _machines(dc, emu, "r-no", 3)
    emu.faults.add(a.id, method="POST", status=429, retry_after=0, count=10)  # throttled
    emu.faults.add(b.id, method="POST", status=503, count=1)  # maintenance
    first = MachineList([a, b, c]).stop(confirm=True, **FAST)
    assert first.counts["done"] == 1 and not first.ok
    MachineList([c]).wait_for("stopped", timeout=30, **FAST)
    run_id = journal_runs()[0].run_id
    emu.faults.clear()
    emu.clear_requests()
    result = resume(run_id, progress=False)
    rows = {row["name"]: row for row in result}
    assert rows["r-no0"]["outcome"] == "done", rows["r-no0"]
    assert rows["r-no1"]["outcome"] == "done", rows["r-no1"]
    assert rows["r-no2"]["outcome"] == "skipped"
    # the row not touched shows the machine as it is now, not as the run found it
    assert rows["r-no2"]["final_state"] == "stopped"
    assert accepted_stops(emu) == Counter({a.id: 1, b.id: 1})
    assert result.ok


def test_a_refusal_that_persists_fails_the_resume_and_the_command(emu, dc, journal_path):
    a, b = _machines(dc, emu, "r-still", 2)
    emu.faults.add(a.id, method="POST", status=503)  # every time
    MachineList([a, b]).stop(confirm=True, **FAST)
    run_id = journal_runs()[0].run_id
    emu.clear_requests()
    result = resume(run_id, progress=False)
    rows = {row["name"]: row for row in result}
    assert rows["r-still0"]["outcome"] == "failed" and not result.ok
    assert "already sent" not in (rows["r-still0"]["reason"] or "")
    out = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "resume", run_id,
                          "--path", str(journal_path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 failed" in out.stdout
    assert accepted_stops(emu) == Counter()  # a refused each time; b stopped by the run


def test_a_request_without_an_answer_is_checked_with_the_cloud(emu, dc, journal_path):
    """No answer (a dropped connection) says nothing about what the cloud did: resume asks it
    (GET and audit) and sends again only what did not happen."""
    lost, landed = _machines(dc, emu, "r-unknown", 2)
    emu.faults.add(lost.id, method="POST", drop=True)  # never reaches the cloud
    MachineList([lost, landed]).stop(confirm=True, **FAST)
    emu.faults.clear()
    run_id = journal_runs()[0].run_id
    # landed's answer lost too (as if the connection broke after the cloud acted)
    lines = []
    for line in journal_path.read_text().splitlines(keepends=True):
        record = json.loads(line)
        if record.get("kind") == "outcome" and record.get("machine_id") == landed.id:
            record.update(outcome="failed", error="TransportError: connection reset")
            del record["http_status"]
            line = json.dumps(record) + "\n"
        lines.append(line)
    journal_path.write_text("".join(lines))
    emu.clear_requests()
    result = resume(run_id, progress=False)
    rows = {row["name"]: row for row in result}
    assert rows["r-unknown0"]["outcome"] == "done"
    assert rows["r-unknown1"]["outcome"] == "skipped"
    assert "not sent again" in rows["r-unknown1"]["reason"]
    assert accepted_stops(emu) == Counter({lost.id: 1})


def _machines(dc, emu, prefix: str, count: int) -> list:
    from test_machine_support import fetched

    return [fetched(dc, emu, name=f"{prefix}{i}") for i in range(count)]


def test_a_terminal_resume_that_cannot_lock_says_what_to_do_there(emu, dc, journal_path):
    """`smartdc-nb resume` whose run locks could not be made told the operator at a terminal to
    use connect(journal=PATH), or to turn the journal off, which a resume cannot do without."""
    a, b = _machines(dc, emu, "r-lockless", 2)
    emu.faults.add(a.id, method="POST", status=503)
    MachineList([a, b]).stop(confirm=True, **FAST)
    run_id = journal_runs()[0].run_id
    locks = journal_path.parent / f".{journal_path.name}.locks"
    shutil.rmtree(locks)  # the run's (empty) lock folder, then a file in its way
    locks.write_text("in the way")
    emu.faults.clear()
    emu.clear_requests()
    out = subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "resume", run_id,
                          "--path", str(journal_path)], capture_output=True, text=True,
                         timeout=120)
    said = " ".join(out.stderr.split())
    assert out.returncode == 2, out.stdout + out.stderr
    assert "nothing was sent" in said and "--path FILE" in said, said
    assert "connect(" not in said and "journal=False" not in said, said
    assert [r for r in emu.requests if r["method"] == "POST"] == []
