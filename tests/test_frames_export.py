"""Frames as plain pandas, and built from what is known: export (parquet, CSV, pickle) with
plain attrs, ``from_machines`` without requests, IPs split as Machine splits them, values of
the wrong type left missing, and the column reader behind every frame."""

from __future__ import annotations

import io
import json
import pickle
import warnings

import pandas as pd
import pytest

from smartdc_nb.errors import InvalidInputError
from smartdc_nb.frames import MACHINE_COLUMNS, from_machines
from test_frames_support import MACHINE_DTYPES, dtypes, row_of


# ------------------------------------------------------------------ export and attrs


def test_export_is_plain_pandas(dc, tmp_path):
    df = dc.frames.machines()
    path = tmp_path / "m.parquet"
    df.to_parquet(path)
    back = pd.read_parquet(path)
    assert list(back.id) == list(df.id) and list(back.memory) == list(df.memory)
    assert back.attrs["fetched_at"] == df.attrs["fetched_at"]
    assert back.attrs["triton"] == str(df.attrs["triton"])
    json.dumps(df.attrs)  # attrs stay plain data
    text = df.drop(columns=["tags", "public_ips", "private_ips"]).to_csv(index=False)
    assert pd.read_csv(io.StringIO(text)).shape == (len(df), len(df.columns) - 3)
    clone = pickle.loads(pickle.dumps(df))
    assert clone.attrs["triton"] == str(df.attrs["triton"])
    assert type(clone.attrs["triton"]) is str


def test_from_machines_uses_only_what_is_known(emu, dc):
    from smartdc_nb.machine import Machine

    # Machines made from listed dicts: nothing has fetched the catalog (dc.machine() would,
    # for the cards' image names)
    machines = [Machine(dc, data=r) for r in dc.raw_machines()[:5]]
    emu.clear_requests()
    bare = from_machines(machines)
    assert emu.requests == []
    assert tuple(bare.columns) == (*MACHINE_COLUMNS, "tags") and dtypes(bare) == MACHINE_DTYPES
    assert list(bare.id) == [m.id for m in machines] and bare.image_name.isna().all()
    dc.packages()
    dc.images(state="all")
    emu.clear_requests()
    joined = from_machines(machines, tags_as="columns")
    assert emu.requests == [] and joined.image_name.notna().all()
    with pytest.raises(InvalidInputError, match="expected Machine objects"):
        from_machines([{"id": "x"}])


def test_ips_are_split_as_machine_splits_them(emu, dc):
    odd = ["10.0.0.5", "8.8.8.8", "100.64.1.1", "fd00::1", "2001:4860::1", "dhcp",
           "169.254.1.1", "10.1.2.300", "172.16.0.1", "172.32.0.1", "192.168.1.1", "192.0.0.8",
           "192.0.0.9", "8.8.8.9", 42, "10.0.0.07", "\u0661\u0660.0.0.1", "8.8.8.256"]
    handle = emu.datacenter("us-east-1")
    mixed = handle.put_machine(name="mixed", ips=odd)
    private_only = handle.put_machine(name="private-only", ips=["10.9.8.7", "192.168.0.2"])
    df = dc.frames.machines()
    for machine in dc.machines():
        row = row_of(df, machine.id)
        assert (row.public_ips, row.private_ips) == (machine.public_ips, machine.private_ips)
    row = row_of(df, mixed)
    assert {"8.8.8.8", "2001:4860::1", "172.32.0.1", "8.8.8.9"} <= set(row.public_ips)
    assert "dhcp" not in row.private_ips and "10.1.2.300" not in row.private_ips
    assert row_of(df, private_only).private_ips == ["10.9.8.7", "192.168.0.2"]


