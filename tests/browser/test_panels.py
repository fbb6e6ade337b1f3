"""The panels in a real JupyterLab page: clicks in headless Chromium reach the kernel, the
worker thread's updates reach the page. Screenshots (light and dark) go to tests/screenshots/
when SMARTDC_NB_SCREENSHOTS=1 (see shots.py).

- machine panel: Stop, confirm, and the header's badge turns "stopped";
- fleet panel: filter by tag, select all, Start, confirm, and the outcome table says done.
"""

from __future__ import annotations

import re

import pytest
from shots import SCREENSHOTS
from test_machine_support import put

import smartdc_nb

pytestmark = pytest.mark.browser  # also slow, on one xdist worker: see conftest.py

TIMEOUT = 30_000  # ms: an action's wait polls every 0.2-0.5 s; emulator transitions take < 1 s


def connect_cell(emu, triton_keys) -> str:
    key = triton_keys["rsa"]
    options = dict(url=emu.url, account="demo", key_id=key.md5, key_path=str(key.private),
                   rate_limit=False, name="us-east-1")
    return ("import smartdc_nb\n"
            "from smartdc_nb.widgets import fleet_panel, machine_panel, snapshot_panel\n"
            f"dc = smartdc_nb.connect(**{options!r})\n"
            "dc.packages(); dc.images()")


def header_badge(output):
    """The first badge of the panel's machine header (the machine's state)."""
    head = output.locator(".sdcnb-head", has=output.page.locator(".sdcnb-what",
                                                                  has_text="Machine"))
    return head.first.locator(".sdcnb-badge").first


def button(output, label: str):
    """A widget button by its exact label (its icon's glyph is not part of the text)."""
    return output.locator("button.jupyter-button",
                          has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))


def expect_text(locator, pattern: str, timeout: int = TIMEOUT) -> None:
    from playwright.sync_api import expect

    expect(locator).to_have_text(re.compile(pattern), timeout=timeout)


WHOLE_LABELS = """el => [...el.querySelectorAll('button.jupyter-button')]
    .filter(b => b.offsetParent && b.scrollWidth > b.clientWidth + 1)
    .map(b => b.textContent.trim())"""


def assert_labels_whole(output) -> None:
    """No visible button shows its label cut short ("Yes, delete the…"): the part a width
    hides is the count or the object of the action."""
    assert output.evaluate(WHOLE_LABELS) == []


def shoot(notebook, cell: int, name: str) -> None:
    for theme in ("light", "dark"):
        notebook.set_theme(theme)
        notebook.screenshot(cell, SCREENSHOTS / f"panel-{name}-{theme}.png")
    notebook.set_theme("light")


def test_machine_panel_stop_confirmed_turns_the_badge_stopped(emu, triton_keys, dc,
                                                              lab_notebook):
    machine = put(emu, "us-east-1", name="web-panel-01", package="g4-highcpu-4G",
                  firewall_enabled=True, tags={"role": "web", "env": "prod"},
                  snapshots=["before-upgrade", "nightly-20260301"])
    notebook = lab_notebook("machine-panel.ipynb", [
        connect_cell(emu, triton_keys),
        f"m = dc.machine({machine!r})\n"
        "p = machine_panel(m, interval=0.2, max_interval=0.5)\np.wait()\np",
        "s = snapshot_panel(m, interval=0.2, max_interval=0.5)\ns.wait()\ns",
    ])
    output = notebook.outputs(1).first
    output.locator(".widget-vbox").first.wait_for(timeout=TIMEOUT)
    assert output.get_by_text("Error displaying widget").count() == 0
    expect_text(header_badge(output), r"^running$")
    assert button(output, "Start").is_disabled() and button(output, "Stop").is_enabled()

    button(output, "Stop").click()
    yes = button(output, "Yes, stop it")
    yes.wait_for(timeout=TIMEOUT)
    assert "Stop web-panel-01?" in output.locator(".sdcnb-panel-confirm").inner_text()
    yes.click()
    # the worker thread's trait updates reach the page: busy, then the new state
    expect_text(header_badge(output), r"^stopped$")
    assert button(output, "Start").is_enabled() and button(output, "Stop").is_disabled()
    log = output.locator(".sdcnb-panel-log").inner_text()
    assert re.search(r"done\s+Stop web-panel-01 \(\w+\): stopped after", log)

    # the most destructive question shows its whole answer; then answered No
    button(output, "Delete machine").click()
    button(output, "Yes, delete the machine").wait_for(timeout=TIMEOUT)
    assert_labels_whole(output)
    button(output, "Cancel").click()

    # a question open, for the pictures; then answered No
    button(output, "Boot from snapshot").click()
    button(output, "Yes, boot from it").wait_for(timeout=TIMEOUT)
    shoot(notebook, 1, "machine")
    button(output, "Cancel").click()

    # the snapshot panel of the same machine: one row selected, for the pictures
    snapshots = notebook.outputs(2).first
    snapshots.locator(".widget-checkbox input:visible").first.check()
    expect_text(snapshots.locator(".sdcnb-panel-line", has_text="selected"),
                r"^1 of 2 snapshots selected$")
    shoot(notebook, 2, "snapshots")
    assert (dc.machine(machine).state, dc.machine(machine).snapshots()[0].name) == \
        ("stopped", "before-upgrade")


