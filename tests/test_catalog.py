"""dc.catalog: packages and images fetched once per datacenter, reused while fresh, refreshed on request."""

from __future__ import annotations

import threading
import time

import pandas as pd

import smartdc_nb


def catalog_requests(emu, dc_name="us-east-1"):
    return [(r["method"], r["path"]) for r in emu.requests
            if r["path"] in ("/demo/packages", "/demo/images") and r["datacenter"] == dc_name]


def test_frames_fetch_the_catalog_once_and_reuse_it(emu, dc):
    first = dc.frames.machines()
    second = dc.frames.machines()
    assert sorted(catalog_requests(emu)) == [("GET", "/demo/images"), ("GET", "/demo/packages")]
    # the reused catalog still joins: same names and sizes as the first frame
    assert first.image_name.notna().all() and first.package_vcpus.notna().all()
    assert list(second.image_name) == list(first.image_name)
    assert list(second.package_memory) == list(first.package_memory)


def test_refresh_fetches_again_and_sees_a_new_image(emu, dc):
    handle = emu.datacenter("us-east-1")
    dc.frames.machines()
    image = emu.add_image(name="custom-web", version="2.0.0")
    # created before the catalog was fetched, so nothing says the catalog is stale
    machine_id = handle.put_machine(name="from-custom", image=image["id"],
                                    created=time.time() - 3600)
    stale = dc.frames.machines()
    assert stale.set_index("id").loc[machine_id, "image_name"] is pd.NA
    emu.clear_requests()
    dc.catalog.refresh()
    assert sorted(catalog_requests(emu)) == [("GET", "/demo/images"), ("GET", "/demo/packages")]
    fresh = dc.frames.machines()
    assert fresh.set_index("id").loc[machine_id, "image_name"] == "custom-web"
    assert dc.known_image(image["id"])["name"] == "custom-web"


def test_a_catalog_older_than_its_ttl_is_fetched_again(emu, connect):
    dc = connect(catalog_ttl=0)
    dc.catalog.images()
    dc.catalog.images()
    assert catalog_requests(emu) == [("GET", "/demo/images")] * 2
    kept = connect(catalog_ttl=None)  # None: kept until refreshed
    emu.clear_requests()
    kept.catalog.images()
    kept.catalog.images()
    assert catalog_requests(emu) == [("GET", "/demo/images")]
    assert kept.catalog.fresh("images") and not kept.catalog.fresh("packages")


def test_an_unfiltered_listing_refreshes_the_catalog_but_a_filtered_one_does_not(emu, dc):
    packages = dc.packages()
    images = dc.images(state="all")
    dc.images(name="base-64-lts")
    emu.clear_requests()
    assert dc.catalog.packages() == packages
    assert dc.catalog.images() == images
    assert catalog_requests(emu) == []


def test_concurrent_callers_share_one_fetch(emu, dc):
    results, start = [], threading.Barrier(8)

    def read():
        start.wait()
        results.append(dc.catalog.images())

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert catalog_requests(emu) == [("GET", "/demo/images")]


def test_looking_at_the_catalog_makes_no_request(emu, dc):
    assert dc.catalog.cached_images() is None and dc.catalog.age("packages") is None
    text = repr(dc.catalog)
    assert "no packages" in text and "no images" in text
    assert emu.requests == []
    dc.catalog.packages()
    assert f"{len(dc.catalog.cached_packages())} packages" in repr(dc.catalog)
    # what cards use: the catalog fills the DataCenter's memory of names
    raw = dc.raw_machines()[0]
    assert dc.known_package(raw["package"]) is not None
    dc.catalog.images()
    assert dc.known_image(raw["image"])["id"] == raw["image"]


def test_a_fleet_fetches_each_datacenter_catalog_once(emu, dc):
    fleet = smartdc_nb.Fleet(dc)
    fleet.frames.machines()
    fleet.frames.machines(state="running")
    by_dc = {}
    for r in emu.requests:
        if r["path"] in ("/demo/packages", "/demo/images"):
            by_dc.setdefault(r["datacenter"], []).append(r["path"])
    assert {name: sorted(paths) for name, paths in by_dc.items()} == {
        "us-east-1": ["/demo/images", "/demo/packages"],
        "us-west-1": ["/demo/images", "/demo/packages"]}


def test_a_machine_newer_than_the_catalog_that_names_a_new_image_refreshes_it(emu, dc):
    handle = emu.datacenter("us-east-1")
    dc.frames.machines()
    image = emu.add_image(name="made-after", version="1.0.0")
    fresh = handle.put_machine(name="from-new-image", image=image["id"])
    emu.clear_requests()
    df = dc.frames.machines()
    assert df.set_index("id").loc[fresh, "image_name"] == "made-after"
    assert catalog_requests(emu) == [("GET", "/demo/images")]  # that list only, once
    # a machine older than the list whose image is gone does not make it fetch again
    emu.delete_image(image["id"])
    dc.catalog.refresh()
    emu.clear_requests()
    again = dc.frames.machines()
    assert catalog_requests(emu) == [] and pd.isna(again.set_index("id").loc[fresh, "image_name"])


def test_a_machine_newer_than_the_catalog_that_names_a_new_package_refreshes_that_list(emu, dc):
    handle = emu.datacenter("us-east-1")
    dc.frames.machines()
    emu.add_package(name="made-after-pkg", memory=2048, disk=51200)
    fresh = handle.put_machine(name="on-new-package", package="made-after-pkg")
    emu.clear_requests()
    df = dc.frames.machines()
    assert df.set_index("id").loc[fresh, "package_memory"] == 2048
    assert catalog_requests(emu) == [("GET", "/demo/packages")]  # that list only, once
    emu.clear_requests()
    dc.frames.machines()
    assert catalog_requests(emu) == []  # fresh again: nothing more to fetch


def test_names_that_are_no_text_never_make_the_catalog_stale(emu, dc):
    """Odd values CloudAPI never sends (a list, a dict, None, "") are no name a list lacks."""
    dc.frames.machines()
    images = dc.catalog.derived("images", "by id", lambda records: {r["id"]: r for r in records})
    late = "2999-01-01T00:00:00.000Z"
    odd = [{"image": value, "created": late} for value in (["x"], {"a": 1}, None, "", 7)]
    assert dc.catalog.stale(odd, {"images": images}) == []
    assert dc.catalog.stale(odd + [{"image": "not-in-the-list", "created": late}],
                            {"images": images}) == ["images"]


def test_an_expired_catalog_that_cannot_be_fetched_again_is_used_and_said(emu, connect):
    """A long-lived kernel: the catalog expires, and refetching it meets a 503. The frame keeps
    its package and image columns from the list in hand, and says how old that list is."""
    import pytest

    dc = connect(catalog_ttl=0, backoff=0.01, retries=1)
    first = dc.frames.machines()
    assert first.package_vcpus.notna().all()
    emu.faults.add(path=r"/demo/(packages|images)", status=503)
    with pytest.warns(smartdc_nb.DatacenterWarning, match=r"could not be fetched again.*fetched "
                                                          r"[0-9.]+ s ago is used"):
        again = dc.frames.machines()
    assert list(again.image_name) == list(first.image_name)
    assert list(again.package_memory) == list(first.package_memory)
