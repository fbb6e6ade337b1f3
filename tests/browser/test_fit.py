"""Output that fits a normal notebook: at 1280 px, the bulk result card and the fleet panel stay
inside the output area (a wide table scrolls inside its own box, never past the notebook's edge),
and every column, the last one included, can be seen.
"""

from __future__ import annotations

import pytest
from shots import SCREENSHOTS
from test_machine_support import put
from test_panels import TIMEOUT, connect_cell

pytestmark = pytest.mark.browser

WIDTH = 1280

FITS = """el => {
    // every piece of text must be visible, or reachable by scrolling a box inside the output:
    // none may stick out of the output, or be clipped by a box that does not scroll
    const cut = [];
    for (const leaf of el.querySelectorAll('*')) {
        if (leaf.children.length || !leaf.textContent.trim()) continue;
        const r = leaf.getBoundingClientRect();
        if (r.width === 0) continue;
        for (let p = leaf.parentElement; p; p = p.parentElement) {
            const style = getComputedStyle(p);
            const o = style.overflowX;
            if (o === 'auto' || o === 'scroll') break;
            if (style.textOverflow === 'ellipsis') break;  // shortened on purpose, with a "…"
            const edge = p.getBoundingClientRect().right;
            if ((o === 'hidden' || o === 'clip' || p === el) && r.right > edge + 1) {
                cut.push(leaf.textContent.trim().slice(0, 40));
                break;
            }
            if (p === el) break;
        }
    }
    return {scroll: el.scrollWidth - el.clientWidth, cut: cut.slice(0, 8)};
}"""


def shoot(notebook, cell: int, name: str) -> None:
    for theme in ("light", "dark"):
        notebook.set_theme(theme)
        notebook.screenshot(cell, SCREENSHOTS / f"{name}-{theme}.png")
    notebook.set_theme("light")


def assert_fits(output) -> None:
    fit = output.evaluate(FITS)
    assert fit["scroll"] <= 1 and not fit["cut"], fit


def test_a_bulk_result_fits_a_1280px_notebook(emu, triton_keys, dc, lab_notebook, page):
    page.set_viewport_size({"width": WIDTH, "height": 900})
    for i in range(6):
        put(emu, "us-east-1", name=f"fit-check-web-{i:02d}", tags={"role": "fit-check"})
    notebook = lab_notebook("bulk-fit.ipynb", [
        connect_cell(emu, triton_keys),
        "machines = dc.machines(tags={'role': 'fit-check'})\n"
        "result = machines.stop(confirm=True, wait=True, interval=0.2, max_interval=0.5)\nresult",
        "result.frame",
    ])
    card = notebook.outputs(1).first
    card.locator(".sdcnb").wait_for(timeout=TIMEOUT)
    text = card.inner_text()
    assert "6 done" in text and "stop" in text and "stopped" in text
    # the request line (full path with the machine's UUID) stays in .frame, not in the card
    assert "/demo/machines/" not in text
    assert_fits(card)
    # the frame alone reads as a table of typed columns, not raw tuples and 'None' strings
    frame = notebook.outputs(2).first
    assert "None" not in frame.inner_text()
    shoot(notebook, 1, "bulk-result")


def test_the_fleet_panel_shows_every_column_at_1280px(emu, triton_keys, lab_notebook, page):
    page.set_viewport_size({"width": WIDTH, "height": 900})
    notebook = lab_notebook("fleet-fit.ipynb", [
        connect_cell(emu, triton_keys),
        "fleet = smartdc_nb.Fleet(dc)\np = fleet_panel(fleet)\np.wait()\np",
    ])
    output = notebook.outputs(1).first
    output.locator(".sdcnb-panel-row:not(.sdcnb-panel-heading)").first.wait_for(timeout=TIMEOUT)
    heading = output.locator(".sdcnb-panel-heading").first
    assert "Age" in heading.inner_text()
    assert_fits(output)
    shoot(notebook, 1, "panel-fleet-1280")