def test_fleet_panel_selects_by_tag_and_starts_the_selection(emu, triton_keys, dc,
                                                             lab_notebook):
    ids = [put(emu, name, name=f"batch-ui-{name[3]}{i}", state="stopped",
               tags={"role": "batch-ui"}) for name in ("us-east-1", "us-west-1")
           for i in range(2)]
    notebook = lab_notebook("fleet-panel.ipynb", [
        connect_cell(emu, triton_keys),
        "fleet = smartdc_nb.Fleet(dc)\nfleet.packages(); fleet.images()\n"
        "p = fleet_panel(fleet, interval=0.2, max_interval=0.5)\np.wait()\np",
    ])
    output = notebook.outputs(1).first
    output.locator(".widget-vbox").first.wait_for(timeout=TIMEOUT)
    output.locator("input[placeholder='tag key']").fill("role")
    output.locator("input[placeholder='value (any)']").fill("batch-ui")
    button(output, "List machines").click()
    counts = output.locator(".sdcnb-head", has=output.page.locator(".sdcnb-what",
                                                                    has_text="Machines"))
    expect_text(counts.first.locator(".sdcnb-title"), r"^4 machines match$")
    button(output, "Select all").click()
    button(output, "Start").click()
    question = output.locator(".sdcnb-panel-confirm")
    expect_text(question.locator(".sdcnb-title"),
                r"^Start: 4 machines in us-east-1 \(2\), us-west-1 \(2\)\?$")
    button(output, "Yes, start 4 machines").click()
    result = output.locator(".sdcnb-head", has=output.page.locator(".sdcnb-what",
                                                                    has_text="Bulk result"))
    result.first.wait_for(timeout=TIMEOUT)
    assert result.first.locator(".sdcnb-badge").all_inner_texts() == ["4 done"]
    started = smartdc_nb.Fleet(dc).machines(tags={"role": "batch-ui"})
    assert sorted(m.id for m in started) == sorted(ids)
    assert {m.state for m in started} == {"running"}
    assert notebook.outputs(1).count() == 1  # nothing leaked out of the panel into the cell
    shoot(notebook, 1, "fleet")


def test_fleet_panel_rows_keep_their_height_in_a_long_list(emu, triton_keys, lab_notebook):
    # 40 rows in a scrolled box: a flex column must scroll, not squash its rows on top of
    # each other
    notebook = lab_notebook("fleet-panel-long.ipynb", [
        connect_cell(emu, triton_keys),
        "fleet = smartdc_nb.Fleet(dc)\np = fleet_panel(fleet)\np.wait()\np",
    ])
    output = notebook.outputs(1).first
    output.locator(".widget-vbox").first.wait_for(timeout=TIMEOUT)
    output.locator(".sdcnb-panel-row:not(.sdcnb-panel-heading)").first.wait_for(timeout=TIMEOUT)
    rows = output.locator(".sdcnb-panel-row:not(.sdcnb-panel-heading)").count()
    assert rows >= 30
    boxes = [row.bounding_box() for row in output.locator(".widget-checkbox").all()[:rows]]
    heights = [b["height"] for b in boxes]
    assert min(heights) >= 16, heights
    tops = [b["y"] for b in boxes]
    assert all(b - a >= min(heights) - 1 for a, b in zip(tops, tops[1:])), tops
    notebook.screenshot(1, SCREENSHOTS / "panel-fleet-long-light.png")
