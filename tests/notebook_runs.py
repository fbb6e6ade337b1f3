"""Running the runbooks in tests: a demo cloud per test, papermill and ``smartdc-nb run``
(no tests here; test_notebooks, test_notebooks_headless and test_notebooks_rolling use them).

The kernel's ``connect("demo")`` finds the demo cloud a test started (a fresh state per
test, transitions 20 times faster than the demo's), so the test can read the cloud
afterwards and check what a runbook changed; ``lab_env`` points a triton CLI profile "lab"
at the emulator fixture instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import papermill
import pytest

from smartdc_nb import demo


REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SPEED = 20  # the demo clouds' transitions, this many times faster than the demo's


def start_demo_cloud(tmp_path, monkeypatch, machines: int):
    """A demo cloud owned by the test, found by connect("demo") in kernels and here."""
    for name in list(os.environ):
        if name.startswith(("TRITON_", "SDC_", "SMARTDC_NB_DEMO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SMARTDC_NB_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("SMARTDC_NB_PROGRESS", "0")
    d = demo.demo_dir()
    with demo.start_lock(d):
        return demo.start_cloud(d, parent_pid=os.getpid(), machines=machines, speed=SPEED)


def execute(name: str, tmp_path: Path, **parameters) -> nbformat.NotebookNode:
    """Run notebook ``name`` with papermill; fail with the cell's traceback on any error."""
    out = tmp_path / name
    try:
        papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters,
                                   cwd=str(NOTEBOOKS), progress_bar=False, kernel_name="python3")
    except papermill.PapermillExecutionError as exc:
        pytest.fail(f"{name}: cell {exc.cell_index} failed:\n{exc.source}\n{exc.ename}: {exc.evalue}")
    return nbformat.read(str(out), as_version=4)


def outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == kind or kind in o.get("data", {})]


def text_of(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "run", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env,
                          stdin=subprocess.DEVNULL)


def run_cli_while(emu, meanwhile, *args, env=None) -> subprocess.CompletedProcess:
    """run_cli while ``meanwhile()`` (what the cloud does during the run) runs in a thread;
    the emulator's faults are cleared after both."""
    watcher = threading.Thread(target=meanwhile)
    watcher.start()
    try:
        return run_cli(*args, env=env)
    finally:
        watcher.join()
        emu.faults.clear()


def _rolling_reboot_stopped_mid_batch(emu, lab_env, tmp_path, stop) -> tuple[int, str, str]:
    """Apply a one-at-a-time rolling reboot headless and call ``stop(process)`` once its first
    reboot is in flight (the emulator's clock stopped, so it stays there). Returns the run's
    exit status, its stderr and the plan id."""
    args = [NOTEBOOKS / "03-rolling-reboot.ipynb", "-p", "profile", "lab", "-p", "tag_selector",
            "role=web", "-p", "snapshot_first", "False", "-p", "batch_size", "1"]
    return applied_then_stopped(emu, lab_env, tmp_path, args, stop)


def applied_then_stopped(emu, lab_env, tmp_path, args, stop) -> tuple[int, str, str]:
    """Dry-run a runbook with ``args``, apply its plan id headless and call ``stop(process)``
    once its first change is in flight (the emulator's clock stopped, so it stays there).
    Returns the run's exit status, its stderr and the plan id."""
    dry = run_cli(*args, "-o", tmp_path / "dry.ipynb", env=lab_env)
    assert dry.returncode == 0, dry.stderr
    emu.clock.set_manual(True)
    proc = subprocess.Popen([sys.executable, "-m", "smartdc_nb.cli", "run", *map(str, args),
                             "-p", "approve", plan_id_of(dry.stdout), "-o", tmp_path / "out.ipynb"],
                            env=lab_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not any(r["method"] == "POST" for r in emu.requests):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        time.sleep(0.5)
        stop(proc)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        emu.clock.set_manual(False)
    return proc.returncode, stderr, plan_id_of(dry.stdout)


def plan_id_of(text: str) -> str:
    """The plan id a rolling-reboot dry run printed."""
    match = re.search(r"plan ([0-9a-f]{12}) \(apply it with -p approve \1\)", text)
    assert match, text[-3000:]
    return match.group(1)


def profile_env(emu, triton_keys, tmp_path, drop: tuple[str, ...]) -> dict[str, str]:
    """This process's environment without the variables starting with ``drop`` (nor an
    ssh-agent), with a triton CLI profile "lab" for the emulator ``emu``."""
    # here, not at the top: conftest imports this module before pytest_plugins imports the
    # plugin, which must come first (assertion rewriting)
    from smartdc_nb.emulator.testing import cli_home

    config = tmp_path / "triton"
    (config / "profiles.d").mkdir(parents=True)
    (config / "profiles.d" / "lab.json").write_text(json.dumps(
        {"url": emu.url, "account": "demo", "keyId": triton_keys["rsa"].md5}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop) and k != "SSH_AUTH_SOCK"}
    env.update(TRITONTEST_CLI_CONFIG_DIR=str(config), HOME=str(cli_home(triton_keys, tmp_path)))
    return env


#: The parameters cell of write_notebook's runbook, by default.
PARAMETERS = '''\
count = 2            # how many
label = "x"          # a name
flag = False
ratio: float = 0.5
anything = None
selector = "role=web"  # papermill's own parser skips lines with two '='
'''


def write_notebook(path: Path, *cells: str, parameters: str | None = PARAMETERS,
                   tags: dict[int, list[str]] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# A runbook"))
    if parameters is not None:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    for i, source in enumerate(cells):
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": (tags or {}).get(i, [])}))
    nbformat.write(nb, str(path))
    return path


def smartdc_nb_run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "run", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
