"""What a plan's id covers, so that approving it approves exactly what was reviewed: the
batches, concurrency, waits and health check (its body and the globals it reads, the same in
another process), covers=, and names from a date or time template; apply() refuses to
change any of it."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
import time

import pytest
from test_machine_support import FAST, fetched, mutations
from test_widgets_support import words

from smartdc_nb.errors import InvalidInputError
from smartdc_nb.machinelist import MachineList
from smartdc_nb.plans import PlanError


def test_the_id_covers_the_batches_and_how_the_run_goes(emu, dc):
    """What was reviewed includes how many machines act at once and what is waited for: the
    same machines with other batches are another plan, and apply() cannot change the batches."""
    machines = MachineList(fetched(dc, emu, name=f"p-roll{i}") for i in range(4))
    by_two = machines.plan("reboot", batch_size=2, timeout=60)
    ids = {by_two.id, machines.plan("reboot", batch_size=3, timeout=60).id,
           machines.plan("reboot", batch_size=2, timeout=90).id,
           machines.plan("reboot", batch_size=2, timeout=60, health_check=lambda m: True).id,
           machines.plan("reboot", timeout=60).id}
    assert len(ids) == 5
    assert machines.plan("reboot", batch_size=2, timeout=60).id == by_two.id  # and stays put
    with pytest.raises(PlanError, match=r"batch_size=4 is not the plan's \(2\): its batches "
                                        r"are part of what was approved"):
        by_two.apply(approve=by_two.id, batch_size=4, **FAST)
    assert mutations(emu) == []
    result = by_two.apply(approve=by_two.id, batch_size=2, **FAST)  # the same batches: fine
    assert result.counts["done"] == 4


def test_apply_cannot_change_what_was_approved(emu, dc):
    """The approval fixes who acts and how many at once: apply() refuses another concurrency,
    another health check, or in a rolling plan another wait, sending nothing. How long to wait
    and how to show progress stay the caller's."""
    machines = MachineList(fetched(dc, emu, name=f"p-fix{i}") for i in range(3))

    def healthy(m):
        return m.state == "running"

    def lenient(m):
        return True
    rolling = machines.plan("reboot", batch_size=1, health_check=healthy)
    plain = machines.plan("stop")
    emu.clear_requests()
    for plan, options, message in (
            (plain, {"concurrency": 50}, r"concurrency=50 is not the plan's \(8\): how many act "
                                         r"at once is part of what was approved\. Plan again "
                                         r"with concurrency=50 to review that"),
            (plain, {"health_check": healthy}, r"health_check=.*healthy is not the plan's "
                                               r"\(None\): its health check is part of"),
            (rolling, {"health_check": lenient}, r"health_check=.*lenient is not the plan's "
                                                 r"\(.*healthy\)"),
            (rolling, {"wait": "stopped"}, r"wait='stopped' is not the plan's \(True\): in a "
                                           r"rolling plan, what is waited for before the next "
                                           r"batch goes is part of what was approved")):
        with pytest.raises(PlanError, match=message):
            plan.apply(approve=plan.id, **options, **FAST)
    assert emu.requests == []
    result = rolling.apply(approve=rolling.id, health_check=healthy, concurrency=8, wait=True,
                           timeout=120, **FAST)  # the same, said again; a longer wait: fine
    assert result.counts["done"] == 3
    stopped = plain.apply(approve=plain.id, wait=True, timeout=60, **FAST)
    assert stopped.counts["done"] == 3


