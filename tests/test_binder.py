"""binder/: consistent with the package, and enough to run the notebooks from a fresh install.

The slow test does what repo2docker does with binder/requirements.txt: a new
virtual environment (no system site-packages), ``pip install -r
binder/requirements.txt`` from the repository root, then every notebook run
by a kernel of that environment against the embedded demo cloud its
``connect("demo")`` starts (as in a Binder session, nothing else runs). The
dependencies' install is reused while its inputs are unchanged (see binder_venv).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import papermill
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from repo_copy import repo_copy

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
NOTEBOOKS = REPO / "notebooks"


def binder_requirements() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def project() -> dict:
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_requirements_install_the_package_and_what_the_notebooks_need():
    requirements = binder_requirements()
    assert requirements[0] == "."  # this repository's package, from the repository root
    declared = {Requirement(r).name: Requirement(r).specifier
                for r in project()["dependencies"] + project()["optional-dependencies"]["notebook"]
                if not r.startswith("smartdc_nb")}
    for line in requirements[1:]:
        requirement = Requirement(line)
        # the same versions the package itself asks for: the two lists cannot drift apart
        assert requirement.name in declared, f"{line} is not a dependency in pyproject.toml"
        assert requirement.specifier == declared[requirement.name], line
    names = {Requirement(r).name for r in requirements[1:]}
    assert {"ipykernel", "matplotlib"} <= names  # the kernel, and the fleet overview's plots
    # nothing repo2docker would run at build or start time, which no test would exercise
    assert sorted(p.name for p in BINDER.iterdir()) == ["README.md", "requirements.txt", "runtime.txt"]


def test_runtime_is_a_python_the_package_supports_and_the_suite_checks():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(3\.\d+)", runtime)
    assert match, runtime
    assert SpecifierSet(project()["requires-python"]).contains(match.group(1) + ".0")


def test_readme_links_open_existing_notebooks():
    readme = (BINDER / "README.md").read_text()
    targets = re.findall(r"\?urlpath=lab/tree/(notebooks/[\w.-]+\.ipynb)", readme)
    assert targets
    assert all((REPO / target).is_file() for target in targets)


def dependencies_key() -> str:
    """What the Binder environment's dependencies are made from: requirements, pyproject, Python."""
    digest = hashlib.sha256()
    for part in ((BINDER / "requirements.txt").read_bytes(), (REPO / "pyproject.toml").read_bytes(),
                 sys.version.encode()):
        digest.update(part)
    return digest.hexdigest()[:16]


def binder_venv(tmp_path: Path, env: dict) -> Path:
    """A venv where ``pip install -r binder/requirements.txt`` ran, as repo2docker runs it.

    The dependencies' install is kept between runs under ``$SMARTDC_NB_TEST_CACHE``
    (default ``~/.cache/smartdc_nb-tests``), keyed by the requirements, pyproject.toml and
    the Python version: the same inputs give the same environment, and any change to them
    installs afresh. The package itself is always installed again from this checkout. A
    machine without that cache (CI) or ``SMARTDC_NB_FRESH_BINDER=1`` installs everything
    from nothing, as Binder does.
    """
    cache = Path(os.environ.get("SMARTDC_NB_TEST_CACHE") or Path.home() / ".cache" /
                 "smartdc_nb-tests") / f"binder-{dependencies_key()}"
    fresh = os.environ.get("SMARTDC_NB_FRESH_BINDER", "") not in ("", "0")
    source = repo_copy(tmp_path / "source")  # pip builds "." in the tree it is given
    if not fresh and (cache / "bin" / "python").is_file():
        install = subprocess.run(
            [str(cache / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "--no-deps", "--force-reinstall", "."],
            cwd=source, env=env, capture_output=True, text=True, timeout=600)
        assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
        return cache
    # built beside its final place, then renamed in one step: never a half-made cache
    # (the test only runs bin/python -m ..., which finds its venv wherever it is)
    venv = tmp_path / "venv" if fresh else cache.with_name(f"{cache.name}.{os.getpid()}")
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "-r", "binder/requirements.txt"],
        cwd=source, env=env, capture_output=True, text=True, timeout=1500)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    if fresh:
        return venv
    shutil.rmtree(cache, ignore_errors=True)
    venv.rename(cache)
    return cache


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_fresh_install_runs_every_notebook(tmp_path, monkeypatch):
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = binder_venv(tmp_path, env)
    python = venv / "bin" / "python"
    print(f"install ({venv}): {time.monotonic() - started:.0f} s")

    # the package the kernel imports is the installed copy, not this checkout
    where = subprocess.run([str(python), "-c", "import smartdc_nb; print(smartdc_nb.__file__)"],
                           cwd=NOTEBOOKS, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    kernels = tmp_path / "share" / "jupyter" / "kernels" / "binder"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "binder", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    for name in list(os.environ):
        if name.startswith(("TRITON_", "SDC_", "SMARTDC_NB_DEMO_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv("SMARTDC_NB_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("SMARTDC_NB_DEMO_SPEED", "20")
    monkeypatch.setenv("SMARTDC_NB_DEMO_MACHINES", "12")
    monkeypatch.setenv("TQDM_DISABLE", "1")

    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        out = tmp_path / notebook.name
        try:
            papermill.execute_notebook(str(notebook), str(out), kernel_name="binder",
                                       cwd=str(NOTEBOOKS), progress_bar=False)
        except papermill.PapermillExecutionError as exc:
            pytest.fail(f"{notebook.name}: cell {exc.cell_index} failed in the Binder "
                        f"environment:\n{exc.source}\n{exc.ename}: {exc.evalue}")
        # each kernel started the embedded cloud itself, and it ended with the kernel
        assert (tmp_path / "demo" / "state.sqlite").is_file()
    deadline = time.monotonic() + 10
    while (tmp_path / "demo" / "running.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (tmp_path / "demo" / "running.json").exists()
    print(f"install and four notebooks: {time.monotonic() - started:.0f} s")
