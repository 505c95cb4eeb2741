"""The governance report over a real warehouse: each section agrees with the store it reads
(the ledger, the quality results, the audit trail, the metadata history, the lineage graph),
through the library, the HTTP API and the CLI, for auditors and admins only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app
from ledgerhouse.errors import Forbidden
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, copy_warehouse, trade_row

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory, ref_template: Path) -> Iterator[Session]:
    """A warehouse with REF, a trades batch with one refused row, a steward's edit, a
    reader's read of a classified column and a second tenant doing the same."""
    me = copy_warehouse(ref_template, tmp_path_factory.mktemp("report") / "wh")
    wh = me.warehouse
    rows = "".join(trade_row(f"T{i}", qty=str(100 + i)) for i in range(30))
    rows += trade_row("BAD", qty="-5")  # refused: quantity must be > 0
    me.ingest("trades", (TRADE_HEADER + rows).encode(), fmt="csv", batch_id="report-trades-1")
    steward = wh.local(roles=("steward",), user="sue")
    steward.annotate("fact_trade.price", description="Execution price per unit", reason="audit")
    reader = wh.local(roles=("reader",), user="ann")
    reader.query("SELECT name, counterparty_code FROM dim_counterparty")
    reader.query("SELECT count(*) FROM fact_trade")
    wh.create_tenant("acme")
    acme = wh.local("acme", roles=("reader",), user="acme-reader")
    acme.query("SELECT name FROM dim_counterparty")
    yield me
    wh.close()


def _report(me: Session, **kw: Any) -> dict[str, Any]:
    auditor = me.warehouse.local(roles=("auditor",), user="carol")
    report = auditor.governance_report(TODAY - timedelta(days=1), TODAY, **kw)
    assert isinstance(report, dict)
    return report


def test_each_section_agrees_with_its_store(governed: Session) -> None:
    me = governed
    wh = me.warehouse
    r = _report(me)
    assert (r["tenant"], r["generated_by"]) == ("default", "carol")

    # ingestion: the ledger's batches of the period, with the refused row's reason
    batches = wh.meta.commit_log.batches(r["tenant"], limit=1000)
    assert r["ingestion"]["batches"] == len(batches)
    assert r["ingestion"]["by_dataset"]["trades"] == {"committed": 1}
    trades = next(b for b in batches if b["batch_id"] == "report-trades-1")
    assert r["ingestion"]["rows"]["quarantined"] == sum(b["rows_quarantined"] for b in batches)
    reasons = {x["reason"]: x["rows"] for x in r["ingestion"]["quarantine_by_reason"]}
    for reason, n in trades["quarantine_reasons"].items():
        assert reasons[reason] >= n

    # quality: every relation the checks scored, with the same score the quality call gives
    scores = {s["relation"]: s["score"] for s in me.quality_scores()}
    assert {t["relation"]: t["score"] for t in r["quality"]["tables"] if t["relation"] in scores}
    for t in r["quality"]["tables"]:
        if t["relation"] in scores:
            assert t["score"] == scores[t["relation"]]
    assert any(
        t["relation"] == "fact_trade" and t["runs_in_period"] > 0 for t in r["quality"]["tables"]
    )

    # lineage coverage: the graph's own figure
    assert r["lineage_coverage"] == wh.lineage.current("default").coverage()

    # who read a classified column: ann read dim_counterparty.name (confidential), not acme's
    # reader (another tenant), and nobody read a classified column by count(*)
    classified = wh.metadata.classifications("default")
    assert "confidential" in classified["dim_counterparty", "name"]
    access = {(a["user"], a["relation"], a["column"]): a for a in r["classified_access"]}
    ann = access["ann", "dim_counterparty", "name"]
    assert ann["reads"] == 1 and ann["rows_returned"] == 2  # REF has two counterparties
    assert not any(user == "acme-reader" for user, _, _ in access)
    assert all((rel, col) in classified for _, rel, col in access)

    # metadata changes: the steward's edit, before and after
    (change,) = [m for m in r["metadata_changes"] if m["object"] == "fact_trade.price"]
    assert change["user"] == "sue" and change["after"] == "Execution price per unit"


def test_another_tenants_report_holds_only_its_own(governed: Session) -> None:
    wh = governed.warehouse
    report = wh.local("acme", roles=("auditor",)).governance_report(TODAY, TODAY)
    assert isinstance(report, dict)
    assert report["ingestion"]["batches"] == 0
    assert {a["user"] for a in report["classified_access"]} <= {"acme-reader"}
    assert report["metadata_changes"] == []


@pytest.mark.parametrize("role", ["reader", "writer", "steward"])
def test_only_auditors_and_admins(governed: Session, role: str) -> None:
    with pytest.raises(Forbidden):
        governed.warehouse.local(roles=(role,)).governance_report(TODAY, TODAY)


def test_http_answers_json_markdown_and_html(governed: Session) -> None:
    me = governed
    auditor_key = me.create_api_key("carol-http", ("auditor",))
    reader_key = me.create_api_key("ann-http", ("reader",))
    day = TODAY.isoformat()
    with TestClient(create_app(me.warehouse)) as client:
        auth = {"Authorization": f"Bearer {auditor_key}"}
        got = client.get(f"/v1/governance/report?from={day}&to={day}", headers=auth)
        assert got.status_code == 200, got.text
        assert got.json()["ingestion"] == _report(me)["ingestion"]
        md = client.get(f"/v1/governance/report?from={day}&to={day}&format=md", headers=auth)
        assert md.headers["content-type"].startswith("text/markdown")
        assert "## Access to classified columns" in md.text and "| ann |" in md.text
        page = client.get(f"/v1/governance/report?from={day}&to={day}&format=html", headers=auth)
        assert page.headers["content-type"].startswith("text/html")
        assert "<h2>Failing checks</h2>" in page.text
        refused = client.get(
            f"/v1/governance/report?from={day}&to={day}",
            headers={"Authorization": f"Bearer {reader_key}"},
        )
        assert refused.status_code == 403
        bad = client.get("/v1/governance/report?from=2026-13-01&to=x", headers=auth)
        assert bad.status_code == 400, bad.text  # the API answers a bad parameter 400
        assert "from" in bad.text


def test_cli_writes_each_format(governed: Session, tmp_path: Path) -> None:
    root = str(governed.warehouse.root)
    day = TODAY.isoformat()
    runner = CliRunner()
    out = tmp_path / "report.html"
    done = runner.invoke(
        app,
        ["governance", "report", "--from", day, "--to", day, "--format", "html", "-o", str(out),
         "--root", root],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert out.read_text().startswith("<!doctype html>")
    as_json = runner.invoke(
        app,
        ["governance", "report", "--from", day, "--to", day, "--format", "json", "--root", root],
    )
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["tenant"] == "default"
    wrong = runner.invoke(
        app, ["governance", "report", "--from", "yesterday", "--to", day, "--root", root]
    )
    assert wrong.exit_code == 2 and "YYYY-MM-DD" in wrong.output
