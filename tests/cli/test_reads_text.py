"""What the read commands print as text: commit times a user can paste back into --as-of, and
one batch or logged query as readable fields (the plan as the engine prints it), never a JSON
envelope or an escaped string."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ledgerhouse.cli.main import app
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, trade_row

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def _send(wh: Session, trade: str) -> None:
    wh.ingest("trades", (TRADE_HEADER + trade_row(trade)).encode(), fmt="csv")


def test_a_printed_commit_time_pins_that_commit(ref_wh: Session) -> None:
    root = str(ref_wh.warehouse.root)
    _send(ref_wh, "T1")
    _send(ref_wh, "T2")
    commits = ref_wh.commits()
    code, out, err = _run("commits", "--root", root)
    assert code == 0, err
    for c in commits:  # every row shows the full time, to the microsecond
        assert c.created_at.isoformat() in out, (c.created_at.isoformat(), out)
    # pasting each printed time into --as-of pins exactly that commit
    for c in commits[:3]:
        code, out, err = _run(
            "query", "SELECT count(*) AS n FROM fact_trade", "--as-of", c.created_at.isoformat(),
            "--root", root, "--format", "json",
        )  # fmt: skip
        assert code == 0, err
        expected = ref_wh.query("SELECT count(*) FROM fact_trade", as_of=c.id).rows()[0][0]
        answer = json.loads(out)
        assert answer["commit"] == c.id and answer["rows"] == [[expected]]


def test_one_batch_prints_as_fields_and_a_missing_one_as_an_error_line(ref_wh: Session) -> None:
    root = str(ref_wh.warehouse.root)
    report = ref_wh.ingest("trades", (TRADE_HEADER + trade_row("T9")).encode(), fmt="csv")
    code, out, err = _run("batch", report.batch_id, "--root", root)
    assert code == 0, err
    assert not out.lstrip().startswith("{")
    assert f"batch_id: {report.batch_id}" in out and "status: committed" in out
    code, out, err = _run("batch", "nope", "--root", root)
    assert code == 2
    assert err.startswith("error (not_found): no batch 'nope'") and "{" not in err


def test_a_logged_query_prints_its_plan_as_the_engine_does(ref_wh: Session, tmp_path: Path) -> None:
    root = str(ref_wh.warehouse.root)
    query_id = ref_wh.query("SELECT count(*) FROM dim_date WHERE year = 2024").query_id
    code, out, err = _run("queries", query_id, "--plan", "--root", root)
    assert code == 0, err
    assert f"id: {query_id}" in out and "status: ok" in out
    assert "\\n" not in out  # the plan's lines are lines, not an escaped string
    plan = out.split("plan:", 1)[1]
    assert len(plan.strip().splitlines()) > 3 and ("dim_date" in plan.lower() or "SEQ_SCAN" in plan)
    code, out, _ = _run("queries", query_id, "--plan", "--root", root, "--json")
    assert code == 0 and out.lstrip().startswith("{")
