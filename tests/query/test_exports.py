"""Exports: every row of a query, streamed batch by batch past ``query_row_limit``, through the
same guard, authorization, admission, time limit and query log as an interactive answer."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from ledgerhouse.errors import Forbidden, QueryRejected, QueryTimeout
from ledgerhouse.session import Session
from tests.conftest import copy_warehouse

ROW_LIMIT = 1000
#: dim_date: 25,933 calendar days, far past the row limit of these tests
ALL_DAYS = "SELECT * FROM dim_date"
#: streams for hours: an export of it is stopped by its time limit mid-stream
ENDLESS = "SELECT a.date_key AS a, b.date_key AS b FROM dim_date a, dim_date b"


@pytest.fixture
def capped(tmp_path: Path, empty_template: Path) -> Iterator[Session]:
    me = copy_warehouse(empty_template, tmp_path / "wh", query_row_limit=ROW_LIMIT)
    yield me
    me.warehouse.close()


def reference(me: Session) -> tuple[int, int]:
    """(rows, sum of date_key) of dim_date, asked of the warehouse in one uncapped row."""
    ((n, total),) = me.query("SELECT count(*), sum(date_key) FROM dim_date").rows()
    return n, total


def summary(table: pa.Table) -> tuple[int, int]:
    return table.num_rows, pa.compute.sum(table.column("date_key")).as_py()


def read(path: Path | bytes, fmt: str) -> pa.Table:
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    if fmt == "parquet":
        return pq.read_table(source)
    if fmt == "csv":
        return pacsv.read_csv(source)
    return ipc.open_stream(source).read_all()


def test_an_interactive_answer_stays_capped_and_says_so(capped: Session) -> None:
    res = capped.query(ALL_DAYS)
    assert res.table.num_rows == ROW_LIMIT and res.truncated


def test_a_stream_delivers_every_row_in_bounded_batches(capped: Session) -> None:
    with capped.stream(ALL_DAYS, batch_rows=4096) as export:
        sizes, tables = [], []
        for batch in export.batches:
            sizes.append(batch.num_rows)
            tables.append(batch)
        assert export.schema.names[:2] == ["date_key", "date"]
    assert max(sizes) <= 4096 and len(sizes) > 1
    assert summary(pa.Table.from_batches(tables)) == reference(capped)
    assert reference(capped)[0] == 25933


@pytest.mark.parametrize("fmt", ["parquet", "csv", "arrow"])
def test_an_export_writes_every_row_to_a_file(capped: Session, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"days.{fmt}"
    done = capped.export(ALL_DAYS, out, format=fmt)
    assert done.rows == 25933 and done.commit.id >= 1
    assert summary(read(out, fmt)) == reference(capped)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, "wh"])  # no temp


def test_an_export_writes_to_an_open_file(capped: Session) -> None:
    buf = io.BytesIO()
    capped.export(ALL_DAYS, buf, format="parquet")
    assert summary(read(buf.getvalue(), "parquet")) == reference(capped)


def test_a_limit_given_is_honoured_even_past_the_row_limit(capped: Session) -> None:
    with capped.stream(ALL_DAYS + " ORDER BY date_key", limit=2500, batch_rows=1000) as export:
        table = pa.Table.from_batches(list(export.batches), export.schema)
    assert table.num_rows == 2500
    assert capped.export(ALL_DAYS, io.BytesIO(), limit=7).rows == 7


def test_an_export_is_logged_with_the_rows_streamed(capped: Session) -> None:
    done = capped.export(ALL_DAYS, io.BytesIO(), format="csv")
    entry = capped.query_log_entry(done.query_id)
    assert entry["status"] == "ok" and entry["rows"] == 25933 and entry["bytes"] > 0
    assert entry["route"] == "export"


def test_a_refused_or_forbidden_export_raises_and_leaves_no_file(
    capped: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledgerhouse.access import permissions

    out = tmp_path / "out.parquet"
    with pytest.raises(QueryRejected):
        capped.export("DELETE FROM dim_date", out)
    admitted = permissions.may

    def deny_dim_date(p, action, resource=None):  # type: ignore[no-untyped-def]
        if resource is not None and resource.name == "dim_date":
            return False
        return admitted(p, action, resource)

    monkeypatch.setattr(permissions, "may", deny_dim_date)
    with pytest.raises(Forbidden, match="dim_date"):
        capped.export(ALL_DAYS, out)
    assert not out.exists() and list(tmp_path.glob("out*")) == []


def test_a_timeout_mid_export_stops_it_logs_it_and_leaves_no_file(
    capped: Session, tmp_path: Path
) -> None:
    out = tmp_path / "pairs.csv"
    with pytest.raises(QueryTimeout, match="limit"):
        capped.export(ENDLESS, out, format="csv", timeout_s=0.5)
    assert list(tmp_path.glob("pairs*")) == []
    (entry,) = capped.query_log_entries(status="timeout", limit=1)
    assert entry["route"] == "export" and entry["rows"] > ROW_LIMIT  # it did stream first
    assert capped.query("SELECT count(*) FROM dim_date").rows() == [[25933]]  # slot freed
