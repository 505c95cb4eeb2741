"""A tenant's own rollups (issue 15, point 8): declared on a shared cube or in its own cube,
built from the stored facts, refreshed in the commit of new facts, used by that tenant's cube
queries only, and under a row policy only when they keep the policed code. Member SQL a
tenant wrote is refused in a rollup when it could read beyond its own fact row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse.access import Principal
from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app
from ledgerhouse.session import Session
from ledgerhouse.tenancy.errors import InvalidSchemaObject, SchemaObjectInUse
from tests.conftest import REF, admin, copies_of_a_trade, copy_warehouse

BY_INSTRUMENT = """
rollup: by_instrument
cube: trades
description: Our own rollup, for our instrument screens.
dimensions: [portfolio, instrument]
time_dimension: trade_date
granularity: month
measures: [trades, notional, quantity]
"""
NO_PORTFOLIO = """
rollup: by_sector
cube: trades
dimensions: [sector]
measures: [trades, notional]
"""
ASKED = {"dimensions": ["instrument"], "measures": ["trades", "notional", "quantity"]}


def _raw(query: dict[str, Any]) -> dict[str, Any]:
    return {**query, "route": "raw"}


def _sorted(rows: list[list[Any]]) -> list[list[Any]]:
    return sorted(rows, key=repr)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, loaded_template: Path) -> Iterator[Session]:
    me = copy_warehouse(loaded_template, tmp_path_factory.mktemp("rollups") / "wh")
    me.warehouse.create_tenant("beta")
    beta = admin(me.warehouse, "beta")
    for ds, text in REF.items():
        beta.ingest(ds, text.encode(), fmt="csv")
    me.create_role("client")
    me.grant("read", "role:client")
    me.put_policy("own", "row", predicate="portfolio_code IN (:portfolios)", roles=["client"])
    me.add_schema(BY_INSTRUMENT)
    yield me
    me.warehouse.close()


def _client(me: Session, *portfolios: str) -> Session:
    return me.warehouse.session(
        Principal("default", "client", ("client",), {"portfolios": tuple(portfolios)})
    )


def test_a_tenant_rollup_of_a_shared_cube_answers_as_the_star(warehouse: Session) -> None:
    got = warehouse.cube("trades", ASKED)
    rollup = next(o for o in warehouse.schema() if o["kind"] == "rollup")
    assert got.route == "rollup:by_instrument"
    assert rollup["relation"].startswith("rollup_trades_by_instrument_")
    assert rollup["cube"] == "trades" and "fact_trade" in rollup["reads"]
    assert _sorted(got.rows()) == _sorted(warehouse.cube("trades", _raw(ASKED)).rows())
    months = {"dimensions": ["instrument"], "measures": ["trades"],
              "time_dimension": {"dimension": "trade_date", "granularity": "quarter"}}  # fmt: skip
    assert warehouse.cube("trades", months).route == "rollup:by_instrument"
    # the rollup is a relation of this tenant: readable in SQL, listed in its catalog
    (count,) = warehouse.query(f"SELECT sum(trades__count) FROM {rollup['relation']}").rows()[0]
    assert count == warehouse.query("SELECT count(*) FROM fact_trade").rows()[0][0]


def test_another_tenant_neither_sees_nor_uses_it(warehouse: Session) -> None:
    beta = admin(warehouse.warehouse, "beta")
    relation = next(o["relation"] for o in warehouse.schema() if o["kind"] == "rollup")
    got = beta.cube("trades", ASKED)
    assert got.route == "raw"
    assert "by_instrument" not in got.plan.considered
    assert relation not in {t["name"] for t in beta.tables()}
    with pytest.raises(Exception) as refused:
        beta.query(f"SELECT * FROM {relation}")
    assert "unknown" in str(refused.value).lower() or "not" in str(refused.value).lower()


def test_it_is_refreshed_in_the_commit_of_new_facts(warehouse: Session) -> None:
    body = copies_of_a_trade(warehouse, "TRU")
    before = warehouse.cube("trades", ASKED).rows()
    report = warehouse.ingest("trades", body, fmt="csv")
    assert report.status == "committed", report
    after = warehouse.cube("trades", ASKED)
    assert after.route == "rollup:by_instrument"
    assert _sorted(after.rows()) == _sorted(warehouse.cube("trades", _raw(ASKED)).rows())
    assert after.rows() != before


def test_under_a_row_policy_it_is_used_only_when_it_keeps_the_portfolio(
    warehouse: Session,
) -> None:
    client = _client(warehouse, "P0002")
    got = client.cube("trades", ASKED)
    assert got.route == "rollup:by_instrument"  # it keeps portfolio: filtered by it
    assert got.policy is not None and got.policy["policies"] == ["own"]
    assert got.policy["row_filtered"] == [got.plan.relation]
    expected = warehouse.cube(
        "trades", {**_raw(ASKED), "filters": [{"member": "portfolio", "op": "equals",
                                               "values": ["P0002"]}]},
    )  # fmt: skip
    assert _sorted(got.rows()) == _sorted(expected.rows())
    warehouse.add_schema(NO_PORTFOLIO)
    try:
        sectors = {"dimensions": ["sector"], "measures": ["trades", "notional"]}
        assert warehouse.cube("trades", sectors).route == "rollup:by_sector"
        policed = client.cube("trades", sectors)
        assert policed.route != "rollup:by_sector"
        assert "not readable" in policed.plan.considered["by_sector"]
        relation = next(o["relation"] for o in warehouse.schema() if o["name"] == "by_sector")
        with pytest.raises(Exception) as refused:  # and not readable in SQL either
            client.query(f"SELECT * FROM {relation}")
        assert getattr(refused.value, "code", "") == "policy_denied"
    finally:
        warehouse.drop_schema("rollup", "by_sector")
    assert warehouse.cube("trades", sectors).route != "rollup:by_sector"


OWN_CUBE = """
name: my_desks
fact: fact_trade
partition: trade_month
joins:
  portfolio: {table: dim_portfolio, sql: "fact.portfolio_key = portfolio.portfolio_key"}
