"""``smartdc-nb run`` names a cell by what it does: its heading comment, else its first line
that is not an import, never "import socket" (the line a runbook's first cell starts with)."""

from __future__ import annotations

import pytest
from notebook_runs import smartdc_nb_run, write_notebook

from smartdc_nb.runbook.report import cell_label


@pytest.mark.parametrize("source, label", [
    ("import socket\n\nimport pandas as pd\nfrom os import (\n    path,\n    sep)\n\n"
     "fleet = make()\n", (8, "fleet = make()")),
    ("# reboot one batch\nimport time\nresult = plan.apply()", (1, "# reboot one batch")),
    ("\n\nimport time\n# wait for the batch\ntime.sleep(1)", (4, "# wait for the batch")),
    ("x = 1", (1, "x = 1")),
    ("import os", (1, "import os")),  # nothing but imports: the first line still names it
    ("", (0, "")),
])
def test_a_cell_is_labelled_by_its_heading_else_its_first_line_that_is_not_an_import(source,
                                                                                     label):
    assert cell_label(source) == label


@pytest.mark.slow
def test_a_failing_cell_that_starts_with_imports_is_named_by_what_it_does(tmp_path):
    """A failure in the rolling reboot's first cell read "cell 3 (In [2]) failed: import
    socket", which says nothing of what failed; the progress line said the same."""
    nb = write_notebook(tmp_path / "book.ipynb",
                        "import os\nimport json\n\nsettings = json.loads('{')\nprint('never')")
    proc = smartdc_nb_run(nb, cwd=tmp_path)
    assert proc.returncode == 1
    assert "cell 3 (In [" in proc.stderr, proc.stderr
    assert "]) failed: settings = json.loads('{')\n" in proc.stderr, proc.stderr
    assert "import os" not in proc.stderr and "at line 4" not in proc.stderr, proc.stderr
    assert "JSONDecodeError: " in proc.stderr
    progress = [line for line in proc.stderr.splitlines() if line.startswith("[2/2")]
    assert progress and progress[0].endswith("] settings = json.loads('{')"), proc.stderr


@pytest.mark.slow
def test_the_line_that_raised_is_named_when_it_is_not_the_label(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", "import os\n# check the batch\nok = [1]\nbad = ok[5]")
    proc = smartdc_nb_run(nb, cwd=tmp_path)
    assert proc.returncode == 1
    assert "]) failed: # check the batch\n  at line 4: bad = ok[5]\n" in proc.stderr, proc.stderr
