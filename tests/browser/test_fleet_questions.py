"""The query explanation and fleet diff cards in JupyterLab, light and dark: screenshots, contrast,
header tooltips from the column dictionary, nothing overflowing."""

from __future__ import annotations

import pytest
from shots import SCREENSHOTS
from test_repr_screenshots import COLORS, contrast, luminance

pytestmark = pytest.mark.browser


def cells(dc_connect) -> list[str]:
    return [
        "import smartdc_nb\n"
        "from smartdc_nb.frames.history import capture\n"
        f"dc = smartdc_nb.connect(**{dc_connect!r})\n"
        "fleet = smartdc_nb.Fleet(dc)\n"
        "before = capture(fleet, progress=False)",
        # 1: a query's explanation
        "web = fleet.query(name='web-*', state='running', tags={'env': '/prod|staging/'})\n"
        "web.explain()",
        # 2: a diff after some changes (a hostile name among them)
        "import time\n"
        "m = dc.machine('web-prod-01')\nm.stop()\nm.add_tags(owner='<b>erin</b>')\n"
        "dc.machine('api-staging-01').rename('api-staging-09')\n"
        "dc.create_machine(name='new-one', image=m.image, package=m.package)\n"
        "for _ in range(200):  # until listed with every change (m.tags shows its writes at once)\n"
        "    [web] = dc.raw_machines(name='web-prod-01')\n"
        "    if web['state'] == 'stopped' and web['tags'].get('owner') == '<b>erin</b>' \\\n"
        "            and dc.raw_machines(name='api-staging-09'):\n"
        "        break\n"
        "    time.sleep(0.1)\n"
        "smartdc_nb.diff(before, fleet)",
    ]


def test_explain_and_diff_cards_light_and_dark(emu, triton_keys, lab_notebook):
    key = triton_keys["rsa"]
    connect = dict(url=emu.url, account="demo", key_id=key.md5, key_path=str(key.private),
                   rate_limit=False, name="us-east-1")
    notebook = lab_notebook("questions.ipynb", cells(connect), timeout=180)
    explain = notebook.outputs(1).locator(".sdcnb")
    diff = notebook.outputs(2).locator(".sdcnb")
    assert explain.count() == 1 and diff.count() == 1
    text = explain.inner_text()
    assert "ListMachines state=running" in text and "name matches glob web-*" in text
    assert "us-west-1" in text and "after pandas" in text
    tip = explain.locator("th", has_text="Rows removed").get_attribute("title")
    assert tip and tip.startswith("Rows the pandas step removed")
    diff.evaluate("el => el.querySelectorAll('details').forEach(d => d.open = true)")
    text = diff.inner_text()
    assert "web-prod-01" in text and "api-staging-09" in text and "<b>erin</b>" in text
    assert "new-one" in text and "1 appeared" in text
    assert diff.locator("b").count() == 0 and diff.locator("script").count() == 0
    for card in (explain, diff):
        assert card.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    for theme in ("light", "dark"):
        notebook.set_theme(theme)
        for name, card, cell in (("explain", explain, 1), ("diff", diff, 2)):
            colors = card.evaluate(COLORS)
            assert contrast(colors["fg"], colors["bg"]) >= 7, (theme, name, colors)
            assert contrast(colors["th"], colors["bg"]) >= 4.5, (theme, name, colors)
            assert (luminance(colors["bg"]) < 0.05) == (theme == "dark"), (theme, colors)
            card.evaluate("el => el.querySelectorAll('details').forEach(d => d.open = true)")
            notebook.screenshot(cell, SCREENSHOTS / f"{name}-{theme}.png")
            assert (SCREENSHOTS / f"{name}-{theme}.png").stat().st_size > 5000
