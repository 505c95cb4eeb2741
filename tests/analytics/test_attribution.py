"""Brinson-Fachler attribution: a hand-computed day, the effects add up to the active return,
and Carino linking adds up to the compounded active return of the period."""

from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest

from ledgerhouse.analytics.attribution import daily_effects, linked
from ledgerhouse.errors import InvalidRequest
from ledgerhouse.session import Session

D1, D2 = date(2024, 3, 4), date(2024, 3, 5)


def _frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    holdings = pl.DataFrame(
        {
            "portfolio_code": ["P1"] * 4,
            "day": [D1, D1, D2, D2],
            "sector": ["Tech", "Energy", "Tech", "Energy"],
            "mv": [60.0, 40.0, 70.0, 30.0],
            "mv_return": [60 * 0.02, 40 * -0.01, 70 * -0.005, 30 * 0.03],
        }
    )
    bench = pl.DataFrame(
        {
            "benchmark_code": ["B"] * 5,
            "day": [D1, D1, D1, D2, D2],
            "sector": ["Tech", "Energy", "Health", "Tech", "Energy"],
            "w": [0.5, 0.3, 0.2, 0.6, 0.4],
            "w_return": [0.5 * 0.01, 0.3 * 0.0, 0.2 * 0.03, 0.6 * 0.0, 0.4 * 0.01],
        }
    )
    return holdings, bench, pl.DataFrame({"portfolio_code": ["P1"], "benchmark_code": ["B"]})


def test_one_day_by_hand() -> None:
    effects = daily_effects(*_frames()).filter(pl.col("day") == D1)
    e = {r["sector"]: r for r in effects.to_dicts()}
    # R_p = 0.6*0.02 + 0.4*(-0.01) = 0.008; R_b = 0.5*0.01 + 0 + 0.2*0.03 = 0.011
    assert e["Tech"]["allocation"] == pytest.approx((0.6 - 0.5) * (0.01 - 0.011))
    assert e["Tech"]["selection"] == pytest.approx(0.5 * (0.02 - 0.01))
    assert e["Tech"]["interaction"] == pytest.approx((0.6 - 0.5) * (0.02 - 0.01))
    assert e["Energy"]["allocation"] == pytest.approx((0.4 - 0.3) * (0.0 - 0.011))
    assert e["Energy"]["selection"] == pytest.approx(0.3 * (-0.01 - 0.0))
    # not held: allocation only, with the benchmark's sector return
    assert e["Health"]["w_p"] == 0 and e["Health"]["selection"] == 0
    assert e["Health"]["allocation"] == pytest.approx((0 - 0.2) * (0.03 - 0.011))
    total = sum(r["allocation"] + r["selection"] + r["interaction"] for r in e.values())
    assert total == pytest.approx(0.008 - 0.011)


def test_carino_linking_adds_up_to_the_compounded_active_return() -> None:
    out = linked(daily_effects(*_frames()))
    rp = [0.008, 0.7 * -0.005 + 0.3 * 0.03]
    rb = [0.011, 0.4 * 0.01]
    big_rp = (1 + rp[0]) * (1 + rp[1]) - 1
    big_rb = (1 + rb[0]) * (1 + rb[1]) - 1
    assert out["portfolio_return"][0] == pytest.approx(big_rp)
    assert out["total"].sum() == pytest.approx(big_rp - big_rb, abs=1e-15)
    # one sector by hand: Tech's allocation scaled by k_t / K
    k = [(math.log1p(a) - math.log1p(b)) / (a - b) for a, b in zip(rp, rb, strict=True)]
    big_k = (math.log1p(big_rp) - math.log1p(big_rb)) / (big_rp - big_rb)
    tech = daily_effects(*_frames()).filter(pl.col("sector") == "Tech").sort("day")
    expected = sum(a * kt / big_k for a, kt in zip(tech["allocation"], k, strict=True))
    got = out.filter(pl.col("sector") == "Tech")["allocation"][0]
    assert got == pytest.approx(expected)


def test_attribution_on_the_warehouse(loaded: Session) -> None:
    days = loaded.query("SELECT min(position_date), max(position_date) FROM fact_position")
    first, last = days.rows()[0]
    code = loaded.query("SELECT min(portfolio_code) FROM fact_position").rows()[0][0]
    linked_, _ = loaded.analytics().attribution([code], first, last)
    daily, _ = loaded.analytics().attribution([code], first, last, daily=True)
    assert linked_.height > 0 and set(linked_["portfolio_code"]) == {code}
    per_day = daily.group_by("day").agg(
        pl.col("total_p").first(), pl.col("total_b").first(),
        effects=(pl.col("allocation") + pl.col("selection") + pl.col("interaction")).sum(),
    )  # fmt: skip
    for row in per_day.iter_rows(named=True):
        assert row["effects"] == pytest.approx(row["total_p"] - row["total_b"], abs=1e-12)
    rp, rb = linked_["portfolio_return"][0], linked_["benchmark_return"][0]
    assert linked_["total"].sum() == pytest.approx(rp - rb, abs=1e-12)
    with pytest.raises(InvalidRequest, match="after end"):
        loaded.analytics().attribution([code], last, first)
