"""Cube money measures are in the tenant's reporting currency (setting ``reporting_currency``,
default USD), converted at the business date's FX rate, on the raw route and on rollups; a
measure in base currency is refused where its answer would add up different base currencies,
with a hint naming the reporting-currency measure."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl
import pytest

from ledgerhouse.errors import InvalidRequest
from ledgerhouse.session import Session
from tests.conftest import REF, TRADE_HEADER, copy_warehouse, trade_row

#: each amount in USD at the latest rate on or before its date (USD: 1), from the star's FX
TO_USD = """
ASOF LEFT JOIN fact_fx_rate fx ON fx.currency_code = {ccy} AND {day} >= fx.rate_date
"""


def test_trades_notional_by_firm_is_in_usd_at_the_trade_dates_rate(loaded: Session) -> None:
    firms = loaded.query(
        "SELECT DISTINCT p.firm, p.base_currency FROM dim_portfolio p ORDER BY 1, 2"
    ).rows()
    assert len({ccy for _, ccy in firms}) > 1  # the generated firms mix base currencies
    res = loaded.cube("trades", {"measures": ["notional", "fees"], "dimensions": ["firm"]})
    assert res.route.startswith("rollup:")
    hand = _decimal_reference(loaded)
    assert len(hand) == len(res.rows()) > 1
    for got, want in zip(res.rows(), hand, strict=True):
        assert got == want  # exactly: the same decimals, not close floats


def _decimal_reference(wh: Session) -> list[list[object]]:
    """Notional and fees in USD per firm, by hand in Python decimals, from the amounts as sent
    (quantity, price, fees) and the FX table, with the documented rules (decision 0014): each
    rate to 12 places and each amount to 6, half to even, the reporting amount from the base
    amount."""
    q6, q12 = Decimal("0.000001"), Decimal("0.000000000001")
    rates: dict[str, list[tuple[object, Decimal]]] = {}
    for ccy, day, rate in wh.query(
        "SELECT currency_code, rate_date, rate_to_usd FROM fact_fx_rate ORDER BY rate_date"
    ).rows():
        rates.setdefault(ccy, []).append((day, rate))

    def to_usd(ccy: str, day: object) -> Decimal:
        if ccy == "USD":
            return Decimal(1)
        return [r for d, r in rates[ccy] if d <= day][-1]  # type: ignore[operator]

    def rate(a: str, b: str, day: object) -> Decimal:
        return (to_usd(a, day) / to_usd(b, day)).quantize(q12, ROUND_HALF_EVEN)

    totals: dict[str, list[Decimal]] = {}
    for firm, qty, price, fees, ccy, base, day in wh.query(
        """SELECT p.firm, t.quantity, t.price, t.fees_local, t.currency, t.base_currency,
                  t.trade_date
           FROM fact_trade t JOIN dim_portfolio p ON t.portfolio_key = p.portfolio_key"""
    ).rows():
        to_base = rate(ccy, base, day)
        to_reporting = rate(base, "USD", day)
        local = (qty * price).quantize(q6, ROUND_HALF_EVEN)
        amounts = []
        for a in (local, fees):
            in_base = (a * to_base).quantize(q6, ROUND_HALF_EVEN)
            amounts.append((in_base * to_reporting).quantize(q6, ROUND_HALF_EVEN))
        total = totals.setdefault(firm, [Decimal(0), Decimal(0)])
        total[0] += amounts[0]
        total[1] += amounts[1]
    return [[firm, *totals[firm]] for firm in sorted(totals)]


def test_positions_market_value_by_firm_is_in_usd(loaded: Session) -> None:
    day = loaded.query("SELECT max(position_date) FROM fact_position").rows()[0][0]
    res = loaded.cube(
        "positions",
        {
            "measures": ["market_value", "unrealized_pnl"],
            "dimensions": ["firm"],
            "time_dimension": {"granularity": "day", "date_range": [str(day), str(day)]},
        },
    )
    hand = loaded.query(
        f"""SELECT p.firm, sum(x.market_value_local * coalesce(fx.rate_to_usd, 1.0)),
                   sum(x.unrealized_pnl_local * coalesce(fx.rate_to_usd, 1.0))
            FROM fact_position x
            {TO_USD.format(ccy="x.currency", day="x.position_date")}
            LEFT JOIN dim_portfolio p ON x.portfolio_key = p.portfolio_key
            WHERE x.position_date = DATE '{day}'
            GROUP BY 1 ORDER BY 1"""
    ).rows()
    got = [[r[0], r[2], r[3]] for r in res.rows()]
    assert len(got) == len(hand) > 1
    for g, w in zip(got, hand, strict=True):
        assert g[0] == w[0]
        assert math.isclose(g[1], w[1], rel_tol=1e-9) and math.isclose(g[2], w[2], rel_tol=1e-9)


def test_performance_pnl_by_firm_is_in_usd(loaded: Session) -> None:
    res = loaded.cube("performance", {"measures": ["pnl"], "dimensions": ["firm"]})
    hand = loaded.query(
        f"""SELECT p.firm, sum((f.end_nav - f.begin_nav - f.net_flow)
                               * coalesce(fx.rate_to_usd, 1.0))
            FROM fact_performance f
            {TO_USD.format(ccy="f.base_currency", day="f.performance_date")}
            LEFT JOIN dim_portfolio p ON f.portfolio_key = p.portfolio_key
            GROUP BY 1 ORDER BY 1"""
    ).rows()
    assert len(hand) == len(res.rows()) > 1
    for g, w in zip(res.rows(), hand, strict=True):
        assert g[0] == w[0] and math.isclose(g[1], w[1], rel_tol=1e-9, abs_tol=1e-5)


@pytest.fixture(scope="module")
def eur_template(tmp_path_factory: pytest.TempPathFactory, empty_template: Path) -> Path:
    """REF in a warehouse reporting in EUR (EUR is 1.10 USD from 2024-01-01), with trades,
    positions and performance of a USD portfolio (P1) and a EUR one (P2) of firm ACME; built
    once, each test gets a copy (`eur_wh`)."""
    root = tmp_path_factory.mktemp("eur") / "wh"
    me = copy_warehouse(empty_template, root, reporting_currency="EUR")
    for ds, text in REF.items():
        me.ingest(ds, text.encode(), fmt="csv")
    trades = (
        TRADE_HEADER
        + trade_row("T1", qty="100", price="10")  # P1 (USD) buys AAPL: 1000 USD
        + trade_row("T2", pf="P2", inst="SAP", ccy="EUR", qty="10", price="50")  # 500 EUR
        + trade_row("T3", inst="SAP", ccy="EUR", qty="10", price="50")  # P1: 550 USD
    )
    assert me.ingest("trades", trades.encode(), fmt="csv").status == "committed"
    me.ingest(
        "positions",
        b"position_date,portfolio_code,instrument_code,quantity,market_value,cost_basis\n"
        b"2024-01-02,P1,SAP,10,500,450\n2024-01-02,P2,SAP,10,500,450\n",
        fmt="csv",
    )
    me.ingest(
        "performance",
        b"performance_date,portfolio_code,begin_nav,end_nav\n"
        b"2024-01-02,P1,1000,1100\n2024-01-02,P2,1000,1050\n",
        fmt="csv",
    )
    me.warehouse.close()
    return root


@pytest.fixture
def eur_wh(tmp_path: Path, eur_template: Path) -> Iterator[Session]:
    """A copy of `eur_template`, opened reporting in EUR."""
    me = copy_warehouse(eur_template, tmp_path / "wh", reporting_currency="EUR")
    yield me
    me.warehouse.close()


def test_a_eur_reporting_currency_converts_every_cube(eur_wh: Session) -> None:
    rows = eur_wh.cube("trades", {"measures": ["notional"], "dimensions": ["firm"]}).rows()
    # USD -> EUR at round(1 / 1.10, 12) = 0.909090909091, each amount then rounded to 6
    # places half to even: 1000 USD is 909.090909 EUR, 550 USD is 500.000000 (not 499.99...)
    assert rows == [["ACME", Decimal("1909.090909")]]
    rows = eur_wh.cube(
        "positions", {"measures": ["market_value", "cost_basis"], "dimensions": ["firm"]}
    ).rows()
    assert rows == [["ACME", Decimal("1000.000000"), Decimal("900.000000")]]
    rows = eur_wh.cube("performance", {"measures": ["pnl"], "dimensions": ["firm"]}).rows()
    # P1: 1100 USD -> 1000.000000 EUR, 1000 USD -> 909.090909 EUR; P2: 50 EUR
    assert rows == [["ACME", Decimal("140.909091")]]
    stored = eur_wh.query(
        "SELECT trade_id, reporting_currency, notional_base, notional_reporting "
        "FROM fact_trade ORDER BY 1"
    ).rows()
    assert stored == [
        ["T1", "EUR", Decimal("1000"), Decimal("909.090909")],
        ["T2", "EUR", Decimal("500"), Decimal("500")],
        ["T3", "EUR", Decimal("550"), Decimal("500")],
    ]


def test_measure_metadata_names_the_currency(eur_wh: Session) -> None:
    cubes = {c["name"]: c for c in eur_wh.cubes()}
    measures = {m["name"]: m for m in cubes["trades"]["measures"]}
    assert measures["notional"]["currency"] == "EUR"
    assert measures["fees"]["currency"] == "EUR"
    assert measures["notional_base"]["currency"] == "base"
    assert measures["trades"]["currency"] is None
    positions = {m["name"]: m for m in cubes["positions"]["measures"]}
    assert positions["market_value"]["currency"] == "EUR"
    assert positions["unrealized_pnl"]["currency"] == "EUR"


def test_a_base_currency_sum_across_base_currencies_is_refused(eur_wh: Session) -> None:
    with pytest.raises(InvalidRequest) as err:
        eur_wh.cube("trades", {"measures": ["notional_base"], "dimensions": ["firm"]})
    assert "notional" in (err.value.hint or "") and "base_currency" in (err.value.hint or "")
    # per base currency (or per portfolio, or for one base currency) it is well defined
    rows = eur_wh.cube(
        "trades", {"measures": ["notional_base"], "dimensions": ["base_currency"]}
    ).rows()
    assert rows == [["EUR", 500.0], ["USD", 1550.0]]
    rows = eur_wh.cube(
        "trades",
        {
            "measures": ["notional_base"],
            "dimensions": ["firm"],
            "filters": [{"member": "base_currency", "values": ["USD"]}],
        },
    ).rows()
    assert rows == [["ACME", 1550.0]]
    rows = eur_wh.cube("trades", {"measures": ["notional_base"], "dimensions": ["portfolio"]})
    assert rows.rows() == [["P1", 1550.0], ["P2", 500.0]]


def test_exposures_by_firm_are_in_the_reporting_currency(loaded: Session) -> None:
    """Analytics exposures sum positions across portfolios too: in the reporting currency,
    never base amounts of different currencies (issue 12, item 2)."""
    day = loaded.query("SELECT max(position_date) FROM fact_position").rows()[0][0]
    frame, _ = loaded.analytics().exposures(day, [], "firm")
    ref = loaded.query(
        "SELECT p.firm, sum(x.market_value_reporting), count(DISTINCT x.base_currency) "
        "FROM fact_position x JOIN dim_portfolio p USING (portfolio_key) "
        f"WHERE x.position_date = DATE '{day}' GROUP BY 1 ORDER BY 1"
    ).rows()
    got = frame.group_by("firm").agg(pl.col("net").sum()).sort("firm")
    assert got["firm"].to_list() == [r[0] for r in ref]
    assert any(n > 1 for *_, n in ref)  # a firm that holds several base currencies
    for net, (_firm, expected, _n) in zip(got["net"].to_list(), ref, strict=True):
        assert net == expected  # exact decimals, in any order of addition
    assert set(frame["reporting_currency"].to_list()) == {"USD"}
