"""What every query engine must do (storage/engines/base.py), run against each installed one:
bind pinned versions and Arrow tables, bind parameters, cap rows, stop on interrupt, raise
Ledgerhouse errors with no server path in them, and stay inside its tenant root."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot

from ledgerhouse.errors import QueryFailed, QueryTimeout, StorageUnavailable
from ledgerhouse.storage.engines import Engine, PinnedFiles, load_engine
from ledgerhouse.storage.engines.base import SPILL_FOLDER
from tests.engines.conftest import READ_FILE, RECONFIGURE, in_dialect

#: Runs for hours unless interrupted; streams, so an interrupt reaches it between chunks.
ENDLESS = "SELECT sum(hash(i)) FROM range(100000000000000) t(i)"


def _all(engine: Engine, sql: str, params: list[object] | None = None) -> pa.Table:
    with engine.session() as session:
        return session.execute(in_dialect(engine, sql), params).table


def test_it_names_itself_and_a_dialect_sqlglot_knows(engine: Engine, engine_name: str) -> None:
    assert engine.name == engine_name
    assert sqlglot.Dialect.get_or_raise(engine.dialect)


# -- binding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("materialize", [False, True], ids=["view", "copy"])
def test_each_version_binds_under_its_own_name(
    engine: Engine, versions: dict[int, PinnedFiles], materialize: bool
) -> None:
    for version, files in versions.items():
        engine.bind(f"trade@{version}", files, materialize=materialize)
    sql = 'SELECT count(*) AS n, sum(quantity) AS q FROM "trade@{}"'
    assert _all(engine, sql.format(1)).to_pylist() == [{"n": 2, "q": 30.0}]
    assert _all(engine, sql.format(2)).to_pylist() == [{"n": 3, "q": 60.0}]
    months = _all(engine, 'SELECT DISTINCT trade_month FROM "trade@2" ORDER BY 1')
    assert months.column(0).to_pylist() == ["2024-01", "2024-02"]  # partition values, as text
    got = _all(engine, 'SELECT * FROM "trade@2" ORDER BY trade_id')
    assert got.column_names == list(versions[2].columns)
    assert [pa.types.is_string(f.type) or pa.types.is_large_string(f.type) for f in got.schema] == [
        True,
        False,
        True,
    ]
    assert pa.types.is_float64(got.schema.field("quantity").type)


def test_unbind_drops_it_and_a_name_can_change_kind(
    engine: Engine, versions: dict[int, PinnedFiles]
) -> None:
    engine.bind("trade@1", versions[1])
    engine.bind("trade@1", versions[2], materialize=True)  # a view becomes a copy
    assert _all(engine, 'SELECT count(*) AS n FROM "trade@1"').to_pylist() == [{"n": 3}]
    engine.unbind("trade@1")
    engine.unbind("trade@1")  # nothing bound: nothing to do
    with pytest.raises(QueryFailed):
        _all(engine, 'SELECT * FROM "trade@1"')


def test_a_bound_version_is_shared_by_sessions_and_a_session_binding_is_not(
    engine: Engine, versions: dict[int, PinnedFiles]
) -> None:
    engine.bind("trade@1", versions[1])
    with engine.session() as one, engine.session() as two:
        one.bind("pending_trade", versions[2])
        one.bind("empty_trade", pa.table({"x": pa.array([], pa.int64())}))
        assert one.execute('SELECT count(*) FROM "trade@1"').table.column(0).to_pylist() == [2]
        assert two.execute('SELECT count(*) FROM "trade@1"').table.column(0).to_pylist() == [2]
        assert one.execute("SELECT count(*) FROM pending_trade").table.column(0).to_pylist() == [3]
        assert one.execute("SELECT count(*) FROM empty_trade").table.column(0).to_pylist() == [0]
        with pytest.raises(QueryFailed):
            two.execute("SELECT count(*) FROM pending_trade")


ARROW = pa.table(
    {
        "i16": pa.array([1, None], pa.int16()),
        "i32": pa.array([1, 2], pa.int32()),
        "i64": pa.array([2**40, -1], pa.int64()),
        "f64": pa.array([1.5, None], pa.float64()),
        "amount": pa.array([Decimal("1.250000"), None], pa.decimal128(18, 6)),
        "text": pa.array(["é", None], pa.string()),
        "flag": pa.array([True, False]),
        "day": pa.array([dt.date(2024, 1, 2), dt.date(9999, 12, 31)], pa.date32()),
        "ts": pa.array(
            [dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC), None], pa.timestamp("us", tz="UTC")
        ),
        "local_ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5), None], pa.timestamp("us")),
        "ints": pa.array([[1, 2], None], pa.list_(pa.int64())),
    }
)


def _same_types(got: pa.Schema, want: pa.Schema) -> None:
    """Types match, up to how an engine spells the same thing (``Etc/UTC`` for ``UTC``, the
    name of a list's child field)."""
    assert got.names == want.names
    for g, w in zip(got, want, strict=True):
        if pa.types.is_timestamp(w.type):
            assert pa.types.is_timestamp(g.type) and g.type.unit == w.type.unit, g
            assert (g.type.tz is None) == (w.type.tz is None), g
            assert g.type.tz in (None, "UTC", "Etc/UTC", "+00:00"), g
        elif pa.types.is_list(w.type):
            assert pa.types.is_list(g.type) and g.type.value_type == w.type.value_type, g
        else:
            assert g.type == w.type, (g, w)


def test_arrow_types_survive_a_bound_table(engine: Engine) -> None:
    engine.bind("arrow_copy", ARROW)
    got = _all(engine, "SELECT * FROM arrow_copy")
    _same_types(got.schema, ARROW.schema)
    assert got.cast(ARROW.schema).equals(ARROW)


def test_arrow_types_survive_a_session_table(engine: Engine) -> None:
    with engine.session() as session:
        session.bind("arrow_view", ARROW)
        got = session.execute("SELECT * FROM arrow_view").table
    _same_types(got.schema, ARROW.schema)
    assert got.cast(ARROW.schema).equals(ARROW)


def test_parquet_types_survive_a_bound_version(
    engine: Engine, versions: dict[int, PinnedFiles]
) -> None:
    engine.bind("trade@2", versions[2], materialize=True)
    got = _all(engine, 'SELECT trade_id, quantity FROM "trade@2"')
    assert got.schema.field("quantity").type == pa.float64()


# -- execution -------------------------------------------------------------------------------
def test_parameters_are_bound_not_spliced(engine: Engine, versions: dict[int, PinnedFiles]) -> None:
    engine.bind("trade@2", versions[2])
    hostile = "T1' OR '1'='1"
    assert _all(engine, "SELECT ? AS v", [hostile]).to_pylist() == [{"v": hostile}]
    sql = 'SELECT trade_id FROM "trade@2" WHERE trade_id = ?'
    assert _all(engine, sql, [hostile]).num_rows == 0
    assert _all(engine, sql, ["T1"]).column(0).to_pylist() == ["T1"]
    assert _all(engine, "SELECT ? + ? AS n", [2, 3]).to_pylist() == [{"n": 5}]


@pytest.mark.parametrize(
    ("rows", "max_rows", "returned", "truncated"),
    [
        (100_000, 10, 10, True),
        (100_000, 99_999, 99_999, True),
        (100_000, 100_000, 100_000, False),
        (100_000, None, 100_000, False),
        (5, 0, 0, True),
        (0, 0, 0, False),
    ],
)
def test_rows_are_capped_and_truncation_reported(
    engine: Engine, rows: int, max_rows: int | None, returned: int, truncated: bool
) -> None:
    with engine.session() as session:
        sql = in_dialect(engine, f"SELECT i FROM range({rows}) t(i)")
        got = session.execute(sql, max_rows=max_rows)
    assert (got.table.num_rows, got.truncated) == (returned, truncated)
    assert got.table.column_names == ["i"]


@pytest.mark.parametrize("rows", [0, 1, 5000, 20_001])
def test_a_stream_returns_the_rows_of_execute_in_batches_no_larger_than_asked(
    engine: Engine, rows: int
) -> None:
    sql = in_dialect(engine, f"SELECT i, i * 2 AS j FROM range({rows}) t(i) ORDER BY i")
    with engine.session() as session:
        whole = session.execute(sql).table
        batches = list(session.stream(sql, batch_rows=4096, timeout_s=60))
    assert all(0 < b.num_rows <= 4096 for b in batches)
    streamed = pa.Table.from_batches(batches, whole.schema)
    assert streamed.equals(whole)


def test_a_stream_binds_parameters_and_stops_on_interrupt(engine: Engine) -> None:
    with engine.session() as session:
        sql = in_dialect(engine, "SELECT i FROM range(10) t(i) WHERE i < ?")
        assert [b.num_rows for b in session.stream(sql, [3])] == [3]
        batches = session.stream(in_dialect(engine, "SELECT i FROM range(100000000000) t(i)"))
        next(batches)
        session.interrupt()
        with pytest.raises(QueryTimeout, match="interrupted"):
            for _ in batches:
                pass
        assert session.execute(in_dialect(engine, "SELECT 1 AS x")).table.num_rows == 1


def test_explain_answers_a_plan(engine: Engine) -> None:
    with engine.session() as session:
        plan = session.execute("SELECT 1 AS one", explain="plan").table
    assert plan.num_rows >= 1
    assert "1" in " ".join(str(v) for v in plan.to_pylist()[-1].values())


def _interrupt_after(session_interrupt: Callable[[], None], seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, session_interrupt)
    timer.start()
    return timer


def test_an_interrupt_stops_a_long_statement(engine: Engine) -> None:
    with engine.session() as session:
        _interrupt_after(session.interrupt, 0.3)
        started = time.monotonic()
        with pytest.raises(QueryTimeout, match="the query was interrupted: it was cancelled"):
            session.execute(in_dialect(engine, ENDLESS), timeout_s=60)
        assert time.monotonic() - started < 30
        # the session and the engine still answer
        assert session.execute("SELECT 1 AS one").table.to_pylist() == [{"one": 1}]
    assert _all(engine, "SELECT 2 AS two").to_pylist() == [{"two": 2}]


def test_an_interrupt_before_the_statement_starts_stops_it_when_it_starts(engine: Engine) -> None:
    # a cancel while the query's versions are still being bound must not be lost
    with engine.session() as session:
        session.interrupt()
        started = time.monotonic()
        with pytest.raises(QueryTimeout, match="it was cancelled"):
            session.execute(in_dialect(engine, ENDLESS), timeout_s=60)
        assert time.monotonic() - started < 5
        assert session.execute("SELECT 1 AS one").table.to_pylist() == [{"one": 1}]  # consumed


def test_an_interrupt_at_the_time_limit_names_it(engine: Engine) -> None:
    with engine.session() as session:
        _interrupt_after(session.interrupt, 0.3)
        with pytest.raises(QueryTimeout, match=r"ran past its 0\.3 s limit") as info:
            session.execute(in_dialect(engine, ENDLESS), timeout_s=0.3)
    assert info.value.details == {"timeout_s": 0.3}
    assert "LEDGERHOUSE_QUERY_TIMEOUT_S" in info.value.hint


def test_an_interrupt_of_one_session_leaves_the_others_running(engine: Engine) -> None:
    answers: list[object] = []
    with engine.session() as slow, engine.session() as quick:
        runner = threading.Thread(
            target=lambda: answers.append(
                quick.execute(in_dialect(engine, "SELECT count(*) AS n FROM range(3000000)")).table
            )
        )
        _interrupt_after(slow.interrupt, 0.2)
        runner.start()
        with pytest.raises(QueryTimeout):
            slow.execute(in_dialect(engine, ENDLESS))
        runner.join(60)
    assert answers and answers[0].to_pylist() == [{"n": 3_000_000}]  # type: ignore[attr-defined]


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sql", ["SELEC 1", "SELECT no_such_column FROM range(1)", "SELECT CAST('x1' AS INTEGER)"]
)
def test_a_statement_the_engine_refuses_is_query_failed(engine: Engine, sql: str) -> None:
    with engine.session() as session, pytest.raises(QueryFailed) as info:
        session.execute(sql)
    assert info.value.message.startswith("the query failed: ")
    assert info.value.hint.startswith("Fix the SQL")
    assert "\n" not in info.value.message