def test_covers_puts_more_under_the_approval(emu, dc):
    """A runbook's parameters and the id of a plan it applies first change the id, and the
    reprs say what else the id covers (escaped)."""
    machines = MachineList(fetched(dc, emu, name=f"p-cov{i}") for i in range(2))
    first = machines.plan("create_snapshot", "pre-{date}")
    plain = machines.plan("reboot")
    covered = machines.plan("reboot", covers={"snapshot_plan": first.id, "check": "<tcp:22>"})
    other = machines.plan("reboot", covers={"snapshot_plan": first.id, "check": "running"})
    assert len({plain.id, covered.id, other.id}) == 3
    assert covered.id == machines.plan(
        "reboot", covers={"check": "<tcp:22>", "snapshot_plan": first.id}).id  # order: no matter
    assert f"the id also covers snapshot_plan='{first.id}', check='<tcp:22>'" in repr(covered)
    page = covered._repr_html_()
    assert "&lt;tcp:22&gt;" in page and "<tcp:22>" not in page
    assert "Also covers" in words(page.split("</style>", 1)[1])
    with pytest.raises(InvalidInputError, match="covers= takes a mapping"):
        machines.plan("reboot", covers=["snapshot_plan"])
    assert mutations(emu) == []


def test_a_snapshot_plan_made_another_day_is_another_plan(emu, dc, monkeypatch):
    """Names from a template with {date} are part of each machine's request, so the id of
    yesterday's dry run does not approve today's snapshots (the rolling reboot's covers= has
    this id)."""
    from datetime import datetime, timezone

    import smartdc_nb.operations.actions as actions

    machines = MachineList([fetched(dc, emu, name="p-day")])
    today = machines.plan("create_snapshot", "pre-{date}")

    class Tomorrow(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2099, 1, 2, tzinfo=timezone.utc)

    monkeypatch.setattr(actions, "datetime", Tomorrow)
    tomorrow = machines.plan("create_snapshot", "pre-{date}")
    assert "pre-20990102" in tomorrow.rows[0].request and tomorrow.id != today.id


def test_covers_takes_plain_data_only(emu, dc):
    """A value whose text would differ in another process (an object's repr with its address)
    would make an id no later run can match: it is refused, saying what to give instead."""
    machines = MachineList([fetched(dc, emu, name="p-plain")])

    class Check:
        pass

    emu.clear_requests()
    for bad in ({"check": Check()}, {"nested": {"ok": [1, {"deep": object()}]}}):
        with pytest.raises(InvalidInputError, match=r"covers=\{'(check|nested)': \.\.\.\} holds a "
                                                    r"(Check|object); give plain data"):
            machines.plan("reboot", covers=bad)
    assert emu.requests == []  # refused before the machines were read
    fine = machines.plan("reboot", covers={"n": [1, 2.5, None, True, {"k": "v"}], "t": ("a",)})
    assert fine.covers["t"] == ("a",)


def test_a_health_check_redefined_after_the_dry_run_is_another_plan(emu, dc):
    """The id covers a health check's body, not only its name: a notebook that redefines
    ``healthy`` between the dry run and the apply cannot apply under the old id."""
    machines = MachineList(fetched(dc, emu, name=f"p-hc{i}") for i in range(2))

    def plan_id(check):
        return machines.plan("reboot", batch_size=1, health_check=check).id

    # the redefinitions are the point (F811); the source is what counts, comments too
    def healthy(m):  # noqa: F811
        return m.state == "running"
    reviewed = plan_id(healthy)

    def healthy(m):  # noqa: F811
        return m.state == "running" and bool(m.ips)
    assert plan_id(healthy) != reviewed

    def healthy(m):  # noqa: F811
        return m.state == "running"
    assert plan_id(healthy) == reviewed  # the same body again: the same plan

    def port_check(port):
        def answers(m):
            return port > 0
        return answers
    assert plan_id(port_check(22)) == plan_id(port_check(22)) != plan_id(port_check(80))

    def on_port(m, port):
        return port > 0
    assert plan_id(functools.partial(on_port, port=22)) != plan_id(
        functools.partial(on_port, port=80))

    yes, no = (lambda m: True), (lambda m: False)  # one line: its source names both
    assert plan_id(yes) != plan_id(no)

    def made(body):  # a function Python has no source for
        namespace: dict = {}
        exec(f"def healthy(m):\n    return {body}\n", namespace)
        return namespace["healthy"]
    assert plan_id(made("True")) == plan_id(made("True")) != plan_id(made("False"))
    assert mutations(emu) == []


