"""A machine panel whose Stop re-reads the machine while the cloud holds the read, in a real
JupyterLab page 1280 px wide: the Stop button says "Checking web-silent-01…" and the progress
line says what the panel waits for, since when and until when, whole (not cut off), in the
light and dark themes; once the read is answered the stop is sent and the badge turns
"stopped". Screenshots: panel-machine-silent-{light,dark}.png (see shots.py).
"""

from __future__ import annotations

import re

import pytest
from shots import SCREENSHOTS
from test_machine_support import put, until_held
from test_panels import TIMEOUT, assert_labels_whole, button, connect_cell, expect_text, \
    header_badge

pytestmark = pytest.mark.browser  # also slow, on one xdist worker: see conftest.py

SILENT = (r"GET /demo/machines/[-0-9a-f]+ to CloudAPI at http://127\.0\.0\.1:\d+/?\S* has had "
          r"no full answer since \d\d:\d\d:\d\d UTC \([\d.]+ s\); still waiting, at the latest "
          r"until \d\d:\d\d:\d\d UTC \(the panel's timeout\)\.")

#: parts of the progress line whose text is wider than their box (cut off, or overflowing)
CUT = """el => [el, ...el.querySelectorAll('*')]
    .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1
                 && getComputedStyle(e).overflowX !== 'visible')
    .map(e => e.className)"""


def test_a_held_re_read_shows_checking_and_the_silence_whole(emu, triton_keys, lab_notebook):
    machine = put(emu, "us-east-1", name="web-silent-01", package="g4-highcpu-4G")
    notebook = lab_notebook("machine-silent.ipynb", [
        "import os\nos.environ['SMARTDC_NB_SILENCE_NOTICE'] = '1'\n" +
        connect_cell(emu, triton_keys),
        f"m = dc.machine({machine!r})\n"
        "p = machine_panel(m, interval=0.2, max_interval=0.5, timeout=120)\np.wait()\np",
    ])
    page = notebook.page
    page.set_viewport_size({"width": 1280, "height": 900})
    output = notebook.outputs(1).first
    output.locator(".widget-vbox").first.wait_for(timeout=TIMEOUT)
    expect_text(header_badge(output), r"^running$")

    read = emu.faults.add(path=machine + "$", method="GET", hold=True)
    try:
        button(output, "Stop").click()
        button(output, "Yes, stop it").click()
        until_held(emu, read, what="the plan's re-read of the machine")
        checking = button(output, "Checking web-silent-01…")
        checking.wait_for(timeout=TIMEOUT)
        line = output.locator(".widget-hbox", has=page.locator(".widget-hprogress")).first
        silence = line.locator(".sdcnb-panel-silence")
        expect_text(silence, SILENT)
        assert "Checking web-silent-01" in line.inner_text()
        assert line.evaluate(CUT) == []  # every word of it in view
        assert_labels_whole(output)
        box = line.bounding_box()
        assert box["x"] + box["width"] <= 1280, box
        # no bar while there is nothing to measure (an empty grey box read as stuck)
        assert line.locator(".widget-hprogress").bounding_box() is None
        for theme in ("light", "dark"):
            notebook.set_theme(theme)
            notebook.screenshot(1, SCREENSHOTS / f"panel-machine-silent-{theme}.png")
        notebook.set_theme("light")
    finally:
        emu.faults.release_all()
        emu.faults.clear()
    expect_text(header_badge(output), r"^stopped$")
    log = output.locator(".sdcnb-panel-log").inner_text()
    assert re.search(r"done\s+Stop web-silent-01 \(\w+\): stopped after", log), log
