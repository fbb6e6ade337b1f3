"""Plan -> approve -> apply: verdicts from the rules table, a stable id, re-checks at apply time.

What else the id covers (batches, health checks, covers=, time-bound names) is in test_plans_id."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from test_machine_support import FAST, fetched, mutations
from test_widgets_support import words

from smartdc_nb.errors import ConflictError, InvalidInputError
from smartdc_nb.fleet import Fleet
from smartdc_nb.journal_views import journal_runs
from smartdc_nb.machinelist import MachineList
from smartdc_nb.plans import CHANGED, PlanError


@pytest.fixture
def mixed(emu, dc, dc_west):
    machines = MachineList(
        [fetched(dc, emu, name=f"p-run{i}") for i in range(2)]
        + [fetched(dc_west, emu, name="p-west"),
           fetched(dc, emu, name="p-stopped", state="stopped"),
           fetched(dc, emu, name="p-protected", deletion_protection=True),
           fetched(dc, emu, name="p-kvm", brand="kvm"),
           fetched(dc, emu, name="p-provisioning", state="provisioning")])
    emu.clear_requests()
    return machines


def by_name(plan):
    return {row["name"]: row for row in plan.frame.to_dict("records")}


def test_a_plan_sorts_machines_by_the_rules_and_sends_nothing(emu, mixed):
    stop = mixed.plan("stop")
    delete = mixed.plan("delete")
    snapshot = mixed.plan("create_snapshot", "pre-{date}")
    assert mutations(emu) == []
    rows = by_name(stop)
    assert rows["p-run0"]["verdict"] == "act" and rows["p-west"]["verdict"] == "act"
    assert rows["p-run0"]["request"] == f"POST /demo/machines/{rows['p-run0']['id']}?action=stop"
    assert (rows["p-stopped"]["verdict"], rows["p-stopped"]["reason"]) == ("skip",
                                                                           "already stopped")
    assert rows["p-provisioning"]["verdict"] == "refused"
    assert rows["p-provisioning"]["reason"] == "the machine is still provisioning"
    assert by_name(delete)["p-protected"]["verdict"] == "protected"
    assert "deletion protection is on" in by_name(delete)["p-protected"]["reason"]
    assert by_name(snapshot)["p-kvm"]["verdict"] == "refused"
    assert "BrandNotSupported" in by_name(snapshot)["p-kvm"]["reason"]
    assert stop.counts == {"act": 5, "skip": 1, "protected": 0, "refused": 1}
    assert set(stop.frame.columns) >= {"datacenter", "id", "name", "state", "verdict", "reason"}
    assert [m.name for m in stop.machines("skip")] == ["p-stopped"]


def test_apply_needs_the_plans_id(emu, mixed):
    plan = mixed.plan("stop")
    # near misses: one character off, and the id in capitals (when it has letters to change:
    # an id of digits only, ~0.4% of them, is its own upper case)
    off_by_one = plan.id[:-1] + ("1" if plan.id[-1] == "0" else "0")
    near = [off_by_one] + [plan.id.upper()] * (plan.id.upper() != plan.id)
    for wrong in (None, "0123456789ab", *near):
        with pytest.raises(PlanError, match=f"its id is '{plan.id}'.*approve='{plan.id}'"):
            plan.apply(approve=wrong)
    with pytest.raises(PlanError):
        plan.apply()
    assert mutations(emu) == []
    result = plan.apply(approve=plan.id, **FAST)
    assert result.plan_id == plan.id
    outcome = {row["name"]: row for row in result}
    assert all(outcome[n]["outcome"] == "done" for n in ("p-run0", "p-run1", "p-west"))
    assert outcome["p-stopped"]["outcome"] == "skipped"
    assert outcome["p-stopped"]["reason"] == "skip in the plan: already stopped"
    stops = [r for r in mutations(emu) if r["query"].get("action") == "stop"]
    assert len(stops) == plan.counts["act"]


def test_the_id_is_the_same_for_the_same_selection_in_another_process(
        emu, mixed, triton_keys):
    plan = mixed.plan("add_tags", {"team": "ops"})
    assert mixed.plan("add_tags", team="ops").id == plan.id
    key = triton_keys["rsa"]
    script = textwrap.dedent(f"""
        import smartdc_nb
        dc = smartdc_nb.connect(url={emu.urls['us-east-1']!r}, account="demo",
                                key_id={key.md5!r}, key_path={str(key.private)!r},
                                name="us-east-1")
        west = dc.datacenter("us-west-1")
        ids = {[m.id for m in mixed]!r}
        machines = smartdc_nb.MachineList(
            [m for d in (dc, west) for m in d.machines() if m.id in ids])
        print(machines.plan("add_tags", {{"team": "ops"}}).id)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == plan.id
    assert mixed.plan("add_tags", team="dev").id != plan.id  # other arguments
    assert mixed.plan("delete_tags", "team").id != plan.id  # another action
    assert mixed[:3].plan("add_tags", team="ops").id != plan.id  # another selection
    emu.datacenter("us-east-1").set_state(mixed[0].id, "stopped")
    assert mixed.plan("add_tags", team="ops").id != plan.id  # a state changed


