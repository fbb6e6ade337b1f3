"""What the official ``triton`` CLI shows of the emulator where it once differed from
CloudAPI (each test names the sdc-cloudapi source it was checked against)."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = [pytest.mark.triton_cli, pytest.mark.slow]  # Node starts for every command

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def ok(result) -> str:
    code, out, err = result
    assert code == 0, f"exit {code}\nstdout: {out}\nstderr: {err}"
    return out


def test_a_provisioned_instance_has_a_compute_node(emu, triton_cli):
    # lib/machines.js translate(): compute_node is VMAPI's server_uuid, which the
    # provision job sets; only the 201 answer of CreateMachine has it null.
    ok(triton_cli("instance", "create", "-w", "-n", "cn-vm", "base-64-lts@23.4.0", "g4-highcpu-1G"))
    machine = json.loads(ok(triton_cli("instance", "get", "cn-vm")))
    assert machine["state"] == "running"
    assert isinstance(machine["compute_node"], str) and UUID.match(machine["compute_node"])
    listed = json.loads(ok(triton_cli("instance", "list", "-j", "name=cn-vm")))
    assert listed["compute_node"] == machine["compute_node"]


def test_create_with_a_nic_ip_gets_that_ip(emu, triton_cli):
    # lib/validation/networks.js validateNetworkObject() and lib/machines.js: ipv4_ips (one
    # IP, on a network the account owns) goes to VMAPI/NAPI, which give the NIC that address;
    # NAPI refuses an address outside the subnet (404 "IP is not in subnet", wrapped).
    nets = {n["name"]: n["id"] for n in map(json.loads, ok(triton_cli("network", "list", "-j"))
                                            .splitlines())}
    fabric, public = nets["My-Fabric-Network"], nets["Joyent-SDC-Public"]
    ok(triton_cli("instance", "create", "-w", "-n", "ip-vm", "--nic",
                  f"ipv4_uuid={fabric},ipv4_ips=192.168.128.77", "base-64-lts@23.4.0",
                  "g4-highcpu-1G"))
    machine = json.loads(ok(triton_cli("instance", "get", "ip-vm")))
    assert machine["ips"] == ["192.168.128.77"] and machine["networks"] == [fabric]
    assert machine["nics"][0]["ip"] == "192.168.128.77" and machine["primaryIp"] == "192.168.128.77"
    code, _, err = triton_cli("instance", "create", "-n", "ip-vm2", "--nic",
                              f"ipv4_uuid={public},ipv4_ips=165.225.128.50", "base-64-lts@23.4.0",
                              "g4-highcpu-1G")
    assert code == 1 and f"ipv4_uuid: {public} cannot specify IP on a public network" in err
    code, _, err = triton_cli("instance", "create", "-n", "ip-vm3", "--nic",
                              f"ipv4_uuid={fabric},ipv4_ips=10.1.2.3", "base-64-lts@23.4.0",
                              "g4-highcpu-1G")
    assert code == 1 and "error creating instance: cannot validate 10.1.2.3: IP is not in subnet" in err
    assert ok(triton_cli("instance", "list", "-H", "-o", "name", "name=ip-vm2")).strip() == ""


def test_create_with_a_nic_ip_in_use_or_managed_is_refused(emu, triton_cli):
    # NAPI refuses an address a NIC holds (VMAPI passes its InvalidParameters through,
    # lib/errors.js translateDuplicateIpErrors hides the holder) and lib/machines.js refuses
    # a managed one (the gateway belongs to the operator).
    fabric = next(n for n in emu.state.datacenters["us-east-1"].networks.values() if n.get("fabric"))
    taken = next(nic["ip"] for m in emu.state.datacenters["us-east-1"].machines.values()
                 for nic in m.nics if nic["network"] == fabric["id"] and m.state == "running")
    code, _, err = triton_cli("instance", "create", "-n", "dup-ip", "--nic",
                              f"ipv4_uuid={fabric['id']},ipv4_ips={taken}", "base-64-lts@23.4.0",
                              "g4-highcpu-1G")
    assert code == 1 and "ip: UsedBy: IP in use" in err, err
    code, _, err = triton_cli("instance", "create", "-n", "gw-ip", "--nic",
                              f"ipv4_uuid={fabric['id']},ipv4_ips=192.168.128.1",
                              "base-64-lts@23.4.0", "g4-highcpu-1G")
    assert code == 1 and "cannot use 192.168.128.1 because it is a managed IP" in err, err
    assert [r["status"] for r in emu.requests if r["method"] == "POST"] == [409, 409]
    emu.set_durations(provision=30)
    ok(triton_cli("instance", "create", "-n", "ip-a", "--nic",
                  f"ipv4_uuid={fabric['id']},ipv4_ips=192.168.128.99", "base-64-lts@23.4.0",
                  "g4-highcpu-1G"))  # still provisioning: its NIC already holds the address
    code, _, err = triton_cli("instance", "create", "-n", "ip-b", "--nic",
                              f"ipv4_uuid={fabric['id']},ipv4_ips=192.168.128.99",
                              "base-64-lts@23.4.0", "g4-highcpu-1G")
    assert code == 1 and "IP in use" in err, err


def test_names_longer_than_63_are_refused_with_cns_enabled(emu, triton_cli, machine_id):
    # lib/machines.js create() and rename(): a CNS-enabled account's names must fit a DNS label
    long_name, message = "n" * 64, ("Name cannot be longer than 63 characters, because you "
                                    "have triton_cns_enabled set on your Account.")
    ok(triton_cli("account", "update", "triton_cns_enabled=true"))
    code, _, err = triton_cli("instance", "create", "-n", long_name, "base-64-lts@23.4.0",
                              "g4-highcpu-1G")
    assert code == 1 and message in err, err
    code, _, err = triton_cli("instance", "rename", machine_id, long_name)
    assert code == 1 and message in err, err
    ok(triton_cli("instance", "rename", "-w", machine_id, "n" * 63))
    ok(triton_cli("account", "update", "triton_cns_enabled=false"))
    ok(triton_cli("instance", "rename", "-w", machine_id, long_name))


@pytest.mark.parametrize("args, message", [
    (["-b", "kvm", "base-64-lts@23.4.0", "g4-highcpu-1G"],
     'Brand "kvm" requires the image type to be "zvol"'),
    (["-b", "kvm", "debian-12", "b1-highcpu-bhyve-2G"],
     'Package requires brand "bhyve", but brand "kvm" was selected'),
    (["base-64-lts@23.4.0", "k4-highcpu-kvm-1.75G"],
     'Brand "kvm" requires the image type to be "zvol"'),
    (["-b", "lx", "debian-12", "g4-highcpu-1G"],
     'Unknown brand "lx". Brand is restricted to one of ["bhyve","kvm"]'),
])
def test_create_with_a_brand_the_image_or_package_cannot_take(emu, triton_cli, args, message):
    # lib/machines.js getBrand(): the brand asked for, the image's and the package's must agree,
    # and an HVM brand needs a zvol image (and only an HVM brand can use one)
    code, _, err = triton_cli("instance", "create", "-n", "brand-vm", *args)
    assert code == 1 and message in err, err
    assert [r["status"] for r in emu.requests if r["method"] == "POST"] == [409]


def test_actions_on_a_machine_still_provisioning_are_refused(emu, triton_cli):
    # sdc-vmapi lib/endpoints/vms.js updateVm: any action on a VM whose state is still
    # "provisioning" is 409 UnallocatedVM, which CloudAPI passes through (lib/machines.js
    # updateCallback, lib/snapshots.js); tags and metadata have their own endpoints.
    emu.set_durations(provision=60)
    ok(triton_cli("instance", "create", "-n", "young", "base-64-lts@23.4.0", "g4-highcpu-1G"))
    for args, action in ((["stop", "young"], "stop"), (["reboot", "young"], "reboot"),
                         (["enable-firewall", "young"], "update"),
                         (["rename", "young", "young2"], "update"),
                         (["snapshot", "create", "-n", "s1", "young"], "create_snapshot")):
        code, _, err = triton_cli("instance", *args)
        assert code == 1, (args, err)
        assert f"Cannot call {action} for a VM that has not been provisioned yet" in err, err
    ok(triton_cli("instance", "tag", "set", "young", "a=b"))
    machine = emu.state.datacenters["us-east-1"].machines
    young = next(m for m in machine.values() if m.name == "young")
    assert [job.kind for job in young.jobs] == ["provision", "set_tags"]
