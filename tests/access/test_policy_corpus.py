"""The policy-bypass corpus: statements a restricted caller might send to read past its row
policy (aliases, self-joins, CTE and subquery smuggling, set operations, window functions over
the whole table, ``as_of``, rollups, cached answers, exports, analytics).

Each answer is compared with the same question asked by an unrestricted admin over inputs
filtered by hand: the reference SQL names ``{fact_trade}`` (etc.), which the test replaces by
the table restricted to the allowed portfolios, computed here in Python from the dimension's
rows. A statement a policy cannot be applied to must be refused, never answered.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ledgerhouse.access import Principal
from ledgerhouse.errors import Forbidden, NotFound, QueryRejected
from ledgerhouse.session import Session
from tests.conftest import copy_warehouse

CLIENT = "P0002"  # the client's own portfolio
OTHERS = ("P0001", "P0003")
#: tables whose rows belong to a portfolio (filtered by hand in the references)
OWNED = (
    "fact_trade", "fact_trade_event", "fact_position", "fact_performance", "dim_portfolio",
    "raw_trades", "raw_positions", "raw_performance", "raw_portfolios", "mart_trading_activity",
    "mart_portfolio_daily_pnl", "mart_exposure_daily", "ml_trade_anomaly",
)  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path_factory.mktemp("corpus") / "wh")
    me.create_role("client", "a client: its own portfolios")
    me.grant("read", "role:client")
    me.grant("export", "role:client")
    me.grant("analyze", "role:client")
    me.grant("read_governance", "role:client")
    me.put_policy(
        "own_portfolios",
        "row",
        dimension="dim_portfolio",
        predicate="portfolio_code IN (:portfolios)",
        roles=["client"],
    )
    yield me
    me.warehouse.close()


@pytest.fixture(scope="module")
def client(warehouse: Session) -> Session:
    who = Principal("default", "acme", ("client",), {"portfolios": [CLIENT]}, via="key")
    return warehouse.warehouse.session(who)


def _hand_filtered(sql: str) -> str:
    """The reference: each {table} is the table restricted, by hand, to the client's rows."""

    def table(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in OWNED, name
        return f"(SELECT * FROM {name} WHERE portfolio_code = '{CLIENT}')"

    return re.sub(r"\{([a-z_]+)\}", table, sql)


def _rows(res: Any) -> list[str]:
    return sorted(repr(r) for r in res.rows())


# (attack, reference): the reference runs as the admin over hand-filtered inputs; None means
# the attack itself, run by the admin (it reads no policed table)
CORPUS: list[tuple[str, str | None]] = [
    ("SELECT * FROM fact_trade", "SELECT * FROM {fact_trade}"),
    ("SELECT count(*) FROM fact_trade", "SELECT count(*) FROM {fact_trade}"),
    ("SELECT count(*) FROM fact_trade AS t", "SELECT count(*) FROM {fact_trade}"),
    ("SELECT count(*) FROM fact_trade t WHERE t.portfolio_code = 'P0001'",
     "SELECT count(*) FROM {fact_trade} t WHERE t.portfolio_code = 'P0001'"),
    ("SELECT count(*) FROM fact_trade WHERE portfolio_code = 'P0001' OR 1 = 1",
     "SELECT count(*) FROM {fact_trade}"),
    ("SELECT count(*) FROM FACT_TRADE", "SELECT count(*) FROM {fact_trade}"),
    ('SELECT count(*) FROM "fact_trade"', "SELECT count(*) FROM {fact_trade}"),
    ("SELECT count(*) FROM ｆａｃｔ_ｔｒａｄｅ", "SELECT count(*) FROM {fact_trade}"),
    ("FROM fact_trade SELECT count(*)", "SELECT count(*) FROM {fact_trade}"),
    ("SELECT count(*) FROM fact_trade a JOIN fact_trade b ON a.trade_id = b.trade_id",
     "SELECT count(*) FROM {fact_trade} a JOIN {fact_trade} b ON a.trade_id = b.trade_id"),
    ("SELECT count(*) FROM fact_trade a, fact_trade b WHERE a.trade_id = b.trade_id "
     "AND b.portfolio_code <> a.portfolio_code", "SELECT 0"),
    ("WITH x AS (SELECT * FROM fact_trade) SELECT count(*) FROM x",
     "SELECT count(*) FROM {fact_trade}"),
    ("WITH fact_trade AS (SELECT * FROM fact_trade) SELECT count(*) FROM fact_trade",
     "SELECT count(*) FROM {fact_trade}"),
    ("WITH a AS (SELECT * FROM fact_trade), b AS (SELECT * FROM a) SELECT count(*) FROM b",
     "SELECT count(*) FROM {fact_trade}"),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
     "SELECT count(*) FROM r, fact_trade", "SELECT 3 * count(*) FROM {fact_trade}"),
    ("SELECT count(*) FROM (SELECT * FROM fact_trade) s", "SELECT count(*) FROM {fact_trade}"),
    ("SELECT count(*) FROM (SELECT * FROM (SELECT * FROM fact_trade) a) b",
     "SELECT count(*) FROM {fact_trade}"),
    ("SELECT (SELECT count(*) FROM fact_trade)", "SELECT (SELECT count(*) FROM {fact_trade})"),
    ("SELECT count(*) FROM dim_instrument WHERE instrument_code IN "
     "(SELECT instrument_code FROM fact_trade WHERE portfolio_code = 'P0003')", "SELECT 0"),
    ("SELECT count(*) FROM dim_instrument i WHERE EXISTS (SELECT 1 FROM fact_trade t "
     "WHERE t.instrument_code = i.instrument_code)",
     "SELECT count(*) FROM dim_instrument i WHERE EXISTS (SELECT 1 FROM {fact_trade} t "
     "WHERE t.instrument_code = i.instrument_code)"),
    ("SELECT CASE WHEN EXISTS (SELECT 1 FROM fact_trade WHERE portfolio_code = 'P0001') "
     "THEN CAST('leak' AS INTEGER) ELSE 0 END", "SELECT 0"),
    ("SELECT portfolio_code FROM fact_trade UNION SELECT portfolio_code FROM fact_position",
     "SELECT portfolio_code FROM {fact_trade} UNION SELECT portfolio_code FROM {fact_position}"),
    ("SELECT portfolio_code FROM fact_trade UNION ALL SELECT portfolio_code FROM fact_trade",
     "SELECT portfolio_code FROM {fact_trade} UNION ALL SELECT portfolio_code FROM {fact_trade}"),
    ("SELECT portfolio_code FROM dim_portfolio EXCEPT SELECT portfolio_code FROM fact_trade",
     "SELECT portfolio_code FROM {dim_portfolio} EXCEPT SELECT portfolio_code FROM {fact_trade}"),
    ("SELECT portfolio_code FROM dim_portfolio INTERSECT SELECT portfolio_code FROM fact_trade",
     "SELECT portfolio_code FROM {dim_portfolio} INTERSECT "
     "SELECT portfolio_code FROM {fact_trade}"),
    ("SELECT DISTINCT count(*) OVER () FROM fact_trade",
     "SELECT DISTINCT count(*) OVER () FROM {fact_trade}"),
    ("SELECT DISTINCT sum(notional_reporting) OVER () FROM fact_trade",
     "SELECT DISTINCT sum(notional_reporting) OVER () FROM {fact_trade}"),
    ("SELECT max(rn) FROM (SELECT row_number() OVER (ORDER BY trade_id) rn FROM fact_trade)",
     "SELECT count(*) FROM {fact_trade}"),
    ("SELECT DISTINCT count(*) OVER (PARTITION BY portfolio_code) FROM fact_trade",
     "SELECT count(*) FROM {fact_trade}"),
    ("SELECT trade_id FROM fact_trade QUALIFY row_number() OVER (ORDER BY trade_id) <= 3",
     "SELECT trade_id FROM {fact_trade} QUALIFY row_number() OVER (ORDER BY trade_id) <= 3"),
    ("SELECT portfolio_code, count(*) FROM fact_trade GROUP BY ROLLUP (portfolio_code)",
     "SELECT portfolio_code, count(*) FROM {fact_trade} GROUP BY ROLLUP (portfolio_code)"),
    ("SELECT portfolio_code, count(*) FROM fact_trade GROUP BY CUBE (portfolio_code)",
     "SELECT portfolio_code, count(*) FROM {fact_trade} GROUP BY CUBE (portfolio_code)"),
    ("SELECT list_sort(list(DISTINCT portfolio_code)) FROM fact_trade",
     "SELECT list_sort(list(DISTINCT portfolio_code)) FROM {fact_trade}"),
    ("SELECT string_agg(DISTINCT portfolio_code, ',') FROM fact_trade",
     "SELECT string_agg(DISTINCT portfolio_code, ',') FROM {fact_trade}"),
    ("SELECT min(portfolio_code), max(portfolio_code) FROM fact_trade",
     "SELECT min(portfolio_code), max(portfolio_code) FROM {fact_trade}"),
    ("SELECT approx_count_distinct(portfolio_code) FROM fact_trade",
     "SELECT approx_count_distinct(portfolio_code) FROM {fact_trade}"),
    ("SELECT portfolio_code FROM fact_trade ORDER BY portfolio_code DESC LIMIT 1",
     "SELECT portfolio_code FROM {fact_trade} ORDER BY portfolio_code DESC LIMIT 1"),
    ("SELECT count(*) FROM (VALUES ('P0001'), ('P0003')) v(p) JOIN fact_trade t "
     "ON t.portfolio_code = v.p", "SELECT 0"),
    ("SELECT count(*) FROM fact_trade t, LATERAL (SELECT t.trade_id) x",
     "SELECT count(*) FROM {fact_trade}"),
    ("SELECT count(*) FROM fact_trade CROSS JOIN (SELECT 1 UNION ALL SELECT 2)",
     "SELECT 2 * count(*) FROM {fact_trade}"),
    ("PIVOT (SELECT portfolio_code, side FROM fact_trade) ON side USING count(*)",
     "PIVOT (SELECT portfolio_code, side FROM {fact_trade}) ON side USING count(*)"),
    ("SELECT count(*) FROM (UNPIVOT (SELECT portfolio_code, instrument_code FROM fact_trade) "
     "ON portfolio_code, instrument_code INTO NAME k VALUE v) WHERE v LIKE 'P%'",
     "SELECT count(*) FROM {fact_trade}"),
    ("SELECT * FROM dim_portfolio", "SELECT * FROM {dim_portfolio}"),
    ("SELECT DISTINCT desk FROM dim_portfolio", "SELECT DISTINCT desk FROM {dim_portfolio}"),
    ("SELECT count(*) FROM fact_trade t JOIN dim_portfolio p ON p.portfolio_key = t.portfolio_key",
     "SELECT count(*) FROM {fact_trade} t JOIN {dim_portfolio} p "
     "ON p.portfolio_key = t.portfolio_key"),
    ("SELECT count(*) FROM fact_trade_event", "SELECT count(*) FROM {fact_trade_event}"),
    ("SELECT count(*), sum(market_value_base) FROM fact_position",
     "SELECT count(*), sum(market_value_base) FROM {fact_position}"),
    ("SELECT sum(end_nav) FROM fact_performance", "SELECT sum(end_nav) FROM {fact_performance}"),
    ("SELECT count(*) FROM raw_trades", "SELECT count(*) FROM {raw_trades}"),
    ("SELECT count(*) FROM raw_positions", "SELECT count(*) FROM {raw_positions}"),
    ("SELECT * FROM raw_portfolios", "SELECT * FROM {raw_portfolios}"),
    ("SELECT count(*) FROM raw_performance", "SELECT count(*) FROM {raw_performance}"),
    ("SELECT sum(trades) FROM mart_trading_activity",
     "SELECT sum(trades) FROM {mart_trading_activity}"),
    ("SELECT sum(pnl) FROM mart_portfolio_daily_pnl",
     "SELECT sum(pnl) FROM {mart_portfolio_daily_pnl}"),
    ("SELECT sum(gross_base) FROM mart_exposure_daily",
     "SELECT sum(gross_base) FROM {mart_exposure_daily}"),
    ("SELECT count(*) FROM ml_trade_anomaly", "SELECT count(*) FROM {ml_trade_anomaly}"),
    ("SELECT count(*) FROM fact_trade t JOIN mart_trading_activity m "
     "ON m.portfolio_code = t.portfolio_code AND m.trade_date = t.trade_date",
     "SELECT count(*) FROM {fact_trade} t JOIN {mart_trading_activity} m "
     "ON m.portfolio_code = t.portfolio_code AND m.trade_date = t.trade_date"),
    # relations no portfolio policy touches: the same answer as the admin's
    ("SELECT count(*) FROM dim_instrument", None),
    ("SELECT count(*), sum(close_price) FROM fact_price", None),
    ("SELECT count(*) FROM dim_counterparty", None),
]  # fmt: skip