def test_a_machine_that_changed_since_the_plan_is_not_acted_on(emu, mixed):
    plan = mixed.plan("reboot")
    emu.datacenter("us-east-1").set_state(mixed[0].id, "stopped")  # someone stopped it since
    result = plan.apply(approve=plan.id, **FAST)
    rows = {row["name"]: row for row in result}
    assert rows["p-run0"]["outcome"] == "skipped"
    assert rows["p-run0"]["reason"].startswith(f"{CHANGED} (was running, now stopped")
    assert rows["p-run1"]["outcome"] == "done" and rows["p-west"]["outcome"] == "done"
    reboots = {r["path"].rsplit("/", 1)[1] for r in mutations(emu)}
    assert mixed[0].id not in reboots and mixed[1].id in reboots


def test_strict_refuses_the_whole_plan_when_anything_changed(emu, mixed):
    plan = mixed.plan("reboot")
    emu.datacenter("us-west-1").set_state(mixed[2].id, "stopped")
    with pytest.raises(PlanError, match=r"1 machine\(s\) changed since plan .*nothing was sent"
                                        r".*p-west.*was running, now stopped"):
        plan.apply(approve=plan.id, strict=True, **FAST)
    assert mutations(emu) == []


def test_a_machine_the_plan_left_alone_that_changed_is_said_and_strict_refuses(emu, mixed):
    """A stop plan skips p-stopped ("already stopped"); someone starts it before the apply.
    It is still not acted on (the plan did not approve that), but the result says it changed
    and shows its state now, not the plan's; strict=True refuses the plan, as for act rows."""
    plan = mixed.plan("stop")
    stopped = next(m for m in mixed if m.name == "p-stopped")
    emu.datacenter("us-east-1").set_state(stopped.id, "running")
    with pytest.raises(PlanError, match=r"1 machine\(s\) changed since plan .*p-stopped.*was "
                                        r"stopped, now running"):
        plan.apply(approve=plan.id, strict=True, **FAST)
    assert mutations(emu) == []
    result = plan.apply(approve=plan.id, **FAST)
    row = next(r for r in result if r["name"] == "p-stopped")
    assert row["outcome"] == "skipped" and row["final_state"] == "running"
    assert row["reason"] == (f"skip in the plan: already stopped; {CHANGED} (was stopped, now "
                             "running)")
    assert stopped.id not in {r["path"].rsplit("/", 1)[1].split("?")[0] for r in mutations(emu)}


def test_planned_names_are_the_names_applied(emu, mixed):
    machines = MachineList(m for m in mixed if m.name.startswith("p-run"))
    plan = machines.plan("rename", "{name}-{time}")
    planned = dict(zip(plan.frame["id"], plan.frame["request"]))
    time.sleep(1.1)  # a template expanded again now would give other names
    plan.apply(approve=plan.id, wait=True, **FAST)
    for machine in machines.refresh():
        assert planned[machine.id].endswith(f"name={machine.name}")


def test_a_snapshot_plan_without_a_name_names_them_as_the_bulk_method_does(emu, mixed):
    # plan()'s arguments are "as for the bulk method of the same name", whose name defaults
    # to "{datetime}"; plan("create_snapshot") refused: "give one name"
    machines = MachineList(m for m in mixed if m.name.startswith("p-run"))
    plan = machines.plan("create_snapshot")
    assert plan.counts["act"] == 2 and mutations(emu) == []
    result = plan.apply(approve=plan.id, wait=True, **FAST)
    assert result.ok
    for machine in machines:
        (snap,) = machine.snapshots()
        assert time.strptime(snap.name, "%Y%m%dT%H%M%SZ")  # the {datetime} template
    dry = machines.create_snapshot(dry_run=True, progress=False)  # the bulk method, as before
    # planned, or (within the same second) refused: each machine has a snapshot of that name
    taken = {m.id: m.known_snapshots[0].name for m in machines}
    for row in dry.outcomes:
        assert row.outcome == "planned" or (
            row.outcome == "skipped" and f"already has a snapshot {taken[row.machine.id]!r}"
            in row.reason), (row.outcome, row.reason)


