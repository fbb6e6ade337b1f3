"""Every Machine method sends its documented request (method, path, query, body)."""

from __future__ import annotations

import pytest
from test_machine_support import FAST, fetched, logged, mutations

from smartdc_nb.errors import ActionSkippedWarning, NotFoundError
from smartdc_nb.machine import Machine, Snapshot


def pending_jobs(emu, machine) -> list:
    """The emulator's jobs still queued for ``machine`` (its datacenter us-east-1)."""
    state = emu.state
    with state.lock:
        return list(state.machine(emu.datacenter("us-east-1")._dc, machine.id).jobs)


def sent(emu) -> list[tuple]:
    """(method, path after the machine id, query, body) of each logged request."""
    out = []
    for r in emu.requests:
        rest = r["path"].split("/machines/", 1)[-1].split("/", 1)
        out.append((r["method"], "/" + rest[1] if len(rest) > 1 else "", r["query"], r["body"]))
    return out


@pytest.fixture
def m(emu, dc):
    machine = fetched(dc, emu, name="act-01", tags={"role": "web", "env": "dev"},
                      metadata={"note": "hello", "user-script": "echo old"})
    emu.clear_requests()
    return machine


@pytest.mark.parametrize("method, action", [
    ("stop", "stop"), ("reboot", "reboot"), ("enable_firewall", "enable_firewall"),
    ("enable_deletion_protection", "enable_deletion_protection"),
])
def test_actions_post_the_action_in_the_query_and_return_the_machine(emu, m, method, action):
    assert getattr(m, method)() is m
    assert sent(emu) == [("POST", "", {"action": action}, None)]
    # the audit log names a firewall change "unknown"; a toggle to the flag as it is runs no job
    expected = {"enable_firewall": "unknown", "disable_firewall": None}.get(action, action)
    assert m.pending_action.action == expected
    assert m.pending_action.from_state == "running" and m.pending_action.date is not None


def test_start_disable_toggles_and_their_effects(emu, m):
    m.stop().wait_for("stopped", **FAST)
    emu.clear_requests()
    assert m.start() is m
    assert sent(emu) == [("POST", "", {"action": "start"}, None)]
    m.wait_for("running", **FAST)
    m.enable_firewall()
    m.enable_deletion_protection()
    m.wait_until(lambda x: x.firewall_enabled and x.deletion_protection, "flags on", **FAST)
    emu.clear_requests()
    m.disable_firewall().disable_deletion_protection()
    assert [s[2] for s in sent(emu)] == [{"action": "disable_firewall"},
                                        {"action": "disable_deletion_protection"}]
    m.wait_until(lambda x: not x.firewall_enabled and not x.deletion_protection, "flags off",
                 **FAST)


@pytest.mark.parametrize("first, then, field", [
    ("enable_firewall", "disable_firewall", "firewall_enabled"),
    ("enable_deletion_protection", "disable_deletion_protection", "deletion_protection"),
])
def test_an_opposite_toggle_right_after_the_first_is_not_lost(emu, m, first, then, field):
    """CloudAPI compares a toggle with the flag as it is when the request comes and runs no
    job when they agree: a disable sent while the enable's job had not run was dropped (or,
    for the firewall, not even sent: "already off"), and the flag stayed on."""
    getattr(m, first)()
    getattr(m, then)()  # waits until the enable shows, so the cloud judges the disable on it
    assert [s[2]["action"] for s in sent(emu) if s[0] == "POST"] == [first, then]
    m.wait_until(lambda x: x.raw.get(field) is False and not pending_jobs(emu, x), "settled",
                 timeout=10, **FAST)
    assert m.refresh().raw[field] is False


def test_delete_right_after_disabling_protection_deletes(emu, dc):
    """delete() after the Machine's own disable_deletion_protection() waited for nothing and
    refused with "disable_deletion_protection first": the advice to do what was just done."""
    m = fetched(dc, emu, deletion_protection=True)
    m.disable_deletion_protection()
    m.delete().wait_for("deleted", timeout=10, **FAST)


def test_resize_looks_the_package_up_once_and_sends_its_id(emu, dc, m):
    assert m.resize("g4-highcpu-2G") is m
    (lookup, resize) = sent(emu)
    assert lookup[0] == "GET" and emu.requests[0]["path"] == "/demo/packages/g4-highcpu-2G"
    package = dc.known_package("g4-highcpu-2G")
    assert resize == ("POST", "", {"action": "resize", "package": package["id"]}, None)
    emu.clear_requests()
    m.resize(package)  # a dict, already known: no lookup
    assert [s[0] for s in sent(emu)] == ["POST"]
    m.wait_until(lambda x: x.package == "g4-highcpu-2G" and x.memory == package["memory"],
                 "package g4-highcpu-2G", **FAST)