def test_a_vanished_file_is_storage_unavailable_with_no_path(
    engine: Engine, versions: dict[int, PinnedFiles], tmp_path: Path
) -> None:
    engine.bind("trade@2", versions[2])  # a view: files are read when a query runs
    for f in versions[2].files:
        os.remove(f)
    with pytest.raises(StorageUnavailable) as info:
        _all(engine, 'SELECT * FROM "trade@2"')
    assert info.value.retryable and info.value.status == 503
    assert str(tmp_path) not in info.value.message
    assert info.value.message.startswith("reading the warehouse's storage failed: ")


def test_a_vanished_file_while_binding_names_the_version(
    engine: Engine, versions: dict[int, PinnedFiles], tmp_path: Path
) -> None:
    os.remove(versions[1].files[0])
    with pytest.raises(StorageUnavailable) as info:
        engine.bind("trade@1", versions[1], materialize=True)
    assert info.value.message.startswith("reading the storage of trade at version 1 failed: ")
    assert info.value.details == {"table": "trade"}
    assert str(tmp_path) not in info.value.message and "<root>" in info.value.message
    with engine.session() as session, pytest.raises(StorageUnavailable):
        session.bind("pending_trade", versions[1])


# -- the sandbox -----------------------------------------------------------------------------
def test_no_file_outside_the_tenant_root_can_be_read(engine: Engine, tmp_path: Path) -> None:
    inside = engine.tenant_root / "inside.csv"
    inside.write_text("a\nINSIDE\n")
    outside = tmp_path / "outside.csv"
    outside.write_text("a\nSECRET\n")
    read = READ_FILE[engine.dialect]
    assert _all(engine, read.format(path=inside)).column(0).to_pylist() == ["INSIDE"]
    for path in (outside, engine.tenant_root / ".." / "t2" / "x.csv", "/etc/passwd"):
        with pytest.raises(QueryFailed) as info:
            _all(engine, read.format(path=path))
        assert "SECRET" not in info.value.message and str(tmp_path) not in info.value.message


