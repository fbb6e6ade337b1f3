"""Progress of waits: the text bar, the notebook bar, the summary line and the off switches."""

from __future__ import annotations

import html
import io

import pytest
from test_machine_support import fetched, put

from smartdc_nb.errors import WaitFailed, WaitTimeout
from smartdc_nb.machine import Machine
from smartdc_nb.machinelist import MachineList

QUICK = {"interval": 0.05, "max_interval": 0.2}


def notebook_bars():
    """A progress factory building tqdm's notebook bar without displaying it, and its bars."""
    from tqdm.notebook import tqdm as notebook_tqdm

    bars = []

    def factory(**kwargs):
        bar = notebook_tqdm(display=False, **kwargs)
        bars.append(bar)
        return bar
    return factory, bars


def right_text(bar):
    """The words right of a notebook bar, as a person reads them (tqdm pads with U+2007)."""
    return html.unescape(bar.container.children[2].value).replace("\u2007", " ").strip()


def test_text_bar_shows_the_machine_its_state_and_a_summary(emu, dc):
    m = fetched(dc, emu, name="bar-01")
    out = io.StringIO()
    m.stop().wait_for("stopped", progress={"file": out}, **QUICK)
    text = out.getvalue()
    assert f"bar-01 ({m.id[:8]}): stopped" in text
    assert "waiting for stopped (deadline 600s)" in text
    assert "|##########|" in text  # a success fills the bar
    assert text.rstrip().splitlines()[-1].startswith(f"bar-01 ({m.id[:8]}): stopped after ")


def test_notebook_bar_is_green_and_full_on_success(emu, dc):
    m = fetched(dc, emu, name="nb-01")
    factory, bars = notebook_bars()
    m.stop().wait_for("stopped", progress=factory, **QUICK)
    (bar,) = bars
    label, progress, _ = bar.container.children
    assert "nb-01" in label.value and "stopped" in label.value
    assert progress.bar_style == "success" and progress.value == progress.max == 600


def test_notebook_bar_is_red_on_failure_and_timeout(emu, dc):
    failed = Machine(dc, put(emu, state="failed"))
    factory, bars = notebook_bars()
    with pytest.raises(WaitFailed):
        failed.wait_for("running", progress=factory, **QUICK)
    with pytest.raises(WaitTimeout):
        fetched(dc, emu).wait_for("stopped", timeout=0.3, progress=factory, **QUICK)
    assert [b.container.children[1].bar_style for b in bars] == ["danger", "danger"]


def test_many_machines_share_one_bar_counting_arrivals(emu, dc, dc_west):
    machines = MachineList([fetched(dc, emu) for _ in range(3)] +
                           [fetched(dc_west, emu) for _ in range(2)])
    for m in machines:
        m.stop()
    factory, bars = notebook_bars()
    result = machines.wait_for("stopped", progress=factory, **QUICK)
    assert result.ok and len(bars) == 1
    bar = bars[0]
    assert bar.total == 5 and bar.n == 5
    assert bar.container.children[1].bar_style == "success"

    out = io.StringIO()
    for m in machines:
        m.start()
    machines.wait_for("running", progress={"file": out}, **QUICK)
    lines = out.getvalue().rstrip().splitlines()
    assert "5/5" in out.getvalue()
    assert lines[-1].startswith("5/5 reached running in ")


def test_summary_names_what_failed(emu, dc):
    machines = MachineList([fetched(dc, emu, name="ok-01"), Machine(dc, put(emu, name="bad-01",
                                                                          state="failed"))])
    out = io.StringIO()
    result = machines.wait_for("running", progress={"file": out}, **QUICK)
    summary = out.getvalue().rstrip().splitlines()[-1]
    assert summary.startswith("1/2 reached running in ")
    assert "1 failed" in summary and "bad-01" in summary
    assert not result.ok


@pytest.mark.parametrize("env", [{"SMARTDC_NB_PROGRESS": "0"}, {"TQDM_DISABLE": "1"}])
def test_the_environment_turns_progress_off(emu, dc, capsys, monkeypatch, env):
    m = fetched(dc, emu)
    m.stop().wait_for("stopped", **QUICK)  # progress on by default
    shown = capsys.readouterr()
    assert "stopped" in shown.err + shown.out
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    m.start().wait_for("running", **QUICK)
    assert capsys.readouterr() == ("", "")


def test_progress_false_is_silent(emu, dc, capsys):
    fetched(dc, emu).stop().wait_for("stopped", progress=False, **QUICK)
    assert capsys.readouterr() == ("", "")


