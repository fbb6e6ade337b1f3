"""Machine: construction, attributes, identity and reprs, end to end against the emulator."""

from __future__ import annotations

import copy
import html
from datetime import datetime, timedelta, timezone

import pytest
from test_machine_support import fetched, logged, put

import smartdc_nb
from smartdc_nb.errors import InvalidInputError, NotFoundError
from smartdc_nb.machine import Credentials, Machine, parse_time, split_ips


def test_by_id_fetches_once_and_by_payload_never(emu, dc):
    mid = put(emu, name="web-01")
    emu.clear_requests()
    machine = Machine(dc, mid)
    assert [(r["method"], r["path"]) for r in emu.requests] == [("GET", f"/demo/machines/{mid}")]
    assert machine.name == "web-01" and machine.id == mid

    payload = dc.raw_machine_data(mid)
    original = copy.deepcopy(payload)
    emu.clear_requests()
    wrapped = Machine(dc, data=payload)
    assert emu.requests == []
    assert wrapped.raw == payload and wrapped.raw is not payload
    wrapped.raw["tags"]["x"] = "changed"
    assert payload == original  # the caller's dict is never touched (py-smartdc B8)


def test_by_id_of_a_deleted_machine_holds_its_tombstone(emu, dc):
    mid = put(emu, state="deleted")
    machine = Machine(dc, mid)
    assert machine.state == "deleted" and machine.id == mid


def test_bad_construction_is_refused_before_any_request(emu, dc):
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match="not a machine id.*dc.machine\\(name\\)"):
        Machine(dc, "web-01")
    with pytest.raises(InvalidInputError, match="id or a payload"):
        Machine(dc)
    with pytest.raises(InvalidInputError, match="with an 'id'"):
        Machine(dc, data={"name": "no id"})
    with pytest.raises(InvalidInputError, match="does not match"):
        Machine(dc, "00000000-0000-4000-8000-000000000001",
                data={"id": "00000000-0000-4000-8000-000000000002"})
    assert emu.requests == []


def test_unknown_machine_is_a_not_found_error_naming_it(dc):
    missing = "00000000-0000-4000-8000-00000000beef"
    with pytest.raises(NotFoundError, match=f"no machine {missing} in us-east-1") as info:
        Machine(dc, missing)
    assert info.value.status == 404 and info.value.request_id


def test_every_field_from_the_payload_and_none_when_missing(emu, dc):
    mid = put(emu, name="db-01", brand="lx", tags={"role": "db", "n": 3, "on": True},
              metadata={"user-script": "#!/bin/sh\necho hi\n", "note": "x"},
              firewall_enabled=True, deletion_protection=True, compute_node="cn-1",
              created=1_700_000_000.123, updated=1_700_000_100.5)
    m = Machine(dc, mid)
    raw = m.raw
    assert (m.id, m.name, m.brand, m.type, m.state) == (mid, "db-01", "lx", "smartmachine",
                                                        "running")
    assert (m.image, m.package, m.memory, m.disk) == (raw["image"], raw["package"], raw["memory"],
                                                     raw["disk"])
    assert m.tags == {"role": "db", "n": 3, "on": True}
    assert m.metadata["note"] == "x" and m.boot_script == "#!/bin/sh\necho hi\n"
    assert m.firewall_enabled is True and m.deletion_protection is True
    assert m.compute_node == "cn-1"
    assert m.ips == raw["ips"] and m.networks == raw["networks"] and m.nics == raw["nics"]
    assert m.primary_ip == raw["primaryIp"]
    assert m.docker is None and m.dns_names is None and m.free_space is None and m.disks is None
    assert m.created == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)
    assert m.updated == datetime(2023, 11, 14, 22, 15, 0, 500000, tzinfo=timezone.utc)
    assert m.age > timedelta(days=300)
    assert m.path == f"/demo/machines/{mid}"
    assert m.datacenter is dc

    m.tags["role"] = "changed"  # attributes are copies: the payload stays as fetched
    assert m.raw["tags"]["role"] == "db"

    bare = Machine(dc, data={"id": mid})
    for name in ("name", "type", "brand", "state", "image", "package", "memory", "disk", "ips",
                 "primary_ip", "networks", "nics", "metadata", "tags", "created", "updated",
                 "firewall_enabled", "deletion_protection", "compute_node", "docker",
                 "dns_names", "free_space", "flexible", "disks", "delegate_dataset", "encrypted",
                 "dataset", "boot_script", "age"):
        assert getattr(bare, name) is None, name


