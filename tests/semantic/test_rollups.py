"""Rollups: refreshed in the same commit as the facts, never stale, built for stored data
when declared later, and routed to only when they answer exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.errors import ConfigError, QueryRejected
from ledgerhouse.semantic import load_cube
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, admin, trade_row

DESKS = {"measures": ["notional", "trades"], "dimensions": ["desk"]}


def _send(wh: Session, *rows: str) -> None:
    wh.ingest("trades", (TRADE_HEADER + "".join(rows)).encode(), fmt="csv")


def _answer(wh: Session, q: dict[str, Any], **kw: Any) -> tuple[str, list[list[Any]]]:
    res = wh.cube("trades", {**q, **kw})
    return res.route, res.rows()


def test_after_an_ingestion_neither_cache_nor_rollup_serves_the_old_answer(
    ref_wh: Session,
) -> None:
    _send(ref_wh, trade_row("T1", qty="100", price="10"))
    first_commit = ref_wh.commits()[0].id
    route, rows = _answer(ref_wh, DESKS)
    assert route.startswith("rollup:") and rows == [["Equities", 1000.0, 1]]
    logged = ref_wh.query_log_entries(limit=1)[0]
    assert logged["route"] == route and "GROUP BY ALL" in logged["text"]
    assert _answer(ref_wh, DESKS)[0] == "cache"
    _send(ref_wh, trade_row("T2", qty="5", price="10", pf="P2", inst="BUND", ccy="EUR"))
    route, rows = _answer(ref_wh, DESKS)
    assert route.startswith("rollup:")  # not the cache: the rollup's version changed
    # P2 is EUR-based: 50 EUR is 55 USD (1.10) in the reporting currency
    assert rows == [["Equities", 1000.0, 1], ["Europe", 55.0, 1]]
    _send(ref_wh, trade_row("T1", "AMEND", ts="2024-01-02T11:00:00Z", qty="200", price="10"))
    assert _answer(ref_wh, DESKS)[1] == [["Equities", 2000.0, 1], ["Europe", 55.0, 1]]
    _send(ref_wh, trade_row("T2", "CANCEL", ts="2024-01-02T12:00:00Z", pf="P2", inst="BUND"))
    assert _answer(ref_wh, DESKS)[1] == [["Equities", 2000.0, 1]]
    # as_of asks for the past, and gets it (from the rollup version of that commit)
    assert _answer(ref_wh, DESKS, as_of=first_commit) == ("cache", [["Equities", 1000.0, 1]])
    route, rows = _answer(ref_wh, DESKS, as_of=first_commit, cache=False)
    assert rows == [["Equities", 1000.0, 1]] and route.startswith("rollup:")
    assert _answer(ref_wh, DESKS, as_of=first_commit, route="raw")[1] == rows


def test_the_smallest_exact_rollup_is_chosen(loaded: Session) -> None:
    sizes = {r["name"]: r["rows"] for r in loaded.cubes()[2]["rollups"]}
    assert sizes["desk_month"] < sizes["portfolio_day"]
    res = loaded.cube("trades", {"measures": ["trades"], "dimensions": ["desk"]}, dry_run=True)
    assert res.route == "rollup:desk_month"
    considered = res.plan.considered
    assert considered["desk_month"] == "chosen" and considered["portfolio_day"] == "fits"
    day = loaded.cube(
        "trades",
        {"measures": ["trades"], "time_dimension": {"granularity": "day"}},
        dry_run=True,
    )
    assert day.route == "rollup:portfolio_day"
    assert "month grain cannot make day" in day.plan.considered["desk_month"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"measures": ["instruments"], "dimensions": ["desk"]}, "lacks measure instruments"),
        ({"measures": ["trades"], "dimensions": ["instrument"]}, "lacks dimensions"),
        ({"measures": ["trades"], "segments": ["buys"]}, "segments differ"),
        (
            {
                "measures": ["trades"],
                "time_dimension": {"date_range": ["2023-01-05", "2023-01-31"]},
            },
            "not aligned",
        ),
        ({"measures": ["trades"], "time_dimension": {"granularity": "week"}}, "cannot make week"),
    ],
)
def test_queries_a_rollup_cannot_answer_exactly_go_raw(
    loaded: Session, query: dict[str, Any], reason: str
) -> None:
    res = loaded.cube("trades", query, dry_run=True)
    assert res.route in ("raw", "rollup:portfolio_day")
    assert reason in res.plan.considered["desk_month"]


def test_count_distinct_only_from_a_rollup_of_exactly_its_grain(tmp_path: Path) -> None:
    cube_dir = tmp_path / "cubes"
    cube_dir.mkdir()
    src = Path(__file__).parents[2] / "src/ledgerhouse/semantic/cubes/trades.yaml"
    text = src.read_text().replace(
        "rollups:\n",
        "rollups:\n  cp_distinct:\n    dimensions: [desk]\n    time_dimension: trade_date\n"
        "    granularity: month\n    measures: [instruments, trades]\n",
    )
    (cube_dir / "trades.yaml").write_text(text)
    wh, _ = Warehouse.init(root=tmp_path / "wh", cube_dir=cube_dir)
    with wh:
        exact = {"measures": ["instruments"], "dimensions": ["desk"],
                 "time_dimension": {"granularity": "month"}}  # fmt: skip
        assert admin(wh).cube("trades", exact, dry_run=True).route == "rollup:cp_distinct"
        coarser = {**exact, "time_dimension": {"granularity": "quarter"}}
        plan = admin(wh).cube("trades", coarser, dry_run=True).plan
        assert plan.route == "raw" and "does not re-aggregate" in plan.considered["cp_distinct"]


def test_a_rollup_declared_later_is_built_from_the_stored_facts(
    ref_wh: Session, tmp_path: Path
) -> None:
    _send(ref_wh, trade_row("T1", qty="3", price="10"), trade_row("T2", qty="4", price="10"))
    ref_wh.warehouse.close()
    cube_dir = tmp_path / "cubes"
    cube_dir.mkdir()
    (cube_dir / "mini.yaml").write_text(
        """
