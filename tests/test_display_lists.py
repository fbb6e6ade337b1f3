"""HTML reprs of many things at once over the emulator's seeded fleet: machine lists (counts
per datacenter and state, the table capped), a fleet before and after listing, a datacenter,
and snapshots; none makes a request, and each is checked by test_display_support's parser."""

from __future__ import annotations

import re
from collections import Counter

import smartdc_nb
from smartdc_nb.display import options, render_html, render_text
from test_display_support import check_markup, counted


# ------------------------------------------------------------------ lists, fleet, datacenter

def test_machine_list_counts_per_datacenter_and_state_and_caps_the_table(emu, catalog, dc_west):
    machines = catalog.machines(tombstone=True) + dc_west.machines(tombstone=True)
    before = counted(emu)
    html = render_html(machines, max_rows=7)
    assert counted(emu) == before
    parsed = check_markup(html)
    expected = Counter((m.datacenter.name, m.state) for m in machines)
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", html).group(1)
    states = re.findall(r"sdcnb-badge sdcnb-\w+\">([^<]+)<", header)
    assert set(states) == {s for _, s in expected}
    for name in ("us-east-1", "us-west-1"):
        row = re.search(rf"<tr><td><bdi>{name}</bdi></td>(.*?)</tr>", html).group(1)
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
        assert [int(c or 0) for c in cells[:-1]] == [expected[(name, s)] for s in states]
        assert int(cells[-1]) == sum(v for (d, _), v in expected.items() if d == name)
    assert f"… and {len(machines) - 7} more" in parsed.text
    assert html.count("<tr>") == 1 + 3 + 1 + 7 + 1  # counts head + 2 dcs + All, head, rows, more
    assert f"{len(machines)} machines" in parsed.text


def test_the_default_cap_is_an_option(emu, catalog):
    machines = catalog.machines()
    saved = options.max_rows
    try:
        options.max_rows = 3
        assert f"… and {len(machines) - 3} more" in check_markup(render_html(machines)).text
    finally:
        options.max_rows = saved
    assert "more" not in render_text(catalog.machines(name=machines[0].name))


def test_an_empty_list_says_so(emu, dc):
    assert "no machines" in check_markup(render_html([])).text


def test_fleet_repr_before_and_after_listing(emu, catalog):
    fleet = smartdc_nb.Fleet(catalog)
    before = counted(emu)
    text = check_markup(render_html(fleet)).text
    assert counted(emu) == before
    assert "us-east-1" in text and "us-west-1" in text and "not listed yet" in text
    machines = fleet.machines()
    before = counted(emu)
    text = check_markup(render_html(fleet)).text
    assert counted(emu) == before
    assert f"{len(machines)} machines" in text
    for name in ("us-east-1", "us-west-1"):
        count = sum(1 for m in machines if m.datacenter.name == name)
        assert re.search(rf"{name}\s*{re.escape(fleet[name].url)}\s*{count}\s*ok", text)


def test_datacenter_repr_shows_what_is_known_without_a_request(emu, connect):
    dc = connect(name=None)
    before = counted(emu)
    text = check_markup(render_html(dc)).text
    assert counted(emu) == before
    assert "name not known yet" in text and dc.url in text and "demo" in text
    assert "not listed yet: dc.datacenters() lists them" in text
    assert "none yet: dc.packages() fetches them" in text
    dc.datacenters()
    dc.packages()
    before = counted(emu)
    text = check_markup(render_html(dc)).text
    assert counted(emu) == before
    assert "us-east-1" in text and "us-west-1" in text and emu.urls["us-west-1"] in text
    assert re.search(r"Packages known\s*\d+", text)


# ------------------------------------------------------------------ snapshots

def test_snapshot_and_snapshot_list_reprs(emu, catalog):
    machine = next(m for m in catalog.machines() if m.brand != "kvm" and m.snapshots())
    snapshots = machine.known_snapshots
    before = counted(emu)
    one = check_markup(render_html(snapshots[0])).text
    many = check_markup(render_html(snapshots)).text
    assert counted(emu) == before
    assert snapshots[0].name in one and machine.name in one and machine.id in one
    assert "created" in one and "Age" in one
    assert f"{len(snapshots)} snapshot" in many
    assert all(s.name in many for s in snapshots)
    assert f"{len(snapshots)} created" in many  # the count badge