def test_rename(emu, m):
    assert m.rename("act-renamed") is m
    assert sent(emu) == [("POST", "", {"action": "rename", "name": "act-renamed"}, None)]
    m.wait_until(lambda x: x.name == "act-renamed", "the new name", **FAST)


def test_delete_then_wait_for_deleted(emu, m):
    assert m.delete() is m
    assert sent(emu) == [("DELETE", "", {}, None)]
    m.wait_for("deleted", **FAST)
    assert m.state == "deleted"


def test_refresh_status_and_create_in_datacenter(emu, dc, m):
    assert m.refresh() is m and m.status() == "running"
    assert sent(emu) == [("GET", "", {}, None)] * 2
    emu.clear_requests()
    new = Machine.create_in_datacenter(dc, name="made-01", package="g4-highcpu-1G",
                                       image="base-64-lts", tags={"a": "b"})
    post = logged(emu, "POST")[0]
    assert post["path"] == "/demo/machines" and post["body"]["name"] == "made-01"
    assert post["body"]["tag.a"] == "b" and isinstance(new, Machine)
    assert new.state == "provisioning"


def test_audit_newest_first(emu, m):
    m.stop().wait_for("stopped", **FAST)
    emu.clear_requests()
    entries = m.audit()
    assert sent(emu) == [("GET", "/audit", {}, None)]
    assert entries[0]["action"] == "stop" and entries[0]["success"] == "yes"
    assert entries[-1]["action"] == "provision"
    assert entries[0]["time"] > entries[-1]["time"]


def test_metadata_methods(emu, m, tmp_path):
    assert m.get_metadata()["note"] == "hello"
    assert sent(emu) == [("GET", "/metadata", {}, None)]
    emu.clear_requests()

    merged = m.update_metadata(note="changed", **{"app-version": "1.2"})
    assert sent(emu) == [("POST", "/metadata", {}, {"note": "changed", "app-version": "1.2"})]
    assert merged["note"] == "changed" and merged["app-version"] == "1.2"
    assert m.metadata["app-version"] == "1.2"
    # CloudAPI applies the change asynchronously: deleting it now could be a 404
    m.wait_until(lambda x: "app-version" in x.get_metadata(), "metadata set", **FAST)
    emu.clear_requests()

    left = m.delete_metadata_at_key("app-version")
    # the GET is repeated until the delete's job has run (read-your-writes)
    assert sent(emu)[0] == ("DELETE", "/metadata/app-version", {}, None)
    assert sent(emu)[1:] and all(r == ("GET", "/metadata", {}, None) for r in sent(emu)[1:])
    assert "app-version" not in left and "app-version" not in m.metadata
    emu.clear_requests()

    script = tmp_path / "boot.sh"
    script.write_text("#!/bin/sh\necho new\n")
    assert m.set_boot_script(script) is m
    assert sent(emu) == [("POST", "/metadata", {}, {"user-script": "#!/bin/sh\necho new\n"})]
    assert m.boot_script == "#!/bin/sh\necho new\n"
    emu.clear_requests()

    assert m.delete_boot_script() is m  # first reads until the script just set shows
    assert sent(emu)[-1] == ("DELETE", "/metadata/user-script", {}, None)
    assert all(r == ("GET", "/metadata", {}, None) for r in sent(emu)[:-1])
    assert m.boot_script is None
    emu.clear_requests()

    kept = m.delete_all_metadata()
    assert sent(emu)[0] == ("DELETE", "/metadata", {}, None)  # then GETs until the job ran
    assert sent(emu)[1:] and all(r == ("GET", "/metadata", {}, None) for r in sent(emu)[1:])
    assert set(kept) <= {"root_authorized_keys", "administrator_pw"}
    m.wait_until(lambda x: set(x.get_metadata()) <= {"root_authorized_keys"}, "metadata gone",
                 **FAST)


