"""A tag or metadata write the cloud's job refused is not shown as if it had landed.

CloudAPI answers a tag or metadata write with 202 and the merged result, then applies it in a
job; a job that fails records ``success: "no"`` in the audit log and changes nothing. The
Machine shows its own writes before the cloud does (read-your-writes), so it must stop showing
one the cloud refused.
"""

from __future__ import annotations

import warnings

import pytest
from test_machine_support import FAST, fetched

from smartdc_nb import writes
from smartdc_nb.errors import ReadYourWritesWarning, WaitFailed


@pytest.fixture
def m(emu, dc):
    return fetched(dc, emu, name="refused-writes", tags={"role": "web"}, metadata={"note": "hi"})


def cloud(emu, machine):
    return emu.state.datacenters["us-east-1"].machines[machine.id]


@pytest.mark.parametrize("kind, job, write, field", [
    ("tags", "set_tags", lambda m: m.add_tags(drill="yes"), "drill"),
    ("tags", "replace_tags", lambda m: m.replace_tags(only="this"), "only"),
    ("metadata", "set_metadata", lambda m: m.update_metadata(drill="yes"), "drill"),
])
def test_a_write_whose_job_failed_is_not_shown_after_the_wait_said_so(emu, m, kind, job, write,
                                                                      field):
    emu.datacenter("us-east-1").fail_next(job)
    write(m)
    with pytest.raises(WaitFailed, match=f"refused '{job}'"):
        m.wait_for(lambda machine: field in getattr(machine, kind), timeout=10, **FAST)
    assert field not in getattr(cloud(emu, m), kind)
    assert field not in getattr(m, kind)  # was: still shown, as if the cloud had it
    assert m.pending_writes == []
    m.refresh()
    assert field not in getattr(m, kind)


def test_a_read_after_a_refused_write_says_it_was_refused_not_merges_it(emu, m, monkeypatch):
    monkeypatch.setattr(writes, "VISIBLE_WITHIN", 1.0)
    emu.datacenter("us-east-1").fail_next("set_tags")
    m.add_tags(drill="yes")
    with pytest.warns(ReadYourWritesWarning, match=r"tags drill set.*refused.*success \"no\""):
        tags = m.get_tags()
    assert tags == {"role": "web"}  # was: {"role": "web", "drill": "yes"}, "not visible yet"
    assert m.tags == {"role": "web"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.get_tags() == {"role": "web"}
