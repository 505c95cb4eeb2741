"""`ledgerhouse query` exports: --format parquet/csv/arrow writes every row (streamed), --limit
still limits, and a capped table or JSON answer names a way to get the rest that works."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ledgerhouse.cli.main import app
from tests.conftest import copy_warehouse

runner = CliRunner()
ALL_DAYS = "SELECT * FROM dim_date"
DAYS, KEY_SUM = 25933, None


@pytest.fixture
def root(tmp_path: Path, empty_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    me = copy_warehouse(empty_template, tmp_path / "wh")
    me.warehouse.close()
    monkeypatch.setenv("LEDGERHOUSE_QUERY_ROW_LIMIT", "1000")
    return str(tmp_path / "wh")


def _run(root: str, *args: str) -> tuple[int, bytes, str]:
    r = runner.invoke(app, ["query", "--root", root, *args])
    return r.exit_code, r.stdout_bytes, r.stderr


def _reference(root: str) -> tuple[int, int]:
    code, out, err = _run(
        root, "--format", "csv", "SELECT count(*) AS n, sum(date_key) AS s FROM dim_date"
    )
    assert code == 0, err
    row = pacsv.read_csv(io.BytesIO(out)).to_pylist()[0]
    return row["n"], row["s"]


def _summary(table: pa.Table) -> tuple[int, int]:
    return table.num_rows, pa.compute.sum(table.column("date_key")).as_py()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "arrow"])
def test_an_export_to_a_file_has_every_row(root: str, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"days.{fmt}"
    code, _, err = _run(root, "--format", fmt, "--output", str(out), ALL_DAYS)
    assert code == 0, err
    read = {"parquet": pq.read_table, "csv": pacsv.read_csv,
            "arrow": lambda p: ipc.open_stream(p).read_all()}[fmt]  # fmt: skip
    assert _summary(read(out)) == _reference(root)
    assert _reference(root)[0] == DAYS
    assert "truncated" not in err


def test_csv_to_stdout_has_every_row(root: str) -> None:
    code, out, err = _run(root, "--format", "csv", ALL_DAYS)
    assert code == 0, err
    assert _summary(pacsv.read_csv(io.BytesIO(out))) == _reference(root)


def test_a_limit_still_limits_an_export(root: str, tmp_path: Path) -> None:
    out = tmp_path / "some.parquet"
    code, _, err = _run(root, "--format", "parquet", "--output", str(out), "--limit", "2500",
                        ALL_DAYS)  # fmt: skip
    assert code == 0, err
    assert pq.read_table(out).num_rows == 2500


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_capped_answer_names_a_way_to_get_the_rest_that_works(
    root: str, tmp_path: Path, fmt: str
) -> None:
    code, _, err = _run(root, "--format", fmt, ALL_DAYS)
    assert code == 0, err
    assert "1000" in err.replace(",", "") and "--format parquet --output" in err, err
    out = tmp_path / "all.parquet"
    code, _, err = _run(root, "--format", "parquet", "--output", str(out), ALL_DAYS)
    assert code == 0 and pq.read_table(out).num_rows == DAYS


def test_a_failed_export_leaves_no_file(root: str, tmp_path: Path) -> None:
    out = tmp_path / "pairs.csv"
    code, _, err = _run(root, "--format", "csv", "--output", str(out), "--timeout", "0.5",
                        "SELECT a.date_key, b.date_key FROM dim_date a, dim_date b")  # fmt: skip
    assert code != 0 and "interrupted" in err, err
    assert list(tmp_path.glob("pairs*")) == []
    code, _, err = _run(root, "--format", "parquet", "--output", str(out), "DROP TABLE dim_date")
    assert code != 0 and list(tmp_path.glob("pairs*")) == []
