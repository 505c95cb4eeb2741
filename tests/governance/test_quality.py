"""Data-quality checks inside the commit: each injected defect is detected; an ``error`` check
keeps the commit invisible and loses nothing; a ``warn`` does not block; a resend after a fix
lands once (docs/governance/quality.md)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ledgerhouse.errors import RejectedByQuality
from ledgerhouse.governance.errors import QualityGateFailed
from ledgerhouse.model.schema import FACT_PERFORMANCE, FACT_TRADE
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, copy_warehouse, snapshot, trade_row


def _trades(start: int, n: int, *, price: str = "10", day: str = "2024-01-02") -> bytes:
    rows = "".join(trade_row(f"T{i}", date=day, price=price) for i in range(start, start + n))
    return (TRADE_HEADER + rows).encode()


def _bad(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["check"]: r for r in results if r["status"] not in ("pass", "skipped")}


@pytest.fixture
def me(tmp_path: Path, ref_template: Path) -> Iterator[Session]:
    session = copy_warehouse(ref_template, tmp_path / "wh")
    yield session
    session.warehouse.close()


def _stage(me: Session, table: Any, rows: pl.DataFrame) -> None:
    """Append ``rows`` to ``table`` in a commit of its own (a defect no validation saw)."""
    wh = me.warehouse
    with wh.writer.transaction(me.principal.tenant, "test") as txn:
        txn.append(table, rows)


def _stored(me: Session, table: Any) -> pl.DataFrame:
    wh = me.warehouse
    commit = wh.meta.commit_log.latest_commit(me.principal.tenant)
    assert commit is not None
    return wh.store.read(me.principal.tenant, table, commit.table_versions[table.relation])


# -- the built-in checks pass on generated data ----------------------------------------------
def test_generated_finbench_data_passes_every_builtin_check(loaded: Session) -> None:
    scores = {s["relation"]: s for s in loaded.quality_scores()}
    for relation in ("fact_trade", "fact_position", "fact_performance", "fact_price"):
        assert scores[relation]["score"] == 100.0, scores[relation]
    ran = {r["check"] for r in loaded.quality_results(limit=1000) if r["status"] == "pass"}
    # the reconciliations gave a verdict on FinBench's positions and performance
    assert {"fact_position_matches_trades", "fact_performance_nav_chain"} <= ran
    assert not _bad(loaded.quality_results(limit=1000))


# -- error checks: each defect in the core tables refuses the commit -------------------------
@pytest.mark.parametrize(
    ("defect", "check"),
    [
        ("null key", "fact_trade_keys_not_null"),
        ("duplicate", "fact_trade_trade_id_unique"),
        ("orphan", "fact_trade_portfolio_known"),
        ("out of range", "fact_trade_side_accepted"),
    ],
)
def test_an_error_check_refuses_the_commit_and_nothing_is_published(
    me: Session, defect: str, check: str
) -> None:
    me.ingest("trades", _trades(0, 3), fmt="csv")
    row = _stored(me, FACT_TRADE).head(1)
    bad = {
        "null key": row.with_columns(trade_id=pl.lit(None, pl.String)),
        "duplicate": row,  # the same trade id again
        "orphan": row.with_columns(trade_id=pl.lit("T99"), portfolio_key=pl.lit(987654, pl.Int64)),
        "out of range": row.with_columns(trade_id=pl.lit("T98"), side=pl.lit("HOLD")),
    }[defect]
    before = snapshot(me)
    commits = len(me.commits())
    with pytest.raises(QualityGateFailed) as caught:
        _stage(me, FACT_TRADE, bad)
    assert caught.value.code == "rejected_by_quality" and caught.value.status == 422
    failing = {c["check"]: c for c in caught.value.details["checks"]}
    assert failing[check]["failing"] == 1 and failing[check]["sample"]
    # nothing visible: the same commit, versions and rows; the verdict is recorded
    assert snapshot(me) == before and len(me.commits()) == commits
    recorded = me.quality_results(check=check, limit=1)[0]
    assert (recorded["status"], recorded["commit_id"]) == ("fail", None)
    # the next transaction rolls the staged version back: the next ingestion lands cleanly
    me.ingest("trades", _trades(10, 2), fmt="csv")
    assert me.query("SELECT count(*) FROM fact_trade").rows() == [[5]]


def test_an_out_of_range_value_is_detected(me: Session) -> None:
    me.add_quality_checks(
        "checks:\n  - {name: price_band, relation: fact_trade, kind: range, column: price,"
        " min: 1, max: 50, severity: warn}\n"
    )
    report = me.ingest("trades", _trades(0, 2, price="60"), fmt="csv")
    assert report.status == "committed"  # warn: recorded, published
    found = {q["check"]: q for q in report.quality}
    assert found["price_band"]["failing"] == 2 and found["price_band"]["status"] == "warn"
    assert found["price_band"]["sample"][0]["price"] == "60.000000"


# -- ingestion: rejected_by_quality, nothing lost, a resend after a fix lands once -----------
ERROR_PRICE = (
    "checks:\n  - name: price_cap\n    relation: fact_trade\n    kind: range\n"
    "    column: price\n    max: {cap}\n    severity: error\n"
)


def test_a_batch_rejected_by_quality_loses_nothing_and_lands_once_after_the_fix(
    me: Session,
) -> None:
    me.ingest("trades", _trades(0, 3), fmt="csv")
    me.add_quality_checks(ERROR_PRICE.format(cap=50))
    before, stored = snapshot(me), me.query("SELECT trade_id FROM fact_trade ORDER BY 1").rows()
    payload = _trades(3, 2, price="99")
    with pytest.raises(RejectedByQuality) as caught:
        me.ingest("trades", payload, fmt="csv", batch_id="b-99")
    report = caught.value.details["report"]
    assert report["status"] == "rejected_by_quality" and report["rows_accepted"] == 0
    assert report["quality"][0]["check"] == "price_cap" and report["quality"][0]["failing"] == 2
    assert {s["trade_id"] for s in report["quality"][0]["sample"]} == {"T3", "T4"}
    assert me.batch("b-99")["status"] == "rejected_by_quality"
    # readers never see the rejected rows; what was stored is all there
    assert snapshot(me) == before
    assert me.query("SELECT trade_id FROM fact_trade ORDER BY 1").rows() == stored
    # the staged Delta version is ahead of the commit until recovery rolls it back
    wh, tenant = me.warehouse, me.principal.tenant
    committed = wh.meta.commit_log.latest_commit(tenant)
    assert committed is not None
    assert wh.store.version(tenant, FACT_TRADE) > committed.table_versions["fact_trade"]
    # resend after fixing the check: the same batch id lands, once
    me.add_quality_checks(ERROR_PRICE.format(cap=100))
    landed = me.ingest("trades", payload, fmt="csv", batch_id="b-99")
    assert landed.status == "committed" and landed.rows_accepted == 2
    assert me.ingest("trades", payload, fmt="csv", batch_id="b-99").status == "duplicate"
    assert me.query("SELECT count(*) FROM fact_trade WHERE trade_id IN ('T3', 'T4')").rows() == [
        [2]
    ]
    assert me.batch("b-99")["status"] == "committed"


def test_fixed_data_under_a_new_batch_id_lands(me: Session) -> None:
    me.add_quality_checks(ERROR_PRICE.format(cap=50))
    with pytest.raises(RejectedByQuality):
        me.ingest("trades", _trades(0, 2, price="99"), fmt="csv", batch_id="first")
    assert me.ingest("trades", _trades(0, 2, price="9"), fmt="csv", batch_id="fixed").status == (
        "committed"
    )
    assert me.query("SELECT count(*), max(price) FROM fact_trade").rows()[0][0] == 2


def test_the_http_answer_is_422_rejected_by_quality(me: Session) -> None:
    from fastapi.testclient import TestClient

    from ledgerhouse.api import create_app

    me.add_quality_checks(ERROR_PRICE.format(cap=50))
    key = me.create_api_key("ingester", ("writer",))
    with TestClient(create_app(me.warehouse)) as c:
        r = c.post(
            "/v1/ingest/trades",
            content=_trades(0, 1, price="99"),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
        )
    assert r.status_code == 422
    body = r.json()["error"]
    assert body["code"] == "rejected_by_quality"
    assert body["details"]["checks"][0]["check"] == "price_cap"
    assert body["details"]["report"]["status"] == "rejected_by_quality"


# -- freshness, volume, reconciliations, custom SQL ------------------------------------------
def test_a_stale_feed_is_detected(me: Session) -> None:
    me.ingest("trades", _trades(0, 2), fmt="csv")
    monitor = me.warehouse.quality.monitor
    monitor.clock = lambda: datetime.now(UTC) + timedelta(days=3)  # three days without a load
    me.ingest("fx_rates", b"rate_date,currency,rate_to_usd\n2024-01-03,EUR,1.1\n", fmt="csv")
    stale = me.quality_results(check="fact_trade_loaded_recently", limit=1)[0]
    assert stale["status"] == "warn" and stale["detail"]["fresh"] is False
    assert stale["detail"]["age_s"] > 2 * 86400
    assert any(f["relation"] == "fact_trade" and not f["fresh"]
               for f in me.warehouse.quality.freshness(me.principal.tenant))  # fmt: skip


def test_a_volume_drop_is_an_anomaly_against_the_tables_own_history(me: Session) -> None:
    me.add_quality_checks(
        "checks:\n  - {name: trade_volume, relation: fact_trade, kind: volume, min_history: 4}\n"
    )
    verdicts = []
    for i, n in enumerate([20, 22, 19, 21, 20]):
        report = me.ingest("trades", _trades(100 * i, n), fmt="csv")
        verdicts.append(me.quality_results(check="trade_volume", limit=1)[0]["status"])
        assert report.status == "committed"
    assert verdicts == ["skipped"] * 4 + ["pass"]  # no verdict until four commits of history
    dropped = me.ingest("trades", _trades(900, 1), fmt="csv")
    assert dropped.status == "committed"  # warn: published
    result = me.quality_results(check="trade_volume", limit=1)[0]
    assert result["status"] == "warn" and result["sample"][0]["anomaly"] == "drop"
    assert result["detail"]["expected_low"] > 1 > 0


def test_positions_that_do_not_add_up_to_the_trades_are_detected(me: Session) -> None:
    me.ingest("trades", _trades(0, 2), fmt="csv")  # P1 AAPL 2 x 100 on 2024-01-02
    positions = (
        "position_date,portfolio_code,instrument_code,quantity,market_value\n"
        "2024-01-02,P1,AAPL,250,2500\n"
    )
    report = me.ingest("positions", positions.encode(), fmt="csv")
    assert report.status == "committed"  # the built-in reconciliation is a warning
    found = {q["check"]: q for q in report.quality}["fact_position_matches_trades"]
    assert found["failing"] == 1
    row = found["sample"][0]
    assert (row["position_quantity"], row["trades_quantity"]) == ("250.000000", "200.000000")
    good = positions.replace("250,2500", "200,2000").replace("2024-01-02", "2024-01-03")
    assert not me.ingest("positions", good.encode(), fmt="csv").quality


def test_a_broken_nav_chain_is_detected(me: Session) -> None:
    perf = (
        "performance_date,portfolio_code,begin_nav,end_nav\n"
        "2024-01-02,P1,1000,1010\n2024-01-03,P1,1010,1020\n2024-01-04,P1,1005,1030\n"
    )
    report = me.ingest("performance", perf.encode(), fmt="csv")
    found = {q["check"]: q for q in report.quality}["fact_performance_nav_chain"]
    assert found["failing"] == 1
    sample = found["sample"][0]
    assert (sample["performance_date"], sample["previous_end_nav"]) == ("2024-01-04", "1020.000000")
    # the chain checked across commits: the next day continues from the stored one
    nxt = "performance_date,portfolio_code,begin_nav,end_nav\n2024-01-05,P1,1030,1031\n"
    assert not me.ingest("performance", nxt.encode(), fmt="csv").quality
    # a direct write skipping validation is judged the same way
    row = _stored(me, FACT_PERFORMANCE).filter(
        pl.col("performance_date").cast(pl.String) == "2024-01-05"
    )
    broken = row.with_columns(
        performance_date=pl.date(2024, 1, 8), begin_nav=pl.lit(1).cast(row["begin_nav"].dtype)
    )
    _stage(me, FACT_PERFORMANCE, broken)
    assert me.quality_results(check="fact_performance_nav_chain", limit=1)[0]["failing"] == 1


def test_custom_sql_returns_the_failing_rows_through_the_guard(me: Session) -> None:
    me.add_quality_checks(
        "checks:\n  - name: big_trades\n    relation: fact_trade\n    kind: sql\n"
        "    sql: SELECT trade_id, quantity * price AS notional FROM fact_trade"
        " WHERE quantity * price > 1500\n"
    )
    me.ingest("trades", _trades(0, 1, price="10"), fmt="csv")
    report = me.ingest("trades", _trades(1, 2, price="20"), fmt="csv")
    found = {q["check"]: q for q in report.quality}["big_trades"]
    assert found["failing"] == 2 and {r["trade_id"] for r in found["sample"]} == {"T1", "T2"}


def test_run_on_demand_checks_the_whole_latest_commit(me: Session) -> None:
    me.ingest("trades", _trades(0, 3, price="60"), fmt="csv")
    me.add_quality_checks(
        "checks:\n  - {name: cap, relation: fact_trade, kind: range, column: price, max: 50}\n"
    )
    results = {r["check"]: r for r in me.run_quality("fact_trade")}
    assert results["cap"]["failing"] == 3 and results["cap"]["rows_checked"] == 3
    assert results["cap"]["trigger"] == "on_demand" and results["cap"]["commit_id"] is not None
    assert me.quality_results(check="cap", limit=1)[0]["trigger"] == "on_demand"
    score = {s["relation"]: s for s in me.quality_scores()}["fact_trade"]
    assert score["score"] is not None and score["score"] < 100 and "cap" in score["failing"]
