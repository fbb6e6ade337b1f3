"""A wait whose cloud goes silent, in a real JupyterLab page 1280 px wide: its tqdm bar shows
the notice (no answer since when, until when) without squeezing the bar's own label, in the
light and dark themes. Screenshots: wait-silent-{light,dark}.png (see shots.py).
"""

from __future__ import annotations

import pytest
from shots import SCREENSHOTS
from test_machine_support import put, until_held
from test_notices_in_lab import finished, run_cell
from test_panels import TIMEOUT, connect_cell

pytestmark = pytest.mark.browser

#: elements of the bar whose text is wider than their box (cut off or squeezed)
CUT = """el => [el, ...el.querySelectorAll('*')]
    .filter(e => e.offsetParent && e.children.length === 0 && e.textContent.trim()
                 && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.className + ': ' + e.textContent)"""
#: whether an element's text takes one line (its height under two of its lines)
ONE_LINE = """el => {
    const style = getComputedStyle(el);
    const line = parseFloat(style.lineHeight) || 1.4 * parseFloat(style.fontSize);
    return el.getBoundingClientRect().height < 1.8 * line;
}"""


def test_a_silent_wait_says_so_on_its_bar_without_squeezing_it(emu, triton_keys, jupyter_lab,
                                                                open_notebook):
    machine = put(emu, "us-east-1", name="web-quiet-01", state="running")
    jupyter_lab.write_notebook("wait-silent.ipynb", [
        "import os\nos.environ['SMARTDC_NB_SILENCE_NOTICE'] = '1'\n"
        "os.environ['SMARTDC_NB_PROGRESS'] = '1'  # bars: off in this JupyterLab's kernels\n"
        + connect_cell(emu, triton_keys),
        f"m = dc.machine({machine!r})\nm.stop()",
        "m.wait_for('stopped', timeout=60, interval=0.2, max_interval=0.5)",
    ])
    notebook = open_notebook("wait-silent.ipynb")
    page = notebook.page
    page.set_viewport_size({"width": 1280, "height": 900})
    run_cell(notebook, 0)
    finished(notebook, 0)
    run_cell(notebook, 1)
    finished(notebook, 1)
    held = emu.faults.add(path=machine + "$", method="GET", hold=True)
    try:
        run_cell(notebook, 2)
        until_held(emu, held, what="the wait's poll")
        bar = notebook.outputs(2).locator(".widget-hbox").first
        bar.wait_for(timeout=TIMEOUT)
        page.wait_for_function("el => /no.answer.from.CloudAPI.since/.test(el.textContent)",
                               arg=bar.element_handle(), timeout=TIMEOUT)
        for theme in ("light", "dark"):
            notebook.set_theme(theme)
            bar.screenshot(path=str(SCREENSHOTS / f"wait-silent-{theme}.png"))
        text = bar.inner_text().replace("\u2007", " ")  # tqdm's spaces are figure spaces
        assert "web-quiet-01" in text, text
        assert bar.evaluate(CUT) == [], text
        # the label on one line: squeezed by a long note, it broke into a column of words
        label = bar.locator(".widget-html-content").first
        assert "web-quiet-01 (" in label.inner_text().replace("\u2007", " ")
        assert label.evaluate(ONE_LINE), label.bounding_box()
        box = bar.bounding_box()
        assert box["x"] + box["width"] <= 1280, box
    finally:
        emu.faults.clear()
        emu.faults.release_all()
