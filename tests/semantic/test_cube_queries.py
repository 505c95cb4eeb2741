"""Cube queries against hand-written SQL over the core tables: every measure type, filters,
segments, ordering, limits, pivots, and the errors a bad query gets."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ledgerhouse.errors import InvalidRequest, NotFound
from ledgerhouse.session import Session

TRADES = """
FROM fact_trade t
LEFT JOIN dim_portfolio p ON t.portfolio_key = p.portfolio_key
LEFT JOIN dim_instrument i ON t.instrument_key = i.instrument_key
"""


def close(a: list[list[Any]], b: list[list[Any]], rel: float = 1e-9) -> bool:
    """Equal rows: exact for keys and integers; for floats a relative tolerance (a sum of
    floats depends on the order of addition) and an absolute one (money measures are rounded
    to 6 decimals, the hand-written SQL is not)."""
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for x, y in zip(ra, rb, strict=True):
            if isinstance(x, float) or isinstance(y, float):
                if x is None or y is None or not math.isclose(x, y, rel_tol=rel, abs_tol=2e-6):
                    return False
            elif x != y:
                return False
    return True


def test_roll_up_by_desk_asset_class_month_matches_hand_sql(loaded: Session) -> None:
    res = loaded.cube(
        "trades",
        {
            "measures": ["notional", "trades", "avg_notional", "max_notional", "fees"],
            "dimensions": ["desk", "asset_class"],
            "time_dimension": {"granularity": "month"},
        },
    )
    hand = loaded.query(
        f"""SELECT p.desk, i.asset_class, CAST(date_trunc('month', t.trade_date) AS DATE) m,
                   sum(t.notional_reporting), count(*), avg(t.notional_reporting),
                   max(t.notional_reporting), sum(t.fees_reporting)
            {TRADES} GROUP BY ALL ORDER BY m, 1, 2"""
    ).rows()
    assert res.route.startswith("rollup:")
    assert [c["name"] for c in res.columns] == [
        "desk", "asset_class", "trade_date", "notional", "trades", "avg_notional",
        "max_notional", "fees",
    ]  # fmt: skip
    got = [[r[0], r[1], r[2], *r[3:]] for r in res.rows()]
    assert close(got, hand) and len(hand) > 10


def test_weighted_average_ratio_running_total_and_count_distinct(loaded: Session) -> None:
    res = loaded.cube(
        "trades",
        {
            "measures": ["vwap", "fee_rate", "cumulative_notional", "instruments"],
            "dimensions": ["instrument"],
            "time_dimension": {"granularity": "week", "date_range": ["2023-01-01", "2023-02-28"]},
            "filters": [{"member": "asset_class", "op": "equals", "values": ["EQUITY"]}],
        },
    )
    hand = loaded.query(
        f"""WITH g AS (
              SELECT t.instrument_code, CAST(date_trunc('week', t.trade_date) AS DATE) w,
                     sum(t.price * t.quantity) / sum(t.quantity) vwap,
                     sum(t.fees_reporting) / sum(t.notional_reporting) fee_rate,
                     sum(t.notional_reporting) notional, count(DISTINCT t.instrument_code) n
              {TRADES}
              WHERE i.asset_class = 'EQUITY' AND t.trade_date BETWEEN '2023-01-01' AND '2023-02-28'
              GROUP BY ALL)
            SELECT instrument_code, w, vwap, fee_rate,
                   sum(notional) OVER (PARTITION BY instrument_code ORDER BY w), n
            FROM g ORDER BY w, instrument_code"""
    ).rows()
    assert res.route == "raw"  # weeks and count distinct: no rollup can answer
    assert close(res.rows(), hand) and len(hand) > 20
    assert all(r[-1] == 1 for r in res.rows())


def test_stddev_and_percentile_match_duckdb(loaded: Session) -> None:
    q = {"measures": ["notional_stddev", "median_notional"], "dimensions": ["desk"]}
    hand = loaded.query(
        f"""SELECT p.desk, stddev_samp(t.notional_reporting),
                   quantile_cont(t.notional_reporting, 0.5)
            {TRADES} GROUP BY 1 ORDER BY 1"""
    ).rows()
    res = loaded.cube("trades", q)
    assert res.route == "raw"  # a percentile is never re-aggregated from a coarser rollup
    assert close(res.rows(), hand, rel=1e-9)
    only_std = loaded.cube("trades", {"measures": ["notional_stddev"], "dimensions": ["desk"]})
    assert only_std.route.startswith("rollup:")  # stddev re-aggregates from sums
    assert close(only_std.rows(), [[d, s] for d, s, _ in hand], rel=1e-9)


def test_share_is_of_the_whole_answer_before_the_limit(loaded: Session) -> None:
    res = loaded.cube(
        "trades",
        {
            "measures": ["notional", "notional_share"],
            "dimensions": ["counterparty"],
            "order": [{"member": "notional", "desc": True}],
            "limit": 5,
        },
    )
    hand = loaded.query(
        f"""SELECT t.counterparty_code, sum(t.notional_reporting) n, n / sum(n) OVER () {TRADES}
            GROUP BY 1 ORDER BY n DESC LIMIT 5"""
    ).rows()
    assert res.route.startswith("rollup:") and close(res.rows(), hand) and len(hand) == 5
    assert sum(r[2] for r in res.rows()) < 1


def test_segments_measure_filters_order_and_limit(loaded: Session) -> None:
    res = loaded.cube(
        "trades",
        {
            "measures": ["notional"],
            "dimensions": ["counterparty"],
            "segments": ["buys"],
            "filters": [
                {"member": "trades", "op": "gte", "values": [5]},
                {"member": "desk", "op": "not_in", "values": ["no such desk"]},
            ],
            "order": [{"member": "notional", "desc": True}],
            "limit": 3,
        },
    )
    hand = loaded.query(
        f"""SELECT t.counterparty_code, sum(t.notional_reporting) n {TRADES}
            WHERE t.side = 'BUY' GROUP BY 1 HAVING count(*) >= 5 ORDER BY n DESC LIMIT 3"""
    ).rows()
    assert close(res.rows(), hand) and len(hand) == 3


@pytest.mark.parametrize(
    ("flt", "where"),
    [
        ({"op": "equals", "values": ["EQUITY"]}, "= 'EQUITY'"),
        ({"op": "not_equals", "values": ["EQUITY"]}, "<> 'EQUITY'"),
        ({"op": "in", "values": ["BOND", "FUTURE"]}, "IN ('BOND', 'FUTURE')"),
        ({"op": "gt", "values": ["EQUITY"]}, "> 'EQUITY'"),
        ({"op": "between", "values": ["B", "F"]}, "BETWEEN 'B' AND 'F'"),
        ({"op": "contains", "values": ["quit"]}, "ILIKE '%quit%'"),
        ({"op": "starts_with", "values": ["BO"]}, "LIKE 'BO%'"),
        ({"op": "is_not_null", "values": []}, "IS NOT NULL"),
        ({"op": "is_null", "values": []}, "IS NULL"),
    ],
)
def test_filter_operators(loaded: Session, flt: dict[str, Any], where: str) -> None:
    res = loaded.cube(
        "trades",
        {"measures": ["trades"], "dimensions": ["asset_class"], "route": "raw",
         "filters": [{"member": "asset_class", **flt}]},
    )  # fmt: skip
    hand = loaded.query(
        f"SELECT i.asset_class, count(*) {TRADES} WHERE i.asset_class {where} GROUP BY 1 ORDER BY 1"
    ).rows()
    assert res.rows() == hand


def test_filter_values_are_bound_not_spliced(loaded: Session) -> None:
    res = loaded.cube(
        "trades",
        {"measures": ["trades"], "filters": [
            {"member": "desk", "op": "equals", "values": ["x' OR 1=1 --"]}]},
    )  # fmt: skip
    assert res.rows() == [[0]]
    assert "OR 1=1" not in res.plan.sql and res.plan.params == ["x' OR 1=1 --"]


def test_pivot_makes_one_column_per_member_and_measure(loaded: Session) -> None:
    q = {"measures": ["notional", "trades"], "dimensions": ["asset_class", "side"]}
    long = {(r[0], r[1]): r[2:] for r in loaded.cube("trades", q).rows()}
    wide = loaded.cube("trades", {**q, "pivot": "side"})
    names = [c["name"] for c in wide.columns]
    assert names[0] == "asset_class"
    assert set(names[1:]) == {"BUY.notional", "SELL.notional", "BUY.trades", "SELL.trades"}
    for row in wide.rows():
        rec = dict(zip(names, row, strict=True))
        for side in ("BUY", "SELL"):
            assert [rec[f"{side}.notional"], rec[f"{side}.trades"]] == long[
                (rec["asset_class"], side)
            ]


def test_positions_and_performance_cubes(loaded: Session) -> None:
    pos = loaded.cube(
        "positions",
        {"measures": ["gross_exposure", "long_exposure", "short_exposure", "positions"],
         "hierarchies": {"instrument": "sector"},
         "time_dimension": {"granularity": "day", "date_range": ["2023-02-01", "2023-02-01"]}},
    )  # fmt: skip
    hand = loaded.query(
        """SELECT i.asset_class, i.sector, p.position_date, sum(abs(p.market_value_reporting)),
                  sum(greatest(p.market_value_reporting, 0)),
                  sum(least(p.market_value_reporting, 0)),
                  count(*)
           FROM fact_position p JOIN dim_instrument i USING (instrument_key)
           WHERE p.position_date = '2023-02-01' GROUP BY ALL ORDER BY 1, 2"""
    ).rows()
    assert close(pos.rows(), hand) and hand
    perf = loaded.cube(
        "performance",
        {"measures": ["pnl", "cumulative_pnl", "portfolios"], "dimensions": ["firm"],
         "time_dimension": {"granularity": "month"}},
    )  # fmt: skip
    hand = loaded.query(
        """WITH g AS (SELECT d.firm, CAST(date_trunc('month', f.performance_date) AS DATE) m,
                             sum(f.end_nav_reporting - f.begin_nav_reporting
                                 - f.net_flow_reporting) pnl,
                             count(DISTINCT f.portfolio_code) n
                      FROM fact_performance f JOIN dim_portfolio d USING (portfolio_key)
                      GROUP BY ALL)
           SELECT firm, m, pnl, sum(pnl) OVER (PARTITION BY firm ORDER BY m), n
           FROM g ORDER BY m, firm"""
    ).rows()
    assert close(perf.rows(), hand) and hand


def test_drill_down_and_roll_up_follow_the_hierarchies(loaded: Session) -> None:
    q: Any = {"measures": ["notional"], "hierarchies": {"portfolio": "firm"}}
    firm_rows = loaded.cube("trades", q).rows()
    firm = firm_rows[0][0]
    down = loaded.cube_drill("trades", q, "portfolio", value=firm)
    res = loaded.cube("trades", down)
    assert [c["name"] for c in res.columns] == ["firm", "desk", "notional"]
    assert {r[0] for r in res.rows()} == {firm}
    assert math.isclose(sum(r[2] for r in res.rows()), firm_rows[0][1], rel_tol=1e-9)
    assert res.plan.navigation["portfolio"] == {"level": "desk", "up": "firm", "down": "portfolio"}
    up = loaded.cube_drill("trades", down, "portfolio", up=True)
    assert up.hierarchies == {"portfolio": "firm"}
    top = loaded.cube_drill("trades", up, "portfolio", up=True)
    assert "portfolio" not in top.hierarchies
    monthly = loaded.cube_drill("trades", {"measures": ["trades"]}, "date")
    assert loaded.cube("trades", monthly).plan.navigation["date"]["level"] == "year"
    with pytest.raises(InvalidRequest, match="finest"):
        loaded.cube_drill(
            "trades", {"measures": ["trades"], "hierarchies": {"date": "day"}}, "date"
        )


def test_dry_run_returns_sql_and_route_without_running(loaded: Session) -> None:
    before = len(loaded.query_log_entries(limit=1000))
    res = loaded.cube("trades", {"measures": ["trades"], "dimensions": ["desk"]}, dry_run=True)
    assert res.table is None and res.rows() == []
    assert "GROUP BY ALL" in res.plan.sql and res.route.startswith("rollup:")
    assert res.to_dict()["dry_run"] is True
    assert len(loaded.query_log_entries(limit=1000)) == before


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"measures": ["nope"]}, "no measure 'nope'"),
        ({"dimensions": ["nope"]}, "no dimension 'nope'"),
        ({"dimensions": ["trade_date"]}, "is a time dimension"),
        ({"measures": ["cumulative_notional"]}, "running total needs a time dimension"),
        ({"measures": ["trades"], "pivot": "desk"}, "cannot pivot"),
        ({"measures": ["trades"], "order": [{"member": "desk"}]}, "cannot order by 'desk'"),
        ({"measures": ["trades"], "segments": ["nope"]}, "no segment"),
        ({"measures": ["trades"], "hierarchies": {"portfolio": "nope"}}, "no level 'nope'"),
        ({"measures": ["trades"], "hierarchies": {"nope": "x"}}, "no hierarchy 'nope'"),
        ({"measures": ["trades"], "filters": [{"member": "x"}]}, "equals takes 1 value"),
        ({"measures": ["trades"], "filters": [{"member": "x", "values": [1]}]}, "unknown member"),
        (
            {"measures": ["trades"], "filters": [{"member": "trade_date", "values": [1]}]},
            "date_range",
        ),
        (
            {
                "measures": ["trades"],
                "time_dimension": {"date_range": ["2024-02-01", "2024-01-01"]},
            },
            "first <= last",
        ),
        ({"measures": ["trades"], "bogus": 1}, "bogus"),
        ({}, "at least one measure"),
    ],
)
def test_bad_queries_get_a_clear_error(loaded: Session, query: Any, message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        loaded.cube("trades", query)
    assert message in str(err.value.message) + str(err.value.hint)


def test_unknown_cube_is_not_found(loaded: Session) -> None:
    with pytest.raises(NotFound, match="no cube 'nope'"):
        loaded.cube("nope", {"measures": ["trades"]})
