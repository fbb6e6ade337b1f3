"""The seed's API (py-smartdc 0.2.0 ``smartdc.machine``): every name, and what each returns.

:data:`SEED` is the contract, written from ``../shared/reference/py-smartdc.md`` §6-7 and
``seed-smartdc-machine.txt``; where the seed's documentation and its code disagree the
documentation wins (``Snapshot.start()`` is documented to return the snapshot). Where the
seed returned None, smartdc_nb returns the object itself (for chaining): nothing that used
the seed's None can break. Every other return value is the seed's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_machine_support import FAST, fetched

from smartdc_nb.machine import Credentials, Machine, Snapshot

SELF = "self"  # the seed returned None: the object itself is returned
#: member -> what it returns: a type, SELF, or "property"
SEED: dict[str, dict[str, object]] = {
    "Machine": {
        "path": "property", "ips": "property", "public_ips": "property",
        "private_ips": "property", "create_in_datacenter": Machine, "refresh": SELF,
        "credentials": dict, "status": str, "stop": SELF, "start": SELF, "reboot": SELF,
        "resize": SELF, "delete": SELF, "poll_until": SELF, "poll_while": SELF,
        "get_metadata": dict, "update_metadata": dict, "delete_metadata_at_key": dict,
        "set_boot_script": SELF, "delete_boot_script": SELF, "delete_all_metadata": dict,
        "get_tags": dict, "add_tags": dict, "get_tag": str, "delete_tag": SELF,
        "delete_all_tags": SELF, "raw_snapshot_data": dict, "snapshots": list,
        "create_snapshot": Snapshot, "start_from_snapshot": SELF, "snapshot": Snapshot,
    },
    "Snapshot": {"path": "property", "refresh": SELF, "status": str, "delete": SELF,
                 "start": SELF},
}


def _reference() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "reference" / "py-smartdc.md"
        if candidate.is_file():
            return candidate
    return None


def test_the_contract_names_every_member_of_the_reference():
    reference = _reference()
    if reference is None:
        pytest.skip("../shared/reference/py-smartdc.md is not next to this checkout")
    text = reference.read_text()
    for cls, section, end in (("Machine", "## 6.", "Module helpers"), ("Snapshot", "## 7.", "## 8.")):
        table = text[text.index(section):text.index(end, text.index(section))]
        names = set()
        for cell in re.findall(r"^\| (`[^|]+)\|", table, re.M):
            for part in re.findall(r"`([^`]+)`", cell):
                name = re.match(r"[a-z_]+", part)
                if name and not name.group().startswith("__"):
                    names.add(name.group())
        assert names == set(SEED[cls]), (cls, names ^ set(SEED[cls]))


@pytest.mark.parametrize("cls, name", [(c, n) for c, members in SEED.items() for n in members])
def test_every_seed_name_exists(cls, name):
    owner = {"Machine": Machine, "Snapshot": Snapshot}[cls]
    member = getattr(owner, name)
    if SEED[cls][name] == "property":
        assert isinstance(member, property), name
    else:
        assert callable(member), name


def returned(value, expected, owner) -> bool:
    if expected == SELF:
        return value is owner
    return isinstance(value, expected)


def test_every_seed_method_returns_what_the_seed_returns(emu, dc, tmp_path):
    m = fetched(dc, emu, tags={"role": "web"}, metadata={"note": "hi"},
                credentials={"root": "pw"}, snapshots=["nightly"])
    script = tmp_path / "boot.sh"
    script.write_text("echo hi\n")
    pkg = next(p for p in dc.packages() if p["name"] != m.package and p["memory"] >= m.memory)
    calls = {
        "refresh": lambda: m.refresh(), "credentials": lambda: m.credentials(),
        "status": lambda: m.status(),
        "get_metadata": lambda: m.get_metadata(), "update_metadata": lambda: m.update_metadata(a="1"),
        "delete_metadata_at_key": lambda: m.delete_metadata_at_key("note"),
        "set_boot_script": lambda: m.set_boot_script(script),
        "delete_boot_script": lambda: m.wait_until(
            lambda x: "user-script" in x.get_metadata(), "the script set", **FAST
        ).delete_boot_script(),
        "get_tags": lambda: m.get_tags(), "add_tags": lambda: m.add_tags(env="dev"),
        "get_tag": lambda: m.get_tag("role"), "delete_tag": lambda: m.delete_tag("role"),
        "raw_snapshot_data": lambda: m.raw_snapshot_data("nightly"),
        "snapshots": lambda: m.snapshots(), "snapshot": lambda: m.snapshot("nightly"),
        "create_snapshot": lambda: m.create_snapshot("seed-check"),
        "start_from_snapshot": lambda: m.start_from_snapshot("nightly"),
        "poll_until": lambda: m.poll_until("running", **FAST),
        "poll_while": lambda: m.poll_while("stopping", **FAST),
        "reboot": lambda: m.reboot(), "resize": lambda: m.resize(pkg["name"]),
        "stop": lambda: m.stop(), "start": lambda: m.wait_for("stopped", **FAST).start(),
        "delete_all_metadata": lambda: m.delete_all_metadata(),
        "delete_all_tags": lambda: m.delete_all_tags(),
    }
    for name, call in calls.items():
        value = call()
        assert returned(value, SEED["Machine"][name], m), (name, value)
        if name in ("start_from_snapshot", "reboot", "resize", "start"):
            m.wait_for("running", **FAST)
    assert all(isinstance(s, Snapshot) for s in m.snapshots())
    assert isinstance(m.credentials(), Credentials) and m.credentials() == {"root": "pw"}
    made = Machine.create_in_datacenter(dc, name="seed-made", package=pkg["name"],
                                        image=m.image)
    assert isinstance(made, Machine)

    snap = Snapshot(m, "nightly")
    for name, call in {"refresh": snap.refresh, "status": snap.status, "start": snap.start}.items():
        assert returned(call(), SEED["Snapshot"][name], snap), name
    m.wait_for("running", **FAST)
    assert returned(snap.delete(), SELF, snap)
    assert returned(m.wait_for("running", **FAST).delete(), SELF, m)


def test_credentials_fetch_only_when_none_are_cached(emu, dc):
    from test_machine_support import logged

    m = fetched(dc, emu, credentials={"root": "s3cret"})
    emu.clear_requests()
    assert m.credentials() == {"root": "s3cret"}
    assert [r["query"] for r in logged(emu)] == [{"credentials": "true"}]
    assert m.credentials() == {"root": "s3cret"} and len(logged(emu)) == 1  # cached: no request
    assert m.get_credentials() == {"root": "s3cret"} and len(logged(emu)) == 1  # the alias
    assert m.credentials(refresh=True) == {"root": "s3cret"} and len(logged(emu)) == 2


def test_str_is_the_id_and_a_payload_with_the_id_is_equal(emu, dc):
    m = fetched(dc, emu, name="seed-str")
    assert str(m) == m.id and f"{m}" == m.id and "seed-str" in repr(m)
    assert m == dc.raw_machine_data(m.id) and m != {"id": "someone-else"}
    assert m != "not a machine"
