"""Cost: a price table joined to the machines frame of the emulator's fleet, rollups, bad tables."""

from __future__ import annotations

import pandas as pd
import pytest

from smartdc_nb import Fleet
from smartdc_nb.errors import InvalidInputError
from smartdc_nb.frames.cost import DEMO_PRICES, HOURS_PER_MONTH
from smartdc_nb.fleet import DatacenterWarning


@pytest.fixture
def machines(dc):
    return Fleet(dc).frames.machines()


def test_prices_join_and_unpriced_machines_are_flagged_not_dropped(machines):
    table = pd.read_csv(DEMO_PRICES)
    priced = machines.triton.with_prices(DEMO_PRICES)
    assert len(priced) == len(machines) and list(priced["id"]) == list(machines["id"])
    known = dict(zip(table.package, table.price_per_hour))
    for row in priced.itertuples():
        if row.package in known:
            assert row.priced and row.price_per_hour == pytest.approx(known[row.package])
            assert row.price_per_month == pytest.approx(known[row.package] * HOURS_PER_MONTH)
        else:
            assert not row.priced and pd.isna(row.price_per_hour)
    assert (~priced.priced).sum() > 0  # the demo leaves some packages unpriced on purpose
    assert priced.attrs["prices"]["currency"] == "USD"
    assert priced.attrs["prices"]["unpriced"] == int((~priced.priced).sum())
    assert priced.attrs["kind"] == "machines"
    assert str(priced.price_per_hour.dtype) == "Float64" and str(priced.priced.dtype) == "boolean"


def test_rollups_by_datacenter_owner_and_tag(dc, machines):
    priced = machines.triton.with_prices(DEMO_PRICES)
    by_dc = priced.triton.cost_by("datacenter")
    assert list(by_dc.columns) == ["datacenter", "machines", "unpriced", "price_per_hour",
                                   "price_per_month"]
    assert by_dc.machines.sum() == len(priced) and by_dc.unpriced.sum() == (~priced.priced).sum()
    assert by_dc.price_per_hour.sum() == pytest.approx(priced.price_per_hour.sum())
    assert set(by_dc.datacenter) == {"us-east-1", "us-west-1"}
    assert by_dc.price_per_hour.is_monotonic_decreasing
    owners = priced.triton.cost_by("owner")
    assert owners.columns[0] == "owner" and owners.machines.sum() == len(priced)
    no_owner = priced.tags.map(lambda t: "owner" not in t).sum()
    assert owners[owners.owner.isna()].machines.sum() == no_owner
    erin = priced[priced.tags.map(lambda t: t.get("owner") == "erin")]
    row = owners[owners.owner == "erin"].iloc[0]
    assert row.price_per_month == pytest.approx(erin.price_per_month.sum())
    team = priced.triton.cost_by(tag="team")
    assert team.columns[0] == "tag.team" and team.machines.sum() == len(priced)
    per_package = priced.triton.cost_by("package")
    assert per_package.machines.sum() == len(priced)
    columns = Fleet(dc).frames.machines(tags_as="columns").triton.with_prices(DEMO_PRICES)
    assert columns.triton.cost_by(tag="team").machines.sum() == len(priced)


def test_monthly_prices_package_ids_and_a_dataframe(dc, machines):
    one = machines.package.dropna().iloc[0]
    package_id = next(p["id"] for p in dc.packages() if p["name"] == one)
    frame = pd.DataFrame({"package": [package_id], "price_per_month": [73.0]})
    priced = machines.triton.with_prices(frame)
    mine = priced[priced.package == one]
    assert mine.priced.all() and mine.price_per_hour.eq(0.1).all()
    assert not priced[priced.package != one].priced.any()
    generic = machines.triton.with_prices(pd.DataFrame({"package": [one], "price": [1.0]}),
                                          per="month")
    assert generic[generic.package == one].price_per_month.eq(1.0).all()


@pytest.mark.parametrize("content, message", [
    ("name,cost\ng4-highcpu-1G,1\n",
     r"needs a 'package' column \(name or id\) and a price column .*it has: 'name', 'cost'"),
    ("package\ng4-highcpu-1G\n", r"needs a 'package' column .*it has: 'package'"),
    ("package,price_per_hour\ng4-highcpu-1G,cheap\ng4-highcpu-2G,0.1\n",
     r"1 price\(s\) are not non-negative numbers \(row 2: package 'g4-highcpu-1G' has "
     r"price_per_hour 'cheap'\)"),
    ("package,price_per_hour\ng4-highcpu-1G,-1\n", r"not non-negative numbers"),
    ("package,price_per_hour\ng4-highcpu-1G,1\ng4-highcpu-1G,2\n",
     r"different prices for 'g4-highcpu-1G'"),
    ("package,price_per_hour,currency\na,1,USD\nb,2,EUR\n", r"mixes currencies \(EUR, USD\)"),
    ("", r"is not a readable CSV file"),
])
def test_bad_price_tables_are_refused_clearly(machines, tmp_path, content, message):
    path = tmp_path / "prices.csv"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        machines.triton.with_prices(path)


def test_other_bad_input(machines, tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        machines.triton.with_prices(tmp_path / "nope.csv")
    with pytest.raises(InvalidInputError, match="takes a CSV path or a DataFrame, not dict"):
        machines.triton.with_prices({"g4": 1})
    with pytest.raises(InvalidInputError, match="per= is 'hour' or 'month'"):
        machines.triton.with_prices(DEMO_PRICES, per="day")
    with pytest.raises(InvalidInputError, match="no prices: add them first"):
        machines.triton.cost_by("datacenter")
    priced = machines.triton.with_prices(DEMO_PRICES)
    with pytest.raises(InvalidInputError, match="no column 'colour'"):
        priced.triton.cost_by("colour")
    with pytest.raises(InvalidInputError, match="say what to roll up by"):
        priced.triton.cost_by()
    with pytest.raises(InvalidInputError, match="needs the 'package' column"):
        machines[["datacenter", "id"]].triton.with_prices(DEMO_PRICES)


def test_a_rollup_of_a_partial_fleet_says_which_datacenters_are_missing(emu, dc):
    emu.faults.add(path=r"/demo/machines(\?|$)", datacenter="us-west-1", status=500)
    with pytest.warns(DatacenterWarning, match="us-west-1"):
        priced = Fleet(dc).frames.machines().triton.with_prices(DEMO_PRICES)
    by_dc = priced.triton.cost_by("datacenter")
    assert by_dc.datacenter.tolist() == ["us-east-1"]
    assert list(by_dc.attrs["errors"]) == ["us-west-1"]
    for shown in (repr(by_dc), by_dc._repr_html_(), repr(by_dc.head(1)),
                  repr(by_dc[by_dc.machines > 0])):
        assert "partial" in shown and "us-west-1" in shown and "500 InternalError" in shown
    emu.faults.clear()
    whole = Fleet(dc).frames.machines().triton.with_prices(DEMO_PRICES).triton.cost_by("owner")
    assert whole.attrs["errors"] == {}
    assert "partial" not in repr(whole) and "partial" not in whole._repr_html_()