name: mini
fact: fact_trade
partition: trade_month
default_time_dimension: trade_date
dimensions:
  trade_date: {sql: fact.trade_date, type: time}
  side: {sql: fact.side}
measures:
  qty: {type: sum, sql: fact.quantity}
rollups:
  by_side: {dimensions: [side], measures: [qty]}
"""
    )
    with Warehouse.open(root=ref_wh.warehouse.root, cube_dir=cube_dir) as wh:
        res = admin(wh).cube("mini", {"measures": ["qty"], "dimensions": ["side"]})
        assert res.route == "rollup:by_side" and res.rows() == [["BUY", 7.0]]
        # and it is refreshed from then on
        _send(admin(wh), trade_row("T3", qty="5", price="10", side="SELL"))
        res = admin(wh).cube("mini", {"measures": ["qty"], "dimensions": ["side"]})
        assert res.rows() == [["BUY", 7.0], ["SELL", 5.0]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nfact: fact_trade\npartition: trade_month\ndimensions: {}\nmeasures:\n"
            "  a: {type: sum}\n",
            "needs sql",
        ),
        (
            "name: x\nfact: fact_trade\npartition: trade_month\ndimensions:\n"
            "  d: {sql: other.col}\nmeasures: {}\n",
            "neither `fact` nor a join",
        ),
        (
            "name: x\nfact: fact_trade\npartition: trade_month\ndimensions: {}\nmeasures:\n"
            "  r: {type: ratio, numerator: a, denominator: b}\n",
            "unknown measure",
        ),
        (
            "name: x\nfact: f\npartition: p\ndimensions: {}\nmeasures: {}\nrollups:\n"
            "  r: {measures: [nope]}\n",
            "unknown or time members",
        ),
        ("name: [x\n", "YAML"),
        ("- a list\n", "not a mapping"),
    ],
)
def test_bad_cube_files_get_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_cube("bad.yaml", text)
    assert message in err.value.message + err.value.hint
    assert "bad.yaml" in err.value.message


def test_a_cube_on_an_unknown_table_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "name: c\nfact: secrets\npartition: m\ndimensions: {}\nmeasures:\n  n: {type: count}\n"
    )
    with pytest.raises(ConfigError, match="unknown table 'secrets'"):
        Warehouse.init(root=tmp_path / "wh", cube_dir=tmp_path)


def test_cube_sql_still_passes_the_guard(tmp_path: Path) -> None:
    """A cube file is configuration, but its SQL runs through the same guard as any query."""
    (tmp_path / "c.yaml").write_text(
        "name: c\nfact: fact_trade\npartition: trade_month\n"
        "dimensions:\n  f: {sql: \"getenv('HOME')\"}\nmeasures:\n  n: {type: count}\n"
    )
    wh, _ = Warehouse.init(root=tmp_path / "wh", cube_dir=tmp_path)
    with wh, pytest.raises(QueryRejected, match="getenv"):
        admin(wh).cube("c", {"measures": ["n"], "dimensions": ["f"]})