def test_a_health_check_reading_a_changed_global_is_another_plan(emu, dc):
    """A check that reads a notebook's global (PORT = 22; ... PORT) was the same plan after
    PORT = 8080, so the dry run's id approved a check on another port. The values of the
    globals it reads (plain data; anything else by its type) are now in the id; a global
    that only shares its name with an attribute the check reads is not."""
    machines = MachineList(fetched(dc, emu, name=f"p-hg{i}") for i in range(2))
    namespace: dict = {"PORT": 22, "state": "x", "helper": len}
    exec("def healthy(m):\n    return PORT > 0 and m.state == 'running' and helper([1])\n",
         namespace)

    def plan_id():
        return machines.plan("reboot", batch_size=1, health_check=namespace["healthy"]).id

    reviewed = plan_id()
    namespace["PORT"] = 8080
    on_8080 = plan_id()
    assert on_8080 != reviewed
    namespace["state"] = "y"  # m.state is an attribute, not this global
    namespace["helper"] = max  # a function: by its type, as before
    assert plan_id() == on_8080
    namespace["PORT"] = 22
    assert plan_id() == reviewed
    assert mutations(emu) == []


def test_a_health_check_gives_the_same_id_in_another_process(emu, dc, triton_keys, tmp_path):
    """A headless apply runs the same code in another process (another hash seed): the same
    health check gives the same id there, from its source, its compiled code or both."""
    ids = [fetched(dc, emu, name=f"p-hcx{i}").id for i in range(2)]
    key = triton_keys["rsa"]
    script = tmp_path / "apply.py"

    def run(body: str, seed: str) -> list[str]:
        script.write_text(textwrap.dedent(f"""
            import smartdc_nb
            dc = smartdc_nb.connect(url={emu.urls['us-east-1']!r}, account="demo",
                                    key_id={key.md5!r}, key_path={str(key.private)!r},
                                    name="us-east-1")
            machines = smartdc_nb.MachineList(m for m in dc.machines() if m.id in {ids!r})

            def healthy(m):
                return {body}
            namespace = {{}}
            exec("def made(m):\\n    return " + {body!r}, namespace)
            for check in (healthy, namespace["made"], lambda m: {body}):
                print(machines.plan("reboot", batch_size=1, health_check=check).id)
        """))
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             timeout=120, env={**os.environ, "PYTHONHASHSEED": seed})
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    reviewed = run('m.state in {"running", "ready"}', seed="1")
    assert len(set(reviewed)) == 3  # another name: another plan
    assert run('m.state in {"running", "ready"}', seed="2") == reviewed
    changed = run('m.state in {"running"}', seed="1")
    assert not set(changed) & set(reviewed)


def test_a_plan_named_to_the_second_says_no_other_run_can_approve_it(emu, dc):
    """Names from {datetime} or {time} are the time of planning to the second, so every
    planning has another id: a wrong approve= said only "its id is X", and X was refused too
    the next time (another second). The refusal and the reprs now say why, and what to use."""
    machines = MachineList([fetched(dc, emu, name="p-second")])
    plan = machines.plan("create_snapshot", "pre-{datetime}")
    time.sleep(1.1)
    again = machines.plan("create_snapshot", "pre-{datetime}")
    assert again.id != plan.id  # the trap: the id printed by one run never matches the next
    with pytest.raises(PlanError) as refused:
        again.apply(approve=plan.id)
    said = str(refused.value)
    assert again.id in said and "'pre-{datetime}'" in said and "{date}" in said
    assert "only this plan object" in said
    assert "{datetime}" in repr(again) and "only this plan object" in repr(again)
    card = words(again._repr_html_().split("</style>", 1)[1])
    assert "Note Its names come from" in card and "or a fixed name." in card
    assert machines.plan("create_snapshot", "pre-{date}").time_bound is None
    assert machines.plan("rename", "{name}-{time}").time_bound  # any template, {time} too
    assert mutations(emu) == []
