"""ListMachines filter values as real CloudAPI treats them: what it hands VMAPI and
VMAPI refuses (sdc-vmapi lib/common/validation.js validateListVmsParams), and what
its truthiness checks drop (sdc-cloudapi lib/machines.js getListOptions)."""

from __future__ import annotations

import pytest
from test_machines import BASE_IMAGE

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


# (an image UUID IMGAPI lacks is a 404 before VMAPI is asked: see below)
@pytest.mark.parametrize("query", ["brand=bhyve", "name=a.b_c-9", "memory=0", "memory=512"])
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


# ------------------------------------------- image / dataset (sdc-cloudapi lib/machines.js)
# ListMachines runs loadDatasets (IMGAPI GetImage on ``image || dataset`` when it is a UUID:
# 404 for an unknown one), then imageToDataset (both given: 409), then getListOptions, which
# filters on ``req.params.image`` only: ``dataset`` alone filters nothing.

UNKNOWN_IMAGE = "0badf00d-0000-4000-8000-000000000001"


def other_image(api) -> str:
    return next(i["id"] for i in api.get("/my/images").json() if i["id"] != BASE_IMAGE)


def listed_ids(api, query: str) -> list[str]:
    response = api.get(f"/my/machines?{query}")
    assert response.status == 200, response.json()
    return [m["id"] for m in response.json()]


def test_image_filters_but_the_legacy_dataset_name_filters_nothing(emu, api, machine_id):
    other = emu.datacenter("us-east-1").put_machine(name="other-image", image=other_image(api))
    everything = listed_ids(api, "")
    assert {machine_id, other} <= set(everything)
    by_image = listed_ids(api, f"image={BASE_IMAGE}")
    assert machine_id in by_image and other not in by_image
    assert listed_ids(api, f"dataset={BASE_IMAGE}") == everything
    # not a UUID: neither IMGAPI nor VMAPI ever sees it
    assert listed_ids(api, "dataset=not-a-uuid") == everything


@pytest.mark.parametrize("name", ["image", "dataset"])
def test_an_unknown_image_uuid_is_404_from_imgapi(emu, api, name):
    for method in (api.get, api.head):
        response = method(f"/my/machines?{name}={UNKNOWN_IMAGE}")
        assert response.status == 404
    assert api.get(f"/my/machines?{name}={UNKNOWN_IMAGE}").json() == {
        "code": "ResourceNotFound", "message": f"image {UNKNOWN_IMAGE} not found"}


def test_image_and_dataset_together_are_409(emu, api):
    response = api.get(f"/my/machines?image={BASE_IMAGE}&dataset={BASE_IMAGE}")
    assert (response.status, response.json()) == (409, {
        "code": "InvalidArgument", "message": "image and dataset are mutually exclusive parameters."})


def test_name_is_a_prefix_as_vmapi_searches_it(emu, api):
    # sdc-vmapi lib/apis/moray.js _vmsListParams: (alias=<name>*) unless updating
    dc = emu.datacenter("us-east-1")
    web, web1 = dc.put_machine(name="pfx-web"), dc.put_machine(name="pfx-web-01")
    dc.put_machine(name="pfx-db")
    assert set(listed_ids(api, "name=pfx-web")) == {web, web1}
    assert listed_ids(api, "name=pfx-web-01") == [web1]
