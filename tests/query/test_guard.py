"""The SQL guard refuses everything but one query over known relations, and nothing it refuses
reads or writes a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.errors import QueryFailed, QueryRejected
from ledgerhouse.query.guard import check_query

KNOWN = {"fact_trade", "dim_portfolio"}

HOSTILE = [
    "COPY fact_trade TO 'out.csv'",
    "COPY (SELECT 1) TO '/tmp/x.parquet' (FORMAT parquet)",
    "WITH x AS (SELECT 1) COPY x TO 'a.csv'",
    "EXPORT DATABASE '/tmp/dump'",
    "ATTACH '/tmp/other.db' AS o",
    "ATTACH ':memory:' AS m",
    "DETACH m",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET threads = 1",
    "RESET threads",
    "PRAGMA database_list",
    "CALL duckdb_settings()",
    "CREATE TABLE t AS SELECT 1",
    "CREATE TEMP VIEW fact_trade AS SELECT 1",
    "DROP TABLE fact_trade",
    "INSERT INTO fact_trade SELECT * FROM fact_trade",
    "UPDATE fact_trade SET price = 0",
    "DELETE FROM fact_trade",
    "SELECT 1; DROP TABLE fact_trade",
    "SELECT 1; SELECT 2",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_parquet('../../other/tenants/x/*.parquet')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM 'warehouse/tenants/other/core/fact_trade/x.parquet'",
    "SELECT * FROM glob('*')",
    "SELECT * FROM fact_trade WHERE price IN (SELECT * FROM read_csv_auto('/etc/hosts'))",
    "SELECT (SELECT count(*) FROM read_json('/etc/x.json')) AS n",
    "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM query_table('fact_trade')",
    "SELECT getenv('HOME')",
    "SELECT current_setting('memory_limit')",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM main.fact_trade",
    "SELECT * FROM other_tenant.fact_trade",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM unknown_table",
    "SELECT * FROM fact_trade /* ; */ ; ATTACH '/tmp/x' AS y",
    "SELECT * FROM fact_trade -- comment\n; COPY fact_trade TO 'x.csv'",
    "ＳＥＬＥＣＴ * ＦＲＯＭ read_csv('/etc/passwd')",  # fullwidth look-alikes
    "SELECT * FROM fact_trade UNION ALL SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM (SELECT * FROM (SELECT * FROM read_parquet(['/etc/a.parquet'])))",
    "SELECT * FROM fact_trade, LATERAL (SELECT * FROM read_csv('/etc/passwd'))",
    "DESCRIBE fact_trade",
    "SHOW TABLES",
    "SUMMARIZE fact_trade",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM parquet_metadata('/etc/x.parquet')",
    "SELECT * FROM iceberg_scan('/tmp/x')",
    "BEGIN TRANSACTION",
    "CHECKPOINT",
    "VACUUM",
    "",
    "   ",
]


@pytest.mark.parametrize("sql", HOSTILE)
def test_hostile_statement_is_refused(sql: str) -> None:
    with pytest.raises(QueryRejected) as info:
        check_query(sql, KNOWN)
    assert info.value.message and info.value.hint


def test_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 40


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM fact_trade",
        "with t as (select * from fact_trade) select count(*) from t",
        "SELECT p.desk, sum(t.notional_base) FROM fact_trade t JOIN dim_portfolio p "
        "USING (portfolio_key) GROUP BY 1 ORDER BY 2 DESC",
        "SELECT 'read_csv(1)' AS text_is_fine, 1",
        "SELECT trade_id, row_number() OVER (PARTITION BY portfolio_code ORDER BY trade_ts) "
        "FROM fact_trade",
        "SELECT * FROM fact_trade WHERE trade_id = ?",
        "(SELECT 1) UNION (SELECT 2)",
    ],
)
def test_queries_are_allowed(sql: str) -> None:
    checked = check_query(sql, KNOWN)
    assert checked.relations <= KNOWN


def test_hostile_statements_touch_no_file_through_the_service(
    ref_wh: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # relative paths in COPY/EXPORT would land in the working directory: make it observable
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    root = ref_wh.root
    before = sorted(p for p in root.rglob("*") if p.is_file())
    for sql in HOSTILE:
        with pytest.raises(QueryRejected):
            ref_wh.query(sql)
    assert sorted(p for p in root.rglob("*") if p.is_file()) == before
    assert list(cwd.iterdir()) == []
    assert not Path("/tmp/x.parquet").exists() and not Path("/tmp/dump").exists()


def test_engine_is_sandboxed_even_without_the_guard(ref_wh: Warehouse) -> None:
    import duckdb

    cur = ref_wh.engines.get("default").cursor()
    with pytest.raises(duckdb.PermissionException):
        cur.execute("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(duckdb.Error, match="locked"):
        cur.execute("SET enable_external_access = true")


def test_parameters_are_bound_not_spliced(ref_wh: Warehouse) -> None:
    res = ref_wh.query(
        "SELECT instrument_code FROM dim_instrument WHERE instrument_code = ?",
        params=["AAPL' OR '1'='1"],
    )
    assert res.rows() == []
    res = ref_wh.query(
        "SELECT instrument_code FROM dim_instrument WHERE instrument_code = ?", params=["AAPL"]
    )
    assert res.rows() == [["AAPL"]]


def test_engine_errors_are_clear(ref_wh: Warehouse) -> None:
    with pytest.raises(QueryFailed, match="no_such_column"):
        ref_wh.query("SELECT no_such_column FROM fact_trade")


def test_row_limit_truncates(ref_wh: Warehouse) -> None:
    res = ref_wh.query("SELECT * FROM dim_date", limit=10)
    assert res.table.num_rows == 10 and res.truncated


def test_non_text_sql_is_refused_clearly(ref_wh: Warehouse) -> None:
    with pytest.raises(QueryRejected, match="must be a string"):
        ref_wh.query(None)  # type: ignore[arg-type]
