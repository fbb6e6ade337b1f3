"""A change whose answer was lost is not said to have failed: the cloud may have applied it.

The emulator's ``drop_after`` fault serves the request (the change is made) and drops the
connection before the answer, as a network that loses the answer does. The client cannot
know what the cloud did; it says so, and shows the machine as the cloud shows it now.
"""

from __future__ import annotations

import pytest
from test_machine_support import FAST, fetched

from smartdc_nb.errors import TransportError
from smartdc_nb.machinelist import MachineList


def test_a_stop_whose_answer_was_lost_says_it_may_have_been_applied(emu, dc):
    m = fetched(dc, emu, name="lost-answer")
    emu.faults.add(path=f"{m.id}.*action=stop", method="POST", drop_after=True, count=1)
    with pytest.raises(TransportError) as caught:
        m.stop()
    message = str(caught.value)
    assert "may have applied" in message and "refresh()" in message
    assert "Check the URL" not in message  # it answered the request before; the URL is right
    m.wait_for("stopped", **FAST)  # the cloud did stop it


def test_a_bulk_row_whose_answer_was_lost_shows_what_the_cloud_did(emu, dc):
    lost, other = (fetched(dc, emu, name=f"lost-{i}") for i in range(2))
    emu.faults.add(path=f"{lost.id}.*action=stop", method="POST", drop_after=True, count=1)
    result = MachineList([lost, other]).stop(confirm=True, wait=True, timeout=10,
                                             interval=0.05, progress=False)
    row = next(r for r in result.rows if r["id"] == lost.id)
    assert dc.machine(lost.id).state in ("stopping", "stopped")  # the cloud did stop it
    assert "may have applied" in row["reason"]  # was: no reason, only "failed"
    assert row["final_state"] in ("stopping", "stopped")  # was: "running", as before the stop
    assert "may have applied" in result.summary()


def test_a_change_past_its_request_timeout_says_it_may_have_been_applied(emu, connect):
    dc = connect(request_timeout=0.5)
    m = fetched(dc, emu, name="slow-answer")
    fault = emu.faults.add(path=f"{m.id}.*action=stop", method="POST", hold=True, count=1)
    try:
        with pytest.raises(TransportError, match="may have applied it") as caught:
            m.stop()
        assert caught.value.maybe_applied
    finally:
        emu.faults.release(fault)
