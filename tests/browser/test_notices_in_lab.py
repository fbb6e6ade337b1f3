"""A request the cloud holds says so under the cell that made it, in a real JupyterLab page
(ipykernel 7 routes a thread's output by the parent header in the context it runs in): the
watchdog prints in a copy of the requesting cell's context; a panel's request, on its own
thread while another cell runs, prints nothing in that cell.
"""

from __future__ import annotations

import re

import pytest
from polling import eventually
from test_machine_support import until_held
from test_panels import TIMEOUT, button

pytestmark = pytest.mark.browser

NOTICE = "smartdc_nb: GET /demo/machines to CloudAPI at "


def run_cell(notebook, index: int) -> None:
    """Run one code cell (select it, Shift+Enter), retried until its prompt shows it ran."""
    page = notebook.page
    prompt = page.locator(".jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt").nth(index)
    for _attempt in range(5):
        page.locator(".jp-NotebookPanel .jp-CodeCell").nth(index).locator(
            ".jp-InputPrompt").click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(r"el => /\[(\*|\d+)\]/.test(el.textContent)",
                                   arg=prompt.element_handle(), timeout=5000)
            return
        except Exception:  # noqa: BLE001 - a key press while the kernel connects is dropped
            continue
    raise AssertionError(f"cell {index} did not start")


def finished(notebook, index: int) -> None:
    prompt = notebook.page.locator(".jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt")
    notebook.page.wait_for_function(r"el => /\[\d+\]/.test(el.textContent)",
                                    arg=prompt.nth(index).element_handle(), timeout=TIMEOUT * 2)


def text(notebook, index: int) -> str:
    return "\n".join(notebook.outputs(index).all_inner_texts())


def test_a_held_listing_is_said_under_its_cell_and_a_panels_nowhere(emu, triton_keys,
                                                                    jupyter_lab, open_notebook):
    key = triton_keys["rsa"]
    options = dict(url=emu.url, account="demo", key_id=key.md5, key_path=str(key.private),
                   rate_limit=False, name="us-east-1")
    jupyter_lab.write_notebook("notices.ipynb", [
        "import os, time\nos.environ['SMARTDC_NB_SILENCE_NOTICE'] = '1'\nimport smartdc_nb\n"
        f"dc = smartdc_nb.connect(**{options!r})\ndc.packages(); dc.images()\n'connected'",
        "len(dc.machines())",
        "panel = smartdc_nb.Fleet([dc]).panel(timeout=60)\npanel",
        "time.sleep(4)\n'slept'",
    ])
    notebook = open_notebook("notices.ipynb")
    run_cell(notebook, 0)
    finished(notebook, 0)

    fault = emu.faults.add(path=r"/demo/machines(\?|$)", method="GET", hold=True)
    run_cell(notebook, 1)
    until_held(emu, fault)
    eventually(lambda: text(notebook, 1).count(NOTICE) >= 2, 20, "two notices under cell 1")
    emu.faults.remove(fault)
    finished(notebook, 1)
    assert re.search(r"has had no full answer since \d\d:\d\d:\d\d UTC \(1\.\d s\); still waiting, at "
                     r"the latest until \d\d:\d\d:\d\d UTC \(request_timeout=180s\)\.",
                     text(notebook, 1))
    assert text(notebook, 1).rstrip().endswith("15"), text(notebook, 1)

    run_cell(notebook, 2)
    finished(notebook, 2)
    output = notebook.outputs(2).first
    listing = button(output, "List machines")
    listing.wait_for(timeout=TIMEOUT)
    notebook.page.wait_for_function("b => !b.disabled", arg=listing.element_handle(),
                                    timeout=TIMEOUT)
    fault = emu.faults.add(path=r"/demo/machines(\?|$)", method="GET", hold=True)
    listing.click()
    until_held(emu, fault)
    run_cell(notebook, 3)            # runs while the panel's request is held, past 3 notices
    finished(notebook, 3)
    emu.faults.remove(fault)
    assert NOTICE not in text(notebook, 3), text(notebook, 3)
    assert NOTICE not in text(notebook, 2)
    assert text(notebook, 3) == "'slept'"