def test_fetched_at_and_known_snapshots(emu, dc):
    before = datetime.now(timezone.utc)
    m = fetched(dc, emu, snapshots=["daily"])
    assert before <= m.fetched_at <= datetime.now(timezone.utc)
    assert m.fetched_at.tzinfo is not None
    assert m.known_snapshots is None
    snaps = m.snapshots()
    assert [s.name for s in m.known_snapshots] == ["daily"] == [s.name for s in snaps]
    stamp = m.fetched_at
    m.refresh()
    assert m.fetched_at > stamp


def test_times_keep_fractions_and_zones():
    assert parse_time("2016-01-04T12:55:50.539Z") == datetime(2016, 1, 4, 12, 55, 50, 539000,
                                                              tzinfo=timezone.utc)
    assert parse_time("2014-02-28T10:50:42+01:00").utcoffset() == timedelta(hours=1)
    assert parse_time("2014-02-28T10:50:42").tzinfo == timezone.utc
    assert parse_time("yesterday") is None and parse_time(None) is None


def test_ip_classification():
    ips = ["8.8.8.8", "10.1.2.3", "172.16.0.1", "192.168.0.1", "100.64.1.1", "169.254.9.9",
           "2001:4860:4860::8888", "fd00::1", "fe80::1", "127.0.0.1", "dhcp", "165.225.1.2"]
    public, private = split_ips(ips)
    assert public == ["8.8.8.8", "2001:4860:4860::8888", "165.225.1.2"]
    assert private == ["10.1.2.3", "172.16.0.1", "192.168.0.1", "100.64.1.1", "169.254.9.9",
                       "fd00::1", "fe80::1", "127.0.0.1"]


def test_public_and_private_ips_are_lists(emu, dc):
    mid = put(emu, ips=["165.225.1.2", "100.64.0.7", "fd12::3"])
    m = Machine(dc, mid)
    assert m.public_ips == ["165.225.1.2"]
    assert m.private_ips == ["100.64.0.7", "fd12::3"]
    assert m.public_ips[0] == "165.225.1.2"  # a list, not a py3 filter object (py-smartdc P4)


def test_no_ips_refetches_once_per_object(emu, dc):
    mid = put(emu, ips=[])
    m = Machine(dc, data=dc.raw_machine_data(mid))
    emu.clear_requests()
    assert m.public_ips == [] and m.private_ips == [] and m.public_ips == []
    assert [r["path"] for r in logged(emu, "GET")] == [f"/demo/machines/{mid}"]
    assert repr(m) and m.ips == [] and len(emu.requests) == 1  # ips itself never fetches


def test_the_refetch_finds_ips_assigned_since(emu, dc):
    m = dc.create_machine(name="fresh-01", package="g4-highcpu-1G", image="base-64-lts")
    assert m.state == "provisioning" and m.ips == []
    m.wait_for("running", interval=0.05, progress=False)  # refresh in the wait fills ips
    fresh = Machine(dc, data={**m.raw, "ips": []})
    assert fresh.private_ips or fresh.public_ips
    assert fresh.ips  # the one re-GET replaced the payload


def test_credentials_are_fetched_on_request_and_masked_everywhere(emu, dc):
    m = fetched(dc, emu, credentials={"root": "s3cret-pw", "admin": "adm1n-pw"})
    assert "credentials" not in (m.metadata or {})
    emu.clear_requests()
    creds = m.get_credentials()
    assert logged(emu)[0]["query"] == {"credentials": "true"}
    assert isinstance(creds, Credentials) and isinstance(creds, dict)
    assert creds["root"] == "s3cret-pw" and dict(creds) == {"root": "s3cret-pw",
                                                           "admin": "adm1n-pw"}
    for shown in (repr(creds), str(creds), creds._repr_html_(), repr(m), repr(m.raw),
                  repr(m.metadata), m._repr_html_()):
        assert "s3cret" not in shown and "adm1n" not in shown
    assert "root" in repr(creds) and "********" in repr(creds)



def test_secret_metadata_values_are_masked_wherever_metadata_is_shown(emu, dc):
    # m.metadata and get_metadata() were plain dicts: shown in a cell, db_password's value
    # was printed in clear, though the card and the frames mask it (smartdc_nb.masking)
    from IPython.lib.pretty import pretty

    m = fetched(dc, emu, metadata={"db_password": "hunter2-pw", "api_token": "tok-s3cret",
                                   "role": "db"})
    updated = m.update_metadata(stripe_secret="sk-s3cret")
    shown = [m.metadata, m.get_metadata(), updated]
    for value in shown:
        for text in (repr(value), str(value), pretty(value), f"{value}"):
            assert "hunter2" not in text and "s3cret" not in text, text
            assert "'db_password': '********'" in text and "'role': 'db'" in text
    # ... and the values are there for code that reads them
    assert m.metadata["db_password"] == "hunter2-pw" and isinstance(m.metadata, dict)
    assert m.get_metadata() == {"db_password": "hunter2-pw", "api_token": "tok-s3cret",
                                "role": "db", "stripe_secret": "sk-s3cret"}