def test_tag_methods(emu, m):
    assert m.get_tags() == {"role": "web", "env": "dev"}
    assert m.get_tag("role") == "web"
    assert sent(emu) == [("GET", "/tags", {}, None), ("GET", "/tags/role", {}, None)]
    emu.clear_requests()

    assert m.add_tags(team="ops", weight=3) == {"role": "web", "env": "dev", "team": "ops",
                                                 "weight": 3}  # every tag, as the seed returns
    assert sent(emu) == [("POST", "/tags", {}, {"team": "ops", "weight": 3})]
    assert m.tags == {"role": "web", "env": "dev", "team": "ops", "weight": 3}
    m.wait_until(lambda x: x.get_tags().get("team") == "ops", "tag team", **FAST)
    emu.clear_requests()

    assert m.replace_tags(only="this") == {"only": "this"}
    assert sent(emu) == [("PUT", "/tags", {}, {"only": "this"})]
    assert m.tags == {"only": "this"}
    m.wait_until(lambda x: x.get_tags() == {"only": "this"}, "tags replaced", **FAST)
    emu.clear_requests()

    m.add_tags(**{"with space/slash": "v"})
    m.wait_until(lambda x: "with space/slash" in x.get_tags(), "odd tag", **FAST)
    emu.clear_requests()
    assert m.get_tag("with space/slash") == "v"
    assert m.delete_tag("with space/slash") is m
    # m's own write may still be pending (the wait judged a copy of m built from what the
    # cloud served): then get_tag first reads the tags until it shows, one GET of /tags
    paths = [r["path"] for r in emu.requests if r["path"] != f"{m.path}/tags"
             or r["method"] != "GET"]
    assert paths == [f"{m.path}/tags/with%20space%2Fslash"] * 2  # one encoded path segment
    assert "with space/slash" not in m.tags
    emu.clear_requests()

    assert m.delete_all_tags() is m
    assert sent(emu) == [("DELETE", "/tags", {}, None)] and m.tags == {}
    m.wait_until(lambda x: x.get_tags() == {}, "no tags", **FAST)
    with pytest.raises(NotFoundError):
        m.get_tag("role")


def test_get_tag_gives_a_number_or_boolean_tag_as_it_is(emu, dc):
    """CloudAPI answers GET .../tags/:tag with "" for a value that is not a string (cloudapi.md
    §5.2); add_tags takes numbers and booleans, so get_tag("replicas") gave "" for 3."""
    m = fetched(dc, emu, name="typed-tags", tags={"replicas": 3, "monitored": True, "note": ""})
    emu.clear_requests()
    assert m.get_tag("replicas") == 3
    # the "" answer is ambiguous, so the tags are read to tell which it was
    assert sent(emu) == [("GET", "/tags/replicas", {}, None), ("GET", "/tags", {}, None)]
    assert m.get_tag("monitored") is True
    assert m.get_tag("note") == ""  # a real empty string stays one


def test_snapshot_methods(emu, m):
    snap = m.create_snapshot("before-upgrade")
    assert sent(emu) == [("GET", "/snapshots/before-upgrade", {}, None),  # is the name free?
                         ("POST", "/snapshots", {}, {"name": "before-upgrade"})]
    assert isinstance(snap, Snapshot) and snap.name == "before-upgrade"
    assert snap.state == "queued" and snap.machine is m
    snap.wait_for("created", **FAST)
    emu.clear_requests()

    assert m.raw_snapshot_data("before-upgrade")["state"] == "created"
    one = m.snapshot("before-upgrade")
    listed = m.snapshots()
    assert sent(emu) == [("GET", "/snapshots/before-upgrade", {}, None)] * 2 + \
        [("GET", "/snapshots", {}, None)]
    assert one == snap and listed == [snap] and m.known_snapshots == [snap]
    emu.clear_requests()

    assert m.start_from_snapshot("before-upgrade") is m
    assert sent(emu) == [("POST", "/snapshots/before-upgrade", {}, None)]
    m.wait_for("running", **FAST)  # a rollback is confirmed from the audit log
    assert m.audit()[0]["action"] == "rollback_snapshot"

    unnamed = m.create_snapshot()
    assert unnamed.name and logged(emu, "POST")[-1]["body"] == {}
    with pytest.raises(NotFoundError, match="has no snapshot 'nope'"):
        m.snapshot("nope")


def test_reads_send_nothing_that_changes(emu, m):
    m.refresh()
    m.get_tags()
    m.get_metadata()
    m.snapshots()
    m.audit()
    assert mutations(emu) == []


def test_a_flag_already_set_expects_no_audit_entry(emu, dc):
    m = fetched(dc, emu, deletion_protection=True)
    emu.clear_requests()
    with pytest.warns(ActionSkippedWarning, match="deletion protection is already on"):
        m.enable_deletion_protection()  # CloudAPI would answer 202 and run no job
    assert m.pending_action is None and mutations(emu) == []
    m.disable_deletion_protection()
    assert m.pending_action.action == "disable_deletion_protection"
    assert m.pending_action.nth == 1  # the no-op before it is not awaited in the audit log
    m.wait_until(lambda x: x.deletion_protection is False, "protection off", **FAST)


def test_replacing_the_tags_with_none_deletes_them(emu, m):
    # CloudAPI refuses PUT /tags with no tag (VMAPI: "At least one tags key must be provided"),
    # so replace_tags() clears the tags the way CloudAPI can: DELETE /tags.
    assert m.replace_tags() == {}
    assert sent(emu) == [("DELETE", "/tags", {}, None)]
    assert m.tags == {}
    assert [r["status"] for r in emu.requests] == [204]
    m.wait_until(lambda x: x.get_tags() == {}, "tags cleared", **FAST)
