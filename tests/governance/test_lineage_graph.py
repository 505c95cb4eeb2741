"""Column lineage of every mart, rollup and cube member against expectations written by reading
their SQL (model/marts.py, semantic/cubes/*.yaml), and the graph's own behaviour: traversal,
paths, coverage, serialization, storage per commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.governance.lineage import ColumnRef, LineageGraph, Transform
from ledgerhouse.session import Session
from tests.conftest import admin

FT, FP, FPOS = "fact_trade", "fact_performance", "fact_position"
DP, DI, DC = "dim_portfolio", "dim_instrument", "dim_counterparty"


def refs(*names: str) -> set[str]:
    return set(names)


MARTS: dict[str, dict[str, set[str]]] = {
    "mart_trading_activity": {
        "activity_month": refs(f"{FT}.trade_month"),
        "trade_date": refs(f"{FT}.trade_date"),
        "portfolio_key": refs(f"{FT}.portfolio_key"),
        "portfolio_code": refs(f"{FT}.portfolio_code"),
        "asset_class": refs(f"{DI}.asset_class"),
        "trades": set(),  # count(*)
        "instruments": refs(f"{FT}.instrument_key"),
        "buy_notional_base": refs(f"{FT}.side", f"{FT}.notional_base"),
        "sell_notional_base": refs(f"{FT}.side", f"{FT}.notional_base"),
        "notional_base": refs(f"{FT}.notional_base"),
        "fees_base": refs(f"{FT}.fees_base"),
        "refreshed_at": set(),  # now()
    },
    "mart_portfolio_daily_pnl": {
        "pnl_month": refs(f"{FP}.performance_month"),
        **{
            c: refs(f"{FP}.{c}")
            for c in (
                "performance_date",
                "portfolio_key",
                "portfolio_code",
                "base_currency",
                "begin_nav",
                "end_nav",
                "net_flow",
                "income",
                "daily_return",
            )
        },
        "pnl": refs(f"{FP}.end_nav", f"{FP}.begin_nav", f"{FP}.net_flow"),
        "refreshed_at": set(),
    },
    "mart_exposure_daily": {
        "exposure_month": refs(f"{FPOS}.position_month"),
        "position_date": refs(f"{FPOS}.position_date"),
        "portfolio_key": refs(f"{FPOS}.portfolio_key"),
        "portfolio_code": refs(f"{FPOS}.portfolio_code"),
        "asset_class": refs(f"{DI}.asset_class"),
        "sector": refs(f"{DI}.sector"),
        **{
            c: refs(f"{FPOS}.market_value_base")
            for c in ("long_base", "short_base", "gross_base", "net_base")
        },
        "positions": set(),
        "refreshed_at": set(),
    },
}

TRADE_NOTIONAL = refs(f"{FT}.notional_reporting")
CUBES: dict[str, dict[str, set[str]]] = {
    "trades": {
        "trade_date": refs(f"{FT}.trade_date"),
        "settle_date": refs(f"{FT}.settle_date"),
        "firm": refs(f"{DP}.firm"),
        "desk": refs(f"{DP}.desk"),
        "portfolio": refs(f"{FT}.portfolio_code"),
        "strategy": refs(f"{DP}.strategy"),
        "base_currency": refs(f"{FT}.base_currency"),
        "asset_class": refs(f"{DI}.asset_class"),
        "sector": refs(f"{DI}.sector"),
        "instrument": refs(f"{FT}.instrument_code"),
        "country": refs(f"{DI}.country"),
        "currency": refs(f"{FT}.currency"),
        "counterparty": refs(f"{FT}.counterparty_code"),
        "counterparty_type": refs(f"{DC}.counterparty_type"),
        "side": refs(f"{FT}.side"),
        "trades": set(),
        "notional": TRADE_NOTIONAL,
        "notional_base": refs(f"{FT}.notional_base"),
        "buy_notional": refs(f"{FT}.side", f"{FT}.notional_reporting"),
        "sell_notional": refs(f"{FT}.side", f"{FT}.notional_reporting"),
        "net_quantity": refs(f"{FT}.signed_quantity"),
        "quantity": refs(f"{FT}.quantity"),
        "fees": refs(f"{FT}.fees_reporting"),
        "avg_notional": TRADE_NOTIONAL,
        "max_notional": TRADE_NOTIONAL,
        "min_price": refs(f"{FT}.price"),
        "max_price": refs(f"{FT}.price"),
        "vwap": refs(f"{FT}.price", f"{FT}.quantity"),
        "instruments": refs(f"{FT}.instrument_code"),
        "counterparties": refs(f"{FT}.counterparty_code"),
        "fee_rate": refs(f"{FT}.fees_reporting", f"{FT}.notional_reporting"),
        "notional_share": TRADE_NOTIONAL,
        "cumulative_notional": TRADE_NOTIONAL,
        "notional_stddev": TRADE_NOTIONAL,
        "median_notional": TRADE_NOTIONAL,
    },
    "positions": {
        "position_date": refs(f"{FPOS}.position_date"),
        "firm": refs(f"{DP}.firm"),
        "desk": refs(f"{DP}.desk"),
        "portfolio": refs(f"{FPOS}.portfolio_code"),
        "strategy": refs(f"{DP}.strategy"),
        "asset_class": refs(f"{DI}.asset_class"),
        "sector": refs(f"{DI}.sector"),
        "instrument": refs(f"{FPOS}.instrument_code"),
        "country": refs(f"{DI}.country"),
        "currency": refs(f"{FPOS}.currency"),
        "base_currency": refs(f"{FPOS}.base_currency"),
        "positions": set(),
        "market_value": refs(f"{FPOS}.market_value_reporting"),
        "market_value_base": refs(f"{FPOS}.market_value_base"),
        "long_exposure": refs(f"{FPOS}.market_value_reporting"),
        "short_exposure": refs(f"{FPOS}.market_value_reporting"),
        "gross_exposure": refs(f"{FPOS}.market_value_reporting"),
        "cost_basis": refs(f"{FPOS}.cost_basis_reporting"),
        "unrealized_pnl": refs(f"{FPOS}.unrealized_pnl_reporting"),
        "quantity": refs(f"{FPOS}.quantity"),
        "largest_position": refs(f"{FPOS}.market_value_reporting"),
        "instruments": refs(f"{FPOS}.instrument_code"),
        "exposure_share": refs(f"{FPOS}.market_value_reporting"),
        "pnl_to_cost": refs(f"{FPOS}.unrealized_pnl_reporting", f"{FPOS}.cost_basis_reporting"),
    },
    "performance": {
        "performance_date": refs(f"{FP}.performance_date"),
        "firm": refs(f"{DP}.firm"),
        "desk": refs(f"{DP}.desk"),
        "portfolio": refs(f"{FP}.portfolio_code"),
        "strategy": refs(f"{DP}.strategy"),
        "manager": refs(f"{DP}.manager"),
        "benchmark": refs(f"{DP}.benchmark_code"),
        "base_currency": refs(f"{FP}.base_currency"),
        "days": set(),
        "pnl": refs(f"{FP}.end_nav_reporting", f"{FP}.begin_nav_reporting",
                    f"{FP}.net_flow_reporting"),
        "pnl_base": refs(f"{FP}.end_nav", f"{FP}.begin_nav", f"{FP}.net_flow"),
        "net_flow": refs(f"{FP}.net_flow_reporting"),
        "income": refs(f"{FP}.income_reporting"),
        "begin_nav": refs(f"{FP}.begin_nav_reporting"),
        "end_nav": refs(f"{FP}.end_nav_reporting"),
        "avg_nav": refs(f"{FP}.end_nav_reporting"),
        "avg_return": refs(f"{FP}.daily_return"),
        "best_day": refs(f"{FP}.daily_return"),
        "worst_day": refs(f"{FP}.daily_return"),
        "nav_weighted_return": refs(f"{FP}.daily_return", f"{FP}.begin_nav_reporting"),
        "portfolios": refs(f"{FP}.portfolio_code"),
        "return_on_nav": refs(f"{FP}.end_nav_reporting", f"{FP}.begin_nav_reporting",
                              f"{FP}.net_flow_reporting"),
        "cumulative_pnl": refs(f"{FP}.end_nav_reporting", f"{FP}.begin_nav_reporting",
                               f"{FP}.net_flow_reporting"),
        "return_stddev": refs(f"{FP}.daily_return"),
        "return_p05": refs(f"{FP}.daily_return"),
    },
}  # fmt: skip

#: (cube, rollup) -> (dimensions, time dimension, partition column, measures), from the YAML
ROLLUPS = {
    ("trades", "desk_month"): (
        ["firm", "desk", "asset_class", "sector", "side"], "trade_date", "trade_month",
        ["trades", "notional", "buy_notional", "sell_notional", "net_quantity", "quantity", "fees",
         "avg_notional", "max_notional", "notional_stddev"],
    ),
    ("trades", "portfolio_day"): (
        ["firm", "desk", "portfolio", "asset_class"], "trade_date", "trade_month",
        ["trades", "notional", "buy_notional", "sell_notional", "net_quantity", "quantity", "fees",
         "avg_notional", "max_notional"],
    ),
    ("trades", "counterparty_month"): (
        ["firm", "desk", "counterparty", "counterparty_type"], "trade_date", "trade_month",
        ["trades", "notional", "fees"],
    ),
    ("positions", "desk_sector_day"): (
        ["firm", "desk", "asset_class", "sector"], "position_date", "position_month",
        ["positions", "market_value", "long_exposure", "short_exposure", "gross_exposure",
         "cost_basis", "unrealized_pnl", "largest_position"],
    ),
    ("performance", "desk_month"): (
        ["firm", "desk", "strategy"], "performance_date", "performance_month",
        ["days", "pnl", "net_flow", "income", "begin_nav", "end_nav", "avg_nav", "avg_return",
         "best_day", "worst_day", "nav_weighted_return"],
    ),
}  # fmt: skip
#: the tables each rollup's SQL reads: the fact and the joins its dimensions need
ROLLUP_TABLES = {
    ("trades", "desk_month"): {FT, DP, DI},
    ("trades", "portfolio_day"): {FT, DP, DI},
    ("trades", "counterparty_month"): {FT, DP, DC},
    ("positions", "desk_sector_day"): {FPOS, DP, DI},
    ("performance", "desk_month"): {FP, DP},
}
#: a measure's stored primitives by its type (semantic/compiler.py primitives)
PRIMITIVES = {
    "sum": ["sum"], "count": ["count"], "avg": ["sum", "count"], "min": ["min"], "max": ["max"],
    "weighted_avg": ["wsum", "weight"], "stddev": ["sum", "sumsq", "count"],
}  # fmt: skip
FACTS = {"trades": FT, "positions": FPOS, "performance": FP}


@pytest.fixture(scope="module")
def me(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    warehouse, _ = Warehouse.init(root=tmp_path_factory.mktemp("lineage-graph") / "wh")
    yield admin(warehouse)
    warehouse.close()


@pytest.fixture(scope="module")
def graph(me: Session) -> LineageGraph:
    return me.warehouse.lineage.current(me.principal.tenant)


def _sources(graph: LineageGraph, relation: str) -> dict[str, set[str]]:
    return {c: {str(r) for r in refs_} for c, refs_ in graph.columns(relation).items()}


@pytest.mark.parametrize("mart", sorted(MARTS))
def test_each_mart_column_comes_from_the_columns_its_sql_reads(
    graph: LineageGraph, mart: str
) -> None:
    assert _sources(graph, mart) == MARTS[mart]


def test_the_marts_table_lineage(graph: LineageGraph) -> None:
    tables = graph.tables()
    assert tables["mart_trading_activity"] == {FT, DI}
    assert tables["mart_portfolio_daily_pnl"] == {FP}
    assert tables["mart_exposure_daily"] == {FPOS, DI}


@pytest.mark.parametrize("cube", sorted(CUBES))
def test_each_cube_member_comes_from_its_expressions_columns(
    graph: LineageGraph, cube: str
) -> None:
    assert _sources(graph, f"cube:{cube}") == CUBES[cube]


@pytest.mark.parametrize(("cube", "rollup"), sorted(ROLLUPS))
def test_each_rollup_column_comes_from_its_measures_and_dimensions_sources(
    graph: LineageGraph, me: Session, cube: str, rollup: str
) -> None:
    dims, time, partition, measures = ROLLUPS[(cube, rollup)]
    model = me.warehouse.semantic.cubes[cube]
    expected: dict[str, set[str]] = {d: CUBES[cube][d] for d in dims}
    expected[time] = CUBES[cube][time]
    expected["rollup_month"] = {f"{FACTS[cube]}.{partition}"}
    for m in measures:
        for suffix in PRIMITIVES[model.measures[m].type]:
            expected[f"{m}__{suffix}"] = CUBES[cube][m]
    expected["refreshed_at"] = set()
    relation = model.rollup_relation(rollup)
    assert _sources(graph, relation) == expected
    assert graph.tables()[relation] == ROLLUP_TABLES[(cube, rollup)]


def test_upstream_of_a_mart_column_reaches_the_raw_columns(graph: LineageGraph) -> None:
    edges = graph.upstream("mart_trading_activity", "notional_base")
    assert {(e["from"], e["to"], e["depth"]) for e in edges if e["depth"] <= 2} == {
        ("fact_trade.notional_base", "mart_trading_activity.notional_base", 1),
        ("raw_trades.quantity", "fact_trade.notional_base", 2),
        ("raw_trades.price", "fact_trade.notional_base", 2),
        ("fact_fx_rate.rate_to_usd", "fact_trade.notional_base", 2),
    }
    assert ("raw_fx_rates.rate_to_usd", "fact_fx_rate.rate_to_usd") in {
        (e["from"], e["to"]) for e in edges
    }
    assert [e for e in graph.upstream("mart_trading_activity", "notional_base", depth=1)] == [
        {"from": "fact_trade.notional_base", "to": "mart_trading_activity.notional_base",
         "job": "refresh:mart_trading_activity", "kind": "sql", "depth": 1},
    ]  # fmt: skip


def test_downstream_of_a_raw_column_reaches_marts_rollups_and_cubes(graph: LineageGraph) -> None:
    reached = {e["to"] for e in graph.downstream("raw_trades", "price")}
    assert "fact_trade.notional_base" in reached
    assert "mart_trading_activity.notional_base" in reached
    assert "cube:trades.vwap" in reached and "cube:trades.notional" in reached
    assert any(t.startswith("rollup_trades_desk_month_") and t.endswith(".notional__sum")
               for t in reached)  # fmt: skip
    tables = {e["to"] for e in graph.downstream("raw_trades")}
    assert {"fact_trade", "fact_trade_event", "quarantine", "cube:trades"} <= tables


def test_path_from_a_raw_column_to_a_cube_measure(graph: LineageGraph) -> None:
    paths = graph.path(ColumnRef("raw_trades", "quantity"), ColumnRef("cube:trades", "notional"))
    assert [str(c) for c in paths[0]] == [
        "raw_trades.quantity", "fact_trade.notional_reporting", "cube:trades.notional",
    ]  # fmt: skip
    assert (
        graph.path(ColumnRef("raw_prices", "close_price"), ColumnRef("cube:trades", "notional"))
        == []
    )


def test_coverage_counts_every_core_and_mart_column(graph: LineageGraph) -> None:
    cov = graph.coverage()
    assert cov["layers"]["core"]["share"] == 1.0
    assert cov["layers"]["mart"]["share"] == 1.0
    assert cov["layers"]["cube"]["share"] == 1.0
    assert "raw_trades" in cov["origins"]
    # the anomaly scores are written by analytics, which declares no lineage yet
    assert cov["layers"]["ml"]["with_lineage"] == 0
    assert 0 < cov["share"] < 1


def test_a_graph_round_trips_and_its_digest_names_its_content() -> None:
    t = Transform("job", "sql", "b", ("a",), {"y": [ColumnRef("a", "x")]})
    g = LineageGraph([t])
    back = LineageGraph.from_dict(g.to_dict())
    assert back.digest == g.digest and back.columns("b") == {"y": [ColumnRef("a", "x")]}
    other = LineageGraph([Transform("job", "sql", "b", ("a",), {"y": [ColumnRef("a", "z")]})])
    assert other.digest != g.digest


def test_each_commit_is_linked_to_the_graph_stored_once(me: Session, tmp_path: Path) -> None:
    from tests.conftest import REF

    tenant = me.principal.tenant
    me.ingest("fx_rates", REF["fx_rates"].encode(), fmt="csv")
    me.ingest("instruments", REF["instruments"].encode(), fmt="csv")
    commits = [c.id for c in me.commits()]
    store = me.warehouse.meta.lineage
    digests = {store.exact_digest(tenant, c) for c in commits}
    assert digests == {me.warehouse.lineage.current(tenant).digest}
    from sqlalchemy import text

    with me.warehouse.meta.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM lineage_snapshots")).scalar() == 1
    # a tenant whose graph differs (another cube set) gets its own digest at its commits
    found = me.lineage("fact_trade", "notional_base", as_of=commits[0])
    assert found["recorded"] is True and found["digest"] in digests


def test_lineage_through_the_session_names_jobs_and_notes(me: Session) -> None:
    found = me.lineage("fact_trade")
    assert found["jobs"] == [{"job": "ingest:trades", "kind": "declared"}]
    assert found["columns"]["notional_base"] == {
        "sources": ["raw_trades.quantity", "raw_trades.price", "fact_fx_rate.rate_to_usd"],
        "note": "computed: quantity × price × fx_rate",
    }
    down = me.lineage("fact_trade", "notional_reporting", direction="downstream", depth=1)
    assert {e["to"] for e in down["edges"]} >= {"cube:trades.notional", "cube:trades.fee_rate"}
