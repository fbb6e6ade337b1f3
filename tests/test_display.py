"""HTML and text reprs over the emulator's seeded fleet: structure, escaping, masking, no requests.

Every rendered output is parsed with html.parser (test_display_support's check_markup); the
checks are on the parsed elements and text, so markup smuggled in through cloud data would
show up as an element or attribute that the templates never write. The reprs of lists, a
fleet, a datacenter and snapshots are in test_display_lists.
"""

from __future__ import annotations

import re

import pytest

import smartdc_nb
from smartdc_nb.display import card_for, render_html, render_text
from smartdc_nb.machine import Machine
from test_display_support import Parsed, check_markup, counted

HOSTILE = ('<script>alert(1)</script><img src=x onerror="alert(2)"></td></details>'
           '"q" \'s\' {{ 7*7 }} {% raw %} $x^2$ \u202eevil\u202c ünï 名前 <!-- x')


def seeded(dc, **want) -> Machine:
    return next(m for m in dc.machines(tombstone=True)
                if all(m.raw.get(k) == v for k, v in want.items()))


# ------------------------------------------------------------------ Machine

def test_machine_repr_shows_every_fact_from_the_payload_and_catalog(emu, catalog):
    machine = seeded(catalog, state="running", brand="joyent")
    raw = machine.raw
    image = catalog.known_image(raw["image"])
    package = catalog.known_package(raw["package"])
    before = counted(emu)
    html = render_html(machine)
    assert counted(emu) == before
    parsed = check_markup(html)
    text = parsed.text

    assert f"Machine {raw['name']}" in " ".join(text.split())
    badge = [a for a in parsed.tags("span") if "sdcnb-badge" in (a["class"] or "")][0]
    assert badge["class"] == "sdcnb-badge sdcnb-ok" and "running" in text
    assert {"class": "sdcnb-id", "title": raw["id"], "tabindex": "0"} in parsed.tags("span")
    assert "us-east-1" in text and "joyent / smartmachine" in text
    assert f"{image['name']}@{image['version']}" in text
    assert f"{package['vcpus']} vCPU · " in text and f"{package['memory'] // 1024} GiB RAM" in text
    assert f"{package['disk'] // 1024} GiB disk" in text
    for ip in machine.public_ips + machine.private_ips:
        assert ip in text
    assert machine.created.strftime("%Y-%m-%d %H:%M UTC") in text
    assert machine.updated.strftime("%Y-%m-%d %H:%M UTC") in text
    assert "Firewall" in text and "Deletion protection" in text
    assert ("enabled" if raw["firewall_enabled"] else "disabled") in text
    summaries = [s.strip() for s in re.findall(r"<summary>(.*?)</summary>", html)]
    assert [re.sub(r"<.*?>", "", s).split(" (")[0] for s in summaries] == [
        "Tags", "Metadata", "Networks", "Snapshots"]
    for key, value in raw["tags"].items():
        assert key in text and str(value) in text
    assert "not fetched yet: m.snapshots() lists them" in text
    assert "fetched " + machine.fetched_at.strftime("%Y-%m-%d %H:%M:%S UTC") in text


def test_a_listed_machines_card_names_its_image_without_an_earlier_images_call(emu, dc):
    # the card never depends on what the notebook called before: listing fetched the names
    emu.clear_requests()
    machine = dc.machines(state="running")[0]
    text = check_markup(render_html(machine)).text
    assert "name not known" not in text

    def image_lists():
        return [r for r in emu.requests if r["method"] == "GET" and r["path"].endswith("/images")]

    assert len(image_lists()) == 1  # one image list per datacenter...
    dc.machines()
    dc.machine(machine.id)
    assert len(image_lists()) == 1  # ...fetched once, then cached
    assert dc.image(machine.raw["image"])["name"] in text


def test_machine_repr_without_catalog_says_what_is_not_known(emu, dc):
    emu.faults.add(path="/images", method="GET", status=500, count=10)
    machine = seeded(dc, state="running")
    html = render_html(machine)
    text = check_markup(html).text
    assert "name not known: dc.images() loads the catalog" in text
    assert "vCPUs not known: dc.packages() loads the catalog" in text
    assert machine.raw["package"] in text
    assert f"{machine.raw['memory'] // 1024} GiB RAM" in text


def test_known_snapshots_are_shown_without_a_request(emu, catalog):
    machine = next(m for m in catalog.machines() if m.brand != "kvm" and m.snapshots())
    names = [s.name for s in machine.known_snapshots]
    before = counted(emu)
    parsed = check_markup(render_html(machine))
    assert counted(emu) == before
    section = re.search(r"Snapshots <span class=\"sdcnb-count\">\((\d+)\)", render_html(machine))
    assert section and int(section.group(1)) == len(names)
    for name in names:
        assert name in parsed.text