def test_fleet_plans_need_where_and_frames_plan_too(emu, dc, mixed):
    fleet = Fleet(dc)
    with pytest.raises(InvalidInputError, match="say which machines"):
        fleet.plan("stop")
    plan = fleet.plan("stop", where={"tags": {"nope": "none"}})
    assert plan.rows == [] and plan.counts["act"] == 0
    assert plan.apply(approve=plan.id).outcomes == []
    frame = fleet.frames.machines()
    selected = frame[frame["name"].isin(["p-run0", "p-stopped"])]
    framed = selected.triton.plan("start")
    assert {r["name"]: r["verdict"] for r in framed.frame.to_dict("records")} == \
        {"p-run0": "skip", "p-stopped": "act"}
    assert mutations(emu) == []


def test_bad_input_is_refused_before_anything(emu, mixed):
    with pytest.raises(InvalidInputError, match="unknown bulk action 'halt'"):
        mixed.plan("halt")
    with pytest.raises(InvalidInputError, match="plan\\(\\) takes no confirm="):
        mixed.plan("stop", confirm=True)
    with pytest.raises(InvalidInputError, match="batch_size"):
        mixed.plan("reboot", batch_size=0)
    plan = mixed.plan("stop")
    with pytest.raises(InvalidInputError, match="apply\\(\\) takes run options.*colour"):
        plan.apply(approve=plan.id, colour="red")
    assert mutations(emu) == []


def test_the_estimate_counts_requests_under_the_rate_limit(emu, connect):
    dc = connect(rate_limit=2.0)
    machines = MachineList(fetched(dc, emu, name=f"p-est{i}") for i in range(8))
    plan = machines.plan("reboot", batch_size=3, timeout=60)
    est = plan.estimate
    burst = dc.transport.limiter.burst
    assert est["requests"] == 8 and est["batches"] == 3 and est["wait"]
    assert est["send_seconds"] == round(max(0, 8 - burst) / 2.0, 1)
    assert est["wait_bound_seconds"] == 180
    assert list(plan.frame["batch"]) == [1, 1, 1, 2, 2, 2, 3, 3]
    tags = machines.plan("delete_tags", "a", "b")
    assert tags.estimate["requests"] == 0 and tags.counts["skip"] == 8


def test_reprs_show_counts_id_and_escape_cloud_text(emu, dc):
    machines = MachineList([fetched(dc, emu, name="p-<img src=x>"),
                            fetched(dc, emu, name="p-ok", state="stopped")])
    plan = machines.plan("start")
    text = repr(plan)
    assert plan.id in text and "1 act, 1 skip" in text and f"approve='{plan.id}'" in text
    page = plan._repr_html_()
    assert plan.id in page and "<img src=x>" not in page and "&lt;img src=x&gt;" in page
    seen = words(page.split("</style>", 1)[1])
    assert "Datacenter act skip Total us-east-1 1 1 2" in seen  # counts per datacenter
    assert seen.index("p-ok") < seen.index("p-<img src=x>")  # the machines that act first
    assert f"Apply with plan.apply(approve='{plan.id}')" in seen and "nothing was sent" in seen
    assert "Pace up to 8 at once" in seen and "pace: up to 8 at once" in text


def test_the_plan_shows_what_its_approval_fixes(emu, dc):
    """What apply() cannot change is on the card and in the text: how many at once, the
    batches, and the health check by name (escaped: a name is the user's text)."""
    machines = MachineList(fetched(dc, emu, name=f"p-pace{i}") for i in range(3))
    namespace: dict = {}
    exec("def check_b(m):\n    return True\n", namespace)
    check = namespace["check_b"]
    check.__qualname__ = "check_<b>"  # as a name can be: text that must be escaped
    plan = machines.plan("reboot", batch_size=2, concurrency=4, health_check=check)
    said = "up to 4 at once, in batches of 2, each batch checked by check_<b>"
    assert f"pace: {said}" in repr(plan)
    page = plan._repr_html_()
    assert "check_<b>" not in page and "check_&lt;b&gt;" in page
    assert f"Pace {said}" in words(page.split("</style>", 1)[1])


def test_the_journal_ties_the_run_to_its_plan(emu, mixed):
    plan = mixed.plan("add_tags", team="ops")
    plan.apply(approve=plan.id, **FAST)
    run = journal_runs()[0]
    assert run.start["plan_id"] == plan.id
    assert {r["plan_id"] for r in run.records} == {plan.id}


def test_a_snapshot_plan_reads_the_machines_snapshots(emu, dc):
    has = fetched(dc, emu, name="p-snap", snapshots=["before"])
    lacks = fetched(dc, emu, name="p-nosnap")
    kvm = fetched(dc, emu, name="p-kvm-snap", brand="kvm")
    emu.clear_requests()
    plan = MachineList([has, lacks, kvm]).plan("delete_snapshot", "before")
    rows = by_name(plan)
    assert rows["p-snap"]["verdict"] == "act"
    assert rows["p-nosnap"]["verdict"] == "refused"
    assert "has no snapshot 'before'" in rows["p-nosnap"]["reason"]
    assert rows["p-kvm-snap"]["verdict"] == "refused"
    listed = {r["path"].split("/")[3] for r in emu.requests if r["path"].endswith("/snapshots")}
    assert listed == {has.id, lacks.id}  # a kvm machine has none to list
    assert mutations(emu) == []
    emu.clear_requests()
    again = MachineList([has, lacks]).plan("delete_snapshot", "before", refresh=False)
    assert by_name(again)["p-nosnap"]["verdict"] == "refused" and emu.requests == []  # known


