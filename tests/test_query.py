"""fleet.query / dc.query against the emulator: server filters sent per datacenter, the rest in
pandas, CloudAPI's traps avoided, and what ran said by explain()."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import pytest

from smartdc_nb.errors import InvalidInputError
from smartdc_nb.frames.query import Query, QueryFrame


def listings(emu):
    """{datacenter: [ListMachines query dicts]} from the emulator's request log."""
    out = {}
    for r in emu.requests:
        if r["method"] == "GET" and r["path"] == "/demo/machines":
            query = r["query"] if isinstance(r["query"], dict) else \
                {k: v[0] for k, v in parse_qs(r["query"]).items()}
            out.setdefault(r["datacenter"], []).append(query)
    return out


def without_paging(query):
    return {k: v for k, v in query.items() if k not in ("limit", "offset")}


def test_server_filters_go_to_every_datacenter_and_the_rest_run_in_pandas(emu, fleet):
    everything = fleet.frames.machines()
    emu.clear_requests()
    result = fleet.query(name="web-*", state="running", tags={"env": "/^(prod|staging)$/"})

    sent = listings(emu)
    assert set(sent) == set(emu.urls)  # every datacenter asked
    for queries in sent.values():
        assert [without_paging(q) for q in queries] == [{"state": "running"}]
    expected = everything[everything.name.str.startswith("web-") & (everything.state == "running")
                          & everything.tags.map(lambda t: t.get("env") in ("prod", "staging"))]
    assert len(expected) > 0
    assert sorted(result["id"]) == sorted(expected["id"])
    assert set(result["datacenter"]) == set(emu.urls)
    assert list(result.columns) == list(everything.columns)
    assert dict(result.dtypes) == dict(everything.dtypes)

    text = str(result.explain())
    assert "ListMachines state=running" in text
    assert "in pandas: name matches glob web-*" in text
    assert "in pandas: tags['env'] matches regex /^(prod|staging)$/" in text
    record = result.attrs["query"]
    for name in emu.urls:
        dc = record["datacenters"][name]
        asked = [r for r in emu.requests if r["datacenter"] == name]
        assert dc["requests"] == len(asked) and dc["seconds"] >= 0 and dc["error"] is None
        assert f"{name}: {len(asked)} request(s)" in text
    assert record["rows"] == len(result) < record["rows_from_server"]


def test_exact_values_are_sent_and_rechecked(emu, fleet):
    emu.clear_requests()
    result = fleet.query(brand="lx", tags={"role": "web"}, memory=2048)
    for queries in listings(emu).values():
        assert without_paging(queries[0]) == {"brand": "lx", "tag.role": "web", "memory": "2048"}
    assert len(result) and set(result.brand) == {"lx"} and set(result.memory) == {2048}
    steps = result.explain().steps
    assert set(steps[steps["where"] == "server"]["what"]) == {"brand=lx", "tag.role=web",
                                                               "memory=2048"}
    assert steps[steps.recheck]["rows_removed"].tolist() == [0, 0, 0]


def test_a_filter_the_server_ignored_is_still_applied(emu, fleet):
    """triton-go#115: a filter is never silently dropped, even if CloudAPI ignores it."""
    query = Query(fleet, brand="lx")
    query.plan.params.clear()  # as a server that ignored brand= would answer: every machine
    result = query.run()
    assert len(result) and set(result.brand) == {"lx"}
    assert "re-check: brand == 'lx' — removed" in str(result.explain())
    removed = result.explain().steps.query("recheck")["rows_removed"].iloc[0]
    assert removed > 0


def test_cloudapi_traps_are_never_sent(emu, fleet, dc):
    victim = dc.raw_machines(state="running")[0]
    emu.datacenter("us-east-1").set_state(victim["id"], "provisioning")
    emu.clear_requests()
    # package= is ignored by CloudAPI, tags=* ignores every other filter, state=provisioning
    # means "any active machine": none of them is sent
    result = fleet.query(state="provisioning", tags="*", package=victim["package"])
    for queries in listings(emu).values():
        assert without_paging(queries[0]) == {}
    assert result["id"].tolist() == [victim["id"]]
    text = str(result.explain())
    assert "tags=* is not sent" in text and "CloudAPI ignores package=" in text
    assert "state=provisioning/stopping as any active machine" in text


def test_deleted_and_failed_states_ask_for_tombstones(emu, fleet, dc):
    gone = dc.raw_machines(state="stopped")[0]
    east = emu.datacenter("us-east-1")
    east.set_state(gone["id"], "deleted")
    broken = dc.raw_machines(state="running")[0]
    east.set_state(broken["id"], "failed")
    emu.clear_requests()
    deleted = fleet.query(state="deleted")
    for queries in listings(emu).values():
        assert without_paging(queries[0]) == {"state": "destroyed", "tombstone": "true"}
    assert gone["id"] in set(deleted["id"]) and set(deleted.state) == {"deleted"}
    emu.clear_requests()
    failed = fleet.query(state=["failed"])
    assert broken["id"] in set(failed["id"]) and set(failed.state) == {"failed"}
    assert without_paging(listings(emu)["us-east-1"][0]) == {"tombstone": "true"}
    everything = fleet.query(include_destroyed=True)
    assert {gone["id"], broken["id"]} <= set(everything["id"])
    assert not {gone["id"], broken["id"]} & set(fleet.query()["id"])