def test_a_statement_cannot_change_the_configuration(engine: Engine) -> None:
    with pytest.raises(QueryFailed):
        _all(engine, RECONFIGURE[engine.dialect])


def test_allowed_directories_are_inside_the_tenant_root(
    make_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    for tenant in ("t1", "t2"):
        engine = make_engine(tenant)
        root = str((tmp_path / "tenants" / tenant).resolve()) + os.sep
        assert engine.tenant_root == (tmp_path / "tenants" / tenant).resolve()
        assert engine.allowed_directories()
        assert all(d.startswith(root) for d in engine.allowed_directories()), tenant


def test_each_engine_spills_into_its_own_folder_removed_on_close(
    make_engine: Callable[..., Engine],
) -> None:
    one, two = make_engine("t1"), make_engine("t1")  # e.g. a server and a CLI on one root
    for engine in (one, two):
        assert engine.spill_dir.parent == engine.tenant_root / SPILL_FOLDER
    assert one.spill_dir != two.spill_dir
    one.spill_dir.mkdir(exist_ok=True)
    (one.spill_dir / "spilled.tmp").write_bytes(b"rows")
    one.close()
    assert not one.spill_dir.exists()


def test_spill_folders_of_dead_processes_are_removed(engine_name: str, tmp_path: Path) -> None:
    from ledgerhouse.storage.engines import EngineOptions

    root = tmp_path / "tenant"
    stale = root / SPILL_FOLDER / "999999999-deadbeef"
    stale.mkdir(parents=True)
    (stale / "duckdb_temp_storage-0.tmp").write_bytes(b"SECRET-1")
    ours = root / SPILL_FOLDER / f"{os.getpid()}-cafebabe"  # this process is alive: kept
    ours.mkdir()
    options = EngineOptions(tenant_root=root, memory_limit="64MB", threads=1)
    engine = load_engine(engine_name)(options)
    try:
        assert not stale.exists()
        assert ours.exists()
    finally:
        engine.close()
    assert not engine.spill_dir.exists()
