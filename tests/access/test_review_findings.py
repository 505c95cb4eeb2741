"""What a review of the policies found, each a test first: what is derived from a denied
column, others' query-log errors, values quoted in refusal reasons, a tenant mart of
arbitrary SQL, whole-table counts in reports, another's cell lineage, the guard's
placeholders, long texts, and the HTTP shapes of withheld counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgerhouse.access import Principal
from ledgerhouse.api import create_app
from ledgerhouse.errors import Forbidden, NotFound, QueryFailed, QueryRejected
from ledgerhouse.query import guard
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, copy_warehouse


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path_factory.mktemp("review") / "wh")
    for role in ("client", "analyst", "masked"):
        me.create_role(role)
        me.grant("read", f"role:{role}")
        me.grant("read_governance", f"role:{role}")
    me.put_policy("own", "row", predicate="portfolio_code IN (:portfolios)", roles=["client"])
    me.put_policy("mask", "column", classification="confidential", roles=["masked"])
    me.grant("read", "role:analyst", "column:fact_trade.notional_base", deny=True)
    me.grant("read", "role:analyst", "column:raw_trades.price", deny=True)
    yield me
    me.warehouse.close()


def _as(warehouse: Session, role: str, **attributes: list[str]) -> Session:
    return warehouse.warehouse.session(Principal("default", role, (role,), attributes))


def test_a_column_derived_from_a_denied_one_is_denied_too(warehouse: Session) -> None:
    analyst = _as(warehouse, "analyst")
    for sql in (
        "SELECT sum(notional_base) FROM fact_trade",
        "SELECT sum(notional_base) FROM mart_trading_activity",  # derived: the same money
    ):
        with pytest.raises(Forbidden) as refused:
            analyst.query(sql)
        assert refused.value.code == "policy_denied", sql
    assert analyst.query("SELECT sum(trades) FROM mart_trading_activity").rows()[0][0] > 0
    cols = [c["name"] for c in analyst.query("SELECT * FROM quarantine LIMIT 0").columns]
    assert "record" not in cols and "reason" not in cols  # raw records quote the price


def test_others_query_log_errors_are_not_shown_under_a_column_policy(warehouse: Session) -> None:
    with pytest.raises(QueryFailed):
        warehouse.query("SELECT CAST(name AS INTEGER) FROM dim_counterparty")
    masked = _as(warehouse, "masked")
    entries = masked.query_log_entries(status="error", limit=1000)
    assert all(e["user"] == "masked" for e in entries)


def test_a_refusal_reason_quoting_a_masked_value_is_masked(warehouse: Session) -> None:
    (row,) = warehouse.query(
        "SELECT trade_ts, trade_date, settle_date, portfolio_code, instrument_code, "
        "counterparty_code, currency, price FROM fact_trade ORDER BY trade_id LIMIT 1"
    ).rows()
    ts, day, settle, portfolio, instrument, counterparty, currency, price = row

    def line(tid: str, cp: str) -> str:
        stamp = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
        return (f"{tid},NEW,{stamp},{stamp},{day},{settle},{portfolio},{instrument},{cp},"
                f"BUY,10,{price},{currency},0\n")  # fmt: skip

    body = TRADE_HEADER + "".join(line(f"TQ{i}", counterparty) for i in range(40))
    body += line("TQX", "SECRET-CP-42")
    report = warehouse.ingest("trades", body.encode(), fmt="csv")
    assert report.rows_quarantined == 1, report
    masked = _as(warehouse, "masked")
    reasons = masked.query("SELECT DISTINCT reason FROM quarantine").rows()
    records = masked.query("SELECT DISTINCT record FROM quarantine").rows()
    assert "SECRET-CP-42" not in repr(reasons) + repr(records)
    raw = masked.query("SELECT DISTINCT _reason FROM raw_trades WHERE _reason IS NOT NULL")
    assert "SECRET-CP-42" not in repr(raw.rows())
    assert "SECRET-CP-42" in repr(warehouse.query("SELECT reason FROM quarantine").rows())


def test_a_tenant_mart_is_refused_under_a_row_policy(warehouse: Session) -> None:
    warehouse.add_schema(
        {"mart": "share", "sql": "SELECT portfolio_code, sum(notional_base) AS n, "
         "sum(sum(notional_base)) OVER () AS firm FROM fact_trade GROUP BY ALL"}
    )  # fmt: skip
    client = _as(warehouse, "client", portfolios=["P0002"])
    with pytest.raises(Forbidden) as refused:
        client.query("SELECT * FROM tmart_share")
    assert refused.value.code == "policy_denied" and "tenant's own SQL" in refused.value.message


def test_whole_table_counts_are_withheld_from_a_restricted_caller(warehouse: Session) -> None:
    client = _as(warehouse, "client", portfolios=["P0002"])
    for batch in client.batches(limit=20):
        assert batch["rows_received"] is None and batch["rows_accepted"] is None
    assert any(b["rows_received"] for b in warehouse.batches(limit=20))
    for result in client.quality_results(limit=50):
        assert result["rows_checked"] is None and result["sample"] == []
    for event in client.lineage_events(limit=20):
        assert "Statistics" not in repr(event)
    plan = client.query("SELECT count(*) FROM fact_trade", explain="plan")
    text = "\n".join(str(r[-1]) for r in plan.rows())
    assert "~? rows" in text or "rows" not in text
    http = TestClient(create_app(warehouse.warehouse))
    key = warehouse.create_api_key("acme", ("client",), attributes={"portfolios": ["P0002"]})
    auth = {"Authorization": f"Bearer {key}"}
    for path in ("/v1/tables", "/v1/ingest/batches", "/v1/quality/results"):
        assert http.get(path, headers=auth).status_code == 200, path


def test_another_callers_cell_lineage_is_not_found(warehouse: Session) -> None:
    mine = warehouse.query("SELECT portfolio_code, count(*) FROM fact_trade GROUP BY 1")
    client = _as(warehouse, "client", portfolios=["P0002"])
    with pytest.raises(NotFound):
        client.explain_cell(mine.query_id, 0)


def test_the_guards_placeholders_never_reach_a_caller(warehouse: Session) -> None:
    client = _as(warehouse, "client", portfolios=["P0002"])
    assert client.query('SELECT count(*) FROM "dim_portfolio "').rows() == [[1]]
    marker = f"__lh_{guard.placeholder_nonce()}_fact_trade"  # as if it had leaked
    with pytest.raises(QueryRejected, match="reserved marker"):
        client.query(f"SELECT '\"{marker}\"' AS x")


def test_a_long_text_is_rendered_with_this_process_placeholders(warehouse: Session) -> None:
    client = _as(warehouse, "client", portfolios=["P0002"])
    padding = " ".join(f"{i} AS c{i}," for i in range(1500))
    sql = f"SELECT {padding} count(*) AS n FROM fact_trade"
    assert len(sql) > 10_000
    want = warehouse.query("SELECT count(*) FROM fact_trade WHERE portfolio_code = 'P0002'").rows()[
        0
    ][0]
    assert client.query(sql).rows()[0][-1] == want
    assert warehouse.query(sql).rows()[0][-1] > want


def test_models_metrics_are_withheld(warehouse: Session) -> None:
    warehouse.detect_anomalies(date(2023, 1, 2), date(2023, 2, 1), date(2023, 2, 2),
                               date(2023, 3, 3))  # fmt: skip
    client = _as(warehouse, "client", portfolios=["P0002"])
    (model,) = client.models()[:1]
    assert model["metrics"]["scored_rows"] is None
    assert warehouse.models()[0]["metrics"]["scored_rows"] > 0