def test_a_snapshot_name_the_machine_has_is_refused_by_the_plan_as_by_the_machine(emu, dc):
    """The plan said "act" for a machine that already has a snapshot of the name; its apply
    then failed it ("already has a snapshot"), as Machine.create_snapshot and the panel refuse
    it before sending: the plan and the run disagreed, which the one rules table forbids."""
    has = fetched(dc, emu, name="p-taken", snapshots=["nightly"])
    lacks = fetched(dc, emu, name="p-free")
    emu.clear_requests()
    plan = MachineList([has, lacks]).plan("create_snapshot", "nightly")
    rows = by_name(plan)
    assert rows["p-free"]["verdict"] == "act"
    assert rows["p-taken"]["verdict"] == "refused"
    assert "already has a snapshot 'nightly' (created)" in rows["p-taken"]["reason"]
    assert mutations(emu) == []
    result = plan.apply(approve=plan.id, wait=False, progress=False)
    outcomes = {o.machine.name: o for o in result.outcomes}
    assert outcomes["p-taken"].outcome == "skipped" and not outcomes["p-taken"].sent
    assert outcomes["p-taken"].reason.startswith("refused in the plan: already has a snapshot")
    assert outcomes["p-free"].sent
    assert [r["path"] for r in mutations(emu)] == [f"/demo/machines/{lacks.id}/snapshots"]
    with pytest.raises(ConflictError, match="already has a snapshot 'nightly'"):
        has.create_snapshot("nightly")  # the single action says the same, and sends nothing


def test_the_plan_card_names_a_datacenter_by_its_url_when_it_has_no_name(emu, connect):
    """A connection made with url= alone: the rows say where each machine is, as the counts do."""
    dc = connect(name=None)
    plan = MachineList([fetched(dc, emu, name="p-unnamed")]).plan("stop")
    seen = words(plan._repr_html_().split("</style>", 1)[1])
    assert seen.count(dc.url) == 2  # the counts per datacenter, and the machine's row


def test_send_timeout_bounds_the_reread_before_sending_and_not_the_wait(emu, dc):
    """What a panel's Yes needs: on a cloud that stopped answering, the re-read ends by
    send_timeout and nothing is sent; on one that answers, the wait after it is its own."""
    machines = MachineList([fetched(dc, emu, name=f"reread-{i}") for i in range(2)])
    plan = machines.plan("stop")
    with pytest.raises(InvalidInputError, match="send_timeout must be a number of seconds"):
        plan.apply(approve=plan.id, send_timeout=0)
    emu.faults.add(path="/demo/machines", method="GET", hold=True)
    started = time.monotonic()
    result = plan.apply(approve=plan.id, send_timeout=1, wait=True)
    took = time.monotonic() - started
    emu.faults.clear()
    assert took < 10, took  # not the socket's 60 s per read
    assert result.counts["not reached"] == 2 and mutations(emu) == []
    assert all("nothing was sent" in row["reason"] for row in result)
    assert "send_timeout=1s" in str(result.outcomes[0].error)

    again = machines.plan("stop")
    emu.faults.add(path="/demo/machines", method="GET", latency=0.6)  # every read is slow
    result = again.apply(approve=again.id, send_timeout=1, wait=True, **FAST)
    assert result.counts["done"] == 2, result.summary()
    assert result.elapsed > 1, result.elapsed  # the wait went on past send_timeout


def test_send_timeout_bounds_the_sends_too_and_says_they_may_be_applied(emu, dc):
    """The re-read answered, the stops did not: each send waited out the socket's 60 s (a
    panel's Yes with timeout=2 stayed busy a minute). A send cut off at send_timeout is
    said as one the cloud may have applied."""
    machines = MachineList([fetched(dc, emu, name=f"unsent-{i}") for i in range(2)])
    plan = machines.plan("stop")
    emu.faults.add(path="/demo/machines/", method="POST", hold=True)
    started = time.monotonic()
    try:
        result = plan.apply(approve=plan.id, send_timeout=1, wait=True, **FAST)
    finally:
        emu.faults.clear()
    took = time.monotonic() - started
    assert took < 10, took  # not the socket's 60 s per request
    assert result.counts["failed"] == 2, result.summary()
    for row in result.outcomes:
        assert "may have applied" in row.reason and "send_timeout=1s" in str(row.error), row
