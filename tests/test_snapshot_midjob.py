"""A snapshot on the machine while its create job still runs, as the client sees it.

VMAPI's create job has the compute node take the zfs snapshot partway through (after
waiting for the machine's ticket); from then on CloudAPI lists it with its job's execution
(``running``) and GetMachineSnapshot shows ``running`` instead of ``deleted`` until the job
ends (emulator/snapshotjobs.py). The emulator's create job takes it two thirds in.
"""

from __future__ import annotations

import html
import re
import threading

import pytest
from test_machine_support import FAST, fetched, mutations
from test_widgets_support import badges, opened, words  # noqa: F401 (opened: a fixture)

from smartdc_nb.errors import ConflictError, WaitFailed
from smartdc_nb.machinelist import MachineList
from smartdc_nb.widgets import snapshot_panel

BADGE_TONE = r'class="sdcnb-badge sdcnb-(\w+)">running<'


@pytest.fixture
def mid(emu, dc):
    """A machine whose create job of snapshot ``mid`` has taken it and still runs."""
    emu.clock.set_manual(True)
    machine = fetched(dc, emu, name="mid-job", snapshots=["nightly"])
    snap = machine.create_snapshot("mid")
    emu.clock.advance(0.25)  # the emulator's tests' create job takes 0.3 s; taken at 0.2
    emu.clear_requests()
    yield machine, snap
    emu.clock.reset()


def test_a_created_snapshot_is_running_mid_job_and_the_wait_reaches_created(emu, mid):
    machine, snap = mid
    assert snap.status() == "running" and snap.size and snap.created is not None
    assert {s.name: s.state for s in machine.snapshots()} == {"nightly": "created",
                                                              "mid": "running"}
    timer = threading.Timer(0.3, emu.step)
    timer.start()
    try:
        assert snap.wait_for("created", **FAST) is snap
    finally:
        timer.join()
    assert snap.state == "created"


def test_a_frame_lists_a_mid_job_snapshot_running(emu, dc, mid):
    machine, _ = mid
    frame = dc.frames.snapshots(machines=[machine])
    assert dict(zip(frame["name"], frame["state"].astype(str))) == {"nightly": "created",
                                                                   "mid": "running"}


def test_a_plan_refuses_a_name_whose_create_job_is_running(emu, dc, mid):
    """Listed 'running' is the oldest job of the name, its create: the name is taken (VMAPI's
    job would refuse a second create), and the snapshot is not made yet."""
    machine, _ = mid
    fresh = dc.machine(machine.id)  # never listed: the plan lists its snapshots
    plan = MachineList([fresh]).plan("create_snapshot", "mid")
    row = plan.frame.to_dict("records")[0]
    assert row["verdict"] == "refused", row
    assert "(created" not in row["reason"], row["reason"]
    assert "(running: a job on it, its create or a rollback or delete, has not ended)" in \
        row["reason"], row["reason"]
    with pytest.raises(ConflictError, match=r"\(running: a job on it, its create or a rollback "
                                            r"or delete, has not ended; taken "):
        dc.machine(machine.id).create_snapshot("mid")
    assert mutations(emu) == []


def test_a_mid_job_snapshot_is_not_shown_as_settled(emu, mid):
    """'running' is a job's execution for a snapshot, not a settled state as for a machine."""
    machine, snap = mid
    snap.refresh()
    card = snap._repr_html_()
    assert re.findall(BADGE_TONE, card) == ["busy"], card
    assert "still running" in html.unescape(words(card))
    listing = machine.snapshots()._repr_html_()
    assert re.findall(BADGE_TONE, listing) == ["busy"]


def test_the_snapshot_panel_shows_a_mid_job_snapshot_busy(emu, mid, opened):
    machine, _ = mid
    panel = opened(snapshot_panel(machine, interval=0.05, max_interval=0.2, timeout=30))
    states = {v[0].name: v[0].state for v in panel.table.items.values()}
    assert states == {"nightly": "created", "mid": "running"}
    assert "1 running" in badges(panel.counts.value)
    assert re.findall(r'class="sdcnb-badge sdcnb-(\w+)">1 running<', panel.counts.value) == ["busy"]


def test_the_card_of_a_snapshot_not_taken_yet_says_it_will_show_running(emu, dc):
    """Before its job takes it CloudAPI shows it deleted; the card said 'until the job makes
    it', as if it went from deleted to created: it is then running until the job ends."""
    emu.clock.set_manual(True)
    try:
        snap = fetched(dc, emu, name="not-yet").create_snapshot("soon")
        snap.refresh()
        assert snap.state == "deleted"
        page = words(snap._repr_html_().split("</style>", 1)[1])
        assert "until the job takes it (then running, until the job ends)" in page, page
    finally:
        emu.clock.reset()


def test_a_create_failing_after_its_snapshot_step_is_not_said_to_be_refused(emu, dc):
    """The job failed once the compute node took the snapshot: it is on the machine, shown
    failed. The wait must not say the cloud refused the create (as if nothing was made)."""
    emu.datacenter("us-east-1").fail_next("create_snapshot", after_snapshot=True)
    machine = fetched(dc, emu, name="half-made")
    snap = machine.create_snapshot("half")
    with pytest.raises(WaitFailed) as info:
        snap.wait_for("created", **FAST)
    text = str(info.value)
    assert "refused" not in text, text
    assert text.startswith("the 'create_snapshot' job on snapshot half of half-made"), text
    assert "did not succeed" in text and "failed after taking it" in text, text
    assert "on the machine all the same" in text, text
    assert {s.name: s.state for s in machine.snapshots()} == {"half": "failed"}
