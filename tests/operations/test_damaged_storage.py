"""Damaged storage (issue 16, point 5), each fault injected: a data file deleted or truncated
answers storage_damaged (503) naming the table, the version and the file, with the repair; a
write into a damaged table too, storing nothing; `ledgerhouse check` lists each problem and
flags the marts and rollups built from the damaged table; `/readyz?check=shallow` says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app
from ledgerhouse.errors import StorageDamaged
from ledgerhouse.session import Session
from tests.conftest import copies_of_a_trade, copy_warehouse


@pytest.fixture
def warehouse(tmp_path: Path, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    yield me
    me.warehouse.close()


def _a_file(me: Session, relation: str = "fact_trade") -> Path:
    wh = me.warehouse
    table = wh.relations[relation]
    version = wh.meta.commit_log.latest_commit("default").table_versions[relation]
    return Path(sorted(wh.store.files("default", table, version))[0].removeprefix("file://"))


@pytest.mark.parametrize("fault", ["deleted", "truncated"])
def test_a_damaged_data_file_answers_storage_damaged_naming_it(
    warehouse: Session, fault: str
) -> None:
    victim = _a_file(warehouse)
    if fault == "deleted":
        victim.unlink()
    else:
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.raises(StorageDamaged) as damaged:
        warehouse.query("SELECT count(*), sum(quantity) FROM fact_trade", use_cache=False)
    err = damaged.value
    assert err.status == 503 and err.code == "storage_damaged" and not err.retryable
    assert err.details["table"] == "fact_trade" and victim.name in err.message
    assert str(warehouse.warehouse.root) not in err.message  # relative to the root
    assert "restore" in err.hint
    problems = warehouse.warehouse.check()
    assert any(p.relation == "fact_trade" and p.file and victim.name in p.file for p in problems)
    flagged = {p.relation for p in problems if p.file is None}
    assert "mart_trading_activity" in flagged  # built from it: may hide the damage


def test_http_cli_and_readyz_say_which_file(warehouse: Session) -> None:
    wh = warehouse.warehouse
    victim = _a_file(warehouse)
    key = wh.keys.create(warehouse.principal, "ops", ("admin",))
    http = TestClient(create_app(wh), headers={"Authorization": f"Bearer {key}"})
    assert http.get("/readyz", params={"check": "shallow"}).status_code == 200
    victim.unlink()
    answer = http.post("/v1/query/sql", json={"sql": "SELECT count(*) FROM fact_trade",
                                              "cache": False})  # fmt: skip
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "storage_damaged" and victim.name in error["message"]
    assert http.get("/readyz").status_code == 200  # shallow check only when asked
    ready = http.get("/readyz", params={"check": "shallow"})
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "storage_damaged"
    env = {"LEDGERHOUSE_ROOT": str(wh.root)}
    checked = CliRunner().invoke(app, ["check"], env=env)
    assert checked.exit_code == 1 and victim.name in checked.output, checked.output
    queried = CliRunner().invoke(app, ["query", "SELECT count(*) FROM fact_trade"], env=env)
    assert queried.exit_code == 1 and "storage_damaged" in queried.output
    assert "Traceback" not in queried.output


def test_an_ingestion_into_a_damaged_table_is_refused_and_stores_nothing(
    warehouse: Session,
) -> None:
    before = warehouse.commits(limit=1)[0].id
    body = copies_of_a_trade(warehouse, "TX")
    for path in _a_file(warehouse).parent.parent.rglob("*.parquet"):
        path.unlink()  # every data file of the trades: the merge must read them
    with pytest.raises(StorageDamaged) as damaged:
        warehouse.ingest("trades", body, fmt="csv")
    assert damaged.value.details["table"] in ("fact_trade", "raw_trades", "fact_trade_event")
    assert warehouse.commits(limit=1)[0].id == before


def test_a_clean_warehouse_checks_clean_every_commit_and_deep(warehouse: Session) -> None:
    assert warehouse.warehouse.check(every_commit=True, deep=True) == []
    out = CliRunner().invoke(app, ["check", "--all-commits", "--deep"],
                             env={"LEDGERHOUSE_ROOT": str(warehouse.warehouse.root)})  # fmt: skip
    assert out.exit_code == 0 and "holds every file" in out.output


def test_an_export_of_a_damaged_table_names_the_file(warehouse: Session) -> None:
    victim = _a_file(warehouse)
    victim.unlink()
    with (
        pytest.raises(StorageDamaged) as damaged,
        warehouse.stream("SELECT * FROM fact_trade") as export,
    ):
        for _ in export.batches:
            pass
    assert victim.name in damaged.value.message
