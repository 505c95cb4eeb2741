"""Compaction (issue 16, point 4): small files rewritten into fewer, as one warehouse commit
that changes no answer; every older commit still reads its own files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledgerhouse.cli.main import app
from ledgerhouse.errors import InvalidRequest, NotFound
from ledgerhouse.session import Session
from tests.conftest import copies_of_a_trade, copy_warehouse

ANSWERS = (
    "SELECT count(*), sum(quantity), sum(notional_base) FROM fact_trade",
    "SELECT trade_month, portfolio_code, count(*), sum(quantity) FROM fact_trade "
    "GROUP BY ALL ORDER BY ALL",
    "SELECT sum(trades), sum(notional_base) FROM mart_trading_activity",
)


@pytest.fixture
def warehouse(tmp_path: Path, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    for i in range(4):  # four small batches: a small file each in one month of the trades
        assert me.ingest("trades", copies_of_a_trade(me, f"TC{i}_"), fmt="csv").status == (
            "committed"
        )
    yield me
    me.warehouse.close()


def _answers(me: Session, as_of: int | None = None) -> list[list[list[object]]]:
    return [me.query(sql, as_of=as_of, use_cache=False).rows() for sql in ANSWERS]


def test_compaction_makes_fewer_files_and_changes_no_answer(warehouse: Session) -> None:
    wh = warehouse.warehouse
    old = warehouse.commits(limit=1)[0].id
    before = _answers(warehouse)
    (done,) = wh.compact(tables=["fact_trade"], sort_by=["portfolio_code"])
    assert done["table"] == "fact_trade" and done["files_after"] < done["files_before"]
    latest = warehouse.commits(limit=1)[0]
    assert latest.operation == "maintain:compact" and latest.id > old
    assert _answers(warehouse) == before
    assert _answers(warehouse, as_of=old) == before  # the old commit reads its own files
    assert wh.check(every_commit=True) == []
    (vac,) = wh.vacuum(older_than_s=0)
    assert vac.orphans == 0  # the files replaced are still read by the older commits


def test_bad_compaction_input_is_refused(warehouse: Session) -> None:
    wh = warehouse.warehouse
    with pytest.raises(NotFound):
        wh.compact(tables=["nope"])
    with pytest.raises(NotFound) as no_column:
        wh.compact(tables=["fact_trade"], sort_by=["nope"])
    assert "portfolio_code" in (no_column.value.hint or "")
    with pytest.raises(InvalidRequest):
        wh.compact(target_mb=0)
    out = CliRunner().invoke(app, ["maintain", "--compact", "--table", "fact_trade"],
                             env={"LEDGERHOUSE_ROOT": str(wh.root)})  # fmt: skip
    assert out.exit_code == 0 and "compacted fact_trade" in out.output, out.output
