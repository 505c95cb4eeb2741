"""Average-cost P&L, exact: a hand-computed case (with a flip from long to short), the
rounding of a released basis, and a property against a plain sequential ``decimal.Decimal``
implementation written here (the stated rounding: half to even, 6 places)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerhouse.analytics.trading import realized_pnl
from tests.analytics.average_cost_reference import Position, round6
from tests.conftest import examples

DEC = pl.Decimal(24, 6)


def _trades(fills: list[tuple[Decimal, Decimal]], code: str = "I1") -> pl.DataFrame:
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    return pl.DataFrame(
        {
            "portfolio_code": "P1",
            "instrument_code": code,
            "trade_ts": [t0 + timedelta(minutes=i) for i in range(len(fills))],
            "trade_id": [f"T{i:03d}" for i in range(len(fills))],
            "q": [Decimal(q) for q, _ in fills],
            "price": [Decimal(p) for _, p in fills],
        },
        schema_overrides={"q": DEC, "price": DEC},
    )


def reference(fills: list[tuple[Decimal, Decimal]]) -> Position:
    position = Position()
    for q, p in fills:
        position.trade(q, p)
    return position


def test_hand_computed_with_a_flip() -> None:
    fills = [(Decimal(q), Decimal(p)) for q, p in [(10, 100), (10, 110), (-5, 120), (-20, 100)]]
    # avg 105; sell 5 @120: +75; sell 20 @100: close 15 at -5 each = -75, short 5 @100
    row = realized_pnl(_trades(fills)).to_dicts()[0]
    assert row["realized_pnl"] == Decimal(0)
    assert row["position"] == Decimal(-5)
    assert row["cost_basis"] == Decimal(-500)
    assert row["average_cost"] == Decimal(100)
    covered = realized_pnl(_trades([*fills, (Decimal(5), Decimal(90))])).to_dicts()[0]
    assert covered["realized_pnl"] == Decimal(50)  # the short covered 10 below
    assert covered["position"] == 0 and covered["average_cost"] is None


def _row(fills: list[tuple[str, str]]) -> dict:  # type: ignore[type-arg]
    return realized_pnl(_trades([(Decimal(q), Decimal(p)) for q, p in fills])).to_dicts()[0]


def test_released_basis_is_rounded_half_to_even_once() -> None:
    # 3 bought for 10 in all; selling 1 releases 10 / 3 = 3.333333 (rounded), 6.666667 stays
    row = _row([("1", "3"), ("2", "3.5"), ("-1", "4")])
    assert row["cost_basis"] == Decimal("6.666667")
    assert row["realized_pnl"] == Decimal("0.666667")
    # the average cost 6.666667 / 2 = 3.3333335 is a tie: to the even digit
    assert row["average_cost"] == Decimal("3.333334")
    # released ties: 0.000001 * 0.25 / 0.5 = 0.0000005 releases 0; 0.0000015 releases 0.000002
    assert _row([("0.5", "0.000002"), ("-0.25", "1")])["cost_basis"] == Decimal("0.000001")
    assert _row([("0.5", "0.000006"), ("-0.25", "1")])["cost_basis"] == Decimal("0.000001")
    # a trade's cash is rounded once: 0.333 * 0.000003 = 0.000000999 -> 0.000001
    assert _row([("0.333", "0.000003")])["cost_basis"] == Decimal("0.000001")


quantities = st.decimals(min_value=-500, max_value=500, places=3).filter(lambda q: q != 0)
prices = st.decimals(min_value=Decimal("0.01"), max_value=1000, places=6)


@settings(max_examples=examples(ci=200, dev=50), deadline=None)
@given(st.lists(st.tuples(quantities, prices), min_size=1, max_size=40))
def test_matches_a_sequential_decimal_reference(fills: list[tuple[Decimal, Decimal]]) -> None:
    row = realized_pnl(_trades(fills)).to_dicts()[0]
    ref = reference(fills)
    assert row["realized_pnl"] == ref.realized
    assert row["position"] == ref.quantity
    assert row["cost_basis"] == ref.signed_basis
    assert row["average_cost"] == ref.average_cost


@settings(max_examples=examples(ci=100, dev=25), deadline=None)
@given(st.lists(st.tuples(quantities, prices), min_size=1, max_size=30))
def test_realized_plus_unrealized_is_market_value_minus_cash_exactly(
    fills: list[tuple[Decimal, Decimal]],
) -> None:
    from ledgerhouse.analytics.trading import with_market_value

    close = Decimal("101.234567")
    row = with_market_value(realized_pnl(_trades(fills)).with_columns(close_price=close)).row(
        0, named=True
    )
    cash = sum((round6(abs(q) * p) * (1 if q > 0 else -1) for q, p in fills), Decimal(0))
    market_value = round6(row["position"] * close)
    assert row["market_value"] == market_value
    assert row["realized_pnl"] + row["unrealized_pnl"] == market_value - cash


def test_pnl_on_the_warehouse_adds_up_exactly_and_matches_positions(loaded) -> None:  # type: ignore[no-untyped-def]
    day = loaded.query("SELECT max(position_date) FROM fact_position").rows()[0][0]
    frame, _ = loaded.analytics().pnl(day)
    keys = ["portfolio_code", "instrument_code"]
    # position = the snapshot's quantity, to the last digit
    snap = loaded.query(
        f"SELECT portfolio_code, instrument_code, quantity FROM fact_position "
        f"WHERE position_date = DATE '{day}'"
    ).to_polars()
    got = frame.filter(pl.col("position") != 0).join(snap, on=keys, how="full", coalesce=True)
    assert got.height > 10
    assert (got["position"] == got["quantity"]).all()
    # realized + unrealized = what is left is worth minus the cash paid (each trade's
    # notional_local, the same rounding): exactly
    cash = loaded.query(
        f"SELECT portfolio_code, instrument_code, "
        f"sum(CASE WHEN side = 'BUY' THEN notional_local ELSE -notional_local END) AS cash "
        f"FROM fact_trade WHERE trade_date <= DATE '{day}' GROUP BY 1, 2"
    ).to_polars()
    both = frame.join(cash, on=keys).to_dicts()
    assert len(both) == frame.height
    for r in both:
        assert isinstance(r["realized_pnl"], Decimal)
        assert r["realized_pnl"] + r["unrealized_pnl"] == r["market_value"] - r["cash"], r
