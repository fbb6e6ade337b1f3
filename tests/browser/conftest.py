"""Browser harness: a real JupyterLab server and headless Chromium driven by Playwright.

Fixtures (reusable by any browser test):

``jupyter_lab`` (session)
    a JupyterLab server started by the test on 127.0.0.1 with a temporary root
    directory, its own config/settings/workspace directories, no token and no
    password; ``jupyter_lab.write_notebook(name, cells)`` writes a notebook.
``browser`` (session)
    Chromium (``/usr/bin/chromium`` or ``$SMARTDC_NB_CHROMIUM``) launched by
    Playwright; Playwright's own browser download is never used.
``page`` (function)
    a fresh 1600x900 page in its own browser context.
``open_notebook`` (function)
    ``open_notebook(name) -> LabNotebook``: opens a notebook that is already in
    the root directory (its saved outputs shown as JupyterLab shows them).
``lab_notebook`` (function)
    ``lab_notebook(name, cells, timeout=120) -> LabNotebook``: writes the
    notebook, opens it in JupyterLab, runs all cells and waits for every one to
    finish; the result helps switch the theme, find outputs and screenshot them.

Browser tests are marked ``@pytest.mark.browser``; they skip when Chromium or
Playwright is missing, unless ``SMARTDC_NB_REQUIRE_BROWSER=1`` (then they fail).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import requests
from polling import eventually

HERE = Path(__file__).resolve().parent


def pytest_itemcollected(item):
    """Every browser test is slow (it drives a real JupyterLab), and they all stay on one
    xdist worker (``--dist loadgroup``): they share one JupyterLab and one Chromium.

    Marked as each test is collected: pytest-xdist reads the group in its own
    pytest_collection_modifyitems, which runs before a conftest's, so a group added there
    was never seen (each worker started a JupyterLab and a Chromium of its own).
    """
    if HERE in Path(str(item.path)).resolve().parents:
        item.add_marker(pytest.mark.slow)
        item.add_marker(pytest.mark.xdist_group("browser"))

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
#: settings that keep the page quiet, offline and predictable: no news or update checks (they
#: would be requests to the internet and pop-ups over the screenshots), and every cell
#: rendered (JupyterLab otherwise skips rendering cells scrolled out of view)
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/themes.jupyterlab-settings": {"theme": THEMES["light"]},
}


def unavailable(message: str) -> None:
    """Skip, or fail when SMARTDC_NB_REQUIRE_BROWSER=1 says the browser tests must run."""
    if os.environ.get("SMARTDC_NB_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (SMARTDC_NB_REQUIRE_BROWSER=1)")
    pytest.skip(message)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("SMARTDC_NB_CHROMIUM"), "/usr/bin/chromium",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install playwright)")
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium is not installed (apt-get install chromium, or set "
                    "SMARTDC_NB_CHROMIUM to its path)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    yield page
    context.close()


def free_port() -> int:
    # Jupyter cannot report a port it picked itself; the port is free when we ask, and
    # port_retries=0 makes the server fail loudly (not drift) if someone takes it meanwhile.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JupyterLab:
    """A running JupyterLab server (see :func:`jupyter_lab`)."""

    url: str
    root: Path
    process: subprocess.Popen
    log: Path

    def write_notebook(self, name: str, cells: list[str]) -> Path:
        """A notebook of code cells (markdown cells start with ``"%% md\\n"``) under the root."""
        import nbformat

        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                           "language": "python"}
        for source in cells:
            if source.startswith("%% md\n"):
                notebook.cells.append(nbformat.v4.new_markdown_cell(source[6:]))
            else:
                notebook.cells.append(nbformat.v4.new_code_cell(source))
        path = self.root / name
        nbformat.write(notebook, path)
        return path


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory):
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        unavailable("JupyterLab is not installed (pip install 'smartdc_nb[notebook]')")
    base = tmp_path_factory.mktemp("jupyterlab")
    root, settings = base / "root", base / "settings"
    root.mkdir()
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "TRITON_", "SDC_"))}
    # Everything the server and its kernels write stays under base, not in the user's home: this
    # session fixture starts before the per-test fixtures point the journal at a tmp dir.
    env.update(JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTER_DATA_DIR=str(base / "data"), IPYTHONDIR=str(base / "ipython"),
               JUPYTER_PLATFORM_DIRS="1", SMARTDC_NB_PROGRESS="0",
               SMARTDC_NB_JOURNAL=str(base / "journal.jsonl"), SMARTDC_NB_JOURNAL_SYNC="none")
    port = free_port()
    log = base / "server.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               "--IdentityProvider.token=", "--ServerApp.password=",
               "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
               f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={base / 'workspaces'}", "--LabApp.news_url=None"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")  # CI containers run as root
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: _answers(url + "/api/status") or process.poll() is not None, 90,
                   "JupyterLab to start")
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        yield JupyterLab(url, root, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


class LabNotebook:
    """An open, executed notebook in a JupyterLab page."""

    def __init__(self, page, lab: JupyterLab, name: str):
        self.page, self.lab, self.name = page, lab, name

    def open(self, timeout: float = 60) -> LabNotebook:
        # a workspace of its own, so notebooks opened by earlier tests do not come back
        workspace = f"w{uuid.uuid4().hex[:12]}"
        self.page.goto(f"{self.lab.url}/lab/workspaces/{workspace}/tree/{self.name}")
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell",
                                    timeout=timeout * 1000)
        self.page.wait_for_selector(
            ".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']",
            timeout=timeout * 1000)
        if self.page.locator("#jp-left-stack").is_visible():  # give the notebook the width
            self.menu("View", "Appearance", "Show Left Sidebar")
            self.page.locator("#jp-left-stack").wait_for(state="hidden")
        return self

    def menu(self, *path: str) -> None:
        """Click through the main menu, e.g. ``menu("Run", "Run All Cells")``.

        Waits for each entry to be enabled (a command is disabled until the
        notebook has focus and a kernel), so a click is never silently ignored.
        """
        def label(text: str):
            return self.page.locator(".lm-Menu-itemLabel, .lm-MenuBar-itemLabel",
                                     has_text=re.compile(rf"^{re.escape(text)}$"))

        self.page.locator("#jp-MainMenu .lm-MenuBar-item").filter(has=label(path[0])).click()
        for item in path[1:]:
            self.page.locator(".lm-Menu .lm-Menu-item:not(.lm-mod-disabled)").filter(
                has=label(item)).last.click()

    def run_all(self, timeout: float = 120) -> LabNotebook:
        """Run every cell; wait until each code cell ran or one failed (then raise its error)."""
        for _attempt in range(3):
            self.page.locator(".jp-NotebookPanel .jp-Cell .jp-InputPrompt").first.click()  # focus
            self.menu("Run", "Run All Cells")
            try:  # a click while the kernel is still connecting can be dropped: try again
                self.page.wait_for_function(
                    """() => [...document.querySelectorAll(
                        '.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]
                        .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))""",
                    timeout=10_000)
                break
            except Exception:
                continue
        try:
            self._wait_for_cells(timeout)
        except Exception as exc:
            prompts = self.page.locator(".jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt")
            picture = self.lab.root.parent / f"{self.name}.timeout.png"
            self.page.screenshot(path=str(picture))
            raise AssertionError(f"the notebook did not finish running in {timeout:.0f} s; "
                                 f"prompts: {prompts.all_inner_texts()}; page: {picture}") from exc
        stderr = self.page.locator(
            ".jp-NotebookPanel .jp-OutputArea-output[data-mime-type$='stderr']").all_inner_texts()
        failures = [text for text in stderr if "Traceback" in text]
        if failures:
            raise AssertionError("a notebook cell failed:\n" + "\n".join(failures))
        return self

    def _wait_for_cells(self, timeout: float) -> None:
        self.page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll(
                    '.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent);
                if (prompts.some(p => p.includes('*'))) return false;
                const failed = [...document.querySelectorAll(
                    '.jp-NotebookPanel .jp-OutputArea-output[data-mime-type$="stderr"]')]
                    .some(o => o.textContent.includes('Traceback'));
                return failed || (prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p)));
            }""", timeout=timeout * 1000)

    def set_theme(self, theme: str) -> None:
        """Switch JupyterLab to its ``light`` or ``dark`` theme (through the Settings menu)."""
        self.menu("Settings", "Theme", THEMES[theme])
        self.page.wait_for_selector(
            f"body[data-jp-theme-name='{THEMES[theme]}']", state="attached")
        self.page.wait_for_timeout(300)  # let the theme's stylesheet settle before pixels

    def outputs(self, cell: int):
        """The output areas of code cell ``cell`` (0-based, counting code cells only)."""
        return self.page.locator(".jp-NotebookPanel .jp-CodeCell").nth(cell).locator(
            ".jp-OutputArea-output")

    def screenshot(self, cell: int, path: Path, output: int = 0) -> Path:
        """Save a PNG of one output (the page grows so the whole output is in view)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        target = self.outputs(cell).nth(output)
        height = target.evaluate("el => el.getBoundingClientRect().height")
        viewport = self.page.viewport_size
        if height + 250 > viewport["height"]:  # the notebook scrolls inside the page, not the page
            self.page.set_viewport_size({"width": viewport["width"], "height": int(height) + 250})
            self.page.wait_for_timeout(200)
        target.scroll_into_view_if_needed()
        target.screenshot(path=str(path), animations="disabled")
        return path


@pytest.fixture
def open_notebook(jupyter_lab, page) -> Callable[[str], LabNotebook]:
    """``open_notebook(name) -> LabNotebook``: open a notebook already under the root (not run)."""
    yield lambda name: LabNotebook(page, jupyter_lab, name).open()
    # shut the kernels down so no kernel outlives the test
    for session in requests.get(jupyter_lab.url + "/api/sessions", timeout=10).json():
        requests.delete(f"{jupyter_lab.url}/api/sessions/{session['id']}", timeout=10)


@pytest.fixture
def lab_notebook(jupyter_lab, open_notebook) -> Callable[..., LabNotebook]:
    """``lab_notebook(name, cells, timeout=120) -> LabNotebook``: write, open and run a notebook."""
    def write_open_run(name: str, cells: list[str], timeout: float = 120) -> LabNotebook:
        jupyter_lab.write_notebook(name, cells)
        return open_notebook(name).run_all(timeout)

    return write_open_run
