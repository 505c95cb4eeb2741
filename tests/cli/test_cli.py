"""The CLI: exit codes, output formats, and the same errors as the API."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ledgerhouse.cli.main import app
from tests.conftest import REF, TRADE_HEADER, trade_row

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_init_ingest_query_round_trip(tmp_path: Path) -> None:
    root = str(tmp_path / "wh")
    code, out, _ = _run("init", "--root", root, "--json")
    assert code == 0 and json.loads(out)["admin_api_key"].startswith("lh_")
    for ds, text in REF.items():
        f = tmp_path / f"{ds}.csv"
        f.write_text(text)
        assert _run("ingest", ds, str(f), "--root", root)[0] == 0
    trades = tmp_path / "trades.csv"
    trades.write_text(TRADE_HEADER + trade_row("T1"))
    code, out, _ = _run(
        "ingest", "trades", str(trades), "--root", root, "--batch-id", "b1", "--json"
    )
    assert code == 0 and json.loads(out)["status"] == "committed"
    code, out, _ = _run(
        "ingest", "trades", str(trades), "--root", root, "--batch-id", "b1", "--json"
    )
    assert code == 0 and json.loads(out)["status"] == "duplicate"
    code, out, _ = _run(
        "query", "SELECT trade_id, quantity FROM fact_trade", "--root", root, "--format", "json"
    )
    assert code == 0 and json.loads(out)["rows"] == [["T1", 100.0]]
    code, out, _ = _run(
        "query", "SELECT trade_id FROM fact_trade", "--root", root, "--format", "csv"
    )
    assert out == "trade_id\nT1\n"
    pq = tmp_path / "out.parquet"
    assert (
        _run(
            "query",
            "SELECT * FROM fact_trade",
            "--root",
            root,
            "--format",
            "parquet",
            "-o",
            str(pq),
        )[0]
        == 0
    )
    import polars as pl

    assert pl.read_parquet(pq)["trade_id"].to_list() == ["T1"]
    code, out, _ = _run(
        "query",
        "SELECT count(*) AS n FROM fact_trade",
        "--root",
        root,
        "--as-of",
        "1",
        "--format",
        "json",
    )
    assert json.loads(out)["rows"] == [[0]]
    code, out, _ = _run("tables", "--root", root, "--json")
    assert {t["name"] for t in json.loads(out)} >= {"fact_trade", "dim_date", "quarantine"}
    code, out, _ = _run("commits", "--root", root, "--json")
    assert json.loads(out)[0]["batch_id"] == "b1"
    code, out, _ = _run("batch", "b1", "--root", root, "--json")
    assert json.loads(out)["rows_accepted"] == 1


def test_rejections_exit_non_zero_with_the_reason(tmp_path: Path) -> None:
    root = str(tmp_path / "wh")
    _run("init", "--root", root)
    bad = tmp_path / "trades.csv"
    bad.write_text(TRADE_HEADER + trade_row("T1"))  # no reference data: unknown portfolio
    code, _, err = _run("ingest", "trades", str(bad), "--root", root)
    assert code == 2 and "failed validation" in err and "unknown portfolio_code" in err
    code, _, err = _run("query", "COPY fact_trade TO 'x.csv'", "--root", root)
    assert code == 2 and "only queries are allowed" in err
    code, _, err = _run("query", "SELECT 1", "--root", str(tmp_path / "missing"))
    assert code == 2 and "ledgerhouse init --root" in err
    code, _, err = _run("ingest", "trades", str(tmp_path / "nope.csv"), "--root", root)
    assert code == 2 and "no file at" in err


def test_generate_and_load(tmp_path: Path) -> None:
    out = tmp_path / "data"
    code, text, _ = _run(
        "generate", "--scale", "0.001", "--days", "10", "--out", str(out), "--json"
    )
    assert code == 0 and json.loads(text)["rows"]["trades"] > 0
    root = str(tmp_path / "wh")
    _run("init", "--root", root)
    code, text, _ = _run("load", str(out), "--root", root, "--json")
    assert code == 0 and [r["status"] for r in json.loads(text)] == ["committed"] * 9


def test_batches_and_keys(tmp_path: Path) -> None:
    root = str(tmp_path / "wh")
    _run("init", "--root", root)
    f = tmp_path / "fx.csv"
    f.write_text(REF["fx_rates"])
    _run("ingest", "fx_rates", str(f), "--root", root, "--batch-id", "fx-1")
    code, out, _ = _run("batches", "--root", root, "--json")
    assert code == 0 and json.loads(out)[0]["batch_id"] == "fx-1"
    code, out, _ = _run(
        "keys", "create", "--user", "bob", "--role", "writer", "--root", root, "--json"
    )
    assert code == 0 and json.loads(out)["api_key"].startswith("lh_")
    code, _, err = _run("keys", "create", "--user", "bob", "--role", "god", "--root", root)
    assert code == 2 and "unknown roles" in err