@pytest.mark.parametrize(("attack", "reference"), CORPUS, ids=range(len(CORPUS)))
def test_an_attack_returns_nothing_outside_the_policy(
    warehouse: Session, client: Session, attack: str, reference: str | None
) -> None:
    got = client.query(attack, use_cache=False)
    want = warehouse.query(_hand_filtered(reference) if reference else attack, use_cache=False)
    assert _rows(got) == _rows(want)
    codes = {c["name"] for c in got.columns}
    if "portfolio_code" in codes:
        index = [c["name"] for c in got.columns].index("portfolio_code")
        assert {r[index] for r in got.rows()} <= {CLIENT, None}
    if any(t in attack.lower() for t in OWNED):
        assert got.policy is not None and got.policy["policies"] == ["own_portfolios"]


def test_the_corpus_is_large_enough_and_really_restricts(warehouse: Session) -> None:
    """At least 60 statements, most of them reading policed tables, and the policy really
    hides rows: the admin's answers differ from the client's on most of them."""
    assert len(CORPUS) >= 60
    policed = [(a, r) for a, r in CORPUS if r is not None and "{" in r]
    assert len(policed) >= 50
    differ = sum(
        _rows(warehouse.query(a, use_cache=False)) != _rows(warehouse.query(_hand_filtered(r)))
        for a, r in policed
        if "leak" not in a  # the error probe fails for the admin, as it should
    )
    assert differ >= 40


