"""``smartdc-nb run``: headless runs with parameters, failures named, HTML reports.

Each test runs the real command in a subprocess (papermill, a real kernel) on
a small notebook written here, so that what is checked is what cron sees:
exit status, stdout, stderr and the files written.
"""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from notebook_runs import smartdc_nb_run, write_notebook

from smartdc_nb.runbook import parse_value, resolve_parameters, ParameterError

# each test runs `smartdc-nb run` or a kernel: seconds of real processes
pytestmark = pytest.mark.slow

REPORT_TYPES = 'import json; print(json.dumps({k: [type(v).__name__, v] for k, v in ' \
               '[("count", count), ("label", label), ("flag", flag), ("ratio", ratio), ' \
               '("anything", anything), ("selector", selector)]}))'


def test_parameters_are_read_as_their_defaults_types(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", REPORT_TYPES,
                        'import os; print("env", os.environ.get("TQDM_DISABLE"), '
                        'os.environ.get("SMARTDC_NB_PROGRESS"))',
                        'print("final:", count * 2, label)', tags={2: ["summary"]})
    proc = smartdc_nb_run(nb, "-p", "count", "5", "-p", "label", "7", "-p", "flag", "yes",
                          "-p", "ratio", "2", "-p", "anything", "3.5", "-p", "selector", "env=prod",
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # the summary is the output of the cell tagged "summary", and only that
    assert proc.stdout.strip() == "final: 10 7"
    out = tmp_path / "book.out.ipynb"
    assert f"executed notebook: {out}" in proc.stderr
    executed = nbformat.read(str(out), as_version=4)
    printed = [c for c in executed.cells if c.cell_type == "code" and c.outputs]
    values = json.loads(printed[0].outputs[0]["text"])
    assert values == {"count": ["int", 5], "label": ["str", "7"], "flag": ["bool", True],
                      "ratio": ["float", 2.0], "anything": ["float", 3.5],
                      "selector": ["str", "env=prod"]}
    # progress bars are off in the kernel of a headless run
    assert printed[1].outputs[0]["text"].strip() == "env 1 0"
    assert executed.metadata.papermill.parameters["count"] == 5


def test_raw_parameters_stay_text_and_output_goes_where_asked(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", REPORT_TYPES)
    out = tmp_path / "runs" / "today.ipynb"
    out.parent.mkdir()
    proc = smartdc_nb_run(nb, "-r", "anything", "True", "-p", "flag", "False", "-o", out,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "book.out.ipynb").exists()
    # no cell tagged summary: the last output is the summary
    assert json.loads(proc.stdout) == {"count": ["int", 2], "label": ["str", "x"],
                                       "flag": ["bool", False], "ratio": ["float", 0.5],
                                       "anything": ["str", "True"], "selector": ["str", "role=web"]}
    assert nbformat.read(str(out), as_version=4).metadata.papermill.parameters == {
        "anything": "True", "flag": False}


def test_a_failing_cell_is_named_and_the_run_exits_non_zero(tmp_path):
    nb = write_notebook(
        tmp_path / "book.ipynb",
        'print("step one done")',
        '# reboot the batch\nraise RuntimeError(f"machine web-{count} did not come back")',
        'print("never reached")', tags={0: ["summary"]})
    html = tmp_path / "report.html"
    proc = smartdc_nb_run(nb, "-p", "count", "3", "--html", html, cwd=tmp_path)
    assert proc.returncode == 1
    # cell 4 of the input: markdown, parameters, print, the failing one
    assert "cell 4 (In [" in proc.stderr and "failed: # reboot the batch" in proc.stderr
    assert "RuntimeError: machine web-3 did not come back" in proc.stderr
    # what the runbook reported before failing is still its summary
    assert proc.stdout.strip() == "step one done"
    executed = nbformat.read(str(tmp_path / "book.out.ipynb"), as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert [e.ename for e in errors] == ["RuntimeError"]
    # the HTML report is written for a failed run too, with the error in it
    page = html.read_text()
    assert "machine web-3 did not come back" in page and "step one done" in page


def test_html_report_of_a_successful_run(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb",
                        'import pandas as pd\npd.DataFrame({"machine": ["web-1", "<db>"], '
                        '"outcome": ["rebooted", "skipped"]})')
    proc = smartdc_nb_run(nb, "--html", tmp_path / "r.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table" in page
    assert "&lt;db&gt;" in page and "<db>" not in page  # pandas escapes cell text
    assert "web-1" in proc.stdout and "rebooted" in proc.stdout  # the table as text


def test_sys_exit_zero_ends_the_run_early_as_a_success(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb",
                        'import sys\nprint("nothing to do")\nsys.exit(0)',
                        'raise AssertionError("must not run")')
    proc = smartdc_nb_run(nb, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "nothing to do"


@pytest.mark.parametrize("args, message", [
    (["-p", "cuont", "3"], "the notebook has no parameter 'cuont'; it takes: count, label, flag, "
                           "ratio, anything, selector"),
    (["-p", "flag", "maybe"], "parameter flag is a boolean: give True or False, not 'maybe'"),
    (["-p", "count", "three"], "parameter count is a number (int): 'three' is not one"),
])
def test_bad_parameters_are_refused_before_running(tmp_path, args, message):
    nb = write_notebook(tmp_path / "book.ipynb", 'raise AssertionError("must not run")')
    proc = smartdc_nb_run(nb, *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"smartdc-nb run: {message}"
    assert not (tmp_path / "book.out.ipynb").exists()


def test_bad_files_are_refused(tmp_path):
    proc = smartdc_nb_run(tmp_path / "missing.ipynb", cwd=tmp_path)
    assert proc.returncode == 2 and "missing.ipynb: no such notebook file" in proc.stderr
    (tmp_path / "folder.ipynb").mkdir()  # it exists: "no such file" misled
    proc = smartdc_nb_run(tmp_path / "folder.ipynb", cwd=tmp_path)
    assert proc.returncode == 2
    assert "folder.ipynb: a directory, not a notebook file; give the .ipynb file" in proc.stderr
    plain = write_notebook(tmp_path / "plain.ipynb", "print(1)", parameters=None)
    proc = smartdc_nb_run(plain, "-p", "count", "1", cwd=tmp_path)
    assert proc.returncode == 2 and "no cell tagged 'parameters'" in proc.stderr
    proc = smartdc_nb_run(plain, "-o", plain, cwd=tmp_path)
    assert proc.returncode == 2 and "would overwrite the input notebook" in proc.stderr


@pytest.mark.parametrize("onto", ["the input", "the output"])
def test_an_html_report_over_the_notebook_or_its_output_is_refused(tmp_path, onto):
    """--html naming the runbook itself, or the -o file, ran the whole runbook and then
    wrote the HTML over it: the operator's notebook, or the executed notebook the end of the
    run named as saved, was gone."""
    nb = write_notebook(tmp_path / "book.ipynb", 'open("ran", "w").write("yes")')
    kept = nb.read_text()
    output = tmp_path / "run.ipynb"
    target = nb if onto == "the input" else output
    proc = smartdc_nb_run(nb, "-o", output, "--html", target, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    mine = "the input notebook" if onto == "the input" else f"the executed notebook ({output})"
    assert proc.stderr.strip() == (f"smartdc-nb run: the HTML report would overwrite {mine}; "
                                   "give another --html; nothing was run")
    assert not (tmp_path / "ran").exists() and nb.read_text() == kept


def test_list_parameters(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", "pass")
    proc = smartdc_nb_run(nb, "--list-parameters", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        "count: int = 2  # how many", 'label: str = "x"  # a name', "flag: bool = False",
        "ratio: float = 0.5", "anything: any = None",
        "selector: str = \"role=web\"  # papermill's own parser skips lines with two '='"]


def test_a_run_loads_only_what_it_uses(tmp_path):
    """The command starts in about a second: it imports its own subcommand, not the emulator
    or pandas of the others, and nbformat's jsonschema without rfc3987_syntax (a second of
    parser building for IRI formats no notebook schema has)."""
    nb = write_notebook(tmp_path / "book.ipynb", "pass")
    script = ("import sys\nfrom smartdc_nb.cli import main\n"
              f"code = main(['run', {str(nb)!r}, '--list-parameters'])\n"
              "heavy = ('rfc3987_syntax', 'smartdc_nb.emulator', 'smartdc_nb.frames', 'pandas')\n"
              "print(code, [name for name in heavy if sys.modules.get(name) is not None])")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "0 []"


def test_value_parsing():
    assert parse_value("n", "-3", int) == -3
    assert parse_value("b", "TRUE", bool) is True and parse_value("b", "off", bool) is False
    assert parse_value("s", "007", str) == "007"
    assert parse_value("l", "['web', 'db']", list) == ["web", "db"]
    with pytest.raises(ParameterError, match=r"parameter l is a list: write it as Python"):
        parse_value("l", "web,db", list)
    # without a typed default: papermill's own -p rules
    assert [parse_value("x", t, None) for t in ("True", "None", "4", "4.5", "true")] == [
        True, None, 4, 4.5, "true"]
    assert resolve_parameters({}, [], []) == {}


def test_a_dead_kernel_stops_the_run_with_what_the_kernel_said(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", 'print("before")', "import os\nos._exit(3)",
                        'print("never reached")')
    proc = smartdc_nb_run(nb, cwd=tmp_path)
    assert proc.returncode == 1
    assert "stopped: DeadKernelError" in proc.stderr and "the kernel said:" in proc.stderr
    assert "never reached" not in proc.stdout


def test_the_html_report_shows_widgets_in_their_static_form(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", "import ipywidgets\nipywidgets.IntSlider(value=7)")
    proc = smartdc_nb_run(nb, "--html", tmp_path / "r.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    executed = nbformat.read(str(tmp_path / "book.out.ipynb"), as_version=4)
    assert "widgets" in executed.metadata  # the executed notebook keeps the live widget
    page = (tmp_path / "r.html").read_text()
    assert "IntSlider(value=7" in page  # the report, its text form: no script from a CDN
    assert "widget-view+json" not in page and "unpkg.com" not in page


def test_progress_is_streamed_a_line_per_cell_while_the_run_goes_on(tmp_path):
    gate = tmp_path / "gate"
    nb = write_notebook(tmp_path / "book.ipynb", 'print("first")',
                        "# wait for the test\nimport pathlib, time\n"
                        f"while not pathlib.Path({str(gate)!r}).exists():\n    time.sleep(0.05)",
                        'print("done")')
    proc = subprocess.Popen([sys.executable, "-m", "smartdc_nb.cli", "run", str(nb)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        lines = []
        # the line of the waiting cell arrives while that cell still runs: streamed, not at the end
        while not any("# wait for the test" in line for line in lines):
            line = proc.stderr.readline()
            assert line, f"the run ended before the waiting cell was announced: {lines}"
            lines.append(line)
        assert proc.poll() is None
        gate.touch()
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines += err.splitlines(keepends=True)
    cells = [line.strip() for line in lines if line.startswith("[")]
    # no -p, so nothing injected: the parameters cell, then the three cells, in order
    assert [c.split(" ", 1)[0] for c in cells] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert [c.split("] ", 1)[1] for c in cells] == [
        "count = 2            # how many", 'print("first")', "# wait for the test", 'print("done")']
    assert out.strip() == "done"
    assert "ran to the end in" in err


def test_quiet_runs_print_only_the_summary(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", 'print("hello")')
    proc = smartdc_nb_run(nb, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hello"
    assert not [line for line in proc.stderr.splitlines() if line.startswith("[")]


def test_a_failing_cell_names_the_line_that_raised(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb",
                        '# check the batch\nok = [1, 2]\nbad = ok[5]\nprint("never")')
    proc = smartdc_nb_run(nb, cwd=tmp_path)
    assert proc.returncode == 1
    assert "failed: # check the batch" in proc.stderr
    assert "at line 3: bad = ok[5]" in proc.stderr
    assert "IndexError: list index out of range" in proc.stderr


def test_the_html_report_loads_nothing_from_the_network(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", "print(1)")
    markdown = nbformat.read(str(nb), as_version=4)
    markdown.cells.append(nbformat.v4.new_markdown_cell("Throughput $x^2$ and a [link](https://example.org)"))
    nbformat.write(markdown, str(nb))
    proc = smartdc_nb_run(nb, "--html", tmp_path / "r.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "r.html").read_text()
    import re
    loaded = re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//[^\"' >]+",
                        page)
    assert loaded == []
    assert "cdnjs" not in page and "require.js" not in page and "mathjax" not in page.lower()
    assert 'href="https://example.org"' in page  # the notebook's own links stay links


def test_a_packaged_runbook_runs_by_its_short_name(tmp_path):
    proc = smartdc_nb_run("rolling-reboot", "--list-parameters", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("approve: str") for line in proc.stdout.splitlines())
    proc = smartdc_nb_run("no-such-runbook", cwd=tmp_path)
    assert proc.returncode == 2
    assert ("no-such-runbook: no such notebook file, nor a packaged runbook of that name "
            "(runbooks: fleet-overview, machine-control, rolling-reboot, snapshot-hygiene") in proc.stderr


def test_a_cell_past_the_timeout_is_named_as_a_failing_cell_is(tmp_path):
    # --timeout "fails a cell that runs longer": it is reported like any failing cell (named,
    # the executed notebook said, the --html report written), not as a stopped kernel
    nb = write_notebook(tmp_path / "book.ipynb", 'print("step one done")',
                        "# wait for the batch\nimport time\ntime.sleep(60)",
                        'print("never reached")', tags={0: ["summary"]})
    html = tmp_path / "report.html"
    proc = smartdc_nb_run(nb, "--timeout", "2", "--html", html, cwd=tmp_path)
    assert proc.returncode == 1
    assert "cell 4 (In [" in proc.stderr and "# wait for the batch" in proc.stderr
    assert "--timeout 2" in proc.stderr
    assert str(tmp_path / "book.out.ipynb") in proc.stderr
    assert proc.stdout.strip() == "step one done"
    assert "step one done" in html.read_text()
    assert "never reached" not in proc.stdout


def test_a_cell_past_the_timeout_with_a_relative_output_is_not_taken_for_a_full_disk(tmp_path):
    # `-o reboot.ipynb`, as the README writes it: nbclient's CellTimeoutError is an OSError,
    # and the output's folder "." is in any message, so the timeout was said as "cannot save
    # the executed notebook ... Free some space", though the notebook was saved
    nb = write_notebook(tmp_path / "book.ipynb", "# wait for the batch\nimport time\ntime.sleep(60)")
    proc = smartdc_nb_run(nb, "--timeout", "2", "-o", "out.ipynb", cwd=tmp_path)
    assert proc.returncode == 1
    assert "cannot save" not in proc.stderr and "Free some space" not in proc.stderr, proc.stderr
    assert "cell 3 (In [" in proc.stderr and "--timeout 2" in proc.stderr, proc.stderr
    assert "The executed notebook, with the traceback, is out.ipynb" in proc.stderr
    assert (tmp_path / "out.ipynb").exists()


@pytest.mark.parametrize("where", ["-o", "--html"])
@pytest.mark.parametrize("bad", ["a directory", "in no directory"])
def test_an_output_that_cannot_be_written_is_refused_before_any_cell_runs(tmp_path, where, bad):
    """An -o that was a directory ran nothing but said only 'the run stopped:
    IsADirectoryError'; an --html that was one (or in a missing folder) ran the whole runbook
    (its changes made) and then ended in a traceback, with no summary. Both are refused
    first, as a bad argument, before any cell runs."""
    nb = write_notebook(tmp_path / "book.ipynb", 'open("ran", "w").write("yes")')
    target = tmp_path / "taken" if bad == "a directory" else tmp_path / "nowhere" / "out"
    if bad == "a directory":
        target.mkdir()
    proc = smartdc_nb_run(nb, where, target, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    what = "the executed notebook" if where == "-o" else "the HTML report"
    reason = "it is a directory" if bad == "a directory" else f"{target.parent} does not exist"
    assert proc.stderr.strip() == (f"smartdc-nb run: cannot write {what} to {target}: {reason}; "
                                   f"give another {where}; nothing was run")
    assert not (tmp_path / "ran").exists()


def test_an_executed_notebook_that_cannot_be_saved_mid_run_says_so(tmp_path):
    """papermill saves the executed notebook after each cell; when that fails (a full disk,
    its folder gone), the run stops before the next cell. It said only "stopped:
    FileNotFoundError: ...": nothing named the output as what could not be written, nor
    that the cells before had run and made their changes."""
    (tmp_path / "out").mkdir()
    nb = write_notebook(tmp_path / "book.ipynb", 'print("step one")',
                        'import shutil; shutil.rmtree("out")', 'print("never")')
    output = tmp_path / "out" / "book.out.ipynb"
    proc = smartdc_nb_run(nb, "-o", output, cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot save the executed notebook to {output}" in proc.stderr, proc.stderr
    assert "the cells listed above ran, and made their changes" in proc.stderr
    assert "never" not in proc.stdout


def test_a_report_that_cannot_be_written_after_the_run_keeps_its_summary(tmp_path):
    """The HTML report's folder went away while the runbook ran (a full disk at the end is
    the same): the run's summary and its end are still said, then what was not written."""
    (tmp_path / "reports").mkdir()
    nb = write_notebook(tmp_path / "book.ipynb",
                        'import os; os.rmdir("reports"); print("rebooted web-1")')
    proc = smartdc_nb_run(nb, "--html", tmp_path / "reports" / "r.html", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.strip() == "rebooted web-1"
    assert "ran to the end" in proc.stderr and "book.out.ipynb" in proc.stderr
    assert (f"cannot write the HTML report to {tmp_path / 'reports' / 'r.html'}: "
            "No such file or directory") in proc.stderr