def test_ip_split_rows_of_every_shape_and_networks_known_from_an_earlier_frame(emu, dc):
    """Rows of one, two and more addresses, texts that are no single address (a line
    break, a prefix length, empty), and a second frame that finds its networks already
    classified: each row as Machine splits it."""
    rows = [["8.8.4.4", "10.0.0.9"], ["10.0.0.9", "8.8.4.4"], ["8.8.4.5", "8.8.4.6"],
            ["10.1.1.1", "10.1.1.2"], ["dhcp", 7], ["10.2.2.2\n8.8.8.8", "8.8.8.8/24"],
            ["", "192.0.0.10", "192.0.0.11", "fe80::1"], [None], ["1.1.1.1", "1.1.1.1", "x"]]
    handle = emu.datacenter("us-east-1")
    ids = [handle.put_machine(name=f"shape-{i}", ips=ips) for i, ips in enumerate(rows)]
    for frame in range(2):  # the second frame reuses what the first learnt of each /24
        df = dc.frames.machines()
        by_id = {m.id: m for m in dc.machines()}
        for machine_id in ids:
            row, machine = row_of(df, machine_id), by_id[machine_id]
            assert (row.public_ips, row.private_ips) == (machine.public_ips, machine.private_ips)
        if frame == 0:
            ids.append(handle.put_machine(name="same-nets-later",
                                          ips=["8.8.4.200", "10.0.0.200", "192.0.0.8"]))
    later = row_of(df, ids[-1])
    assert "8.8.4.200" in later.public_ips and "10.0.0.200" in later.private_ips
    assert row_of(df, ids[5]).public_ips == ["8.8.8.8/24"]  # as ipaddress reads "8.8.8.8"


def test_frames_namespace_makes_no_request(emu, dc, fleet):
    emu.clear_requests()
    assert repr(dc.frames).startswith("<Frames of <DataCenter us-east-1")
    assert repr(fleet.frames).startswith("<Frames of <Fleet demo")
    assert emu.requests == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fleet.frames.machines()


def test_values_of_the_wrong_type_are_missing_not_errors(emu, dc):
    """A payload CloudAPI would not send (a proxy's, another version's) still gives its row:
    each value of the wrong type is missing in its typed column."""
    handle = emu.datacenter("us-east-1")
    odd = handle.put_machine(name="odd", memory="lots", disk=1.5, ips="10.0.0.1", primaryIp=7,
                             state={"not": "a state"}, type=None)
    raw = next(m for m in dc.raw_machines() if m["id"] == odd)
    assert (raw["memory"], raw["state"], raw["ips"]) == ("lots", {"not": "a state"}, "10.0.0.1")
    df = dc.frames.machines()
    row = row_of(df, odd)
    assert pd.isna(row.memory) and pd.isna(row.disk) and pd.isna(row.state)
    assert row.public_ips == [] and row.private_ips == [] and pd.isna(row.type)
    assert row.primary_ip == "7"  # text columns keep a value's text
    assert dtypes(df) == MACHINE_DTYPES
    others = df[df.id != odd]
    assert others.memory.notna().all() and others.state.notna().all()


def test_fields_reads_each_record_whatever_its_first_record_holds():
    """fields() looks keys up with the first record's own key objects (a speed-up): a record
    without a key, with keys in another order, or with equal keys that are other objects
    reads the same; the first record lacking a key, or not being a dict, changes nothing."""
    from smartdc_nb.frames.columns import fields

    other = "".join(["na", "me"])  # equal to "name", another object
    records = [{"id": "a"}, {"name": "b-name", "id": "b"}, {other: "c-name", "id": "c"},
               {"state": "running", "id": "d", "name": "d-name"}]
    for first in (records, [{"zzz": 1}] + records):
        got = fields(first, ["id", "name", "state"])
        tail = slice(len(first) - 4, None)
        assert list(got["id"][tail]) == ["a", "b", "c", "d"]
        assert [v if isinstance(v, str) else None for v in got["name"][tail]] == [
            None, "b-name", "c-name", "d-name"]
        assert [v if isinstance(v, str) else None for v in got["state"][tail]] == [
            None, None, None, "running"]