REFUSED = [
    "SELECT count(*) FROM quarantine",
    "SELECT * FROM rollup_trades_desk_month_a97f109a",  # no portfolio column
    "SELECT * FROM rollup_positions_desk_sector_day_4bb0b7c9",
    "SELECT * FROM rollup_performance_desk_month_f4f53126",
    "SELECT count(*) FROM fact_trade WHERE trade_id IN (SELECT trade_id FROM quarantine)",
]


@pytest.mark.parametrize("attack", REFUSED)
def test_a_relation_the_policy_cannot_filter_is_refused(
    warehouse: Session, client: Session, attack: str
) -> None:
    rollups = [t["name"] for t in warehouse.tables() if t["name"].startswith("rollup_")]
    for name in rollups:  # the hashes in the names follow the definitions
        prefix = name.rsplit("_", 1)[0]
        attack = re.sub(prefix + r"_[0-9a-f]{8}", name, attack)
    with pytest.raises(Forbidden) as refused:
        client.query(attack)
    assert refused.value.code == "policy_denied"
    assert "own_portfolios" in refused.value.message


def test_a_rollup_that_keeps_the_portfolio_is_filtered(warehouse: Session, client: Session) -> None:
    (name,) = [t["name"] for t in warehouse.tables() if "portfolio_day" in t["name"]]
    got = client.query(f"SELECT portfolio, sum(trades__count) FROM {name} GROUP BY 1")
    want = warehouse.query(
        f"SELECT portfolio, sum(trades__count) FROM {name} WHERE portfolio = ? GROUP BY 1",
        params=[CLIENT],
    )
    assert got.rows() == want.rows() and got.rows()


