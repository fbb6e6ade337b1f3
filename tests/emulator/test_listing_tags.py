"""ListMachines tag filters as real CloudAPI runs them.

``tags=*`` (sdc-cloudapi lib/machines.js list) replaces every option with the one
query ``(&(owner_uuid=...)(tags=*))``: no state, no limit, no offset reach VMAPI,
which then answers its default page (1000, offset 0) of tagged machines in any
state, and ``res.header('x-query-limit', undefined)`` sets no header at all.
``tag.KEY=VALUE`` becomes VMAPI's LDAP substring filter ``(tags=*-KEY=VALUE-*)``
(sdc-vmapi lib/apis/moray.js _addTagsFilter) whose ``*`` stay wildcards: ``tag.role=*``
is any machine with a ``role`` tag, and it pages like any other filter.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def dc(emu):
    return emu.datacenter("us-east-1")


def ids(response) -> list[str]:
    assert response.status == 200, response.json()
    return [m["id"] for m in response.json()]


def test_tags_star_ignores_limit_offset_and_state_and_sends_no_query_limit(emu, api, dc):
    tagged = {dc.put_machine(name=f"t{i}", tags={"n": i}) for i in range(3)}
    gone = dc.put_machine(name="gone", tags={"n": 9}, state="deleted")
    failed = dc.put_machine(name="broken", tags={"n": 8}, state="failed")
    untagged = dc.put_machine(name="plain")
    for method in (api.get, api.head):
        response = method("/my/machines?tags=*&limit=1&offset=2&state=running")
        assert response.status == 200
        assert response.header("x-query-limit") is None
    response = api.get("/my/machines?tags=*&limit=1&offset=2&state=running")
    listed = ids(response)
    assert tagged | {gone, failed} <= set(listed) and untagged not in listed
    assert response.header("x-resource-count") == str(len(listed))
    assert api.head("/my/machines?tags=*").header("x-resource-count") == str(len(listed))
    # values VMAPI would refuse never reach it
    assert set(ids(api.get("/my/machines?tags=*&limit=5000&offset=-1"))) == set(listed)


def test_tags_star_answers_vmapis_default_page_of_1000(emu, api, dc):
    for i in range(1001):
        dc.put_machine(name=f"many{i}", tags={"bulk": True})
    response = api.get("/my/machines?tags=*&offset=1000")
    assert len(ids(response)) == 1000 and response.header("x-resource-count") == "1000"


def test_a_star_in_a_tag_value_is_a_wildcard_and_pages(emu, api, dc):
    web = dc.put_machine(name="w1", tags={"duty": "web"})
    web2 = dc.put_machine(name="w2", tags={"duty": "web-2"})
    db = dc.put_machine(name="d1", tags={"duty": "db", "tier": "web"})
    flag = dc.put_machine(name="f1", tags={"duty": True})
    dc.put_machine(name="p1", tags={"other": "duty"})
    assert set(ids(api.get("/my/machines?tag.duty=*"))) == {web, web2, db, flag}
    assert set(ids(api.get("/my/machines?tag.duty=web*"))) == {web, web2}
    assert set(ids(api.get("/my/machines?tag.duty=web"))) == {web}
    assert set(ids(api.get("/my/machines?tag.duty=*b"))) == {web, db}
    # a substring search of the whole tag string: the wildcard runs on into the next tag
    assert set(ids(api.get("/my/machines?tag.duty=*web"))) == {web, db}
    assert set(ids(api.get("/my/machines?tag.duty=true"))) == {flag}
    # a wildcard filter is an ordinary filter: state, limit and offset still apply
    everyone = ids(api.get("/my/machines?tag.duty=*"))
    response = api.get("/my/machines?tag.duty=*&limit=2&offset=1")
    assert ids(response) == everyone[1:3]
    assert (response.header("x-query-limit"), response.header("x-resource-count")) == ("2", "2")
    dc.set_state(web, "deleted")
    assert web not in ids(api.get("/my/machines?tag.duty=*"))
