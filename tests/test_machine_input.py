"""Bad input: refused before the request where the client can know, else mapped from CloudAPI."""

from __future__ import annotations

import pytest
from test_machine_support import FAST, fetched, mutations, put

from smartdc_nb.errors import (BrandNotSupportedError, DeletionProtectedError,
                               InvalidArgumentError, InvalidInputError, MachineDeletedError,
                               NotFoundError)
from smartdc_nb.machine import Machine


@pytest.fixture
def m(emu, dc):
    machine = fetched(dc, emu, name="input-01", tags={"role": "web"})
    emu.clear_requests()
    return machine


@pytest.mark.parametrize("name, why", [
    ("", "non-empty"), ("-leading-dash", "invalid machine name"), ("has space", "invalid"),
    ("x" * 190, "at most 189"), (42, "non-empty string"),
])
def test_rename_refuses_bad_names(emu, m, name, why):
    with pytest.raises(InvalidInputError, match=why):
        m.rename(name)
    assert emu.requests == []


@pytest.mark.parametrize("values, why", [
    ({"count": 3}, "int value; metadata values are text"),
    ({"cfg": {"a": 1}}, "dict value"),
    ({"flag": True}, "bool value"),
    ({"nothing": None}, "NoneType value"),
    ({"root_pw": "x"}, "reserved for passwords"),
    ({"credentials": "x"}, "reserved for passwords"),
    ({}, "at least one"),
])
def test_metadata_values_must_be_strings(emu, m, values, why):
    with pytest.raises(InvalidInputError, match=why):
        m.update_metadata(**values)
    assert emu.requests == []


@pytest.mark.parametrize("tags, why", [
    ({"cfg": ["a"]}, "list value"),
    ({"none": None}, "NoneType value"),
    ({"triton.cns.disabled": True}, "unknown special tag 'triton.cns.disabled'"),
    ({"triton.cns.disable": "true"}, "must be a bool"),
    ({"triton.cns.services": 80}, "must be a str"),
    ({"": "empty key"}, "non-empty strings"),
    # CloudAPI reads these as its own request parameters and drops them without a word
    ({"image": "ubuntu-22"}, "'image' is a name CloudAPI keeps for its request parameters"),
    ({"role": "web", "owner_uuid": "x"}, "'owner_uuid' is a name CloudAPI keeps"),
])
def test_bad_tags_are_refused(emu, m, tags, why):
    for method in (m.add_tags, m.replace_tags):
        with pytest.raises(InvalidInputError, match=why):
            method(**tags)
    assert emu.requests == []


def test_empty_and_nameless_tag_calls(emu, m):
    with pytest.raises(InvalidInputError, match="at least one"):
        m.add_tags()
    for method in (m.get_tag, m.delete_tag):
        with pytest.raises(InvalidInputError, match="tag name"):
            method("")
    with pytest.raises(InvalidInputError, match="metadata key"):
        m.delete_metadata_at_key(None)
    assert emu.requests == []


def test_valid_special_tags_go_through(emu, m):
    m.add_tags(**{"triton.cns.disable": True, "triton.cns.services": "web:80"})
    assert emu.requests[-1]["body"] == {"triton.cns.disable": True,
                                        "triton.cns.services": "web:80"}


def test_unknown_package_is_refused_after_a_lookup_and_nothing_changes(emu, dc, m):
    with pytest.raises(InvalidInputError, match="no package 'g9-nonexistent' in us-east-1"):
        m.resize("g9-nonexistent")
    assert [(r["method"], r["path"]) for r in emu.requests] == [
        ("GET", "/demo/packages/g9-nonexistent")]
    with pytest.raises(InvalidInputError, match="package must be"):
        m.resize(None)


def test_kvm_cannot_resize_or_snapshot(emu, dc):
    kvm = fetched(dc, emu, brand="kvm", package="k4-highcpu-kvm-3.75G")
    emu.clear_requests()
    with pytest.raises(InvalidArgumentError, match="kvm machines cannot be resized") as info:
        kvm.resize("g4-highcpu-2G")
    assert info.value.request_id is None and "nothing was sent" in str(info.value)
    with pytest.raises(BrandNotSupportedError, match="kvm machines cannot be snapshotted") as info:
        kvm.create_snapshot("daily")
    assert info.value.code == "BrandNotSupported"
    assert emu.requests == []


