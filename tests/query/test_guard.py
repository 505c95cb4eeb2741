"""The SQL guard refuses everything but one query over known relations, and nothing it refuses
reads or writes a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerhouse.errors import QueryFailed, QueryRejected
from ledgerhouse.query.guard import check_query
from ledgerhouse.session import Session
from tests.query.hostile import CLASSES, CORPUS, LEGITIMATE

KNOWN = {"fact_trade", "dim_portfolio"}


@pytest.mark.parametrize("sql", CORPUS)
def test_hostile_statement_is_refused(sql: str) -> None:
    with pytest.raises(QueryRejected) as info:
        check_query(sql, KNOWN)
    assert info.value.message and info.value.hint


def test_corpus_is_large_and_covers_every_class() -> None:
    assert len(CORPUS) >= 250
    assert all(len(statements) >= 10 for statements in CLASSES.values())


@pytest.mark.parametrize("sql", LEGITIMATE)
def test_queries_are_allowed(sql: str) -> None:
    checked = check_query(sql, KNOWN)
    assert checked.relations <= KNOWN


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("""select "current_setting"('allowed_directories')""", "current_setting"),
        ("select * from (values (1)) v(a), lateral \"read_blob\"('/x/.tmp/*')", "read_blob"),
        ("select * from (values (1)) v(a), lateral \"glob\"('/w/**')", "glob"),
        ("select main.getenv('HOME')", "getenv"),
        ("select * from (with pg_settings as (select 1) select 1) t, pg_settings", "pg_settings"),
        (
            'select * from (with "fact_trade@1" as (select 1) select 1) t, "fact_trade@1"',
            "fact_trade@1",
        ),
        ("select length(repeat('x', 50000000))", "repeat"),
    ],
)
def test_the_refusal_names_the_function_or_relation(sql: str, named: str) -> None:
    with pytest.raises(QueryRejected) as info:
        check_query(sql, KNOWN)
    assert named in info.value.message


def test_calls_inside_literals_and_odd_cte_names() -> None:
    assert check_query("select [cast(1 as int), try_cast('2' as int)] as l", KNOWN)
    assert check_query("select {'a': abs(-1)} as s", KNOWN)
    with pytest.raises(QueryRejected, match="CTE name"):
        check_query('with "t\n" as (select 1) select * from "t\n"', KNOWN)


def test_a_cte_is_known_only_in_its_own_scope() -> None:
    assert (
        check_query(
            "with t as (select 1 as x) select * from t, (select * from t) s", KNOWN
        ).relations
        == frozenset()
    )
    with pytest.raises(QueryRejected, match="unknown relation 't'"):
        check_query("select * from (with t as (select 1) select 1) s, t", KNOWN)
    # a CTE that shadows a warehouse table is the CTE, not the table
    assert (
        check_query("with fact_trade as (select 1) select * from fact_trade", KNOWN).relations
        == frozenset()
    )


def test_the_text_that_runs_is_regenerated_from_the_checked_tree() -> None:
    checked = check_query("select /* hi */ price from fact_trade -- bye", KNOWN)
    assert "hi" not in checked.sql and "bye" not in checked.sql
    assert checked.relations == {"fact_trade"}


def test_volatile_functions_are_marked() -> None:
    assert check_query("select now(), random()", KNOWN).volatile
    assert check_query("select current_date", KNOWN).volatile
    assert check_query("select current_timestamp", KNOWN).volatile
    assert not check_query("select price from fact_trade", KNOWN).volatile


def test_every_allowlisted_function_exists_in_duckdb_and_none_reads_outside() -> None:
    import duckdb

    from ledgerhouse.query.allowlist import FUNCTIONS, TABLE_FUNCTIONS

    con = duckdb.connect()
    names = {
        row[0].lower()
        for row in con.execute("SELECT DISTINCT function_name FROM duckdb_functions()").fetchall()
    }
    special = {"cast", "try_cast", "extract", "columns", "coalesce", "ifnull", "interval", "exists"}
    assert (FUNCTIONS | TABLE_FUNCTIONS) - names - special == set()
    never = {
        "current_setting",
        "getenv",
        "read_blob",
        "glob",
        "query",
        "query_table",
        "json_execute_serialized_sql",
        "duckdb_settings",
        "checkpoint",
        "version",
        "getvariable",
        "nextval",
        "sleep_ms",
        "write_log",
        "json_serialize_plan",
    }
    assert not (FUNCTIONS | TABLE_FUNCTIONS) & never
    assert not any(
        n.startswith(("read_", "duckdb_", "pragma_", "parquet_", "pg_"))
        for n in FUNCTIONS | TABLE_FUNCTIONS
    )


def test_hostile_statements_touch_no_file_through_the_service(
    ref_wh: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # relative paths in COPY/EXPORT would land in the working directory: make it observable
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    root = ref_wh.warehouse.root
    before = sorted(p for p in root.rglob("*") if p.is_file())
    # absolute targets the corpus names: whatever the machine already has there is left as it
    # is (a file a user made is not the query's doing); nothing new or changed may appear
    targets = [Path("/tmp/x.parquet"), Path("/tmp/dump")]
    seen = {t: t.stat().st_mtime_ns if t.exists() else None for t in targets}
    for sql in CORPUS:
        with pytest.raises(QueryRejected):
            ref_wh.query(sql)
    assert sorted(p for p in root.rglob("*") if p.is_file()) == before
    assert list(cwd.iterdir()) == []
    assert {t: t.stat().st_mtime_ns if t.exists() else None for t in targets} == seen


def test_engine_is_sandboxed_even_without_the_guard(ref_wh: Session) -> None:
    import duckdb

    cur = ref_wh.warehouse.engines.get("default").cursor()
    with pytest.raises(duckdb.PermissionException):
        cur.execute("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(duckdb.Error, match="locked"):
        cur.execute("SET enable_external_access = true")


def test_parameters_are_bound_not_spliced(ref_wh: Session) -> None:
    res = ref_wh.query(
        "SELECT instrument_code FROM dim_instrument WHERE instrument_code = ?",
        params=["AAPL' OR '1'='1"],
    )
    assert res.rows() == []
    res = ref_wh.query(
        "SELECT instrument_code FROM dim_instrument WHERE instrument_code = ?", params=["AAPL"]
    )
    assert res.rows() == [["AAPL"]]


def test_engine_errors_are_clear(ref_wh: Session) -> None:
    with pytest.raises(QueryFailed, match="no_such_column"):
        ref_wh.query("SELECT no_such_column FROM fact_trade")


def test_row_limit_truncates(ref_wh: Session) -> None:
    res = ref_wh.query("SELECT * FROM dim_date", limit=10)
    assert res.table.num_rows == 10 and res.truncated


def test_non_text_sql_is_refused_clearly(ref_wh: Session) -> None:
    with pytest.raises(QueryRejected, match="must be a string"):
        ref_wh.query(None)  # type: ignore[arg-type]


def test_long_texts_are_checked_in_a_worker_process_with_a_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ledgerhouse.query import long_texts

    long_sql = "SELECT " + " + ".join(["1"] * 4000)  # 16k characters: checked in the worker
    assert check_query(long_sql, KNOWN).sql.startswith("SELECT 1 + 1")
    worker = long_texts._worker
    assert worker is not None and worker.process.is_alive()
    with pytest.raises(QueryRejected, match="not allowed"):  # refusals come back intact
        check_query("SELECT getenv('HOME'), " + " + ".join(["1"] * 4000), KNOWN)
    monkeypatch.setattr(long_texts, "CHECK_DEADLINE_S", 0.001)
    with pytest.raises(QueryRejected, match="took more than"):
        check_query("SELECT " + " + ".join(["2"] * 6000), KNOWN)
    assert not worker.process.is_alive()  # killed at its deadline
    monkeypatch.setattr(long_texts, "CHECK_DEADLINE_S", 10.0)
    assert check_query("SELECT " + " + ".join(["3"] * 4000), KNOWN)  # a new worker
