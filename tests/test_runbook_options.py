"""``smartdc-nb run``'s options that name something outside the notebook (a kernel, a time
limit): one that cannot be used is refused before any cell runs, exit 2, in a sentence."""

from __future__ import annotations

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