def test_image_by_name_and_version_and_where(fleet):
    frame = fleet.frames.machines()
    row = frame.dropna(subset=["image_name"]).iloc[0]
    by_version = fleet.query(image=f"{row.image_name}@{row.image_version}")
    assert len(by_version) and set(by_version.image_name) == {row.image_name}
    by_id = fleet.query(image=row.image)
    assert set(by_id.image) == {row.image}
    big = fleet.query(where="package_vcpus >= 2 and state == 'running'",
                      name=re.compile(r"-0[12]$"))
    assert len(big) and all(big.package_vcpus >= 2) and all(big.name.str[-3:].isin(["-01", "-02"]))
    assert fleet.query(where=lambda df: df.memory > 4096).memory.gt(4096).all()


def test_tags_as_and_the_result_keeps_explaining_after_filtering(fleet):
    result = fleet.query(tags={"role": "web"}, tags_as="columns")
    assert "tags" not in result and "tag.role" in result and set(result["tag.role"]) == {"web"}
    assert "tag_count" in fleet.query(tags_as=None) and "tags" not in fleet.query(tags_as=None)
    sub = result[result.state == "running"].head(2)
    assert isinstance(sub, QueryFrame) and "tag.role=web" in str(sub.explain())
    assert sub.triton.machines()  # still a machines frame the accessor can act from
    html = result.explain()._repr_html_()
    assert "tag.role=web" in html and "<script" not in html


def test_explain_before_running_makes_no_request(emu, fleet):
    emu.clear_requests()
    query = Query(fleet, name="db-dev-01", package="g4-highram-32G")
    text = str(query.explain())
    assert emu.requests == []
    assert "to send to each datacenter in parallel: ListMachines name=db-dev-01" in text
    assert "(not run yet)" in text and "CloudAPI ignores package=" in text
    assert query.run()["name"].tolist() == ["db-dev-01"]


def test_dc_query_is_one_datacenter(emu, dc):
    emu.clear_requests()
    result = dc.query(state="stopped")
    assert set(result.datacenter) == {"us-east-1"} and set(result.state) == {"stopped"}
    assert list(result.attrs["query"]["datacenters"]) == ["us-east-1"]
    assert {r["datacenter"] for r in emu.requests} == {"us-east-1"}


@pytest.mark.parametrize("filters, message", [
    ({"owner": "alice"}, r"unknown query filter 'owner'; query\(\) takes name, state, tags"),
    ({"name": "/web-[/"}, r"name='/web-\[/' is not a valid regular expression"),
    ({"tags": {"env": "/(prod/"}}, r"tags\['env'\]='/\(prod/' is not a valid regular expression"),
    ({"state": "destroyed"}, r"unknown machine state 'destroyed' \('destroyed' is CloudAPI's"),
    ({"state": "runing"}, r"unknown machine state 'runing'; states are: provisioning"),
    ({"memory": "big"}, r"memory= takes MiB as a whole number"),
    ({"tags": ["env"]}, r"tags= takes a dict"),
    ({"name": ["a"]}, r"name= takes text"),
    ({"where": 3}, r"where= takes a pandas query expression"),
    ({"include_destroyed": "yes"}, r"include_destroyed= takes True or False"),
])
def test_bad_filters_are_refused_before_any_request(emu, fleet, filters, message):
    emu.clear_requests()
    with pytest.raises(InvalidInputError, match=message):
        fleet.query(**filters)
    assert emu.requests == []


def test_a_bad_where_expression_names_the_columns(fleet):
    with pytest.raises(InvalidInputError, match=r"where='no_such_column > 1' failed on the machines "
                                                r"frame .*columns datacenter, id, name"):
        fleet.query(where="no_such_column > 1")


def test_explaining_a_frame_not_made_by_a_query(fleet):
    frame = fleet.frames.machines()
    with pytest.raises(InvalidInputError, match="not made by a query"):
        QueryFrame(frame).explain()


def test_a_failing_datacenter_is_said_by_explain(emu, fleet):
    from smartdc_nb.fleet import DatacenterWarning

    emu.faults.add(path=r"/machines", datacenter="us-west-1", status=500)
    with pytest.warns(DatacenterWarning, match="us-west-1"):
        result = fleet.query(state="running")
    assert set(result.datacenter) == {"us-east-1"} and len(result)
    west = result.attrs["query"]["datacenters"]["us-west-1"]
    assert west["rows"] == 0 and "ServerError" in west["error"]
    assert west["requests"] >= 1  # the failed listing is counted (urllib3's retries inside it once)
    assert "us-west-1: FAILED (ServerError" in str(result.explain())
