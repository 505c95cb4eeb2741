"""Declaring quality checks: validation on upload with clear errors, who may change them,
tenant isolation, the HTTP and CLI twins, the alert webhook, the score and its trend."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from ledgerhouse.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    NotInstalledError,
    RejectedByQuality,
)
from ledgerhouse.governance.quality import KindRegistry, score, trend
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, admin, copy_warehouse, trade_row

CAP = "checks:\n  - {name: cap, relation: fact_trade, kind: range, column: price, max: 50}\n"


def _trades(start: int, n: int, price: str = "10") -> bytes:
    return (
        TRADE_HEADER + "".join(trade_row(f"T{i}", price=price) for i in range(start, start + n))
    ).encode()


@pytest.fixture
def me(tmp_path: Path, ref_template: Path) -> Iterator[Session]:
    session = copy_warehouse(ref_template, tmp_path / "wh")
    yield session
    session.warehouse.close()


# -- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("yaml_text", "words"),
    [
        ("checks:\n  - {relation: fact_trade, kind: not_nul, columns: [trade_id]}\n",
         ["unknown check kind 'not_nul'", "Did you mean 'not_null'"]),
        ("checks:\n  - {relation: fact_trade, kind: not_null, columns: [trade_idd]}\n",
         ["fact_trade has no column 'trade_idd'", "Did you mean 'trade_id'"]),
        ("checks:\n  - {relation: fact_trade, kind: not_null, columns: [trade_id],"
         " severity: fatal}\n",
         ["unknown severity 'fatal'"]),
        ("checks:\n  - {relation: fact_trad, kind: not_null, columns: [trade_id]}\n",
         ["unknown relation 'fact_trad'", "Did you mean 'fact_trade'"]),
        ("checks:\n  - {relation: fact_trade, kind: range, column: price, maximum: 5}\n",
         ["no parameter 'maximum'"]),
        ("checks:\n  - {relation: fact_trade, kind: freshness, column: price, max_age: 1d}\n",
         ["is not a date or a timestamp"]),
        ("checks:\n  - {relation: fact_trade, kind: freshness, column: loaded_at, max_age: soon}\n",
         ["is not an age"]),
        ("checks:\n  - {relation: fact_trade, kind: referential, column: portfolio_key,"
         " references: dim_portfolio.key}\n", ["dim_portfolio has no column 'key'"]),
        ("checks:\n  - {relation: fact_trade, kind: sql,"
         " sql: \"SELECT * FROM read_parquet('/etc/x')\"}\n",
         ["check 'fact_trade_sql'", "sql:"]),
        ("checks:\n  - {relation: fact_trade, kind: sql, sql: 'DELETE FROM fact_trade'}\n",
         ["only queries are allowed"]),
        ("checks: [oops\n", ["not valid YAML"]),
    ],
)  # fmt: skip
def test_a_bad_check_is_refused_on_upload_naming_the_problem(
    me: Session, yaml_text: str, words: list[str]
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        me.add_quality_checks(yaml_text)
    for word in words:
        assert word in caught.value.message, caught.value.message
    assert not [c for c in me.quality_checks() if c["origin"] == "tenant"]


def test_builtin_kinds_register_like_a_third_partys() -> None:
    registry = KindRegistry.default()
    assert {"not_null", "unique", "accepted_values", "range", "referential", "freshness",
            "volume", "reconciliation", "sql"} <= set(registry.names())  # fmt: skip
    fresh = KindRegistry()
    fresh.load("ledgerhouse.governance.quality.builtin")
    assert fresh.names() == registry.names()
    with pytest.raises(NotInstalledError) as caught:
        fresh.load("no_such_quality_plugin")
    assert "pip install" in caught.value.hint


def test_a_tenant_check_replaces_a_builtin_and_removing_it_brings_it_back(me: Session) -> None:
    def severity() -> str:
        return {c["name"]: c for c in me.quality_checks()}["fact_trade_side_accepted"]["severity"]

    assert severity() == "error"
    me.add_quality_checks(
        "checks:\n  - {name: fact_trade_side_accepted, relation: fact_trade,"
        " kind: accepted_values, column: side, values: [BUY, SELL, SHORT], severity: warn}\n"
    )
    assert severity() == "warn"
    me.remove_quality_check("fact_trade_side_accepted")
    assert severity() == "error"
    with pytest.raises(NotFound, match="cannot be removed"):
        me.remove_quality_check("fact_trade_side_accepted")


# -- who may --------------------------------------------------------------------------------------
def test_readers_read_results_stewards_change_checks_tenants_are_isolated(me: Session) -> None:
    wh = me.warehouse
    me.add_quality_checks(CAP)
    me.ingest("trades", _trades(0, 1, price="60"), fmt="csv")
    reader = wh.local(roles=("reader",), user="ann")
    auditor = wh.local(roles=("auditor",), user="al")
    steward = wh.local(roles=("steward",), user="sue")
    assert reader.quality_results(check="cap")[0]["failing"] == 1
    assert auditor.quality_scores()
    refused = (
        lambda: reader.add_quality_checks(CAP),
        lambda: reader.remove_quality_check("cap"),
        lambda: reader.run_quality(),
        lambda: auditor.add_quality_checks(CAP),
    )
    for call in refused:
        with pytest.raises(Forbidden):
            call()
    steward.add_quality_checks(CAP.replace("cap", "cap2"))
    assert steward.remove_quality_check("cap2")["name"] == "cap2"
    # another tenant sees none of it, and cannot remove the first tenant's check
    wh.create_tenant("other")
    other = admin(wh, "other")
    theirs = other.quality_results(limit=1000)  # the verdicts on its own (empty) tables
    assert "cap" not in {r["check"] for r in theirs}
    own = {c.id for c in me.commits()}
    assert not own & {r["commit_id"] for r in theirs}
    assert "cap" not in {c["name"] for c in other.quality_checks()}
    with pytest.raises(NotFound):
        other.remove_quality_check("cap")
    assert "cap" in {c["name"] for c in me.quality_checks()}


# -- HTTP, client, CLI ----------------------------------------------------------------------------
def test_http_routes_and_the_client_mirror_the_session(me: Session) -> None:
    from fastapi.testclient import TestClient

    from ledgerhouse.api import create_app
    from ledgerhouse.client import Client

    me.ingest("trades", _trades(0, 2, price="60"), fmt="csv")
    steward_key = me.create_api_key("sue", ("steward",))
    reader_key = me.create_api_key("ann", ("reader",))
    with TestClient(create_app(me.warehouse)) as http:
        steward = Client("http://testserver", steward_key, http=http)
        reader = Client("http://testserver", reader_key, http=http)
        assert [c["name"] for c in steward.add_quality_checks(CAP)] == ["cap"]
        assert steward.quality_checks() == me.quality_checks()
        ran = {r["check"]: r for r in steward.run_quality("fact_trade")}
        assert ran["cap"]["failing"] == 2
        assert reader.quality_results("fact_trade", check="cap")[0]["failing"] == 2
        assert reader.quality_scores() == me.quality_scores()
        assert reader.quality_trend(by="commit") == me.quality_trend(by="commit")
        with pytest.raises(Forbidden):
            reader.add_quality_checks(CAP)
        with pytest.raises(InvalidRequest, match="Did you mean 'price'"):
            steward.add_quality_checks(CAP.replace("column: price", "column: prices"))
        assert steward.remove_quality_check("cap")["name"] == "cap"


def test_the_cli_adds_lists_runs_and_scores(me: Session, tmp_path: Path) -> None:
    from ledgerhouse.cli.main import app

    root = str(me.warehouse.root)
    me.ingest("trades", _trades(0, 2, price="60"), fmt="csv")
    me.warehouse.close()
    checks = tmp_path / "checks.yaml"
    checks.write_text(CAP)
    runner = CliRunner()
    added = runner.invoke(app, ["quality", "add", str(checks), "--root", root])
    assert added.exit_code == 0 and "added cap" in added.output
    listed = runner.invoke(app, ["quality", "checks", "--root", root, "--json"])
    assert "cap" in {c["name"] for c in json.loads(listed.output)}
    ran = runner.invoke(app, ["quality", "run", "--relation", "fact_trade", "--root", root])
    assert ran.exit_code == 1 and "cap" in ran.output  # a check did not pass
    results = runner.invoke(app, ["quality", "results", "--check", "cap", "--json", "--root", root])
    assert json.loads(results.output)[0]["failing"] == 2
    scores = runner.invoke(app, ["quality", "scores", "--root", root])
    assert scores.exit_code == 0 and "fact_trade" in scores.output
    removed = runner.invoke(app, ["quality", "remove", "cap", "--root", root])
    assert removed.exit_code == 0
    missing = runner.invoke(app, ["quality", "remove", "cap", "--root", root])
    assert missing.exit_code == 2 and "no quality check" in missing.output


# -- alerts ----------------------------------------------------------------------------------------
class _Receiver(BaseHTTPRequestHandler):
    events: ClassVar[list[dict[str, Any]]] = []
    fail_first = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).fail_first:  # the first attempt fails: the retry delivers it
            type(self).fail_first = False
            self.send_response(503)
            self.end_headers()
            return
        type(self).events.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_webhook_gets_one_event_per_failing_check(tmp_path: Path, ref_template: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    me = copy_warehouse(ref_template, tmp_path / "wh", quality_webhook_url=url)
    try:
        alerts = me.warehouse.quality.monitor.alerts
        alerts.retry_wait_s = 0.05
        me.add_quality_checks(CAP + CAP.replace("cap", "cap_error").replace("checks:\n", "")
                              .replace("max: 50}", "max: 50, severity: error}"))  # fmt: skip
        me.ingest("trades", _trades(0, 1, price="40"), fmt="csv")  # passes: no event
        with pytest.raises(RejectedByQuality):
            me.ingest("trades", _trades(5, 1, price="60"), fmt="csv", batch_id="hot")
        assert alerts.flush(10)
        events = {e["check"]: e for e in _Receiver.events}
        assert set(events) == {"cap", "cap_error"}
        assert events["cap_error"]["rejected"] is True and events["cap_error"]["batch_id"] == "hot"
        assert events["cap_error"]["status"] == "fail" and events["cap"]["status"] == "warn"
        assert events["cap"]["failing"] == 1 and events["cap"]["tenant"] == "default"
    finally:
        me.warehouse.close()
        server.shutdown()
        server.server_close()


def test_an_unreachable_webhook_never_blocks_a_commit(tmp_path: Path, ref_template: Path) -> None:
    me = copy_warehouse(ref_template, tmp_path / "wh", quality_webhook_url="http://127.0.0.1:9/x")
    try:
        me.warehouse.quality.monitor.alerts.retry_wait_s = 0.01
        me.add_quality_checks(CAP)
        assert me.ingest("trades", _trades(0, 1, price="60"), fmt="csv").status == "committed"
        assert me.warehouse.quality.monitor.alerts.flush(10)
        assert me.warehouse.quality.monitor.alerts.failed == 1
    finally:
        me.warehouse.close()


# -- the score and its trend, from given results ------------------------------------------------
def _r(check: str, status: str, severity: str, commit: int | None, at: str) -> dict[str, Any]:
    return {"check": check, "relation": "fact_trade", "status": status, "severity": severity,
            "commit_id": commit, "recorded_at": at}  # fmt: skip


def test_the_score_weighs_error_checks_three_times_and_ignores_skipped_and_rejected() -> None:
    assert score([_r("a", "pass", "error", 1, "t"), _r("b", "warn", "warn", 1, "t")]) == 75.0
    assert score([_r("a", "fail", "error", 1, "t"), _r("b", "pass", "warn", 1, "t")]) == 25.0
    assert score([_r("a", "skipped", "error", 1, "t")]) is None
    points = trend(
        [
            _r("a", "pass", "error", 1, "2026-11-01T10:00"),
            _r("b", "warn", "warn", 1, "2026-11-01T10:00"),
            _r("a", "fail", "error", None, "2026-11-02T09:00"),  # a rejected batch: not stored
            _r("b", "pass", "warn", 2, "2026-11-02T10:00"),
        ]
    )
    assert [(p["day"], p["score"]) for p in points] == [("2026-11-01", 75.0), ("2026-11-02", 100.0)]
