"""A rejected ingestion, in text mode, lists the first refused rows (row number, column,
value, rule) and readable reasons, and does not claim rows were accepted."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ledgerhouse.cli.main import app
from tests.conftest import REF, TRADE_HEADER, trade_row

runner = CliRunner()


def _warehouse(tmp_path: Path) -> str:
    root = str(tmp_path / "wh")
    assert runner.invoke(app, ["init", "--root", root]).exit_code == 0
    for ds, text in REF.items():
        f = tmp_path / f"{ds}.csv"
        f.write_text(text)
        assert runner.invoke(app, ["ingest", ds, str(f), "--root", root]).exit_code == 0
    return root


def test_rejection_lists_rows_and_readable_reasons(tmp_path: Path) -> None:
    root = _warehouse(tmp_path)
    bad = tmp_path / "trades.csv"
    bad.write_text(TRADE_HEADER + trade_row("T1") + trade_row("T2", qty="-5"))
    r = runner.invoke(app, ["ingest", "trades", str(bad), "--root", root, "--batch-id", "b1"])
    assert r.exit_code == 2
    err = r.stderr
    assert "#" not in err, err
    lines = [line for line in err.splitlines() if "quantity" in line and "-5" in line]
    assert lines, err
    row = lines[0].split()
    assert row[0] == "2" and "quantity" in row and "-5" in row and "must" in row, lines[0]
    assert "column quantity: … must be > 0 ×1" in err
    # the batch's stored report, in text, says no row was stored
    r = runner.invoke(app, ["--json", "batch", "b1", "--root", root])
    assert json.loads(r.stdout)["rows_accepted"] == 0
