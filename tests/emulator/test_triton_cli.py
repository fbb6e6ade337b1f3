"""The official ``triton`` CLI (7.17.0) against the emulator, unchanged.

Each test checks what the CLI prints, not only its exit code, and that every
request it made was answered without an error.
"""

from __future__ import annotations

import json
import re
import threading

import pytest
from polling import eventually

pytestmark = [pytest.mark.triton_cli, pytest.mark.slow]  # Node starts for every command


def ok(result) -> str:
    code, out, err = result
    assert code == 0, f"exit {code}\nstdout: {out}\nstderr: {err}"
    return out


def no_errors(emu) -> None:
    bad = [(r["method"], r["path"], r["status"]) for r in emu.requests if r["status"] != 200
           and r["status"] not in (201, 202, 204)]
    assert not bad, bad


def test_read_commands(emu, triton_cli, triton_keys):
    account = ok(triton_cli("account", "get"))
    assert re.search(r"^login: demo$", account, re.M) and "email: demo@example.com" in account
    dcs = ok(triton_cli("datacenters"))
    assert re.search(rf"^us-east-1\s+{re.escape(emu.urls['us-east-1'])}$", dcs, re.M)
    assert re.search(rf"^us-west-1\s+{re.escape(emu.urls['us-west-1'])}$", dcs, re.M)
    packages = ok(triton_cli("package", "list"))
    assert re.search(r"\sg4-highcpu-1G\s+1G\s+2G\s+25G\s+1$", packages, re.M)
    assert "g3-standard" not in packages
    images = ok(triton_cli("image", "list"))
    assert re.search(r"\sbase-64-lts\s+23\.4\.0\s+P\s+smartos\s+zone-dataset\s+\d{4}-\d\d-15$", images, re.M)
    assert "centos-7" not in images and "centos-7" in ok(triton_cli("image", "list", "-a"))
    networks = ok(triton_cli("network", "list"))
    assert re.search(r"My-Fabric-Network\s+192\.168\.128\.0/22\s+192\.168\.128\.1\s+true\s+2\s+false", networks)
    keys = ok(triton_cli("key", "list"))
    for name in ("rsa", "ed25519", "ecdsa_p521"):
        assert re.search(rf"^{triton_keys[name].md5}\s+smartdc_nb-test-{name}$", keys, re.M)
    no_errors(emu)


@pytest.mark.parametrize("key", ["rsa_openssh", "ecdsa_p256", "ecdsa_p521", "ed25519"])
def test_every_key_type(emu, triton_cli, key):
    assert "login: demo" in ok(triton_cli("account", "get", key=key))


def test_sub_user(emu, triton_cli):
    assert "login: demo" in ok(triton_cli("account", "get", key="ops_ed25519", user="ops"))
    assert emu.requests[-1]["status"] == 200


def test_instance_list_over_1000_machines(emu, triton_cli):
    dc = emu.datacenter("us-west-1")
    for i in range(1100):
        dc.put_machine(name=f"bulk-{i:04d}", tags={"bulk": "yes"})
    seeded = len([m for m in emu.state.datacenters["us-west-1"].machines.values()
                  if m.state not in ("deleted", "failed")])
    out = ok(triton_cli("instance", "list", "-H", "-o", "name,state", datacenter="us-west-1"))
    names = [line.split()[0] for line in out.splitlines()]
    assert len(names) == seeded and len(set(names)) == seeded
    assert sum(n.startswith("bulk-") for n in names) == 1100
    pages = [(r["query"]["limit"], r["query"]["offset"]) for r in emu.requests
             if r["path"] == "/demo/machines"]
    assert pages == [("1000", "0"), ("1000", "1000")]
    filtered = ok(triton_cli("instance", "list", "-H", "-o", "name", "tag.bulk=yes", datacenter="us-west-1"))
    assert len(filtered.split()) == 1100


