"""The journal when the local disk fails under it: a full disk in the middle of a run, the file
removed or replaced while a kernel keeps it open. Real failures, not mocks: a file-size limit
(RLIMIT_FSIZE, the kernel's EFBIG, as a full disk's ENOSPC) in a process of its own, a real
unlink and rename."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
from polling import eventually
from test_machine_support import fetched, mutations

from smartdc_nb import journal_store
from smartdc_nb.journal_store import Journal
from smartdc_nb.journal_views import journal
from smartdc_nb.journaling import JournalError
from smartdc_nb.machinelist import MachineList


resource = pytest.importorskip("resource")  # POSIX: the file-size limit

#: A child that connects to the emulator, fetches the machines, then may write only ``limit``
#: bytes of any file (its journal fills up after a few records, as a full disk would) and
#: tags them all; it prints the result's rows and the warnings it was given.
CHILD = textwrap.dedent("""
    import json, resource, signal, sys, warnings
    import smartdc_nb
    from smartdc_nb.machine import Machine
    from smartdc_nb.machinelist import MachineList
    url, key_id, key_path, passphrase, path, limit, *ids = sys.argv[1:]
    dc = smartdc_nb.connect(url=url, account="demo", key_id=key_id, key_path=key_path,
                            passphrase=passphrase or None, journal=path, rate_limit=False,
                            changefeed=False, name="us-east-1")
    machines = MachineList(Machine(dc, i) for i in ids)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not death: as a full disk's ENOSPC
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = machines.add_tags({"disk": "full"}, concurrency=1, progress=False)
    print(json.dumps({"rows": [{"id": r["id"], "outcome": r["outcome"], "error": r["error"]}
                               for r in result.rows],
                      "warnings": [str(w.message) for w in said]}))
""")


def test_a_disk_that_fills_mid_run_loses_no_result(emu, triton_keys, tmp_path):
    """The journal fills after a few machines were tagged: the run goes on saying, for each
    machine left, that nothing was sent; its end cannot be recorded either, and that must not
    throw away the result (which machines the cloud changed) for a bare JournalError."""
    key = triton_keys["rsa"]
    ids = [emu.datacenter("us-east-1").put_machine(name=f"full-{i}") for i in range(8)]
    path = tmp_path / "journal.jsonl"
    emu.clear_requests()
    out = subprocess.run([sys.executable, "-c", CHILD, emu.urls["us-east-1"], key.md5,
                          str(key.private), key.passphrase or "", str(path), "6000", *ids],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    said = json.loads(out.stdout.splitlines()[-1])
    outcomes = Counter(row["outcome"] for row in said["rows"])
    tagged = Counter(r["path"].split("/")[3] for r in mutations(emu) if r["status"] == 200)
    assert 0 < outcomes["done"] < 8 and outcomes["done"] + outcomes["failed"] == 8
    assert {row["id"] for row in said["rows"] if row["outcome"] == "done"} == set(tagged)
    assert all("nothing was sent" in row["error"] for row in said["rows"]
               if row["outcome"] == "failed")
    assert any("end" in w and "File too large" in w for w in said["warnings"]), said["warnings"]


@pytest.mark.parametrize("quiet", [False, True], ids=["while writing", "after a quiet spell"])
@pytest.mark.parametrize("how", ["removed", "replaced", "directory removed"])
def test_a_journal_removed_or_replaced_under_an_open_kernel_is_written_where_it_is_read(
        emu, connect, tmp_path, monkeypatch, how, quiet):
    """A long-lived kernel keeps its journal open: after the file was removed (rm, a cleanup),
    replaced (log rotation: mv then a new file) or its directory removed, its records went on
    into the unlinked file, which nobody can read: the requests were sent and never
    journalled, and resume could not find the run. They go to the file the path names now:
    the journal's sync thread looks every SYNC_INTERVAL while records are written, and the
    first record after it ended (a quiet spell) looks itself."""
    if quiet:  # the sync thread ends sooner than its 5 s
        monkeypatch.setattr(journal_store, "SYNCER_IDLE", 0.3)
    path = tmp_path / "state" / "journal.jsonl"
    dc = connect(journal=str(path))
    machine = fetched(dc, emu, name="j-moved")
    machine.add_tags(before="1")
    if quiet:  # the sync thread has ended: nothing watches the path
        eventually(lambda: Journal.at(path)._syncer is None, timeout=10,
                   what="the journal's sync thread to end")
    if how == "removed":
        path.unlink()
    elif how == "replaced":
        path.rename(tmp_path / "state" / "journal.jsonl.1")
        path.write_text("")
    else:
        shutil.rmtree(path.parent)
    if not quiet:  # the sync thread sees it within SYNC_INTERVAL
        time.sleep(journal_store.SYNC_INTERVAL * 3)
    machine.add_tags(after="2")
    kinds = [(r["kind"], r["arguments"]) for r in journal(path=path).to_dict("records")]
    assert kinds == [("intent", {"body": {"after": "2"}}), ("outcome", None)]
    assert json.loads(path.read_text().splitlines()[-1])["http_status"] == 200


def test_a_lock_folder_that_cannot_be_made_is_said_with_what_to_do(emu, connect, tmp_path):
    """A file where the run locks' folder goes (or a folder that cannot be written): the bulk
    run is refused before any request, and the error says what to do, as the journal's does."""
    path = tmp_path / "journal.jsonl"
    (tmp_path / ".journal.jsonl.locks").write_text("in the way")
    dc = connect(journal=str(path))
    machines = MachineList([fetched(dc, emu, name="j-lock")])
    emu.clear_requests()
    with pytest.raises(JournalError, match=r"cannot lock .*\.journal\.jsonl\.locks.* nothing was "
                                           r"sent\. Make .*\.journal\.jsonl\.locks a writable "
                                           r"directory.*journal=False"):
        machines.add_tags({"a": "b"}, progress=False)
    assert mutations(emu) == []


@pytest.mark.parametrize("sync", ["none", "background"])
def test_the_sync_thread_wakes_at_most_every_sync_interval_whatever_the_mode(
        tmp_path, monkeypatch, sync):
    """The thread that watches the journal's path (and fsyncs in background mode) woke for
    every record in `none` mode: a wake-up and a turn at the interpreter per record, which
    bench_journal.py measured at ~100 µs per request. It looks at most every SYNC_INTERVAL."""
    looks = []
    journal = Journal(tmp_path / "journal.jsonl", sync=sync)
    real = journal._moved
    monkeypatch.setattr(journal, "_moved", lambda: looks.append(1) or real())
    started = time.monotonic()
    for i in range(300):
        journal.write(kind="run", run_id=f"r{i}")
        time.sleep(0.001)
    took = time.monotonic() - started
    time.sleep(journal_store.SYNC_INTERVAL * 2)
    journal.close()
    assert len(looks) <= took / journal_store.SYNC_INTERVAL + 3, (len(looks), took)