def test_a_payload_with_only_an_id_renders_with_unknowns(emu, dc):
    machine = Machine(dc, data={"id": "6b3dfc7e-3bb2-4ff1-9d3f-7ef1b7e0a5a1"})
    text = check_markup(render_html(machine)).text
    assert "no name" in text and "unknown" in text and "none known yet" in text
    assert "Machine" in render_text(machine)


def test_failed_and_deleted_machines_without_ips_make_no_request(emu, catalog):
    machines = catalog.machines(tombstone=True)
    assert any(not m.raw.get("ips") for m in machines)  # the seeded fleet has failed ones
    before = counted(emu)
    for machine in machines:
        html = render_html(machine)
        render_text(machine)
        assert machine.raw["state"] in check_markup(html).text
    assert counted(emu) == before


# ------------------------------------------------------------------ hostile data

@pytest.fixture
def hostile(emu, catalog):
    """A machine whose name, tags, metadata, image and snapshot carry hostile strings."""
    image = emu.add_image(name=HOSTILE, version='1.0"><b onmouseover=x>')
    mid = emu.datacenter("us-east-1").put_machine(
        name=HOSTILE, image=image["id"], package="g4-highcpu-1G",
        tags={HOSTILE: HOSTILE, "cost": "$1 and $2", "long": "x" * 5000, "rtl": "\u202bمرحبا"},
        metadata={"note": HOSTILE, "user-script": "#!/bin/sh\necho '<script>'\n"},
        snapshots=[HOSTILE])
    catalog.images()
    machine = catalog.machine(mid)
    machine.snapshots()
    return machine


def test_hostile_strings_are_data_not_markup(emu, hostile):
    before = counted(emu)
    html = render_html(hostile)
    assert counted(emu) == before
    parsed = check_markup(html)
    assert parsed.text.count(HOSTILE) >= 4  # name, tag key, tag value, metadata value, snapshot
    assert HOSTILE + '@1.0"><b onmouseover=x>' in parsed.text  # the image name@version
    assert "{{ 7*7 }}" in parsed.text and "$1 and $2" in parsed.text
    assert "x" * 160 + "… +4,840 characters" in parsed.text
    assert len(html) < 40_000  # the 5,000-character tag is clipped
    # each cloud string is isolated in <bdi>, so its right-to-left marks stay inside
    assert html.count("<bdi>") >= 6
    assert "echo" not in parsed.text  # the user-script is shown by size only
    assert "script, 26 bytes, 2 lines" in parsed.text


def test_counts_of_one_are_singular():
    from smartdc_nb.display.parts import metadata_value

    assert metadata_value("user-script", "echo hi").text.endswith("7 bytes, 1 line")
    assert metadata_value("user-script", "a\nb").text.endswith("2 lines")


def test_hostile_strings_in_lists_snapshots_and_text(emu, hostile, catalog):
    machines = catalog.machines()
    parsed = check_markup(render_html(machines))
    # a compact list clips long cells (name and image here) at 48 characters
    assert parsed.text.count(HOSTILE[:48] + "… +") == 2
    for obj in (hostile.known_snapshots, hostile.known_snapshots[0]):
        assert HOSTILE in check_markup(render_html(obj)).text
    text = render_text(hostile)
    assert HOSTILE in text  # text is not HTML: it is shown as is


def test_hostile_error_messages_in_a_fleet_are_escaped(emu, catalog, dc_west):
    fleet = smartdc_nb.Fleet([catalog, dc_west])
    # CloudAPI quotes a bad filter back in its error message: "<type> is not a valid type"
    with pytest.warns(Warning), pytest.raises(smartdc_nb.InvalidArgumentError):
        fleet.raw_machines(type=HOSTILE)
    before = counted(emu)
    parsed = check_markup(render_html(fleet))
    assert counted(emu) == before
    assert "2 failed" in parsed.text
    assert parsed.text.count("[409 InvalidArgument] " + HOSTILE) == 2


# ------------------------------------------------------------------ masking

def test_credentials_and_secret_metadata_are_masked(emu, catalog):
    mid = emu.datacenter("us-east-1").put_machine(
        name="secretive", credentials={"root": "r00t-Secret", "admin": "Adm1n-Secret"},
        metadata={"db_password": "hunter2-Secret", "api_token": "tok-Secret", "plain": "visible"})
    machine = Machine(catalog, mid, credentials=True)
    assert machine.get_credentials()["root"] == "r00t-Secret"  # the data is there ...
    for output in (render_html(machine), render_text(machine)):
        assert "Secret" not in output  # ... and never displayed
        assert "visible" in output and "masked" in output
    # the display masks credentials itself, even in a payload nobody cleaned
    machine.raw["metadata"]["credentials"] = {"root": "r00t-Secret"}
    html = render_html(machine)
    assert "Secret" not in html and "root" in check_markup(html).text


# ------------------------------------------------------------------ stylesheet and fallbacks