def test_metadata_shown_in_a_cell_gives_boot_scripts_by_size_as_the_card_does(emu, dc):
    # a cloud-config in user-data can hold a password: the card, the frames and history show
    # user-script, user-data and root_authorized_keys by size; m.metadata showed them whole
    from IPython.lib.pretty import pretty

    config = "#cloud-config\npassword: in-user-data\n"
    m = fetched(dc, emu, metadata={"user-data": config, "role": "db"})
    for text in (repr(m.metadata), pretty(m.metadata)):
        assert "in-user-data" not in text, text
        assert f"'user-data': '<script, {len(config.encode())} bytes>'" in text
    assert m.metadata["user-data"] == config

def test_long_metadata_shown_in_a_cell_is_laid_out_a_key_a_line_as_a_dict_is(emu, dc):
    # Metadata's pretty print was its one-line repr: a cell showed a machine's metadata as one
    # line that JupyterLab broke in the middle of keys and values, where a dict gets a key a line
    from IPython.lib.pretty import pretty

    values = {f"key_{i}": "value " * 5 for i in range(8)}
    m = fetched(dc, emu, metadata={"db_password": "hunter2-pw", **values})
    lines = pretty(m.metadata).splitlines()
    assert lines[0] == "Metadata({'db_password': '********',"
    assert lines[1:] == [f"          {k!r}: {v!r}," for k, v in values.items()][:-1] + \
        [f"          'key_7': {values['key_7']!r}}})"]
    assert pretty({"m": m.metadata}).count("hunter2") == 0


def test_equality_and_hash_by_datacenter_and_id(emu, dc, dc_west, connect):
    mid = put(emu)
    a, b = Machine(dc, mid), Machine(connect(), mid)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Machine(dc_west, data={"id": mid})
    assert a != Machine(dc, data={"id": put(emu)})
    assert (a == "not a machine") is False


def test_repr_is_short_and_makes_no_request(emu, dc):
    m = fetched(dc, emu, name="web-07", ips=[])
    emu.clear_requests()
    text = repr(m)
    assert text == f"<Machine web-07 ({m.id}) running in us-east-1>"

    class Printer:
        def text(self, value):
            self.value = value
    printer = Printer()
    m._repr_pretty_(printer, False)
    assert printer.value == text
    page = m._repr_html_()
    assert "web-07" in page and "<script" not in page
    assert emu.requests == []


def test_html_repr_escapes_hostile_names(emu, dc):
    m = fetched(dc, emu, name="x", tags={"<b>": "<script>alert(1)</script>"})
    m.raw["name"] = "<img src=x onerror=alert(1)>"
    page = m._repr_html_()
    assert "<img src=x" not in page and "<script>alert" not in page
    assert html.escape("<img src=x onerror=alert(1)>") in page or "&lt;img" in page


def test_credentials_given_as_json_text_or_garbage_never_break_the_proxy(emu, dc):
    # CloudAPI sends an object, but a payload may carry the JSON text given at create time,
    # or something else entirely: the Machine must still be built, and nothing leak
    mid = put(emu)
    base = dc.raw_machine_data(mid)
    as_text = Machine(dc, data={**base, "metadata": {"credentials": '{"root": "pw-1"}'}})
    assert dict(as_text._credentials) == {"root": "pw-1"}
    garbage = Machine(dc, data={**base, "metadata": {"credentials": "not json"}})
    assert dict(garbage._credentials) == {}
    assert "pw-1" not in repr(as_text.raw) + repr(as_text) + as_text._repr_html_()


def test_panel_delegates_to_the_widgets_package(emu, dc, monkeypatch):
    import sys
    import types

    m = fetched(dc, emu)
    fake = types.ModuleType("smartdc_nb.widgets")
    fake.machine_panel = lambda machine: ("panel for", machine)
    monkeypatch.setitem(sys.modules, "smartdc_nb.widgets", fake)
    assert m.panel() == ("panel for", m)


def test_names_beyond_the_seed_exist():
    # the seed's own names and return values are checked against its reference in test_seed_api
    for name in ("get_credentials", "rename", "replace_tags", "enable_firewall",
                 "disable_firewall", "enable_deletion_protection", "disable_deletion_protection",
                 "audit", "wait_for"):
        assert callable(getattr(Machine, name)), name
    assert smartdc_nb.Machine is Machine
