"""The runbooks ship in the package, by short name, and copies of them are never overwritten silently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from smartdc_nb.runbook import library

REPO = Path(__file__).resolve().parents[1]


def notebooks_cmd(*args: str, cwd: Path, env: dict | None = None, stdin: str | None = None):
    import os

    return subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "notebooks", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, input=stdin,
                          env=dict(os.environ, **(env or {})))


def test_the_packaged_runbooks_are_the_repositorys_notebooks():
    # notebooks/ at the root is the package's folder, so a checkout and a wheel hold the same files
    assert (REPO / "notebooks").resolve() == library.PACKAGED
    assert library.in_checkout()
    names = library.packaged()
    assert list(names)[:4] == ["fleet-overview", "machine-control", "rolling-reboot", "snapshot-hygiene"]
    assert all(path.parent == library.PACKAGED for path in names.values())
    assert library.resolve("fleet-overview") == names["fleet-overview"]
    assert library.resolve("01-fleet-overview.ipynb") == names["fleet-overview"]
    assert library.resolve("nothing-by-that-name") is None
    assert library.resolve("some/dir/fleet-overview") is None  # a path is a path, never a name


def test_the_wheel_declares_the_runbooks_as_package_data():
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "notebooks/*.ipynb" in config["package-data"]["smartdc_nb"]


def test_notebooks_copies_them_out_and_never_overwrites_an_edited_one(tmp_path):
    target = tmp_path / "my-runbooks"
    proc = notebooks_cmd(str(target), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    copied = sorted(p.name for p in target.glob("*.ipynb"))
    assert copied == sorted(p.name for p in library.PACKAGED.glob("*.ipynb")
                            if not p.name.endswith(".out.ipynb"))
    assert f"copied to {target}" in proc.stdout

    edited = target / "03-rolling-reboot.ipynb"
    edited.write_text(edited.read_text().replace("batch_size", "batch_size_mine"))
    (target / "01-fleet-overview.ipynb").unlink()
    proc = notebooks_cmd(str(target), cwd=tmp_path)  # no terminal: nothing is asked, nothing replaced
    assert proc.returncode == 0
    assert "batch_size_mine" in edited.read_text()
    assert (target / "01-fleet-overview.ipynb").is_file()  # a missing one comes back
    assert "kept your edited 03-rolling-reboot.ipynb" in proc.stderr and "--overwrite" in proc.stderr

    proc = notebooks_cmd(str(target), "--overwrite", cwd=tmp_path)
    assert proc.returncode == 0
    assert "batch_size_mine" not in edited.read_text()


def test_copy_out_asks_before_replacing(tmp_path):
    library.copy_out(tmp_path)
    edited = tmp_path / "02-machine-control.ipynb"
    edited.write_text("{}")
    answers = iter(["n"])
    import builtins

    original = builtins.input
    builtins.input = lambda prompt: next(answers)
    try:
        result = library.copy_out(tmp_path, ask=True, say=lambda text: None)
    finally:
        builtins.input = original
    assert result["kept"] == ["02-machine-control.ipynb"] and edited.read_text() == "{}"


def test_the_default_copy_folder_follows_the_environment(tmp_path):
    proc = notebooks_cmd(cwd=tmp_path, env={"SMARTDC_NB_NOTEBOOKS": str(tmp_path / "from-env")})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "from-env" / "01-fleet-overview.ipynb").is_file()


def test_an_unwritable_folder_is_said(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = notebooks_cmd(str(blocker / "sub"), cwd=tmp_path)
    assert proc.returncode == 1
    assert f"cannot write to {blocker / 'sub'}" in proc.stderr


def test_a_file_given_as_the_folder_is_said_to_be_one(tmp_path):
    """`smartdc-nb notebooks notes.txt` said "cannot write to notes.txt: File exists" (exit
    1): true of mkdir, but no help to a user who named a file for the folder."""
    (tmp_path / "notes.txt").write_text("mine")
    proc = notebooks_cmd("notes.txt", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("smartdc-nb notebooks: notes.txt is a file, not a folder; "
                                   "give a folder to copy the runbooks into (made if need be)")
    assert (tmp_path / "notes.txt").read_text() == "mine"