def test_as_of_an_older_commit_is_filtered_too(warehouse: Session, client: Session) -> None:
    (old,) = [b["commit_id"] for b in warehouse.batches() if b["dataset"] == "trades"]
    assert old < warehouse.commits(1)[0].id  # later commits exist: an older view
    sql = "SELECT portfolio_code, count(*) FROM fact_trade GROUP BY 1"
    got = client.query(sql, as_of=old)
    want = warehouse.query(_hand_filtered(sql.replace("fact_trade", "{fact_trade}")), as_of=old)
    assert _rows(got) == _rows(want) and got.rows()


def test_a_parameter_cannot_reach_another_portfolio(client: Session) -> None:
    sql = "SELECT count(*) FROM fact_trade WHERE portfolio_code = ?"
    assert client.query(sql, params=[OTHERS[0]]).rows() == [[0]]
    assert client.query(sql, params=[CLIENT]).rows()[0][0] > 0


def test_a_cached_answer_never_crosses_policies(warehouse: Session, client: Session) -> None:
    sql = "SELECT portfolio_code, count(*) AS n FROM fact_trade GROUP BY 1 ORDER BY 1"
    full = warehouse.query(sql)  # the admin fills the cache
    mine = client.query(sql)
    again = client.query(sql)
    assert [r[0] for r in full.rows()] == ["P0001", "P0002", "P0003"]
    assert [r[0] for r in mine.rows()] == [CLIENT] and again.rows() == mine.rows()
    assert again.route == "cache"  # the client's own answer, cached under its policy
    assert warehouse.query(sql).rows() == full.rows()


