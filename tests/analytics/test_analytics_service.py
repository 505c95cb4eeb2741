"""Analytics through the warehouse, the API, the CLI and the client: every portfolio, on a
pinned commit, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app as cli
from ledgerhouse.errors import InvalidRequest, NotFound
from ledgerhouse.session import Session

REQUIRED = {"twr", "annualized_return", "volatility", "sharpe", "sortino", "max_drawdown",
            "var_99", "expected_shortfall_99"}  # fmt: skip


def test_every_portfolio_by_default_and_twr_matches_the_stored_returns(loaded: Session) -> None:
    report, commit = loaded.performance()
    n = loaded.query("SELECT count(DISTINCT portfolio_code) FROM fact_performance").rows()[0][0]
    assert report.height == n and set(report.columns) >= REQUIRED
    assert commit == loaded.commits()[0].id
    # independent: compound the daily_return column the generator stored
    stored = dict(
        loaded.query(
            "SELECT portfolio_code, product(1 + daily_return) - 1 FROM fact_performance GROUP BY 1"
        ).rows()
    )
    for row in report.iter_rows(named=True):
        # the stored returns are rounded to 12 decimals: agree to 1e-9
        assert row["twr"] == pytest.approx(stored[row["portfolio_code"]], rel=1e-9, abs=1e-9)
        assert row["beta"] is not None and row["errors"] == []
        assert row["var_99"] > 0 and row["expected_shortfall_99"] >= row["var_99"]
    logged = loaded.query_log_entries(limit=5)
    assert any(e["route"] == "analytics" for e in logged)


def test_one_portfolio_dates_conventions_and_errors(loaded: Session) -> None:
    code = loaded.query("SELECT min(portfolio_code) FROM fact_performance").rows()[0][0]
    days = loaded.query(
        "SELECT min(performance_date), max(performance_date) FROM fact_performance"
    ).rows()[0]
    report, _ = loaded.performance([code], start=days[0], end=days[0] + (days[1] - days[0]) / 2)
    assert report["portfolio_code"].to_list() == [code]
    para, _ = loaded.performance([code], conventions={"var_method": "parametric"})
    assert para["var_99"][0] != report["var_99"][0]
    with pytest.raises(NotFound, match="NOPE"):
        loaded.performance(["NOPE"])
    with pytest.raises(InvalidRequest, match="convention confidence"):
        loaded.performance(conventions={"confidence": 1.5})
    with pytest.raises(InvalidRequest, match="after end"):
        loaded.performance(start=days[1], end=days[0])
    months, _ = loaded.period_returns([code], every="quarter")
    assert months.height >= 1 and months["cumulative_return"].is_not_null().all()


def test_as_of_before_performance_was_loaded(loaded: Session) -> None:
    before = next(c.id for c in loaded.commits(limit=1000) if "performance" not in str(c.batch_id)
                  and "fact_performance" not in c.changed_tables)  # fmt: skip
    with pytest.raises(NotFound, match="no performance data"):
        loaded.performance(as_of=before)


def test_api_cli_and_client(tmp_path: Path, loaded: Session) -> None:
    key = loaded.create_api_key("analyst", ("reader",))
    with TestClient(create_app(loaded.warehouse)) as c:
        h = {"Authorization": f"Bearer {key}"}
        r = c.post(
            "/v1/analytics/performance", json={"conventions": {"risk_free": 0.02}}, headers=h
        )
        assert r.status_code == 200, r.text
        body = r.json()
        names = [col["name"] for col in body["columns"]]
        assert set(names) >= REQUIRED and body["conventions"]["risk_free"] == 0.02
        assert len(body["rows"]) == loaded.performance()[0].height
        bad = c.post("/v1/analytics/performance", json={"conventions": {"var_method": "x"}},
                     headers=h)  # fmt: skip
        assert bad.status_code == 400 and "var_method" in bad.json()["error"]["message"]
        arrow = c.post(
            "/v1/analytics/performance",
            json={},
            headers={**h, "Accept": "application/vnd.apache.arrow.stream"},
        )
        import pyarrow.ipc as ipc

        table = ipc.open_stream(arrow.content).read_all()
        assert table.num_rows == len(body["rows"]) and arrow.headers["X-Route"] == "analytics"
        csv = c.post("/v1/analytics/performance", json={}, headers={**h, "Accept": "text/csv"})
        assert csv.status_code == 200 and csv.text.count("\n") == len(body["rows"]) + 1
        ret = c.post("/v1/analytics/returns", json={"every": "quarter"}, headers=h).json()
        assert ret["method"] == "modified_dietz" and ret["rows"]
        from ledgerhouse.client import Client

        df, commit = Client("http://testserver", key, http=c).performance()
        assert set(df.columns) >= REQUIRED and commit == body["commit"]
    res = CliRunner().invoke(
        cli,
        [
            "analytics",
            "performance",
            "--root",
            str(loaded.warehouse.root),
            "--format",
            "json",
            "--risk-free",
            "0.01",
            "--var-method",
            "parametric",
        ],
    )
    assert res.exit_code == 0, res.output
    assert set(json.loads(res.stdout)["rows"][0]) >= REQUIRED


def test_risk_and_trading_endpoints_and_commands(loaded: Session) -> None:
    key = loaded.create_api_key("risk", ("reader",))
    day = str(loaded.query("SELECT max(position_date) FROM fact_position").rows()[0][0])
    first = str(loaded.query("SELECT min(trade_date) FROM fact_trade").rows()[0][0])
    with TestClient(create_app(loaded.warehouse)) as c:
        h = {"Authorization": f"Bearer {key}"}
        exp = c.post("/v1/analytics/exposures", json={"date": day, "by": ["country"],
                                                      "level": "firm"}, headers=h)  # fmt: skip
        assert exp.status_code == 200, exp.text
        assert [col["name"] for col in exp.json()["columns"]][:2] == ["firm", "country"]
        bad = c.post("/v1/analytics/exposures", json={"date": day, "by": ["colour"]}, headers=h)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
        corr = c.post("/v1/analytics/correlation", json={"min_periods": 2}, headers=h).json()
        assert len(corr["rows"]) == len(corr["columns"]) - 1
        for path in ("vwap", "slippage"):
            r = c.post(f"/v1/analytics/{path}", json={"start": first, "end": first}, headers=h)
            assert r.status_code == 200 and r.json()["rows"], r.text
    runner = CliRunner()
    for args in (
        ["exposures", "--date", day, "--by", "sector", "--level", "desk"],
        ["correlation", "--min-periods", "2"],
        ["vwap", "--start", first, "--end", first],
        ["slippage", "--start", first, "--end", first],
        ["returns", "--every", "month"],
        ["pnl", "--date", day],
        ["attribution", "--start", first, "--end", day],
    ):
        res = runner.invoke(
            cli, ["analytics", *args, "--root", str(loaded.warehouse.root), "--format", "json"]
        )
        assert res.exit_code == 0, (args, res.output)
        assert json.loads(res.stdout)["rows"]
    for bad_args in (["exposures", "--date", "not-a-date"], ["vwap", "--start", "x", "--end", "y"]):
        res = runner.invoke(cli, ["analytics", *bad_args, "--root", str(loaded.warehouse.root)])
        assert res.exit_code == 2 and "YYYY-MM-DD" in res.stderr
    res = runner.invoke(cli, ["analytics", "exposures", "--date", "not-a-date", "--root",
                              str(loaded.warehouse.root)])  # fmt: skip
    assert res.exit_code == 2 and "YYYY-MM-DD" in res.stderr
