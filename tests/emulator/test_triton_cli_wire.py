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
