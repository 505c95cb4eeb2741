"""Average-cost realized P&L: a hand-computed case (with a flip from long to short) and a
property against a plain sequential implementation written here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerhouse.analytics.trading import realized_pnl
from tests.conftest import examples


def _trades(fills: list[tuple[float, float]], code: str = "I1") -> pl.DataFrame:
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    return pl.DataFrame(
        {
            "portfolio_code": "P1",
            "instrument_code": code,
            "trade_ts": [t0 + timedelta(minutes=i) for i in range(len(fills))],
            "trade_id": [f"T{i:03d}" for i in range(len(fills))],
            "q": [float(q) for q, _ in fills],
            "price": [float(p) for _, p in fills],
        }
    )


def reference(fills: list[tuple[float, float]]) -> tuple[float, float, float | None]:
    """Sequential average cost: realized P&L, position, average cost."""
    position, avg, realized = 0.0, 0.0, 0.0
    for q, p in fills:
        if position == 0 or (q > 0) == (position > 0):  # opening or adding
            avg = (abs(position) * avg + abs(q) * p) / (abs(position) + abs(q))
            position += q
            continue
        closed = min(abs(q), abs(position))
        realized += closed * (p - avg) * (1 if position > 0 else -1)
        rest = abs(q) - closed
        position += q
        if rest > 0:  # through zero: the remainder opens the other side at this price
            avg = p
    return realized, position, (avg if position else None)


def test_hand_computed_with_a_flip() -> None:
    fills = [(10, 100), (10, 110), (-5, 120), (-20, 100), (5, 90)]
    # avg 105; sell 5 @120: +75; sell 20 @100: close 15 at -5 each = -75, short 5 @100;
    # buy 5 @90 covers the short: +50
    row = realized_pnl(_trades(fills)).to_dicts()[0]
    assert row["realized_pnl"] == pytest.approx(75 - 75 + 50)
    assert row["position"] == 0 and row["average_cost"] is None
    assert reference(fills)[0] == pytest.approx(50)


@settings(max_examples=examples(ci=200, dev=50), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-50, 50).filter(lambda q: q != 0),
            st.integers(50, 150),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_matches_a_sequential_reference(fills: list[tuple[int, int]]) -> None:
    row = realized_pnl(_trades([(float(q), float(p)) for q, p in fills])).to_dicts()[0]
    realized, position, avg = reference([(float(q), float(p)) for q, p in fills])
    assert row["realized_pnl"] == pytest.approx(realized, rel=1e-9, abs=1e-6)
    assert row["position"] == pytest.approx(position)
    if avg is None:
        assert row["average_cost"] is None
    else:
        assert row["average_cost"] == pytest.approx(avg, rel=1e-9)


def test_pnl_on_the_warehouse_adds_up_and_matches_positions(loaded) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    day = loaded.query("SELECT max(position_date) FROM fact_position").rows()[0][0]
    frame, _ = loaded.analytics().pnl(day)
    keys = ["portfolio_code", "instrument_code"]
    # position = the snapshot's quantity
    snap = loaded.query(
        f"SELECT portfolio_code, instrument_code, quantity FROM fact_position "
        f"WHERE position_date = DATE '{day}'"
    ).to_polars()
    got = frame.filter(pl.col("position") != 0).join(snap, on=keys, how="full", coalesce=True)
    assert np.allclose(got["position"].fill_null(0), got["quantity"].fill_null(0))
    # realized + unrealized = what the trades cost and what is left is worth
    cash = loaded.query(
        f"SELECT portfolio_code, instrument_code, sum(-signed_quantity * price) AS cash "
        f"FROM fact_trade WHERE trade_date <= DATE '{day}' GROUP BY 1, 2"
    ).to_polars()
    both = frame.join(cash, on=keys)
    total = both["cash"] + both["market_value"].fill_null(0)
    assert np.allclose(both["realized_pnl"] + both["unrealized_pnl"], total, rtol=1e-9, atol=1e-4)