def test_by_default_no_bar_frames_go_to_a_file_that_is_not_a_terminal(emu, dc, capsys,
                                                                       monkeypatch):
    # cron and CI logs: the bar's carriage-return frames would fill them; the summary must stay
    monkeypatch.delenv("SMARTDC_NB_PROGRESS", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    m = fetched(dc, emu, name="log-01")
    m.stop().wait_for("stopped", **QUICK)
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "|" not in captured.err
    assert captured.out.strip().startswith(f"log-01 ({m.id[:8]}): stopped after ")


def test_a_caller_with_its_own_bar_factory_gets_no_printed_summary(emu, dc, capsys):
    # a widget panel passes a factory and shows the summary in its own log: a print from
    # its worker thread would land in whatever notebook cell is running at the time
    factory, bars = notebook_bars()
    m = fetched(dc, emu, name="own-01")
    m.stop().wait_for("stopped", progress=factory, **QUICK)
    assert len(bars) == 1
    assert capsys.readouterr().out == ""


def test_a_notebook_bar_never_holds_a_machine_name_as_markup(emu, dc):
    # tqdm's notebook bar writes the description it is built with into its HTML widget as it
    # is, and escapes it only from its first frame on: a front-end shows that first value
    from tqdm.notebook import tqdm as notebook_tqdm

    labels, bars = [], []

    class Recording(notebook_tqdm):  # progress=tqdm.notebook.tqdm, as the docs suggest
        def __init__(self, **kwargs):
            super().__init__(display=False, **kwargs)
            bars.append(self)

        @staticmethod
        def status_printer(*args, **kwargs):
            box = notebook_tqdm.status_printer(*args, **kwargs)
            labels.append(box.children[0].value)  # what the label holds when it is made
            return box

    name = '<img src=x onerror="alert(1)">'
    m = fetched(dc, emu, name=name)
    m.stop().wait_for("stopped", progress=Recording, **QUICK)
    labels.append(bars[0].container.children[0].value)
    assert not any("<img" in value for value in labels), labels
    assert "&lt;img" in labels[-1] and "stopped" in labels[-1]


def test_a_finished_bar_says_how_it_ended_not_what_it_was_waiting_for(emu, dc):
    """After the wait, the bar's right-hand words said "waiting for stopped (deadline 600s)"
    whatever happened: a green bar still waiting, a red one with no word of why."""
    factory, bars = notebook_bars()
    m = fetched(dc, emu, name="end-01")
    m.stop().wait_for("stopped", progress=factory, **QUICK)
    with pytest.raises(WaitTimeout):
        fetched(dc, emu).wait_for("stopped", timeout=0.3, progress=factory, **QUICK)
    with pytest.raises(WaitFailed):
        Machine(dc, put(emu, state="failed")).wait_for("running", progress=factory, **QUICK)
    said = [right_text(b) for b in bars]
    assert all("waiting for" not in text for text in said), said
    assert said[0].endswith("reached stopped"), said
    assert said[1].endswith("timed out: did not reach stopped within 0.3s"), said
    assert said[2].endswith("failed"), said

    out = io.StringIO()
    m.start().wait_for("running", progress={"file": out}, **QUICK)
    assert out.getvalue().rstrip().splitlines()[-2].endswith("reached running")


def test_a_many_machine_bar_that_ends_with_nothing_reached_says_so_in_words(emu, dc):
    """A bar of many machines that failed at 0 % stayed grey and empty (a red fill of
    nothing), its words the last machine's state: nothing said that it had ended, or how."""
    machines = MachineList([Machine(dc, put(emu, state="failed")) for _ in range(2)] +
                           [fetched(dc, emu)])
    factory, bars = notebook_bars()
    result = machines.wait_for("stopped", timeout=0.5, progress=factory, **QUICK)
    assert not result.ok
    (bar,) = bars
    words = right_text(bar)
    assert bar.container.children[1].bar_style == "danger"
    assert "0 reached, 2 failed, 1 timed out" in words, words


def test_a_bulk_send_that_fails_at_nothing_sent_says_so_on_its_bar(emu, dc):
    """Every stop refused by the cloud: the sending bar closed red at 0 %, which looks like an
    empty grey bar, its words only "0/3". It now says what the sends got."""
    machines = MachineList([fetched(dc, emu) for _ in range(3)])
    emu.faults.add(path=r"action=stop", method="POST", status=409)
    factory, bars = notebook_bars()
    result = machines.stop(confirm=True, progress=factory)
    assert result.counts["failed"] == 3
    (bar,) = bars
    assert bar.container.children[1].bar_style == "danger"
    assert "0 accepted, 3 failed" in right_text(bar)

    emu.faults.clear()
    factory, bars = notebook_bars()
    machines.stop(confirm=True, progress=factory)
    assert "3 accepted" in right_text(bars[0]) and "failed" not in right_text(bars[0])


def test_a_snapshot_being_made_is_not_shown_deleted_on_its_bars(emu, dc):
    """CloudAPI shows 'deleted' for a snapshot its create job has not made yet: a bar that read
    "snapshot slow of m: deleted" for the whole wait told the user it was gone. The bars say
    it is not made yet, CloudAPI's word beside it; the error and history keep 'deleted'."""
    m = fetched(dc, emu, name="made-01")
    emu.set_durations(create_snapshot=0.6)
    out = io.StringIO()
    m.create_snapshot("slow").wait_for(progress={"file": out}, **QUICK)
    text = out.getvalue()
    assert f"snapshot slow of made-01 ({m.id[:8]}): deleted" not in text
    assert "not made yet (CloudAPI: deleted)" in text

    out = io.StringIO()
    MachineList([m]).create_snapshot("slow2", wait=True, progress={"file": out}, **QUICK)
    text = out.getvalue()
    assert f"({m.id[:8]}): deleted" not in text and f"({m.id[:8]}): not made yet (CloudAPI: deleted)" in text

    emu.datacenter("us-east-1").fail_next("create_snapshot")
    out = io.StringIO()
    with pytest.raises(WaitFailed) as info:
        m.create_snapshot("doomed").wait_for(progress={"file": out}, **QUICK)
    assert info.value.last_state == "deleted"  # what the cloud said, kept as it said it
    text = out.getvalue()
    assert f"({m.id[:8]}): deleted" not in text and ": not made (CloudAPI: deleted)" in text
