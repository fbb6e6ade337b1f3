"""fleet.live() in a real JupyterLab page: a machine stopped from code turns its badge in the
page without a refresh (the kernel's feed thread updates the widget). Screenshots (light and
dark) go to tests/screenshots/live-*.png.
"""

from __future__ import annotations

import pytest
from test_machine_support import put
from shots import SCREENSHOTS
from test_panels import TIMEOUT, expect_text

pytestmark = pytest.mark.browser


def test_live_fleet_badge_turns_without_a_refresh(emu, triton_keys, dc, lab_notebook):
    machine = put(emu, "us-east-1", name="live-web-01", tags={"role": "web"})
    key = triton_keys["rsa"]
    options = dict(url=emu.url, account="demo", key_id=key.md5, key_path=str(key.private),
                   rate_limit=False, name="us-east-1")
    notebook = lab_notebook("live-fleet.ipynb", [
        f"import smartdc_nb\ndc = smartdc_nb.connect(**{options!r})\ndc.packages(); dc.images()\n"
        "fleet = smartdc_nb.Fleet([dc])",
        "live = fleet.live()\nlive",
    ])
    output = notebook.outputs(1).first
    card = output.locator(".sdcnb-live")
    card.wait_for(timeout=TIMEOUT)
    assert output.get_by_text("Error displaying widget").count() == 0
    expect_text(card.locator(".sdcnb-badge", has_text="live").first, r"^live$")
    assert [s["registered"] for s in emu.changefeed.status()["sockets"]] == [True]
    polls_before = sum(r["path"].endswith("/machines") for r in emu.requests)

    dc.machine(machine).stop()                     # from code, outside the notebook

    row = card.locator("tr", has_text="live-web-01").filter(has_text="stopped")
    row.first.wait_for(timeout=TIMEOUT)            # no reload, no re-run: pushed by the kernel
    expect_text(row.first.locator(".sdcnb-badge").first, r"^stopped$")
    assert sum(r["path"].endswith("/machines") for r in emu.requests) == polls_before
    for theme in ("light", "dark"):
        notebook.set_theme(theme)
        notebook.screenshot(1, SCREENSHOTS / f"live-{theme}.png")
    notebook.set_theme("light")
