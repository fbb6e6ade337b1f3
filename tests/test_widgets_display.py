"""How panels display: the live widget plus the object's HTML and text in one mimebundle;
only the static copy without ipywidgets or once closed; and in a real kernel, that updates
made on the panel's worker thread reach the front-end while nbconvert shows the HTML copy."""

from __future__ import annotations

import sys

import nbformat
import pytest
from IPython.core.formatters import DisplayFormatter
from test_machine_support import fetched, put
from test_widgets_support import FAST, HOSTILE, badges, words

import smartdc_nb
from smartdc_nb.widgets import fleet_panel, machine_panel, snapshot_panel
from smartdc_nb.widgets.base import WIDGET_VIEW

NOTE = "Live panel: needs a front-end with Jupyter widgets"


@pytest.fixture
def machine(emu, dc):
    m = fetched(dc, emu, name="shown-1", snapshots=["s1"])
    emu.clear_requests()
    return m


def test_one_mimebundle_holds_the_widget_the_html_card_and_text(machine):
    panel = machine_panel(machine, **FAST)
    panel.wait()
    data, _metadata = DisplayFormatter().format(panel)  # what IPython sends to the front-end
    assert data[WIDGET_VIEW]["model_id"] == panel.widget.model_id
    page = data["text/html"]
    assert page.count("<style>") == 1 and ".sdcnb" in page  # one stylesheet for the copy
    assert NOTE in words(page) and "Machine shown-1" in words(page)
    assert badges(page)[0] == "running"
    assert "Loaded shown-1" in words(page)  # the log travels with the copy
    text = data["text/plain"]
    assert text.startswith(f"({NOTE}") and "Machine shown-1 [running]" in text
    panel.close()


@pytest.mark.parametrize("make", [machine_panel, fleet_panel, snapshot_panel])
def test_without_ipywidgets_a_panel_is_its_static_copy_and_sends_nothing(
        emu, dc, machine, monkeypatch, make):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # as if it were not installed
    subject = dc if make is fleet_panel else machine
    panel = make(subject)
    assert panel.widget is None and "ipywidgets cannot be imported" in panel.missing
    data = panel._repr_mimebundle_()
    assert set(data) == {"text/html", "text/plain"}
    assert "No live panel: ipywidgets cannot be imported" in words(data["text/html"])
    assert "pip install ipywidgets" in data["text/plain"]
    assert emu.requests == []
    panel.close()


def test_a_closed_panel_displays_as_its_static_copy(machine):
    panel = fleet_panel(smartdc_nb.Fleet([machine.datacenter]), **FAST)
    panel.wait()
    panel.close()
    data = panel._repr_mimebundle_()
    assert WIDGET_VIEW not in data
    assert "This panel was closed." in words(data["text/html"])
    assert f"{len(panel.listing)} machines" in words(data["text/html"])  # the last listing
    assert panel.widget.comm is None  # the widgets are closed in the front-end too


def test_closing_the_widget_closes_the_panel(machine):
    panel = machine_panel(machine, **FAST, refresh_every=0.05)
    panel.wait()
    panel.auto_refresh.value = True
    ticker = panel._ticker
    panel.widget.close()  # e.g. the front-end or another cell closed it
    assert panel.closed and not ticker.is_alive()


def test_the_static_copy_escapes_cloud_strings(emu, dc):
    hostile = fetched(dc, emu, name="ok", tags={"t": HOSTILE})
    hostile.raw["name"] = HOSTILE
    panel = machine_panel(hostile, **FAST)
    data = panel._repr_mimebundle_()
    assert "<img" not in data["text/html"] and HOSTILE in words(data["text/html"])
    panel.wait()
    panel.close()


def model_states(notebook) -> dict[str, dict]:
    widgets = notebook.metadata.get("widgets", {})
    return widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})


@pytest.mark.slow
def test_in_a_kernel_updates_from_the_worker_reach_the_frontend_and_nbconvert_shows_html(
        emu, triton_keys, tmp_path):
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    machine_id = put(emu, "us-east-1", name="kernel-1")
    key = triton_keys["rsa"]
    connect = dict(url=emu.url, account="demo", key_id=key.md5, key_path=str(key.private),
                   rate_limit=False, name="us-east-1")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in [
        "import smartdc_nb\nfrom smartdc_nb.widgets import machine_panel\n"
        f"dc = smartdc_nb.connect(**{connect!r})\nm = dc.machine({machine_id!r})",
        "p = machine_panel(m, interval=0.05, max_interval=0.2)\np.wait()\np",
        # a click as the front-end sends it: the handler returns at once, the worker acts
        "p.buttons['stop'].click()\np.confirm.yes.click()\np.wait()\nprint(p.log.lines[-1])",
    ]]
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    printed = notebook.cells[2].outputs[0]["text"]
    assert ": stopped after " in printed
    # the front-end's view of the header (kept from the comm messages the kernel sent, all
    # of them from the panel's worker thread after the click) shows the machine stopped
    header = [s["state"]["value"] for s in model_states(notebook).values()
              if s["model_name"] == "HTMLModel" and "Machine kernel-1" in words(
                  s["state"]["value"]) and "Deletion protection" in s["state"]["value"]]
    assert header and badges(header[0])[0] == "stopped"
    output = notebook.cells[1].outputs[0]["data"]
    assert set(output) == {WIDGET_VIEW, "text/html", "text/plain"}

    # nbconvert (and GitHub) without saved widget state: the HTML copy, not the widget
    notebook.metadata.pop("widgets", None)
    page, _resources = HTMLExporter().from_notebook_node(notebook)
    assert NOTE in words(page) and "Machine kernel-1" in words(page)
    assert "application/vnd.jupyter.widget-view+json" not in page