def top_level_split(selectors: str) -> list[str]:
    """Split a selector list at commas outside parentheses (``:where(a, b)`` is one)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(selectors):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(selectors[start:i])
            start = i + 1
    return [*parts, selectors[start:]]


def test_every_css_selector_is_scoped_under_the_root_class():
    css = render_html([]).split("<style>")[1].split("</style>")[0]
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    selectors = [s.strip() for block in re.findall(r"([^{}]+)\{[^{}]*\}", css)
                 for s in top_level_split(block) if s.strip()]
    assert len(selectors) > 30
    for selector in selectors:
        assert selector.startswith(".sdcnb"), selector
    for marker in ('body[data-jp-theme-light="false"]', '[data-theme="dark"]', "body.vscode-dark"):
        assert marker in css
    assert "var(--jp-" in css and "@import" not in css and "url(" not in css


def test_readable_without_css(emu, catalog):
    """Stripped of the stylesheet and classes, a repr is still headings, tables and details."""
    machine = seeded(catalog, state="running")
    html = render_html(machine)
    bare = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    bare = re.sub(r' (class|title|tabindex)="[^"]*"', "", bare)
    parsed = Parsed(bare)
    assert " style=" not in html  # no inline styles to lose
    assert len(parsed.tags("details")) == 4 and len(parsed.tags("table")) >= 3
    words = " ".join(parsed.text.split())
    assert f"Machine {machine.name} running {machine.id}" in words  # full id when not clipped
    assert "Firewall" in words and "Tags (" in words


def test_text_repr_says_the_same_as_the_html(emu, catalog):
    machine = seeded(catalog, state="running")
    text = render_text(machine)
    assert text.splitlines()[0] == f"Machine {machine.name} [running] {machine.id[:8]}"
    html_text = check_markup(render_html(machine)).text
    for label, value in card_for(machine).blocks[0].items:
        assert label in text and str(value).split(" (")[0] in text
        assert label in html_text


def test_unknown_objects_fall_back_to_their_escaped_repr():
    class Odd:
        def __repr__(self):
            return "<Odd <b>bold</b>>"

    parsed = check_markup(render_html(Odd()))
    assert "<Odd <b>bold</b>>" in parsed.text


# ------------------------------------------------------------------ wait and bulk results

def test_bulk_and_wait_results_show_counts_by_outcome_and_the_table(emu, catalog):
    from smartdc_nb.machinelist import MachineList

    machines = MachineList(catalog.machines()[:6])
    assert {m.state for m in machines} == {"running", "stopped"}
    emu.datacenter("us-east-1").fail_next("stop")
    result = machines.stop(confirm=True, wait=True, timeout=30, progress=False)
    waited = machines.wait_for("stopped", timeout=1, progress=False)
    for outcome, word in ((result, "done"), (waited, "reached")):
        before = counted(emu)
        html = render_html(outcome, max_rows=4)
        text = render_text(outcome)
        assert counted(emu) == before
        parsed = check_markup(html)
        header = re.search(r'<div class="sdcnb-head">(.*?)</div>', html, re.S).group(1)
        badges = re.findall(r'sdcnb-badge sdcnb-\w+">([^<]+)<', header)
        assert badges == [f"{n} {o}" for o, n in sorted(
            ((o, n) for o, n in outcome.counts.items() if n), key=lambda on: -on[1])]
        assert f"{word}" in parsed.text and "… and 2 more" in parsed.text
        failed = next(row for row in outcome.rows if row["error"])
        assert failed["error"][:100] in " ".join(parsed.text.split())
        assert failed["name"] in text
    assert "stop: 6 machines" in check_markup(render_html(result)).text
    assert "waited for stopped" in check_markup(render_html(waited)).text


def test_a_dry_run_says_nothing_was_sent(emu, hostile, catalog):
    from smartdc_nb.machinelist import MachineList

    plan = MachineList(catalog.machines()).start(dry_run=True)
    parsed = check_markup(render_html(plan, max_rows=100))
    assert "dry run: nothing was sent" in parsed.text
    assert "planned" in parsed.text and "already running" in parsed.text
    assert HOSTILE in parsed.text  # the hostile machine's name, escaped in the table


def test_every_owner_hook_renders_through_the_display(emu, catalog, dc_west):
    """Each object's own _repr_html_ (written by its owner) gives this package's card."""
    from smartdc_nb.machinelist import MachineList

    fleet = smartdc_nb.Fleet([catalog, dc_west])
    machines = fleet.machines()
    machine = next(m for m in machines if m.datacenter is catalog and m.brand != "kvm"
                   and m.snapshots())
    plan = MachineList(machines[:3]).start(dry_run=True)
    objects = {"Machine": machine, "Snapshot": machine.known_snapshots[0], "Machines": machines,
               "DataCenter": catalog, "Fleet": fleet, "Bulk result": plan}
    before = counted(emu)
    for what, obj in objects.items():
        parsed = check_markup(obj._repr_html_())
        assert parsed.text.split()[0] == what.split()[0], what
    assert counted(emu) == before
