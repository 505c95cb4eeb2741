"""Exposures, correlation, VWAP/TWAP and slippage against hand-computed cases and independent
Polars / numpy computations."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from ledgerhouse.errors import InvalidRequest, NotFound
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, trade_row


def test_exposures_by_sector_and_desk_match_a_polars_computation(loaded: Session) -> None:
    day = loaded.query("SELECT max(position_date) FROM fact_position").rows()[0][0]
    frame, _ = loaded.analytics().exposures(day, ["sector", "currency"], "desk")
    pos = loaded.query(
        "SELECT x.market_value_reporting AS mv, i.sector, x.currency, p.desk FROM fact_position x "
        "JOIN dim_instrument i USING (instrument_key) JOIN dim_portfolio p USING (portfolio_key)"
        f" WHERE x.position_date = DATE '{day}'"
    ).to_polars()
    ref = (
        pos.group_by("desk", "sector", "currency")
        .agg(
            long=pl.col("mv").clip(lower_bound=0).sum(),
            short=pl.col("mv").clip(upper_bound=0).sum(),
            gross=pl.col("mv").abs().sum(),
            net=pl.col("mv").sum(),
        )
        .sort("desk", "sector", "currency")
    )
    got = frame.sort("desk", "sector", "currency")
    assert got.height == ref.height > 0
    for col in ("long", "short", "gross", "net"):  # exact decimal sums, both sides
        assert isinstance(got[col].dtype, pl.Decimal)
        assert got[col].to_list() == ref[col].to_list(), col
    shares = got.group_by("desk").agg(pl.col("gross_share").sum())["gross_share"]
    assert got["gross_share"].dtype == pl.Float64
    assert np.allclose(shares.to_numpy(), 1.0)
    with pytest.raises(InvalidRequest, match="cannot break exposures down"):
        loaded.analytics().exposures(day, ["colour"])
    with pytest.raises(NotFound, match="no positions"):
        loaded.analytics().exposures(date(1999, 1, 4))


def test_correlation_matches_numpy(loaded: Session) -> None:
    frame, _ = loaded.analytics().correlation(min_periods=2)
    perf = loaded.query(
        "SELECT portfolio_code, performance_date, end_nav / (begin_nav + net_flow) - 1 AS r "
        "FROM fact_performance"
    ).to_polars()
    wide = perf.pivot(on="portfolio_code", index="performance_date", values="r").sort(
        "performance_date"
    )
    codes = frame["portfolio_code"].to_list()
    expected = np.corrcoef(wide.select(codes).to_numpy().T)
    assert np.allclose(frame.select(codes).to_numpy(), expected, rtol=1e-9, atol=1e-12)
    too_short, _ = loaded.analytics().correlation(min_periods=10_000)
    off_diagonal = too_short.select(codes).to_numpy()[~np.eye(len(codes), dtype=bool)]
    assert np.isnan(off_diagonal.astype(float)).all()


def test_vwap_twap_and_slippage_by_hand(ref_wh: Session) -> None:
    ref_wh.ingest(
        "prices", b"price_date,instrument_code,close_price\n2024-01-01,AAPL,9.5\n", fmt="csv"
    )
    rows = [
        trade_row("T1", ts="2024-01-02T10:00:00Z", qty="100", price="10"),
        trade_row("T2", ts="2024-01-02T10:30:00Z", qty="200", price="11"),
        trade_row("T3", ts="2024-01-02T12:00:00Z", qty="100", price="13", side="SELL"),
    ]
    ref_wh.ingest("trades", (TRADE_HEADER + "".join(rows)).encode(), fmt="csv")
    day = date(2024, 1, 2)
    vwap, _ = ref_wh.analytics().vwap(day, day)
    row = vwap.to_dicts()[0]
    assert row["vwap"] == pytest.approx((10 * 100 + 11 * 200 + 13 * 100) / 400)
    # 10 held 30 min, 11 held 90 min, the last trade carries no weight
    assert row["twap"] == pytest.approx((10 * 1800 + 11 * 5400) / 7200)
    assert (row["trades"], row["low"], row["high"]) == (3, 10, 13)
    slip, _ = ref_wh.analytics().slippage(day, day, instrument="AAPL")
    bp = dict(zip(slip["trade_id"], slip["slippage_bps"], strict=True))
    assert bp["T1"] == pytest.approx((10 - 9.5) / 9.5 * 1e4)
    assert bp["T3"] == pytest.approx(-(13 - 9.5) / 9.5 * 1e4)  # a sell above the close
    assert set(slip["reference_date"]) == {date(2024, 1, 1)}
    with pytest.raises(InvalidRequest, match="after end"):
        ref_wh.analytics().vwap(day, date(2024, 1, 1))


def test_positions_rebuilt_from_trades_reconcile_with_the_snapshot(loaded: Session) -> None:
    day = loaded.query("SELECT max(position_date) FROM fact_position").rows()[0][0]
    frame, _ = loaded.analytics().reconcile_positions(day)
    assert frame.height > 50 and frame["matches"].all()
    trades = loaded.query(
        f"SELECT portfolio_code, instrument_code, signed_quantity FROM fact_trade "
        f"WHERE trade_date <= DATE '{day}'"
    ).to_polars()
    ref = trades.group_by("portfolio_code", "instrument_code").agg(pl.col("signed_quantity").sum())
    got = frame.join(ref, on=["portfolio_code", "instrument_code"], how="left")
    assert isinstance(got["rebuilt_quantity"].dtype, pl.Decimal)
    assert got["rebuilt_quantity"].to_list() == got["signed_quantity"].fill_null(0).to_list()
    assert (got["difference"] == 0).all()
