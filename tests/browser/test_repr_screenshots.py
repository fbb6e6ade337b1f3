"""The HTML reprs in a real JupyterLab page, light and dark: screenshots and what they must show.

One notebook, run once by a kernel that talks to the emulator, displays a
Machine, a snapshot list, a Fleet and its machines, and a machine full of
hostile strings. The screenshots are written to tests/screenshots/ (committed,
so a reviewer can look at them) when SMARTDC_NB_SCREENSHOTS=1 (see shots.py); the
assertions check what pixels cannot: contrast in each theme, that dollar signs are
not typeset, that long values do not overflow the output, and that sections open
and close.
"""

from __future__ import annotations

import re

import pytest
from shots import SCREENSHOTS

pytestmark = pytest.mark.browser  # also slow, on one xdist worker: see conftest.py

LONG = "a-very-long-unbroken-value-" * 12


@pytest.fixture
def showcase(emu, triton_keys, dc):
    """Machines for the notebook: a realistic one with snapshots, and a hostile one."""
    networks = {n["name"]: n for n in dc.networks()}
    public, private = networks["Joyent-SDC-Public"], networks["Joyent-SDC-Private"]
    nics = [{"mac": "90:b8:d0:4e:11:02", "ip": "165.225.130.24", "primary": True,
             "gateway": "165.225.128.1", "netmask": "255.255.248.0", "network": public["id"],
             "state": "running"},
            {"mac": "90:b8:d0:4e:11:03", "ip": "10.64.18.7", "primary": False,
             "gateway": "10.64.0.1", "netmask": "255.255.0.0", "network": private["id"],
             "state": "running"}]
    handle = emu.datacenter("us-east-1")
    machine = handle.put_machine(
        name="web-prod-07", package="g4-highcpu-4G", firewall_enabled=True,
        deletion_protection=True, created=1_700_000_000, updated=1_760_000_000,
        tags={"role": "web", "env": "prod", "team": "web", "owner": "alice",
              "cost-center": "cc-1001", "triton.cns.services": "web:80"},
        metadata={"user-script": "#!/bin/sh\n/opt/bootstrap/web.sh\n", "app_version": "3.12.4",
                  "db_password": "never-shown"},
        snapshots=["before-upgrade-2026-01-10", "nightly-20260301"],
        nics=nics, ips=[n["ip"] for n in nics], networks=[n["network"] for n in nics],
        primaryIp=nics[0]["ip"])
    image = emu.add_image(name="<img src=x onerror=alert(1)>$x^2$", version="1.0")
    hostile = handle.put_machine(
        name="cost-$x^2$-and-$y$", image=image["id"],
        tags={"price": "$5 and $10 a month", "long": LONG,
              "<b>bold</b>": "<script>alert(1)</script>"})
    key = triton_keys["rsa"]
    connect = dict(url=emu.url, account="demo", key_id=key.md5, key_path=str(key.private),
                   rate_limit=False, name="us-east-1")
    return {"connect": connect, "machine": machine, "hostile": hostile}


def notebook_cells(showcase) -> list[str]:
    return [
        "import smartdc_nb\n"
        "from IPython.display import HTML\n"
        "from smartdc_nb.display import render_html\n"
        f"dc = smartdc_nb.connect(**{showcase['connect']!r})\n"
        "dc.packages(); dc.images(); dc.datacenters()",
        # 1: a Machine, its snapshots known
        f"m = dc.machine({showcase['machine']!r})\nm.snapshots()\nm",
        # 2: the snapshots of the datacenter's machines
        "snapshots = [s for x in dc.machines() if x.brand != 'kvm' for s in x.snapshots()]\n"
        "HTML(render_html(snapshots))",
        # 3: a Fleet after a listing, and 4: the machines it listed
        "fleet = smartdc_nb.Fleet(dc)\nfleet.packages(); fleet.images()\n"
        "machines = fleet.machines()\nfleet",
        "machines",
        # 5: hostile strings, dollar signs and a long value
        f"dc.machine({showcase['hostile']!r})",
        # 6: the control: the same dollar signs outside our output ARE typeset
        "HTML('<p class=\"typeset-control\">cost $x^2$ and $y$</p>')",
    ]


def luminance(css_color: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css_color)[:3])
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(fg: str, bg: str) -> float:
    light, dark = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


COLORS = """root => {
    const style = el => getComputedStyle(el);
    const pick = sel => [...root.querySelectorAll(sel)];
    const badge = pick('.sdcnb-badge')[0];
    return {
        fg: style(root).color, bg: style(root).backgroundColor,
        muted: style(pick('.sdcnb-what')[0]).color,
        badge: badge ? style(badge).color : null,
        th: pick('th').map(th => style(th).color)[0] || null,
    };
}"""


