"""A pip user's toolkit: the wheel, installed in a fresh venv outside the repository, has the runbooks.

The slow test builds the wheel from this checkout, installs it with its
``notebook`` extra in a new virtual environment (no system site-packages) in a
folder outside the repository, and then, from an empty working directory:
``smartdc-nb notebooks --list`` names the runbooks, ``smartdc-nb run
fleet-overview`` runs the packaged runbook against the embedded demo cloud, and
``smartdc-nb demo`` serves a working copy of the runbooks (JupyterLab's
contents API lists them). The dependencies' install is reused while pyproject.toml
and Python are unchanged (see wheel_venv).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
from repo_copy import repo_copy
from demo_processes import free_port, read_until, stop_demo

# the tests share one installed venv (a module fixture): they stay on one xdist worker
pytestmark = pytest.mark.xdist_group("wheel")

REPO = Path(__file__).resolve().parents[1]
RUNBOOKS = sorted(p.name for p in (REPO / "smartdc_nb" / "notebooks").glob("[0-9]*.ipynb")
                  if not p.name.endswith(".out.ipynb"))


def wheel_venv(base: Path, wheel: Path, env: dict) -> Path:
    """A venv with ``pip install WHEEL[notebook]`` done, as a pip user does it.

    The dependencies' install is kept between runs under ``$SMARTDC_NB_TEST_CACHE``
    (default ``~/.cache/smartdc_nb-tests``), keyed by pyproject.toml and the Python version:
    the same inputs give the same environment, any change to them installs afresh. The
    wheel itself is always installed again. A machine without that cache (CI) or
    ``SMARTDC_NB_FRESH_VENV=1`` installs everything from nothing.
    """
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes() + sys.version.encode())
    cache = Path(os.environ.get("SMARTDC_NB_TEST_CACHE") or Path.home() / ".cache" /
                 "smartdc_nb-tests") / f"wheel-{key.hexdigest()[:16]}"
    fresh = os.environ.get("SMARTDC_NB_FRESH_VENV", "") not in ("", "0")
    # console scripts name their venv by absolute path: the kept venv is built in place,
    # and counts only once its install finished (the marker file)
    venv = base / "venv" if fresh else cache
    done = venv / ".smartdc_nb-installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time (parallel workers, runs)

        def pip(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install",
                                   "--quiet", "--disable-pip-version-check", *args],
                                  env=env, capture_output=True, text=True, timeout=1500,
                                  cwd=base)

        if not fresh and done.is_file() and \
                pip("--no-deps", "--force-reinstall", str(wheel)).returncode == 0:
            return venv
        shutil.rmtree(venv, ignore_errors=True)  # fresh, never finished, or damaged
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        result = pip(f"{wheel}[notebook]")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        done.touch()
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, env, workdir): the wheel installed in a fresh venv, and a clean environment for it."""
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV")
           and not k.startswith(("TRITON_", "SDC_", "JUPYTER_", "SMARTDC_NB_"))}
    dist = base / "dist"
    source = repo_copy(base / "source")  # pip builds in the tree it is given
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                            "--disable-pip-version-check", "-w", str(dist), str(source)],
                           env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    wheel = next(dist.glob("smartdc_nb-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("smartdc_nb/notebooks/")
                  and n.endswith(".ipynb")) == RUNBOOKS
    assert not [n for n in names if n.endswith(".out.ipynb")]

    venv = wheel_venv(base, wheel, env)
    python = venv / "bin" / "python"
    work = base / "work"
    work.mkdir()
    env.update(SMARTDC_NB_DEMO_DIR=str(base / "demo"), SMARTDC_NB_DEMO_MACHINES="8",
               SMARTDC_NB_DEMO_SPEED="20", SMARTDC_NB_NOTEBOOKS=str(base / "my-runbooks"),
               JUPYTER_RUNTIME_DIR=str(base / "jupyter-runtime"),
               JUPYTER_CONFIG_DIR=str(base / "jupyter-config"),
               JUPYTER_DATA_DIR=str(base / "jupyter-data"), PYTHONUNBUFFERED="1")
    where = subprocess.run([str(python), "-c", "import smartdc_nb; print(smartdc_nb.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not this checkout
    return venv / "bin", env, work


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_wheel_lists_and_runs_a_packaged_runbook_by_name(installed):
    bin_dir, env, work = installed
    listed = subprocess.run([str(bin_dir / "smartdc-nb"), "notebooks", "--list"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[1] for line in listed.stdout.splitlines()] == RUNBOOKS

    run = subprocess.run([str(bin_dir / "smartdc-nb"), "run", "fleet-overview",
                          "--html", "overview.html"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=900,
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "[1/" in run.stderr  # the run told what it was doing as it went
    assert (work / "01-fleet-overview.out.ipynb").is_file()  # written here, not in site-packages
    assert (work / "overview.html").is_file()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_wheels_demo_serves_a_working_copy_of_the_runbooks(installed):
    bin_dir, env, work = installed
    port = free_port()
    proc = subprocess.Popen([str(bin_dir / "smartdc-nb"), "demo", "--no-browser", "--port", str(port)],
                            cwd=work, env=env, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = read_until(proc, "Ctrl-C to stop", timeout=180)
        text = "".join(lines)
        copies = Path(env["SMARTDC_NB_NOTEBOOKS"])
        assert f"Copied the runbooks to {copies}" in text
        assert sorted(p.name for p in copies.glob("*.ipynb")) == RUNBOOKS
        url = next(line.strip() for line in lines if "?token=" in line)
        token = url.rsplit("=", 1)[1]
        listing = requests.get(f"http://127.0.0.1:{port}/api/contents",
                               headers={"Authorization": f"token {token}"}, timeout=10).json()
        assert RUNBOOKS == sorted(item["name"] for item in listing["content"]
                                  if item["name"].endswith(".ipynb"))
    finally:
        stop_demo(proc)
    assert proc.returncode == 0  # Ctrl-C stops the demo cleanly
    assert not (Path(env["SMARTDC_NB_DEMO_DIR"]) / "running.json").exists()