def test_an_export_streams_only_allowed_rows(warehouse: Session, client: Session) -> None:
    with client.stream("SELECT portfolio_code FROM fact_trade", batch_rows=1000) as export:
        codes = {c for b in export.batches for c in b.column(0).to_pylist()}
        assert export.policy is not None
    assert codes == {CLIENT}
    assert (
        export.rows
        == warehouse.query(
            "SELECT count(*) FROM fact_trade WHERE portfolio_code = ?", params=[CLIENT]
        ).rows()[0][0]
    )


def test_analytics_see_only_allowed_portfolios(warehouse: Session, client: Session) -> None:
    mine, _ = client.performance()
    theirs, _ = warehouse.performance([CLIENT])
    assert mine["portfolio_code"].to_list() == [CLIENT]
    assert mine.drop("portfolio_code").rows() == theirs.drop("portfolio_code").rows()
    # another portfolio asked by name reads as one that does not exist: nothing is told
    with pytest.raises(NotFound) as other:
        client.performance([OTHERS[0]])
    with pytest.raises(NotFound) as missing:
        warehouse.performance(["P9999"])
    assert other.value.message.replace(OTHERS[0], "?") == missing.value.message.replace(
        "P9999", "?"
    )
    pnl, _ = client.pnl(date(2023, 3, 24))
    assert set(pnl["portfolio_code"].to_list()) == {CLIENT}


def test_cube_queries_route_to_rollups_that_keep_the_portfolio(
    warehouse: Session, client: Session
) -> None:
    for dims in (["desk"], ["firm"], ["asset_class"], ["counterparty_type"], ["desk", "side"]):
        q = {"dimensions": dims, "measures": ["trades", "notional"], "cache": False}
        got = client.cube("trades", q)
        want = warehouse.cube(
            "trades",
            {**q, "filters": [{"member": "portfolio", "op": "equals", "values": [CLIENT]}]},
        )
        assert _rows(got) == _rows(want), dims
        assert got.route in ("raw", "rollup:portfolio_day"), got.route
        assert got.policy is not None


def test_catalog_answers_hide_what_the_policy_cannot_filter(client: Session) -> None:
    shown = {r[0] for r in client.query("SHOW TABLES").rows()}
    listed = {t["name"]: t for t in client.tables()}
    assert "quarantine" not in shown and "quarantine" not in listed
    assert not any("desk_month" in n for n in shown | set(listed))
    assert "fact_trade" in shown and listed["fact_trade"]["rows"] is None  # not the full count
    assert listed["dim_instrument"]["rows"] is not None


def test_the_query_log_shows_a_restricted_caller_only_its_own_queries(
    warehouse: Session, client: Session
) -> None:
    warehouse.query("SELECT count(*) FROM fact_trade WHERE portfolio_code = 'P0003'")
    client.query("SELECT 1 FROM fact_trade LIMIT 1")
    users = {e["user"] for e in client.query_log_entries(limit=1000)}
    assert users == {"acme"}
    admin_entry = next(e for e in warehouse.query_log_entries() if e["user"] != "acme")
    with pytest.raises(NotFound):
        client.query_log_entry(admin_entry["id"])


def test_cell_lineage_of_a_restricted_answer_counts_only_allowed_rows(
    warehouse: Session, client: Session
) -> None:
    res = client.query("SELECT portfolio_code, count(*) AS n FROM fact_trade GROUP BY 1")
    (row,) = res.rows()
    cell = client.explain_cell(res.query_id, 0)
    assert sum(b["rows_in_answer"]["fact_trade"] for b in cell["batches"]) == row[1]
    for batch in cell["batches"]:  # a batch's own counts tell how many rows others have
        assert batch["report"] is None and batch["raw"]["rows"] is None


def test_a_guard_refusal_is_unchanged(client: Session) -> None:
    with pytest.raises(QueryRejected):
        client.query("SELECT * FROM read_parquet('x')")


def test_cube_metadata_hides_rollup_counts_from_a_restricted_caller(
    warehouse: Session, client: Session
) -> None:
    mine = {r["name"]: r for c in client.cubes() for r in c["rollups"]}
    full = {r["name"]: r for c in warehouse.cubes() for r in c["rollups"]}
    assert all(r["rows"] is None for r in mine.values())
    assert any(r["rows"] for r in full.values())


def test_catalog_search_hides_whole_table_counts_from_a_restricted_caller(
    warehouse: Session, client: Session
) -> None:
    def rows(me: Session) -> dict[str, Any]:
        hits = me.catalog_search("trades", kind="table", samples=False, limit=50)["hits"]
        return {h["name"]: h["rows"] for h in hits}

    mine, full = rows(client), rows(warehouse)
    assert full["fact_trade"] and mine["fact_trade"] is None
