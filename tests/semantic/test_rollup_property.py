"""Property: for random cube queries, the rollup route, the raw route and hand-written DuckDB
SQL over the core tables give the same answer (the two routes bit for bit)."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerhouse.session import Session
from tests.conftest import examples
from tests.semantic.test_cube_queries import close

# Written by hand from the meaning of each member, not generated from the cube file.
DIMS = {
    "firm": "p.firm",
    "desk": "p.desk",
    "portfolio": "t.portfolio_code",
    "asset_class": "i.asset_class",
    "sector": "i.sector",
    "side": "t.side",
    "counterparty": "t.counterparty_code",
    "counterparty_type": "c.counterparty_type",
}
MEASURES = {
    "trades": "count(*)",
    "notional": "sum(t.notional_reporting)",
    "buy_notional": "sum(CASE WHEN t.side = 'BUY' THEN t.notional_reporting ELSE 0 END)",
    "fees": "sum(t.fees_reporting)",
    "quantity": "sum(t.quantity)",
    "avg_notional": "avg(t.notional_reporting)",
    "max_notional": "max(t.notional_reporting)",
    "instruments": "count(DISTINCT t.instrument_code)",
    "notional_stddev": "stddev_samp(t.notional_reporting)",
    "median_notional": "quantile_cont(t.notional_reporting, 0.5)",
    "fee_rate": "sum(t.fees_reporting) / nullif(sum(t.notional_reporting), 0)",
}
FROM = """FROM fact_trade t
LEFT JOIN dim_portfolio p ON t.portfolio_key = p.portfolio_key
LEFT JOIN dim_instrument i ON t.instrument_key = i.instrument_key
LEFT JOIN dim_counterparty c ON t.counterparty_key = c.counterparty_key"""
MONTHS = [(date(2023, 1, 1), date(2023, 1, 31)), (date(2023, 2, 1), date(2023, 2, 28)),
          (date(2023, 3, 1), date(2023, 3, 31))]  # fmt: skip


@st.composite
def cube_queries(draw: st.DrawFn) -> dict[str, Any]:
    dim_pool = draw(
        st.sampled_from(
            [
                ["firm", "desk", "asset_class", "sector", "side"],  # desk_month
                ["firm", "desk", "portfolio", "asset_class"],  # portfolio_day
                ["firm", "desk", "counterparty", "counterparty_type"],  # counterparty_month
                list(DIMS),
            ]
        )
    )
    dims = draw(st.lists(st.sampled_from(dim_pool), unique=True, max_size=3))
    measures = draw(st.lists(st.sampled_from(list(MEASURES)), unique=True, min_size=1, max_size=4))
    q: dict[str, Any] = {"measures": measures, "dimensions": dims, "cache": False}
    grain = draw(st.sampled_from([None, "day", "week", "month", "quarter", "year"]))
    rng = None
    kind = draw(st.sampled_from(["none", "months", "days"]))
    if kind == "months":
        a, b = sorted(draw(st.lists(st.integers(0, 2), min_size=2, max_size=2)))
        rng = [MONTHS[a][0].isoformat(), MONTHS[b][1].isoformat()]
    elif kind == "days":
        a, b = sorted(draw(st.lists(st.integers(1, 60), min_size=2, max_size=2)))
        rng = [date.fromordinal(date(2023, 1, 1).toordinal() + a).isoformat(),
               date.fromordinal(date(2023, 1, 1).toordinal() + b).isoformat()]  # fmt: skip
    if grain or rng:
        q["time_dimension"] = {"granularity": grain, "date_range": rng}
    if draw(st.booleans()):
        member = draw(
            st.sampled_from(
                [d for d in dim_pool if d in ("asset_class", "side", "firm")] or ["desk"]
            )
        )
        values = {
            "asset_class": ["EQUITY", "BOND"],
            "side": ["BUY"],
            "firm": ["nope"],
            "desk": ["nope"],
        }
        q["filters"] = [{"member": member, "op": "in", "values": values[member]}]
    return q


def hand_sql(q: dict[str, Any]) -> tuple[str, list[Any]]:
    cols = [DIMS[d] for d in q["dimensions"]]
    td = q.get("time_dimension") or {}
    where, params = [], []
    if td.get("granularity"):
        cols.append(f"CAST(date_trunc('{td['granularity']}', t.trade_date) AS DATE)")
    if td.get("date_range"):
        where.append(
            f"t.trade_date BETWEEN DATE '{td['date_range'][0]}' AND DATE '{td['date_range'][1]}'"
        )
    for f in q.get("filters", []):
        where.append(f"{DIMS[f['member']]} IN ({', '.join('?' * len(f['values']))})")
        params += f["values"]
    select = cols + [MEASURES[m] for m in q["measures"]]
    sql = f"SELECT {', '.join(select)} {FROM}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if cols:
        sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(cols)))
    return sql, params


def _sorted(rows: list[list[Any]]) -> list[list[Any]]:
    return sorted(rows, key=lambda r: [str(v) for v in r])


def test_rollup_raw_and_hand_written_sql_agree(loaded: Session) -> None:
    routes: list[str] = []

    @settings(
        max_examples=examples(ci=120, dev=20),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(q=cube_queries())
    def check(q: dict[str, Any]) -> None:
        auto = loaded.cube("trades", q)
        raw = loaded.cube("trades", {**q, "route": "raw"})
        sql, params = hand_sql(q)
        hand = loaded.query(sql, params=params, use_cache=False).rows()
        routes.append(auto.route)
        assert raw.route == "raw"
        assert close(_sorted(raw.rows()), _sorted(hand)), (raw.plan.sql, sql)
        assert close(_sorted(auto.rows()), _sorted(hand)), (auto.route, auto.plan.sql, sql)
        # the rollup route gives the raw route's answer exactly, floats to the last bit
        # (decision 0014: sums are decimal, so sums of sums are the same sums)
        assert _sorted(auto.rows()) == _sorted(raw.rows()), (auto.route, q)

    check()
    rollup_routes = {r for r in routes if r.startswith("rollup:")}
    assert len(rollup_routes) >= 2, routes  # the property exercised several rollups
    assert routes.count("raw") >= 5
