"""The stored position P&L is the unrealized P&L of the average-cost method: for every
(portfolio, instrument, day) of a generated warehouse, ``fact_position.unrealized_pnl_local``
equals ``analytics pnl``'s unrealized figure and an independent reference computed here from
the live trades, and ``cost_basis_local`` is the open quantity times the average price paid."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import polars as pl
import pytest

from ledgerhouse.session import Session

KEYS = ["portfolio_code", "instrument_code"]


def average_cost_by_day(trades: list[dict[str, Any]]) -> dict[tuple[str, str, date], float]:
    """Signed cost basis (position * average cost) after each day's trades, per position, by
    a plain sequential average cost: adding trades move the average, reducing trades keep it,
    a trade through zero opens the other side at its price."""
    state: dict[tuple[str, str], tuple[float, float]] = defaultdict(lambda: (0.0, 0.0))
    out: dict[tuple[str, str, date], float] = {}
    for t in trades:  # in trade order
        key = (t["portfolio_code"], t["instrument_code"])
        position, avg = state[key]
        q, p = t["q"], t["price"]
        if position == 0 or (q > 0) == (position > 0):
            avg = (abs(position) * avg + abs(q) * p) / (abs(position) + abs(q))
        elif abs(q) > abs(position):
            avg = p
        position += q
        if abs(position) < 1e-9:
            position, avg = 0.0, 0.0
        state[key] = (position, avg)
        out[(*key, t["trade_date"])] = position * avg
    return out


def test_stored_unrealized_pnl_is_the_average_cost_figure_on_every_row(loaded: Session) -> None:
    stored = loaded.query(
        "SELECT portfolio_code, instrument_code, position_date, quantity, market_value_local, "
        "unrealized_pnl_local FROM fact_position ORDER BY 1, 2, 3"
    ).to_polars()
    trades = loaded.query(
        "SELECT portfolio_code, instrument_code, trade_date, signed_quantity AS q, price "
        "FROM fact_trade ORDER BY portfolio_code, instrument_code, trade_ts, trade_id"
    ).to_polars()
    basis_after = average_cost_by_day(trades.to_dicts())
    # carry each position's basis forward over the days it does not trade
    basis: dict[tuple[str, str], float] = {}
    days = sorted(set(stored["position_date"].to_list()))
    by_day = defaultdict(list)
    for (pf, inst, d), b in basis_after.items():
        by_day[d].append((pf, inst, b))
    expected = {}
    for d in days:
        for pf, inst, b in by_day.get(d, []):
            basis[(pf, inst)] = b
        expected[d] = dict(basis)

    rows = stored.to_dicts()
    assert len(rows) > 1000
    for r in rows:
        key = (r["portfolio_code"], r["instrument_code"])
        ref = r["market_value_local"] - expected[r["position_date"]][key]
        assert r["unrealized_pnl_local"] == pytest.approx(ref, rel=1e-9, abs=1e-4), r

    # and the analytics figure, on every day
    for d in days:
        pnl, _ = loaded.analytics().pnl(d)
        both = (
            stored.filter(pl.col("position_date") == d)
            .join(pnl.select(*KEYS, "unrealized_pnl"), on=KEYS, how="left")
            .to_dicts()
        )
        for r in both:
            assert r["unrealized_pnl"] == pytest.approx(
                r["unrealized_pnl_local"], rel=1e-9, abs=1e-4
            ), (d, r)


def test_cost_basis_is_open_quantity_times_average_cost(loaded: Session) -> None:
    day = loaded.query("SELECT max(position_date) FROM fact_position").rows()[0][0]
    pnl, _ = loaded.analytics().pnl(day)
    stored = loaded.query(
        "SELECT portfolio_code, instrument_code, quantity, cost_basis_local, "
        "market_value_local - cost_basis_local AS unrealized FROM fact_position "
        f"WHERE position_date = DATE '{day}'"
    ).to_polars()
    both = stored.join(pnl, on=KEYS).to_dicts()
    assert len(both) == stored.height > 10
    for r in both:
        assert r["cost_basis_local"] == pytest.approx(
            r["position"] * r["average_cost"], rel=1e-9, abs=1e-4
        )
        assert r["unrealized"] == pytest.approx(r["unrealized_pnl"], rel=1e-9, abs=1e-4)