dimensions:
  portfolio: {sql: fact.portfolio_code}
  desk: {sql: portfolio.desk}
  trade_date: {sql: fact.trade_date, type: time}
measures:
  trades: {type: count}
  quantity: {type: sum, sql: fact.quantity}
rollups:
  desk_portfolio:
    dimensions: [desk, portfolio]
    measures: [trades, quantity]
"""


def test_a_tenant_cube_may_declare_rollups(warehouse: Session) -> None:
    warehouse.add_cube(OWN_CUBE)
    try:
        asked = {"dimensions": ["desk"], "measures": ["trades", "quantity"]}
        got = warehouse.cube("my_desks", asked)
        assert got.route == "rollup:desk_portfolio"
        assert _sorted(got.rows()) == _sorted(warehouse.cube("my_desks", _raw(asked)).rows())
        client = _client(warehouse, "P0003")
        mine = client.cube("my_desks", asked)
        assert mine.route == "rollup:desk_portfolio"
        expected = warehouse.query(
            "SELECT p.desk, count(*), sum(t.quantity) FROM fact_trade t JOIN dim_portfolio p "
            "USING (portfolio_key) WHERE t.portfolio_code = 'P0003' GROUP BY 1"
        ).rows()
        assert _sorted([[r[0], r[1], r[2]] for r in mine.rows()]) == _sorted(expected)
    finally:
        warehouse.drop_schema("cube", "my_desks")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        # a dimension reading other rows: it would be stored beside each portfolio's code
        (
            (
                "desk: {sql: portfolio.desk}",
                "desk: {sql: \"(SELECT string_agg(portfolio_code, ',') FROM fact_trade)\"}",
            ),
            "reads beyond",
        ),
        (
            (
                "quantity: {type: sum, sql: fact.quantity}",
                'quantity: {type: sum, sql: "sum(fact.quantity) OVER ()"}',
            ),
            "reads beyond",
        ),
        # a join that does not pin the portfolio row: other portfolios' desks on our rows
        (
            (
                "fact.portfolio_key = portfolio.portfolio_key",
                "fact.portfolio_key = portfolio.portfolio_key OR true",
            ),
            "does not match",
        ),
        (
            (
                "fact.portfolio_key = portfolio.portfolio_key",
                "fact.counterparty_key = portfolio.portfolio_key",
            ),
            "does not match",
        ),
        (("partition: trade_month", "partition: trade_date"), "not partitioned"),
    ],
)
def test_a_tenant_rollup_that_could_leak_across_rows_is_refused(
    warehouse: Session, change: tuple[str, str], problem: str
) -> None:
    text = OWN_CUBE.replace(*change)
    assert text != OWN_CUBE
    before = warehouse.schema()
    with pytest.raises(InvalidSchemaObject) as refused:
        warehouse.add_cube(text)
    assert problem in refused.value.message
    assert warehouse.schema() == before  # nothing half-added


def test_bad_rollups_are_refused_with_what_to_fix(warehouse: Session) -> None:
    for text, problem in (
        ("rollup: r1\ncube: nope\nmeasures: [trades]", "no cube 'nope'"),
        ("rollup: r2\ncube: trades\nmeasures: [nope]", "unknown"),
        ("rollup: r3\ncube: trades\ndimensions: [portfolio]", "names no measures"),
        ("rollup: r4\ncube: trades\nmeasures: [trades]\ncolour: red", "unknown fields"),
        ("rollup: desk_month\ncube: trades\nmeasures: [trades]", "already has rollups"),
    ):
        with pytest.raises(InvalidSchemaObject) as refused:
            warehouse.add_schema(text)
        assert problem in refused.value.message, text
        assert refused.value.hint


def test_a_cube_with_a_rollup_of_the_tenant_cannot_be_dropped(warehouse: Session) -> None:
    warehouse.add_cube(OWN_CUBE.split("rollups:")[0])
    warehouse.add_schema("rollup: mine\ncube: my_desks\ndimensions: [portfolio]\n"
                         "measures: [trades]")  # fmt: skip
    with pytest.raises(SchemaObjectInUse):
        warehouse.drop_schema("cube", "my_desks")
    warehouse.drop_schema("rollup", "mine")
    warehouse.drop_schema("cube", "my_desks")


def test_http_and_cli_add_and_list_rollups(warehouse: Session, tmp_path: Path) -> None:
    wh = warehouse.warehouse
    key = wh.keys.create(Principal("default", "admin", ("admin",)), "rollups", ("admin",))
    http = TestClient(create_app(wh), headers={"Authorization": f"Bearer {key}"})
    text = (
        "rollup: by_currency\ncube: trades\ndimensions: [portfolio, currency]\nmeasures: [trades]"
    )
    added = http.post("/v1/schema", json={"yaml": text})
    assert added.status_code == 201, added.text
    assert added.json()["kind"] == "rollup" and added.json()["cube"] == "trades"
    asked = {"dimensions": ["currency"], "measures": ["trades"]}
    cube = http.post("/v1/cubes/trades/query", json=asked)
    assert cube.status_code == 200 and cube.json()["route"] == "rollup:by_currency"
    bad = http.post("/v1/schema", json={"yaml": "rollup: x\ncube: trades\nmeasures: [nope]"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_schema_object"
    path = tmp_path / "r.yaml"
    path.write_text("rollup: by_side\ncube: trades\ndimensions: [side]\nmeasures: [trades]\n")
    env = {"LEDGERHOUSE_ROOT": str(wh.root)}
    runner = CliRunner()
    out = runner.invoke(app, ["schema", "add", str(path)], env=env)
    assert out.exit_code == 0, out.output
    listed = runner.invoke(app, ["schema", "list"], env=env)
    assert "by_side" in listed.output and "by_currency" in listed.output
    for name in ("by_currency", "by_side"):
        warehouse.drop_schema("rollup", name)


def test_a_column_policy_masks_what_a_tenant_rollup_stores(warehouse: Session) -> None:
    warehouse.create_role("masked")
    warehouse.grant("read", "role:masked")
    warehouse.put_policy("mask", "column", classification="confidential", roles=["masked"])
    text = "rollup: by_cp\ncube: trades\ndimensions: [portfolio, counterparty]\nmeasures: [trades]"
    warehouse.add_schema(text)
    try:
        masked = warehouse.warehouse.session(Principal("default", "masked", ("masked",)))
        asked = {"dimensions": ["counterparty"], "measures": ["trades"]}
        assert warehouse.cube("trades", asked).route == "rollup:by_cp"
        got = masked.cube("trades", asked)
        codes = {r[0] for r in warehouse.cube("trades", asked).rows()}
        shown = {r[0] for r in got.rows()}
        assert shown and not shown & codes  # the counterparty codes are masked
        raw = masked.cube("trades", _raw(asked))
        assert _sorted(got.rows()) == _sorted(raw.rows())  # as the star masks them
    finally:
        warehouse.drop_schema("rollup", "by_cp")
        warehouse.drop_policy("mask")
