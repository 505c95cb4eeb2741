"""The stored position P&L is the unrealized P&L of the average-cost method, exactly: for every
(portfolio, instrument, day) of a generated warehouse, ``fact_position.cost_basis_local`` is the
signed basis of a plain sequential ``Decimal`` average cost computed here from the live trades,
``unrealized_pnl_local`` is market value - basis, and ``analytics pnl`` gives the same
figures to the last digit."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl

from ledgerhouse.session import Session
from tests.analytics.average_cost_reference import Position, round6

KEYS = ["portfolio_code", "instrument_code"]


def basis_by_day(trades: list[dict[str, Any]]) -> dict[tuple[str, str, date], Position]:
    """The reference state after each day's trades, per position (trades in trade order)."""
    state: dict[tuple[str, str], Position] = defaultdict(Position)
    out: dict[tuple[str, str, date], Position] = {}
    for t in trades:
        key = (t["portfolio_code"], t["instrument_code"])
        state[key].trade(t["q"], t["price"])
        p = state[key]
        out[(*key, t["trade_date"])] = Position(p.quantity, p.basis, p.realized)
    return out


def _stored(loaded: Session) -> pl.DataFrame:
    return loaded.query(
        "SELECT portfolio_code, instrument_code, position_date, quantity, market_value_local, "
        "cost_basis_local, unrealized_pnl_local FROM fact_position ORDER BY 1, 2, 3"
    ).to_polars()


def _expected(loaded: Session, days: list[date]) -> dict[date, dict[tuple[str, str], Position]]:
    trades = loaded.query(
        "SELECT portfolio_code, instrument_code, trade_date, signed_quantity AS q, price "
        "FROM fact_trade ORDER BY portfolio_code, instrument_code, trade_ts, trade_id"
    ).to_polars()
    after = basis_by_day(trades.to_dicts())
    by_day = defaultdict(list)
    for (pf, inst, d), p in after.items():
        by_day[d].append(((pf, inst), p))
    current: dict[tuple[str, str], Position] = {}
    expected = {}
    for d in days:  # each position's state carried forward over the days it does not trade
        current.update(by_day.get(d, []))
        expected[d] = dict(current)
    return expected


def test_stored_basis_and_unrealized_pnl_are_the_exact_average_cost(loaded: Session) -> None:
    stored = _stored(loaded)
    days = sorted(set(stored["position_date"].to_list()))
    expected = _expected(loaded, days)
    rows = stored.to_dicts()
    assert len(rows) > 1000
    for r in rows:
        ref = expected[r["position_date"]][(r["portfolio_code"], r["instrument_code"])]
        assert isinstance(r["cost_basis_local"], Decimal)
        assert r["quantity"] == ref.quantity, r
        assert r["cost_basis_local"] == ref.signed_basis, r
        assert r["unrealized_pnl_local"] == r["market_value_local"] - ref.signed_basis, r


def test_pnl_gives_the_stored_figures_on_every_day(loaded: Session) -> None:
    stored = _stored(loaded)
    days = sorted(set(stored["position_date"].to_list()))
    expected = _expected(loaded, days)
    for d in days[-5:]:
        pnl, _ = loaded.analytics().pnl(d)
        both = stored.filter(pl.col("position_date") == d).join(pnl, on=KEYS, how="left")
        assert both.height > 10
        for r in both.to_dicts():
            ref = expected[d][(r["portfolio_code"], r["instrument_code"])]
            assert r["position"] == r["quantity"]
            assert r["cost_basis"] == r["cost_basis_local"] == ref.signed_basis
            assert r["average_cost"] == ref.average_cost
            assert r["realized_pnl"] == ref.realized
            assert r["market_value"] == round6(r["quantity"] * r["close_price"])
            assert r["unrealized_pnl"] == r["market_value"] - r["cost_basis"]
            assert r["unrealized_pnl"] == r["unrealized_pnl_local"], (d, r)
