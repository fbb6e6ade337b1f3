"""ListMachines filter values as real CloudAPI treats them: what it hands VMAPI and
VMAPI refuses (sdc-vmapi lib/common/validation.js validateListVmsParams), and what
its truthiness checks drop (sdc-cloudapi lib/machines.js getListOptions)."""

from __future__ import annotations

import pytest

ALIAS = "String does not match regexp: /^[a-zA-Z0-9][a-zA-Z0-9\\_\\.\\-]*$/"
RAM = "String does not match regexp: /^0$|^([1-9][0-9]*$)/"
BRAND = "Must be one of: bhyve, joyent, joyent-minimal, kvm, lx"


def refused(*errors):
    return 409, {"code": "ValidationFailed", "message": "Invalid Parameters",
                 "errors": [{"field": f, "code": "Invalid", "message": m} for f, m in errors]}


@pytest.mark.parametrize("query, errors", [
    ("brand=sngl", [("brand", BRAND)]),
    ("brand=KVM", [("brand", BRAND)]),
    ("name=-leading-dash", [("alias", ALIAS)]),
    ("name=has%20space", [("alias", ALIAS)]),
    ("memory=1G", [("ram", RAM)]),
    ("memory=0128", [("ram", RAM)]),
    ("image=not-a-uuid", [("image_uuid", "Invalid UUID")]),
    ("image=9F0B1F3A-0C6E-4B0E-9F8D-2B1E4F6A7C8D", [("image_uuid", "Invalid UUID")]),
    ("tag.role=", [("tag", 'Invalid tag value: ""')]),
    # every error at once, in the order of VMAPI's validator table
    ("memory=x&limit=0&image=x&brand=x&name=_", [
        ("alias", ALIAS), ("brand", BRAND), ("image_uuid", "Invalid UUID"),
        ("limit", "Not a valid number: number must be >= 1 and <= 1000"), ("ram", RAM)]),
])
def test_values_vmapi_refuses_are_409_validation_failed(emu, api, query, errors):
    response = api.get(f"/my/machines?{query}")
    assert (response.status, response.json()) == refused(*errors)


@pytest.mark.parametrize("query", ["brand=bhyve", "name=a.b_c-9", "memory=0", "memory=512",
                                   "image=9f0b1f3a-0c6e-4b0e-9f8d-2b1e4f6a7c8d"])
def test_values_vmapi_accepts_list_nothing_that_does_not_match(emu, api, query):
    response = api.get(f"/my/machines?{query}")
    assert (response.status, response.json()) == (200, [])


def test_tags_star_overrides_every_other_filter_even_a_bad_one(emu, api, machine_id):
    response = api.get("/my/machines?tags=*&brand=nonsense&name=_")
    assert response.status == 200 and machine_id in {m["id"] for m in response.json()}


@pytest.mark.parametrize("empty", ["name", "brand", "memory", "image", "limit", "offset"])
def test_an_empty_value_is_no_filter(emu, api, machine_id, empty):
    everything = [m["id"] for m in api.get("/my/machines").json()]
    assert machine_id in everything
    response = api.get(f"/my/machines?{empty}=")
    assert response.status == 200 and [m["id"] for m in response.json()] == everything
