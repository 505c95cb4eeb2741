"""The restore drill (issue 16): load, back up, ingest more, back up again (incrementally),
destroy the root, restore: every table, the commit log, the batch reports, the query log and
``as_of`` answers to an old commit are what they were. Plus verification of a damaged backup,
a restore as of an old commit, and a backup taken while a writer commits."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledgerhouse import Warehouse
from ledgerhouse.cli.main import app
from ledgerhouse.config import load_settings
from ledgerhouse.errors import Conflict, StorageError
from ledgerhouse.services import offline_backups
from ledgerhouse.session import Session
from tests.conftest import admin, copies_of_a_trade, copy_warehouse

TABLES = ("fact_trade", "dim_portfolio", "mart_trading_activity", "raw_trades", "quarantine")


def _trades(me: Session, prefix: str, n: int = 5) -> bytes:
    return copies_of_a_trade(me, prefix, n)


def _offline(root: Path) -> Any:
    return offline_backups(load_settings(root=root))


def _logged(me: Session) -> list[str]:
    return sorted(e["id"] for e in me.query_log_entries(limit=10_000))


def _state(me: Session, old_commit: int) -> dict[str, Any]:
    wh = me.warehouse
    wh.query_log.flush()
    out: dict[str, Any] = {
        t: sorted(map(repr, me.query(f"SELECT * EXCLUDE (loaded_at) FROM {t}" if t.startswith(
            ("fact", "dim")) else f"SELECT count(*) FROM {t}").rows()))
        for t in TABLES
    }  # fmt: skip
    out["commits"] = [(c.id, c.operation, c.table_versions) for c in me.commits(limit=1000)]
    out["batches"] = sorted((b["batch_id"], b["status"], b.get("rows_committed"))
                            for b in me.batches(limit=1000))  # fmt: skip
    out["as_of"] = me.query("SELECT count(*), sum(quantity) FROM fact_trade",
                            as_of=old_commit).rows()  # fmt: skip
    return out


def test_the_restore_drill(tmp_path: Path, loaded_template: Path) -> None:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    root = me.warehouse.root
    repo = tmp_path / "backups"
    old = me.commits(limit=1)[0].id
    first = me.warehouse.backups.backup(repo)
    assert first.previous is None and first.copied_files == first.files + 1
    report = me.ingest("trades", _trades(me, "TB"), fmt="csv")
    assert report.status == "committed"
    me.warehouse.query_log.flush()
    logged = _logged(me)
    second = me.warehouse.backups.backup(repo)
    assert second.previous == first.id
    assert second.linked_files > 0 and second.copied_bytes < first.copied_bytes / 2
    before = _state(me, old)
    me.warehouse.close()
    shutil.rmtree(root)  # the disaster
    assert not _offline(root).verify(repo).problems  # the root is gone: from the backup only
    restored_root = tmp_path / "restored"
    Warehouse.restore(repo, restored_root)
    with Warehouse.open(root=restored_root) as wh:
        again = admin(wh)
        assert _logged(again) == logged  # the query log as the backup found it
        after = _state(again, old)
        assert after == before
        # the restored warehouse takes writes; a resend of a stored batch stays a duplicate
        resent = again.ingest("trades", _trades(again, "TB"), fmt="csv")
        assert resent.status == "duplicate", resent
        assert again.ingest("trades", _trades(again, "TC"), fmt="csv").status == "committed"


def test_restore_as_of_an_old_commit_forgets_the_later_batches(
    tmp_path: Path, loaded_template: Path
) -> None:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    repo = tmp_path / "backups"
    old = me.commits(limit=1)[0].id
    counted = me.query("SELECT count(*) FROM fact_trade").rows()
    body = _trades(me, "TD")
    assert me.ingest("trades", body, fmt="csv").status == "committed"
    me.warehouse.backups.backup(repo)
    me.warehouse.close()
    Warehouse.restore(repo, tmp_path / "then", as_of=old)
    with Warehouse.open(root=tmp_path / "then") as wh:
        then = admin(wh)
        assert then.commits(limit=1)[0].id == old
        assert then.query("SELECT count(*) FROM fact_trade").rows() == counted
        assert then.ingest("trades", body, fmt="csv").status == "committed"  # not a duplicate


def test_a_damaged_backup_does_not_verify_and_is_not_restored(
    tmp_path: Path, loaded_template: Path
) -> None:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    repo = tmp_path / "backups"
    done = me.warehouse.backups.backup(repo)
    me.warehouse.close()
    victim = next(p for p in (Path(done.path) / "tenants").rglob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[:-10])  # truncated
    problems = _offline(tmp_path / "wh").verify(repo).problems
    assert problems and "damaged" in problems[0] and victim.name in problems[0]
    with pytest.raises(StorageError) as refused:
        Warehouse.restore(repo, tmp_path / "restored")
    assert "does not verify" in refused.value.message
    assert not (tmp_path / "restored").exists() or not any((tmp_path / "restored").iterdir())
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    victim.unlink()
    with pytest.raises((Conflict, StorageError)):
        Warehouse.restore(repo, tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "mine"


def test_a_backup_while_a_writer_commits_is_consistent(
    tmp_path: Path, loaded_template: Path
) -> None:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    repo = tmp_path / "backups"
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            me.ingest("trades", _trades(me, f"TW{i}_", 2), fmt="csv")
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        taken = [me.warehouse.backups.backup(repo) for _ in range(2)]
    finally:
        stop.set()
        writer.join()
    me.warehouse.close()
    for backup in taken:
        assert not _offline(tmp_path / "wh").verify(repo, backup.id).problems
        target = tmp_path / f"r-{backup.id}"
        Warehouse.restore(repo, target, backup=backup.id)
        with Warehouse.open(root=target) as wh:
            commit = wh.meta.commit_log.latest_commit("default")
            assert commit is not None and commit.id == backup.tenants["default"]
            admin(wh).query("SELECT count(*) FROM fact_trade")  # reads at the latest commit


def test_the_cli_backs_up_lists_verifies_and_restores(
    tmp_path: Path, loaded_template: Path
) -> None:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    root = me.warehouse.root
    me.warehouse.close()
    runner = CliRunner()
    repo = tmp_path / "backups"
    made = runner.invoke(app, ["backup", "--root", str(root), "--to", str(repo)])
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["backup", "list", "--from", str(repo)])
    assert listed.exit_code == 0 and "default" in listed.output
    checked = runner.invoke(app, ["backup", "verify", "--from", str(repo)])
    assert checked.exit_code == 0 and "verified" in checked.output, checked.output
    back = runner.invoke(app, ["restore", "--from", str(repo), "--root", str(tmp_path / "new")])
    assert back.exit_code == 0, back.output
    again = runner.invoke(app, ["restore", "--from", str(repo), "--root", str(tmp_path / "new")])
    assert again.exit_code == 2 and "not empty" in again.output