@pytest.mark.parametrize("name", ["", "-x", "a/b", "x" * 65, "with space", None])
def test_bad_snapshot_names_are_refused(emu, m, name):
    with pytest.raises(InvalidInputError, match="snapshot name"):
        m.create_snapshot(name) if name is not None else m.start_from_snapshot(name)
    assert emu.requests == []


def test_deletion_protection_known_and_unknown(emu, dc):
    protected = fetched(dc, emu, deletion_protection=True)
    emu.clear_requests()
    with pytest.raises(DeletionProtectedError, match="disable_deletion_protection") as info:
        protected.delete()
    assert emu.requests == [] and info.value.request_id is None

    stale = Machine(dc, data={**protected.raw, "deletion_protection": False})
    with pytest.raises(DeletionProtectedError) as info:
        stale.delete()  # the client did not know: CloudAPI says so
    assert info.value.request_id and info.value.code == "CannotDestroyMachineError"


def test_acting_on_a_deleted_machine(emu, dc):
    gone = fetched(dc, emu, state="deleted")
    emu.clear_requests()
    for act in (gone.stop, gone.start, gone.reboot, gone.delete, gone.delete_all_tags,
                lambda: gone.add_tags(a="b"), lambda: gone.update_metadata(a="b"),
                lambda: gone.rename("new-name"), lambda: gone.create_snapshot("s1")):
        with pytest.raises(MachineDeletedError, match="is deleted"):
            act()
    assert emu.requests == []

    mid = put(emu)
    stale = Machine(dc, mid)
    stale.delete().wait_for("deleted", **FAST)
    stale.raw["state"] = "running"  # as if fetched before the delete
    with pytest.raises(MachineDeletedError, match="is deleted") as info:
        stale.stop()
    assert info.value.status == 410 and info.value.request_id
    assert stale.state == "deleted"  # the tombstone in the answer became the payload


def test_unknown_snapshot_tag_and_metadata_key(emu, m):
    with pytest.raises(NotFoundError, match="input-01 .* has no snapshot 'nope'"):
        m.raw_snapshot_data("nope")
    emu.clear_requests()
    with pytest.raises(NotFoundError, match="has no snapshot .nope."):
        m.start_from_snapshot("nope")  # its snapshots never listed: listed now, nothing sent
    assert mutations(emu) == []  # CloudAPI would accept it (202) and fail the job later
    with pytest.raises(NotFoundError, match='tag "nope" not found'):
        m.get_tag("nope")
    with pytest.raises(NotFoundError, match='metadatum "nope" not found'):
        m.delete_metadata_at_key("nope")


def test_protected_metadata_keys_are_refused_by_cloudapi(emu, m):
    with pytest.raises(InvalidArgumentError, match="can not be deleted"):
        m.delete_metadata_at_key("root_authorized_keys")


def test_unreadable_boot_script(emu, m, tmp_path):
    with pytest.raises(InvalidInputError, match="cannot read boot script"):
        m.set_boot_script(tmp_path / "missing.sh")
    binary = tmp_path / "tool.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\xff\xfe")
    with pytest.raises(InvalidInputError, match="is not UTF-8 text"):
        m.set_boot_script(binary)
    with pytest.raises(InvalidInputError, match="a file name, not None"):
        m.set_boot_script(None)
    assert emu.requests == []


@pytest.mark.parametrize("states", ["stoped", ["running", "sleeping"], [], None, 3,
                                    ["running", 3]])
def test_waiting_for_a_state_cloudapi_never_shows(emu, m, states):
    with pytest.raises(InvalidInputError, match="state"):
        m.wait_for(states)
    with pytest.raises(InvalidInputError, match="state"):
        m.poll_until(states)
    if states:
        with pytest.raises(InvalidInputError, match="state"):
            m.poll_while(states)
    assert emu.requests == []


@pytest.mark.parametrize("options, why", [
    ({"timeout": 0}, "timeout must be a positive"), ({"timeout": "10"}, "timeout"),
    ({"interval": 0}, "interval must be"), ({"max_interval": -1}, "max_interval"),
])
def test_bad_wait_timing(emu, m, options, why):
    with pytest.raises(InvalidInputError, match=why):
        m.wait_for("running", **options)
    assert emu.requests == []
