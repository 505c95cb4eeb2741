"""Vacuum (issue 16, point 4): the files a crashed writer left (a Delta version no commit
names) are removed once older than the grace period; every file a commit can read stays, so
every answer, ``as_of`` included, is unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from ledgerhouse.cli.main import app
from ledgerhouse.errors import InvalidRequest
from ledgerhouse.session import Session
from tests.conftest import copies_of_a_trade, copy_warehouse

SQL = "SELECT count(*), sum(quantity) FROM fact_trade"


@pytest.fixture
def warehouse(tmp_path: Path, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    yield me
    me.warehouse.close()


def _crash_leftovers(me: Session) -> list[Path]:
    """What a batch killed after its Delta write and before its commit leaves: a version of
    fact_trade (and its files) that no warehouse commit names."""
    wh = me.warehouse
    table = wh.relations["fact_trade"]
    latest = wh.meta.commit_log.latest_commit("default")
    rows = wh.store.read("default", table, latest.table_versions["fact_trade"]).head(50)
    before = set(wh.store.path("default", table).rglob("*.parquet"))
    wh.store.append("default", table, pa.Table.from_pylist(rows.to_dicts(),
                                                           schema=table.schema))  # fmt: skip
    return sorted(set(wh.store.path("default", table).rglob("*.parquet")) - before)


def test_a_crashed_writers_files_are_removed_and_no_answer_changes(warehouse: Session) -> None:
    wh = warehouse.warehouse
    old = warehouse.commits(limit=1)[0].id
    assert warehouse.ingest("trades", copies_of_a_trade(warehouse, "TV"), fmt="csv").status == (
        "committed"
    )
    answers = (warehouse.query(SQL, use_cache=False).rows(),
               warehouse.query(SQL, as_of=old, use_cache=False).rows())  # fmt: skip
    leftovers = _crash_leftovers(warehouse)
    assert leftovers
    (young,) = wh.vacuum(dry_run=True)  # the default grace: an hour
    assert young.orphans == 0 and young.kept_young == len(leftovers)
    (listed,) = wh.vacuum(older_than_s=0, dry_run=True)
    assert listed.orphans == len(leftovers) and listed.removed == 0
    assert {Path(wh.root / f) for f in listed.files} == set(leftovers)
    assert all(p.exists() for p in leftovers)
    (done,) = wh.vacuum(older_than_s=0)
    assert done.removed == len(leftovers) and not any(p.exists() for p in leftovers)
    assert wh.check(every_commit=True, deep=True) == []
    assert (warehouse.query(SQL, use_cache=False).rows(),
            warehouse.query(SQL, as_of=old, use_cache=False).rows()) == answers  # fmt: skip
    (again,) = wh.vacuum(older_than_s=0)
    assert again.orphans == 0  # nothing left to remove
    assert warehouse.ingest("trades", copies_of_a_trade(warehouse, "TW"), fmt="csv").status == (
        "committed"
    )  # the table still takes writes after its rollback


def test_the_cli_maintain_and_bad_input(warehouse: Session) -> None:
    wh = warehouse.warehouse
    leftovers = _crash_leftovers(warehouse)
    env = {"LEDGERHOUSE_ROOT": str(wh.root)}
    shown = CliRunner().invoke(app, ["maintain", "--dry-run", "--older-than", "0"], env=env)
    assert shown.exit_code == 0 and f"would remove {len(leftovers)} files" in shown.output
    bad = CliRunner().invoke(app, ["maintain", "--older-than", "-1"], env=env)
    assert bad.exit_code == 2 and "--older-than" in bad.output
    with pytest.raises(InvalidRequest):
        wh.vacuum(older_than_s=-1)
    done = CliRunner().invoke(app, ["maintain", "--older-than", "0", "--json"], env=env)
    assert done.exit_code == 0 and '"removed": ' + str(len(leftovers)) in done.output