def test_reprs_in_jupyterlab_light_and_dark(showcase, lab_notebook):
    notebook = lab_notebook("reprs.ipynb", notebook_cells(showcase))
    page = notebook.page
    shots = {"machine": 1, "snapshots": 2, "fleet": 3, "machines": 4, "hostile": 5}

    # every output is our card, with its stylesheet applied (a rounded, bordered box)
    for cell in shots.values():
        root = notebook.outputs(cell).locator(".sdcnb")
        assert root.count() == 1
        assert root.evaluate("el => getComputedStyle(el).borderTopStyle") == "solid"

    # the machine shows its facts; sections open and close natively
    machine = notebook.outputs(1).locator(".sdcnb")
    text = machine.text_content()  # closed sections included
    for fact in ("web-prod-07", "running", "165.225.130.24", "10.64.18.7", "g4-highcpu-4G",
                 "4 vCPU", "protected", "before-upgrade-2026-01-10", "masked"):
        assert fact in text
    assert "never-shown" not in text
    metadata = machine.locator("details", has_text="Metadata")
    assert metadata.get_attribute("open") is None
    metadata.locator("summary").click()
    assert metadata.get_attribute("open") == ""
    # the short id widens to the full id on hover
    ident = machine.locator(".sdcnb-head .sdcnb-id")
    ident.scroll_into_view_if_needed()
    box = ident.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert ident.bounding_box()["width"] > box["width"] * 3
    page.mouse.move(0, 0)

    # dollar signs in our output stay text; the control outside it is typeset by MathJax
    page.wait_for_selector(".typeset-control mjx-container", timeout=30_000)
    hostile = notebook.outputs(5).locator(".sdcnb")
    assert hostile.locator("mjx-container").count() == 0
    assert "cost-$x^2$-and-$y$" in hostile.inner_text()
    assert "<script>alert(1)</script>" in hostile.inner_text()
    # a long value wraps inside the card instead of widening the notebook
    hostile.locator("details", has_text="Tags").locator("summary").click() \
        if hostile.locator("details[open]", has_text="Tags").count() == 0 else None
    assert hostile.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    area = notebook.outputs(5)
    assert area.evaluate("el => el.scrollWidth <= el.clientWidth + 1")

    for theme in ("light", "dark"):
        notebook.set_theme(theme)
        colors = machine.evaluate(COLORS)
        assert contrast(colors["fg"], colors["bg"]) >= 7, (theme, colors)
        assert contrast(colors["muted"], colors["bg"]) >= 4.5, (theme, colors)
        assert contrast(colors["badge"], colors["bg"]) >= 7, (theme, colors)
        assert contrast(colors["th"], colors["bg"]) >= 4.5, (theme, colors)
        assert (luminance(colors["bg"]) < 0.05) == (theme == "dark"), (theme, colors)
        for name, cell in shots.items():
            notebook.outputs(cell).locator(".sdcnb").evaluate(
                "el => el.querySelectorAll('details').forEach(d => d.open = true)")
            notebook.screenshot(cell, SCREENSHOTS / f"{name}-{theme}.png")
    for name in shots:
        for theme in ("light", "dark"):
            assert (SCREENSHOTS / f"{name}-{theme}.png").stat().st_size > 5000


#: pages that are not JupyterLab: no --jp-* variables, so the stylesheet's own fallbacks apply
HOSTS = {
    "classic notebook (light)": "<html><body>{}</body></html>",
    "VS Code dark": ('<html><body class="vscode-dark" style="--vscode-editor-background:#1f1f1f;'
                     '--vscode-editor-foreground:#cccccc;background:#1f1f1f">{}</body></html>'),
    "VS Code dark, no variables": '<html><body class="vscode-dark">{}</body></html>',
    "Sphinx dark": '<html data-theme="dark"><body style="background:#121212">{}</body></html>',
}


@pytest.mark.parametrize("host", HOSTS)
def test_fallback_colours_outside_jupyterlab(host, emu, dc, page):
    from smartdc_nb.display import render_html

    dc.packages()
    html = render_html(dc.machines()[0])
    page.set_content(HOSTS[host].format(html))
    colors = page.locator(".sdcnb").evaluate(COLORS)
    dark = "dark" in host
    assert (luminance(colors["bg"]) < 0.05) == dark, colors
    assert contrast(colors["fg"], colors["bg"]) >= 7, colors
    assert contrast(colors["muted"], colors["bg"]) >= 4.5, colors
    assert contrast(colors["badge"], colors["bg"]) >= 7, colors


def test_untrusted_notebook_shows_plain_tables_and_sections(emu, dc, jupyter_lab, open_notebook):
    """A notebook opened from disk is untrusted: JupyterLab sanitises its HTML (no <style>).
    The card must still read as a heading, tables and native <details> sections."""
    import nbformat

    from smartdc_nb.display import render_html

    dc.packages()
    dc.images()
    machine = next(m for m in dc.machines() if m.state == "running")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    output = nbformat.v4.new_output("display_data", data={"text/html": render_html(machine),
                                                          "text/plain": repr(machine)})
    notebook.cells.append(nbformat.v4.new_code_cell("m", outputs=[output], execution_count=1))
    nbformat.write(notebook, jupyter_lab.root / "untrusted.ipynb")
    lab = open_notebook("untrusted.ipynb")
    card = lab.outputs(0).locator(".sdcnb")
    assert card.locator("style").count() == 0  # the sanitiser took the stylesheet away ...
    assert card.evaluate("el => getComputedStyle(el).borderTopStyle") == "none"
    assert card.locator("details").count() == 4 and card.locator("table").count() >= 3
    text = " ".join(card.inner_text().split())
    assert f"Machine {machine.name} running {machine.id}" in text  # ... and it still reads
    card.locator("details", has_text="Metadata").locator("summary").click()
    assert card.locator("details", has_text="Metadata").get_attribute("open") == ""
    lab.screenshot(0, SCREENSHOTS / "machine-untrusted.png")
