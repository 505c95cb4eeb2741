"""The rollup advisor (issue 15 point 8, issue 17 point 6): each tenant's rollups follow its
own query log. Cube queries the star answered are proposed as a rollup with their measured
time and the rollup's measured size; applying one makes those queries use it (same answers);
under a row policy the proposal keeps the policed code; another tenant's log counts for
nothing; the automatic mode applies proposals by itself."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse import Warehouse
from ledgerhouse.access import Principal
from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app
from ledgerhouse.errors import Forbidden, InvalidRequest, NotFound
from ledgerhouse.session import Session
from tests.conftest import REF, admin, copy_warehouse

BY_INSTRUMENT = {"dimensions": ["instrument"], "measures": ["trades", "notional"]}
BY_CURRENCY = {"dimensions": ["currency"], "measures": ["trades"],
               "time_dimension": {"dimension": "trade_date", "granularity": "month"}}  # fmt: skip


def _sorted(rows: list[list[Any]]) -> list[list[Any]]:
    return sorted(rows, key=repr)


@pytest.fixture
def warehouse(tmp_path: Path, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path / "wh")
    yield me
    me.warehouse.close()


def test_queries_the_star_answered_are_proposed_with_what_was_measured(
    warehouse: Session,
) -> None:
    for _ in range(3):
        assert warehouse.cube("trades", {**BY_INSTRUMENT, "cache": False}).route == "raw"
    warehouse.cube("trades", BY_CURRENCY)  # once: below min_queries
    (p,) = warehouse.advise_rollups(min_queries=2)
    assert p["cube"] == "trades" and p["dimensions"] == ["instrument"]
    assert p["measures"] == ["trades", "notional"] and p["queries"] == 3
    assert p["time_dimension"] is None and p["applied"] is None
    (groups,) = warehouse.query(
        "SELECT count(*) FROM (SELECT DISTINCT instrument_code, trade_month FROM fact_trade)"
    ).rows()[0]
    assert p["rows"] == groups  # measured: a row per instrument and month (its partitions)
    facts = warehouse.query("SELECT count(*) FROM fact_trade").rows()[0][0]
    assert p["fact_rows"] == facts and p["reduction"] == pytest.approx(facts / p["rows"], abs=0.01)
    logged = [e for e in warehouse.query_log_entries(limit=50) if e["route"] == "raw"
              and (e.get("request") or {}).get("kind") == "cube"]  # fmt: skip
    assert p["star_ms"] == pytest.approx(
        sum(e["duration_ms"] for e in logged if e["request"]["query"]["dimensions"] ==
            ["instrument"]), abs=1e-3)  # fmt: skip
    assert 0 < p["estimated_ms"] < p["star_ms"]
    # both proposals once min_queries allows the single query too
    both = warehouse.advise_rollups(min_queries=1)
    assert {tuple(q["dimensions"]) for q in both} == {("instrument",), ("currency",)}
    month = next(q for q in both if q["dimensions"] == ["currency"])
    assert (month["time_dimension"], month["granularity"]) == ("trade_date", "month")


def test_applying_a_proposal_makes_its_queries_use_it(warehouse: Session) -> None:
    for _ in range(2):
        warehouse.cube("trades", BY_INSTRUMENT)
    warehouse.cube("trades", BY_CURRENCY)
    warehouse.cube("trades", BY_CURRENCY)
    star = {json.dumps(q): warehouse.cube("trades", {**q, "route": "raw"}).rows()
            for q in (BY_INSTRUMENT, BY_CURRENCY)}  # fmt: skip
    applied = warehouse.advise_rollups(apply=True)
    assert len(applied) == 2 and all(p["applied"] for p in applied)
    for q, rows in star.items():
        got = warehouse.cube("trades", {**json.loads(q), "cache": False})
        assert got.route.startswith("rollup:advised_"), got.plan.considered
        assert _sorted(got.rows()) == _sorted(rows)
    assert warehouse.advise_rollups(min_queries=1) == []  # nothing left unanswered
    listed = [o for o in warehouse.schema() if o["kind"] == "rollup"]
    assert {o["relation"] for o in listed} == {p["applied"] for p in applied}


def test_under_a_row_policy_the_proposal_keeps_the_policed_code(warehouse: Session) -> None:
    warehouse.create_role("client")
    warehouse.grant("read", "role:client")
    warehouse.put_policy("own", "row", predicate="portfolio_code IN (:portfolios)",
                         roles=["client"])  # fmt: skip
    client = warehouse.warehouse.session(
        Principal("default", "client", ("client",), {"portfolios": ("P0002",)})
    )
    sectors = {"dimensions": ["sector"], "measures": ["trades"]}
    assert warehouse.cube("trades", sectors).route == "rollup:desk_month"
    for _ in range(2):  # desk_month does not keep the portfolio: the star, filtered
        assert client.cube("trades", {**sectors, "cache": False}).route == "raw"
    (p,) = warehouse.advise_rollups()
    assert "portfolio" in p["dimensions"] and p["keeps"] == ["portfolio"]
    warehouse.advise_rollups(apply=True)
    got = client.cube("trades", sectors)
    assert got.route == "rollup:" + p["rollup"]
    expected = warehouse.query(
        "SELECT i.sector, count(*) FROM fact_trade t JOIN dim_instrument i "
        "USING (instrument_key) WHERE t.portfolio_code = 'P0002' GROUP BY 1"
    ).rows()
    assert _sorted(got.rows()) == _sorted(expected)


def test_each_tenant_is_advised_from_its_own_log_and_only_admins_ask(
    warehouse: Session,
) -> None:
    warehouse.warehouse.create_tenant("beta")
    beta = admin(warehouse.warehouse, "beta")
    for ds, text in REF.items():
        beta.ingest(ds, text.encode(), fmt="csv")
    for _ in range(3):
        warehouse.cube("trades", BY_INSTRUMENT)
    assert beta.advise_rollups(min_queries=1) == []
    assert len(warehouse.advise_rollups()) == 1
    reader = warehouse.warehouse.local(roles=("analyst",))
    with pytest.raises(Forbidden):
        reader.advise_rollups()
    with pytest.raises(InvalidRequest):
        warehouse.advise_rollups(days=0)
    with pytest.raises(NotFound):
        warehouse.advise_rollups(apply=True, names=["advised_nope"])
    assert not [o for o in warehouse.schema() if o["kind"] == "rollup"]  # nothing applied


def test_the_automatic_mode_applies_proposals_by_itself(
    tmp_path: Path, loaded_template: Path
) -> None:
    me = copy_warehouse(
        loaded_template, tmp_path / "wh", rollup_advisor="auto", rollup_advisor_every=3,
        rollup_advisor_min_queries=3,
    )  # fmt: skip
    try:
        for _ in range(3):
            assert me.cube("trades", {**BY_INSTRUMENT, "cache": False}).route == "raw"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rollups = [o for o in me.schema() if o["kind"] == "rollup"]
            if rollups:
                break
            time.sleep(0.2)
        assert [o["created_by"] for o in rollups] == ["rollup-advisor"]
        assert me.cube("trades", BY_INSTRUMENT).route == "rollup:" + rollups[0]["name"]
    finally:
        me.warehouse.close()


def test_http_and_cli(warehouse: Session) -> None:
    wh: Warehouse = warehouse.warehouse
    for _ in range(2):
        warehouse.cube("trades", BY_INSTRUMENT)
    key = wh.keys.create(Principal("default", "admin", ("admin",)), "ops", ("admin",))
    http = TestClient(create_app(wh), headers={"Authorization": f"Bearer {key}"})
    listed = http.get("/v1/optimize/rollups", params={"min_queries": 2})
    assert listed.status_code == 200, listed.text
    (p,) = listed.json()
    assert p["dimensions"] == ["instrument"] and p["applied"] is None
    bad = http.get("/v1/optimize/rollups", params={"days": -1})
    assert bad.status_code == 400 and "days" in bad.text  # the validation error names it
    env = {"LEDGERHOUSE_ROOT": str(wh.root)}
    shown = CliRunner().invoke(app, ["optimize", "advise"], env=env)
    assert shown.exit_code == 0 and p["rollup"] in shown.output, shown.output
    done = CliRunner().invoke(app, ["optimize", "advise", "--apply", "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)[0]["applied"].startswith("rollup_trades_advised_")
    again = http.post("/v1/optimize/rollups", json={"min_queries": 1})
    assert again.status_code == 200 and again.json() == []
