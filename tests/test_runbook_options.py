"""``smartdc-nb run``'s options that name something outside the notebook (a kernel, a time
limit): one that cannot be used is refused before any cell runs, exit 2, in a sentence."""

from __future__ import annotations

import json

import pytest
from notebook_runs import smartdc_nb_run, write_notebook


@pytest.mark.parametrize("value", ["2.5", "0", "-1", "soon"])
def test_a_timeout_that_is_not_whole_seconds_is_refused(tmp_path, value):
    """--timeout 2.5 ran until papermill's client refused the float (a TraitError, exit 1,
    "the run stopped"); 0 and -1 ran the whole notebook with no limit at all."""
    nb = write_notebook(tmp_path / "book.ipynb", 'open("ran", "w").write("yes")')
    proc = smartdc_nb_run(nb, "--timeout", value, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert (f"argument --timeout: give whole seconds, 1 or more (leave it out for no limit), "
            f"not {value}") in proc.stderr
    assert not (tmp_path / "ran").exists()


def test_a_kernel_that_is_not_installed_is_refused_before_running(tmp_path):
    """--kernel with a typo exited 1 with "the run of ... stopped: NoSuchKernel", as though
    cells had run; nothing had, and the kernels that are installed went unsaid."""
    nb = write_notebook(tmp_path / "book.ipynb", 'open("ran", "w").write("yes")')
    proc = smartdc_nb_run(nb, "--kernel", "pyhton3", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith(
        "smartdc-nb run: --kernel pyhton3: no Jupyter kernel of that name is installed "
        "(kernels: ")
    assert "python3" in proc.stderr and "nothing was run" in proc.stderr
    assert not (tmp_path / "ran").exists() and not (tmp_path / "book.out.ipynb").exists()


def test_a_notebook_asking_for_a_kernel_that_is_not_installed_says_so(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", 'open("ran", "w").write("yes")')
    data = json.loads(nb.read_text())
    data["metadata"]["kernelspec"]["name"] = "conda-env-ops-py"
    nb.write_text(json.dumps(data))
    proc = smartdc_nb_run(nb, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith(
        f"smartdc-nb run: {nb} asks for the Jupyter kernel 'conda-env-ops-py', which is not "
        "installed (kernels: ")
    assert "give --kernel NAME" in proc.stderr and "nothing was run" in proc.stderr
    assert not (tmp_path / "ran").exists()
