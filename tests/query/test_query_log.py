"""Every query is logged: id, user, fingerprint, route, commit, duration, rows, status, error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app
from ledgerhouse.errors import NotFound, QueryFailed, QueryRejected, QueryTimeout
from ledgerhouse.query.log import fingerprint
from ledgerhouse.session import Session
from tests.conftest import InitCopy

ENDLESS = "SELECT count(*) FROM dim_date a, dim_date b, dim_date c WHERE a.day + b.day > c.day"


def test_every_outcome_is_logged(wh: Session) -> None:
    ok = wh.query("SELECT year FROM dim_date WHERE year = 2024 LIMIT 3")
    with pytest.raises(QueryRejected):
        wh.query("DROP TABLE fact_trade")
    with pytest.raises(QueryFailed):
        wh.query("SELECT nope FROM dim_date")
    with pytest.raises(QueryTimeout):
        wh.query(ENDLESS, timeout_s=0.2)
    log = wh.query_log_entries()
    assert [e["status"] for e in log] == ["timeout", "error", "rejected", "ok"]
    first = log[-1]
    assert first["id"] == ok.query_id and first["rows"] == 3 and first["bytes"] > 0
    assert first["commit_id"] == ok.commit.id and first["route"] == "raw"
    assert first["user"] == "local" and first["duration_ms"] > 0
    assert "DROP" in log[2]["text"] and "only queries" in log[2]["error"]
    assert wh.query_log_entries(status="rejected")[0]["id"] == log[2]["id"]
    slowest = [e["duration_ms"] for e in wh.query_log_entries(slowest=True)]
    assert slowest == sorted(slowest, reverse=True) and len(slowest) == 4
    one = wh.query_log_entry(ok.query_id, plan=True)
    assert one["text"].startswith("SELECT year") and "year = 2024" in one["plan"]
    with pytest.raises(NotFound):
        wh.query_log_entry("nope")


def test_fingerprint_ignores_literal_values() -> None:
    a = fingerprint("SELECT * FROM fact_trade WHERE trade_id = 'T1' LIMIT 5")
    b = fingerprint("select *   from fact_trade where trade_id = 'T2' limit 10")
    c = fingerprint("SELECT * FROM fact_trade WHERE portfolio_code = 'T1'")
    assert a == b != c


def test_log_over_api_and_cli(init_copy: InitCopy, tmp_path: Path) -> None:
    w, key = init_copy(tmp_path / "wh")
    with TestClient(create_app(w)) as c:
        h = {"Authorization": f"Bearer {key}"}
        r = c.post("/v1/query/sql", headers=h, json={"sql": "SELECT 1 AS one"}).json()
        c.post("/v1/query/sql", headers=h, json={"sql": "ATTACH 'x.db' AS x"})
        log = c.get("/v1/queries", headers=h).json()
        assert [e["status"] for e in log] == ["rejected", "ok"] and log[1]["id"] == r["query_id"]
        assert log[1]["user"] == "admin"
        assert c.get("/v1/queries?status=ok", headers=h).json()[0]["id"] == r["query_id"]
        assert "plan" in c.get(f"/v1/queries/{r['query_id']}?plan=true", headers=h).json()
        assert c.get("/v1/queries/unknown", headers=h).status_code == 404
        assert "ledgerhouse_query_seconds_bucket" in c.get("/metrics").text
    w.close()
    out = CliRunner().invoke(
        app, ["queries", "--root", str(tmp_path / "wh"), "--slowest", "--json"]
    )
    assert out.exit_code == 0 and len(json.loads(out.stdout)) == 2