def test_instance_lifecycle(emu, triton_cli):
    created = ok(triton_cli("instance", "create", "-w", "-n", "cli-vm", "base-64-lts@23.4.0", "g4-highcpu-1G"))
    assert re.search(r"Creating instance cli-vm \(([0-9a-f-]{36}), base-64-lts@23\.4\.0, g4-highcpu-1G\)", created)
    assert re.search(r"Created instance cli-vm \([0-9a-f-]{36}\) in \d+s", created)
    machine = json.loads(ok(triton_cli("instance", "get", "cli-vm")))
    assert machine["state"] == "running" and machine["package"] == "g4-highcpu-1G" and machine["ips"]
    assert "Stop instance cli-vm" in ok(triton_cli("instance", "stop", "-w", "cli-vm"))
    assert json.loads(ok(triton_cli("instance", "get", machine["id"])))["state"] == "stopped"
    assert "Start instance cli-vm" in ok(triton_cli("instance", "start", "-w", "cli-vm"))
    rebooted = ok(triton_cli("instance", "reboot", "-w", "cli-vm"))
    assert "Rebooting instance cli-vm" in rebooted and "Rebooted instance cli-vm" in rebooted
    resized = ok(triton_cli("instance", "resize", "-w", "cli-vm", "g4-highcpu-2G"))
    assert 'Resized instance cli-vm to "g4-highcpu-2G"' in resized
    renamed = ok(triton_cli("instance", "rename", "-w", "cli-vm", "cli-vm2"))
    assert 'Renamed instance cli-vm to "cli-vm2"' in renamed
    after = json.loads(ok(triton_cli("instance", "get", machine["id"])))
    assert (after["name"], after["package"], after["memory"]) == ("cli-vm2", "g4-highcpu-2G", 2048)
    listed = ok(triton_cli("instance", "list", "-H", "-o", "shortid,name,state"))
    assert re.search(rf"^{machine['id'][:8]}\s+cli-vm2\s+running$", listed, re.M)
    assert "Delete instance cli-vm2" in ok(triton_cli("instance", "delete", "-w", "-f", "cli-vm2"))
    code, out, err = triton_cli("instance", "get", machine["id"])
    assert code == 3 and "InstanceDeleted" in err
    code, _, err = triton_cli("instance", "get", "cli-vm2")
    assert code == 3 and 'no instance with name or short id "cli-vm2" was found' in err
    actions = [e["action"] for e in emu.state.datacenters["us-east-1"].machines[machine["id"]].audit]
    assert actions == ["provision", "stop", "start", "reboot", "resize", "rename", "destroy"]


def test_instance_tags(emu, triton_cli, machine_id):
    shown = json.loads(ok(triton_cli("instance", "tag", "set", "-w", machine_id, "env=prod", "n=3", "on=true")))
    assert shown == {"role": "web", "env": "prod", "n": 3, "on": True}
    assert json.loads(ok(triton_cli("instance", "tag", "list", machine_id))) == shown
    assert ok(triton_cli("instance", "tag", "get", machine_id, "env")).strip() == "prod"
    assert "Deleted tag env on instance" in ok(triton_cli("instance", "tag", "delete", "-w", machine_id, "env"))
    assert "env" not in json.loads(ok(triton_cli("instance", "tag", "list", "fixture-vm")))
    code, _, err = triton_cli("instance", "tag", "set", machine_id, "triton.nope=1")
    assert code == 1 and 'Unrecognized special triton tag "triton.nope"' in err


def test_instance_metadata(emu, triton_cli, machine_id):
    shown = json.loads(ok(triton_cli("instance", "metadata", "set", "-w", machine_id, "colour=blue")))
    assert shown == {"foo": "bar", "colour": "blue"}
    listed = json.loads(ok(triton_cli("instance", "metadata", "list", machine_id)))
    assert listed["colour"] == "blue"
    assert ok(triton_cli("instance", "metadata", "get", machine_id, "colour")).strip() == "blue"
    ok(triton_cli("instance", "metadata", "delete", "-w", "-f", machine_id, "colour"))
    assert "colour" not in json.loads(ok(triton_cli("instance", "metadata", "list", machine_id)))
    audit = emu.state.datacenters["us-east-1"].machines[machine_id].audit
    assert [e["action"] for e in audit[-2:]] == ["set_metadata", "remove_metadata"]


