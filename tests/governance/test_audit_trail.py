"""Every access kind lands in the audit trail with its principal, relations (and versions),
columns, rows and query or batch id; the query log carries the same request, relations and
columns. The columns recorded are checked against hand-written expectations."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.errors import BatchRejected
from ledgerhouse.query.log import columns_read
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, copy_warehouse, trade_row

TRADES = TRADE_HEADER + "".join(
    [
        trade_row("T1", qty="100", price="10"),
        trade_row("T2", ts="2024-01-02T11:00:00Z", qty="50", price="12", side="SELL"),
        trade_row("T3", qty="5", price="20", pf="P2", inst="SAP", ccy="EUR"),
    ]
)
#: written out by hand from model/schema.py
DIM_COUNTERPARTY_COLUMNS = (
    "counterparty_key", "counterparty_code", "name", "counterparty_type", "country", "rating",
    "batch_id", "loaded_at",
)  # fmt: skip


@pytest.fixture(scope="module")
def me(tmp_path_factory: pytest.TempPathFactory, ref_template: Path) -> Iterator[Session]:
    admin_session = copy_warehouse(ref_template, tmp_path_factory.mktemp("audit") / "wh")
    admin_session.ingest("trades", TRADES.encode(), fmt="csv", batch_id="trades-1")
    yield admin_session.warehouse.local(roles=("admin",), user="alice")
    admin_session.warehouse.close()


def _entry(me: Session, query_id: str) -> dict:  # type: ignore[type-arg]
    found = [e for e in me.audit_entries(limit=10_000) if e["query_id"] == query_id]
    assert len(found) == 1, found
    return found[0]


def _versions(me: Session, *relations: str) -> dict[str, int]:
    latest = me.commits(limit=1)[0]
    return {r: latest.table_versions[r] for r in relations}


def test_a_sql_join_records_principal_relations_versions_columns_and_rows(me: Session) -> None:
    sql = (
        "SELECT p.firm, sum(t.quantity) AS q FROM fact_trade t "
        "JOIN dim_portfolio p ON t.portfolio_key = p.portfolio_key "
        "WHERE t.side = 'BUY' GROUP BY p.firm"
    )
    res = me.query(sql)
    entry = _entry(me, res.query_id)
    assert (entry["action"], entry["user"], entry["roles"], entry["status"]) == (
        "query", "alice", ["admin"], "ok",
    )  # fmt: skip
    assert entry["relations"] == _versions(me, "dim_portfolio", "fact_trade")
    assert entry["columns"] == {
        "dim_portfolio": ["firm", "portfolio_key"],
        "fact_trade": ["portfolio_key", "quantity", "side"],
    }
    assert entry["rows"] == res.table.num_rows == 1
    assert entry["detail"]["commit_id"] == res.commit.id
    logged = me.query_log_entry(res.query_id)
    assert logged["request"] is None
    assert logged["relations"] == entry["relations"]
    assert logged["columns"] == entry["columns"]


def test_columns_of_a_cte_and_of_select_star(me: Session) -> None:
    cte = me.query(
        "WITH buys AS (SELECT trade_id, price FROM fact_trade WHERE side = 'BUY') "
        "SELECT count(*) AS n FROM buys WHERE price > 5"
    )
    assert _entry(me, cte.query_id)["columns"] == {"fact_trade": ["price", "side", "trade_id"]}
    star = me.query("SELECT * FROM dim_counterparty")
    assert _entry(me, star.query_id)["columns"] == {
        "dim_counterparty": sorted(DIM_COUNTERPARTY_COLUMNS)
    }
    count = me.query("SELECT count(*) FROM fact_trade")
    assert _entry(me, count.query_id)["columns"] == {"fact_trade": []}  # no column's values


def test_a_cube_query_records_its_request_and_the_columns_of_its_route(me: Session) -> None:
    raw = me.cube("trades", {"measures": ["notional"], "dimensions": ["firm"], "route": "raw"})
    entry = _entry(me, raw.query_id)
    assert entry["action"] == "cube"
    assert entry["detail"]["request"]["cube"] == "trades"
    assert entry["detail"]["request"]["query"]["measures"] == ["notional"]
    assert entry["columns"] == {
        "dim_portfolio": ["firm", "portfolio_key"],
        "fact_trade": ["notional_reporting", "portfolio_key"],
    }
    assert entry["rows"] == 1  # one firm (ACME)
    rolled = me.cube("trades", {"measures": ["trades"], "dimensions": ["firm"]})
    entry = _entry(me, rolled.query_id)
    (rollup,) = entry["relations"]
    assert rollup.startswith("rollup_trades_")
    assert entry["columns"] == {rollup: ["firm", "trades__count"]}
    logged = me.query_log_entry(rolled.query_id)
    assert logged["request"]["kind"] == "cube"
    assert logged["request"]["query"]["dimensions"] == ["firm"]


def test_an_analytics_call_is_recorded_with_its_name(me: Session) -> None:
    frame, _ = me.vwap(date(2024, 1, 2), date(2024, 1, 2))
    found = me.audit_entries(action="analytics", limit=5)
    assert found, "no analytics entry"
    entry = found[0]
    assert entry["detail"]["request"] == {"kind": "analytics", "call": "vwap"}
    assert "fact_trade" in entry["relations"]
    assert entry["columns"]["fact_trade"]  # the trade columns vwap reads
    assert entry["rows"] == frame.height == 2  # one row per instrument and day


def test_an_export_is_recorded_with_the_rows_streamed(me: Session) -> None:
    sink = io.BytesIO()
    out = me.export("SELECT trade_id, price FROM fact_trade", sink, format="csv")
    entry = _entry(me, out.query_id)
    assert entry["action"] == "export"
    assert entry["rows"] == 3
    assert entry["columns"] == {"fact_trade": ["price", "trade_id"]}


def test_ingestions_committed_duplicate_and_rejected(me: Session) -> None:
    committed = me.audit_entries(action="ingest", relation="fact_trade", limit=10)
    (first,) = [e for e in committed if e["batch_id"] == "trades-1"]
    assert first["status"] == "committed" and first["rows"] == 3
    assert first["detail"]["dataset"] == "trades"
    assert "fact_trade" in first["relations"] and "raw_trades" in first["relations"]
    me.ingest("trades", TRADES.encode(), fmt="csv", batch_id="trades-1")  # a resend
    again = me.audit_entries(action="ingest", limit=1)[0]
    assert (again["batch_id"], again["status"], again["relations"]) == (
        "trades-1", "duplicate", {},
    )  # fmt: skip
    bad = TRADE_HEADER + trade_row("T9", qty="-1", pf="NOPE")
    with pytest.raises(BatchRejected):
        me.ingest("trades", bad.encode(), fmt="csv", batch_id="bad-1")
    rejected = me.audit_entries(action="ingest_rejected", limit=1)[0]
    assert rejected["batch_id"] == "bad-1" and rejected["user"] == "alice"
    assert rejected["status"] == "batch_rejected" and rejected["rows"] == 0
    assert "failed validation" in rejected["detail"]["reason"]


def test_key_changes_are_recorded_without_secrets(me: Session) -> None:
    secret = me.create_api_key("bob", ("reader",))
    key = next(k for k in me.list_api_keys() if k.user == "bob")
    rotated = me.rotate_api_key(key.id)
    me.revoke_api_key(rotated.key.id)
    create, rotate, revoke = reversed(
        [e for e in me.audit_entries(limit=50) if e["action"].startswith("key_")][:3]
    )
    assert create["action"] == "key_create" and create["detail"]["key_id"] == key.id
    assert create["detail"]["key_user"] == "bob" and create["detail"]["key_roles"] == ["reader"]
    assert rotate["action"] == "key_rotate" and rotate["detail"]["replaces"] == key.id
    assert revoke["action"] == "key_revoke" and revoke["detail"]["key_id"] == rotated.key.id
    text = json.dumps([create, rotate, revoke])
    assert secret not in text and rotated.secret not in text


def test_reading_the_trail_is_itself_recorded(me: Session) -> None:
    me.audit_entries(user="nobody", limit=3)
    read = me.audit_entries(action="audit_read", limit=1)[0]
    assert read["detail"]["filters"] == {"user": "nobody", "limit": 3}
    assert read["user"] == "alice"


def test_filters_by_user_relation_and_time(me: Session) -> None:
    assert all(e["user"] == "alice" for e in me.audit_entries(user="alice", limit=50))
    assert me.audit_entries(user="nobody") == []
    star = me.audit_entries(relation="dim_counterparty", limit=50)
    assert star and all("dim_counterparty" in e["relations"] for e in star)
    assert me.audit_entries(until="2000-01-01") == []
    assert me.audit_entries(since=date.today().isoformat(), limit=1)


def test_capture_off_records_relations_but_no_columns(tmp_path: Path, ref_template: Path) -> None:
    me = copy_warehouse(ref_template, tmp_path / "wh", lineage_capture=False)
    try:
        res = me.query("SELECT firm FROM dim_portfolio")
        entry = _entry(me, res.query_id)
        assert entry["relations"] == _versions(me, "dim_portfolio")
        assert entry["columns"] is None
        assert me.query_log_entry(res.query_id)["columns"] is None
    finally:
        me.warehouse.close()


@pytest.mark.parametrize(
    "sql",
    ["SELECT FROM WHERE (", "SELECT nosuch FROM fact_trade", "SELECT 1", "x" * 30_000],
)
def test_a_text_it_cannot_analyse_never_raises(sql: str) -> None:
    found = columns_read(sql, ["fact_trade"], {"fact_trade": ["trade_id", "price"]})
    assert found is None or set(found) <= {"fact_trade"}


def test_warehouse_close_flushes_pending_entries(tmp_path: Path, ref_template: Path) -> None:
    me = copy_warehouse(ref_template, tmp_path / "wh")
    query_id = me.query("SELECT name FROM dim_counterparty").query_id
    me.warehouse.close()  # no read of the trail before: the close must have stored it
    with Warehouse.open(root=tmp_path / "wh") as wh:
        entry = _entry(wh.local(roles=("auditor",)), query_id)
    assert entry["columns"] == {"dim_counterparty": ["name"]}
