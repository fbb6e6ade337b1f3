"""Read-your-writes: a tag, metadata or boot-script write is visible to the next read of the
same Machine, although CloudAPI applies it through a job (a GET right after shows the old value).
"""

from __future__ import annotations

import warnings

import pytest
from test_machine_support import fetched, logged

from smartdc_nb import writes
from smartdc_nb.errors import ReadYourWritesWarning, WaitTimeout


@pytest.fixture
def m(emu, dc):
    emu.set_durations(tags=0.6, metadata=0.6)  # jobs slower than a request: reads see old values
    machine = fetched(dc, emu, tags={"role": "web"}, metadata={"note": "hi"})
    emu.clear_requests()
    return machine


def test_a_tag_just_added_is_in_the_next_get_tags(emu, m):
    m.add_tags(last_drill="2026-11-30")
    assert m.get_tags() == {"role": "web", "last_drill": "2026-11-30"}
    assert m.tags == {"role": "web", "last_drill": "2026-11-30"}
    assert m.get_tag("last_drill") == "2026-11-30"


def test_tag_replace_and_delete_are_visible_to_the_next_read(emu, m):
    m.replace_tags(only="this")
    assert m.get_tags() == {"only": "this"}
    m.add_tags(extra="1")
    m.delete_tag("extra")  # the add's job has not run yet: the delete waits for it, no 404
    assert m.get_tags() == {"only": "this"}
    m.delete_all_tags()
    assert m.get_tags() == {}


def test_metadata_and_the_boot_script_are_visible_to_the_next_read(emu, m, tmp_path):
    m.update_metadata(colour="blue")
    assert m.get_metadata()["colour"] == "blue"
    script = tmp_path / "boot.sh"
    script.write_text("echo new\n")
    m.set_boot_script(script)
    assert m.get_metadata()["user-script"] == "echo new\n" and m.boot_script == "echo new\n"
    m.delete_boot_script()  # right after the set: no 404 from a key not there yet
    assert "user-script" not in m.get_metadata() and m.boot_script is None
    m.update_metadata(gone="soon")
    assert "gone" not in m.delete_metadata_at_key("gone")
    assert "gone" not in m.get_metadata()


def test_refresh_keeps_a_pending_write_instead_of_the_old_value(emu, m):
    m.add_tags(fresh="yes")
    m.refresh()  # GetMachine still shows the old tags
    assert m.tags == {"role": "web", "fresh": "yes"}
    assert [w.what for w in m.pending_writes] == ["tags fresh set"]


def test_a_write_that_never_shows_is_merged_and_said(emu, m, monkeypatch):
    monkeypatch.setattr(writes, "VISIBLE_WITHIN", 0.3)
    emu.set_durations(tags=30)
    m.add_tags(slow="1")
    with pytest.warns(ReadYourWritesWarning, match="tags slow set.*not visible.*0.3"):
        tags = m.get_tags()
    assert tags == {"role": "web", "slow": "1"}  # merged, as the cloud will show it
    emu.clear_requests()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.get_tags() == {"role": "web"}  # said once; then the cloud's own answer
    assert len(logged(emu)) == 1


def test_setting_one_tag_again_and_again_keeps_one_pending_write(emu, m):
    for i in range(40):
        m.add_tags(counter=str(i))
    assert [w.what for w in m.pending_writes] == ["tags counter set"]  # not 40 of them
    emu.clock.advance(60)  # every tag job has run
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.get_tags() == {"role": "web", "counter": "39"}
    assert m.pending_writes == []


def test_a_write_partly_overridden_by_a_later_one_does_not_wait_in_vain(emu, m):
    """a=1 is never shown once a=2 follows: the read waits for b=1 and a=2, not for a=1."""
    m.add_tags(a="1", b="1")
    m.add_tags(a="2")
    m.update_metadata(x="1")
    m.delete_metadata_at_key("x")
    m.replace_tags(only="this")
    m.add_tags(more="1")
    emu.clock.advance(60)  # every job has run: the first read shows the end state
    emu.clear_requests()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not visible after 15s"
        assert m.get_tags() == {"only": "this", "more": "1"}
        assert "x" not in m.get_metadata()
    assert len(logged(emu, "GET")) == 2  # one read each: nothing waited for


def test_a_wait_on_a_tag_ends_when_the_cloud_shows_it_not_when_this_machine_sent_it(emu, m):
    # m.tags shows m's own write at once (read-your-writes); a wait is for the cloud, and
    # raw_as_served says waits judge the payload as served. It ended at once, before the job.
    emu.clock.set_manual(True)
    m.add_tags(last_drill="2026-11-30")
    assert m.tags["last_drill"] == "2026-11-30"
    with pytest.raises(WaitTimeout):
        m.wait_for(lambda machine: machine.tags.get("last_drill") == "2026-11-30",
                   description="the tag", timeout=0.5, interval=0.05, progress=False)
    emu.clock.advance(60)  # the tag job has run: the cloud shows it
    m.wait_for(lambda machine: machine.tags.get("last_drill") == "2026-11-30",
               description="the tag", timeout=10, interval=0.05, progress=False)
    assert m.tags["last_drill"] == "2026-11-30"