def test_instance_snapshots(emu, triton_cli, machine_id):
    created = ok(triton_cli("instance", "snapshot", "create", "-w", "-n", "snap1", machine_id))
    assert "Created snapshot \"snap1\"" in created
    listed = ok(triton_cli("instance", "snapshot", "list", machine_id))
    assert re.search(r"^snap1\s+created\s+\d{4}-\d\d-\d\dT", listed, re.M)
    got = json.loads(ok(triton_cli("instance", "snapshot", "get", machine_id, "snap1")))
    assert (got["name"], got["state"]) == ("snap1", "created")
    deleted = ok(triton_cli("instance", "snapshot", "delete", "-w", "-f", machine_id, "snap1"))
    assert 'Deleted snapshot "snap1"' in deleted
    assert "snap1" not in ok(triton_cli("instance", "snapshot", "list", machine_id))
    no_errors(emu)


def test_instance_start_from_a_snapshot_boots_a_stopped_machine(emu, triton_cli, machine_id):
    # CloudAPI's rollback job skips the stop for a stopped machine, rolls back, and starts it
    # (the job expects "running"); the CLI's -w waits for exactly that.
    ok(triton_cli("instance", "snapshot", "create", "-w", "-n", "before", machine_id))
    ok(triton_cli("instance", "stop", "-w", machine_id))
    assert json.loads(ok(triton_cli("instance", "get", machine_id)))["state"] == "stopped"
    started = ok(triton_cli("instance", "start", "-w", "--snapshot", "before", machine_id,
                            timeout=60))
    assert "Start instance" in started
    assert json.loads(ok(triton_cli("instance", "get", machine_id)))["state"] == "running"
    audit = emu.state.datacenters["us-east-1"].machines[machine_id].audit
    assert (audit[-1]["action"], audit[-1]["success"]) == ("rollback_snapshot", "yes")
    no_errors(emu)


def test_instance_snapshot_create_waits_through_the_mid_job_state(emu, api, triton_cli,
                                                                  machine_id):
    """``create -w`` polls GetMachineSnapshot every second until ``created`` or ``failed``:
    the snapshot is ``deleted`` until the job takes it, then ``running``. Time moves only when
    the CLI has asked: its first GET sees ``deleted``, its second ``running``, its third
    ``created``; while it waits, the list shows the snapshot ``running``."""
    path = f"/my/machines/{machine_id}/snapshots"
    emu.clock.set_manual(True)
    emu.set_durations(create_snapshot=3.0)
    seen: list[tuple[str, dict]] = []

    def gets() -> int:  # the CLI's (it asks under /demo, this test's client under /my)
        return sum(1 for r in emu.requests if r["method"] == "GET"
                   and r["path"] == f"/demo/machines/{machine_id}/snapshots/mid")

    def drive() -> None:
        for move in (2.5, 1.0):  # into the job after it took the snapshot, then past its end
            eventually(lambda: gets() > len(seen), timeout=60)
            seen.append((api.get(f"{path}/mid").json()["state"],
                         {s["name"]: s["state"] for s in api.get(path).json()}))
            emu.clock.advance(move)

    driver = threading.Thread(target=drive)
    driver.start()
    try:
        created = ok(triton_cli("instance", "snapshot", "create", "-w", "-n", "mid", machine_id))
    finally:
        driver.join()
        emu.clock.reset()
    assert 'Created snapshot "mid"' in created
    assert seen == [("deleted", {}), ("running", {"mid": "running"})]
    assert gets() == 3
    no_errors(emu)
