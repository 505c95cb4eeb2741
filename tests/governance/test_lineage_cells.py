"""Cell lineage: a logged answer's row back to the batches whose rows made it, checked against a
direct query on the fact's batch_id at the answer's commit, before and after an amendment; a
SQL group-by answer; relation precision for a union and a mart; tenant isolation and roles,
through the library and over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledgerhouse.errors import Forbidden, NotFound
from ledgerhouse.session import Session
from tests.api.conftest import _serve
from tests.conftest import admin, copy_warehouse, trade_row, trades_csv

CUBE = {"dimensions": ["portfolio"], "measures": ["notional", "trades"]}
GROUP_BY = (
    "SELECT t.portfolio_code, i.asset_class, count(*) AS n, sum(t.quantity) AS q "
    "FROM fact_trade t JOIN dim_instrument i ON t.instrument_key = i.instrument_key "
    "WHERE t.side = 'BUY' GROUP BY t.portfolio_code, i.asset_class ORDER BY 1, 2"
)


@dataclass
class Story:
    me: Session
    before: Any  # the cube answer before the amendment
    after: Any  # the same cube query after it
    sql: Any  # a SQL group-by answer before the amendment


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, ref_template: Path) -> Iterator[Story]:
    me = copy_warehouse(ref_template, tmp_path_factory.mktemp("cells") / "wh")
    warehouse = me.warehouse
    me.ingest(
        "trades",
        trades_csv(
            trade_row("T1"),
            trade_row("T2", qty="5", side="SELL"),
            trade_row("T3", pf="P2", inst="SAP", ccy="EUR"),
        ),
        fmt="csv",
        batch_id="b1",
    )
    day3 = {"ts": "2024-01-03T10:00:00Z", "date": "2024-01-03"}
    me.ingest("trades", trades_csv(trade_row("T4", inst="BUND", ccy="EUR", **day3)), fmt="csv",
              batch_id="b2")  # fmt: skip
    before = me.cube("trades", CUBE)
    sql = me.query(GROUP_BY)
    amend = trade_row("T1", event="AMEND", ts="2024-01-02T15:00:00Z", qty="200")
    assert me.ingest("trades", trades_csv(amend), fmt="csv", batch_id="b3").status == "committed"
    after = me.cube("trades", CUBE)
    warehouse.create_tenant("other")
    yield Story(me, before, after, sql)
    warehouse.close()


def _direct(me: Session, commit: int, where: str) -> dict[str, int]:
    rows = me.query(
        f"SELECT batch_id, count(*) FROM fact_trade WHERE {where} GROUP BY 1", as_of=commit
    ).rows()
    return {b: n for b, n in rows}


def _fact_batches(explained: dict[str, Any], relation: str = "fact_trade") -> dict[str, int]:
    return {
        b["batch_id"]: b["rows_in_answer"][relation]
        for b in explained["batches"]
        if relation in b["rows_in_answer"]
    }


def _row_of(result: Any, portfolio: str) -> int:
    return next(i for i, r in enumerate(result.rows()) if r[0] == portfolio)


def test_a_cube_answer_names_exactly_the_batches_of_its_group(story: Story) -> None:
    me, answer = story.me, story.before
    assert answer.route.startswith("rollup:")  # explained on the raw route all the same
    row = _row_of(answer, "P1")
    explained = me.explain_cell(answer.query_id, row)
    assert explained["precision"] == "row" and explained["kind"] == "cube"
    assert explained["commit_id"] == answer.commit
    assert explained["values"]["portfolio"] == "P1"
    assert _fact_batches(explained) == _direct(me, answer.commit, "portfolio_code = 'P1'")
    assert _fact_batches(explained) == {"b1": 2, "b2": 1}
    assert sum(_fact_batches(explained).values()) == explained["values"]["trades"]


def test_the_old_answer_still_names_the_old_batches_after_an_amendment(story: Story) -> None:
    me = story.me
    old = me.explain_cell(story.before.query_id, _row_of(story.before, "P1"))
    assert set(_fact_batches(old)) == {"b1", "b2"}  # at its commit: T1 came from b1 then
    new = me.explain_cell(story.after.query_id, _row_of(story.after, "P1"))
    assert story.after.commit > story.before.commit
    assert _fact_batches(new) == _direct(me, story.after.commit, "portfolio_code = 'P1'")
    assert _fact_batches(new) == {"b1": 1, "b2": 1, "b3": 1}  # T1 is b3's amendment now


def test_a_batch_names_its_ledger_counts_raw_records_and_files(story: Story) -> None:
    me = story.me
    explained = me.explain_cell(story.after.query_id, _row_of(story.after, "P1"))
    b3 = next(b for b in explained["batches"] if b["batch_id"] == "b3")
    assert b3["dataset"] == "trades" and b3["received_at"]
    assert b3["report"] == {"rows_received": 1, "rows_accepted": 1, "rows_quarantined": 0}
    raw = b3["raw"]
    assert raw["relation"] == "raw_trades" and raw["row_numbers"] == [1, 1] and raw["rows"] == 1
    root = me.warehouse.store.tenant_root(me.principal.tenant)
    assert raw["files"] and all((root / f).is_file() for f in raw["files"])
    assert me.query(
        "SELECT count(*) FROM raw_trades WHERE _batch_id = 'b3'", as_of=explained["commit_id"]
    ).rows() == [[1]]
    b1 = next(b for b in explained["batches"] if b["batch_id"] == "b1")
    assert b1["raw"]["row_numbers"] == [1, 3] and b1["report"]["rows_received"] == 3


def test_a_cube_cell_names_its_column_path_from_the_raw_columns(story: Story) -> None:
    explained = story.me.explain_cell(story.before.query_id, 0)
    paths = [p["path"] for p in explained["columns"]["notional"]]
    assert ["raw_trades.quantity", "fact_trade.notional_reporting", "cube:trades.notional"] in paths
    assert ["raw_fx_rates.rate_to_usd", "fact_fx_rate.rate_to_usd",
            "fact_trade.notional_reporting", "cube:trades.notional"] in paths  # fmt: skip
    assert explained["columns"]["portfolio"][0]["path"] == [
        "raw_trades.portfolio_code", "fact_trade.portfolio_code", "cube:trades.portfolio",
    ]  # fmt: skip


def test_a_sql_group_by_answer_names_each_tables_batches_of_its_group(story: Story) -> None:
    me, answer = story.me, story.sql
    rows = answer.rows()
    row = next(i for i, r in enumerate(rows) if r[0] == "P1")
    explained = me.explain_cell(answer.query_id, row)
    assert explained["precision"] == "row" and explained["scope"] == "group"
    assert explained["filters"] == {"portfolio_code": "P1", "asset_class": rows[row][1]}
    where = (
        "portfolio_code = 'P1' AND side = 'BUY' AND instrument_key IN (SELECT instrument_key "
        f"FROM dim_instrument WHERE asset_class = '{rows[row][1]}')"
    )
    assert _fact_batches(explained) == _direct(me, answer.commit.id, where)
    assert sum(_fact_batches(explained).values()) == rows[row][2]
    (instruments,) = [b for b in explained["batches"] if "dim_instrument" in b["rows_in_answer"]]
    assert instruments["dataset"] == "instruments"
    q_paths = [p["path"] for p in explained["columns"]["q"]]
    assert ["raw_trades.quantity", "fact_trade.quantity", "answer.q"] in q_paths


def test_a_union_is_explained_at_relation_precision(story: Story) -> None:
    me = story.me
    union = me.query(
        "SELECT portfolio_code FROM fact_trade UNION SELECT portfolio_code FROM fact_position"
    )
    explained = me.explain_cell(union.query_id, 0)
    assert explained["precision"] == "relation"
    every = me.query("SELECT DISTINCT batch_id FROM fact_trade", as_of=union.commit.id).rows()
    assert set(_fact_batches(explained)) == {r[0] for r in every} == {"b1", "b2", "b3"}


def test_a_mart_answer_goes_to_the_facts_it_is_built_from(story: Story) -> None:
    me = story.me
    answer = me.query(  # a mart read with another relation: not attributed row by row
        "SELECT p.firm, sum(m.notional_base) FROM mart_trading_activity m "
        "JOIN dim_portfolio p USING (portfolio_key) GROUP BY 1"
    )
    explained = me.explain_cell(answer.query_id, 0)
    assert explained["precision"] == "relation"
    assert set(_fact_batches(explained)) == {"b1", "b2", "b3"}
    assert set(_fact_batches(explained, "dim_instrument")) == {
        b["batch_id"] for b in me.batches() if b["dataset"] == "instruments"
    }


def test_a_row_past_the_answer_is_refused_naming_the_rows(story: Story) -> None:
    with pytest.raises(NotFound, match="answered 2 rows: there is no row 2"):
        story.me.explain_cell(story.before.query_id, 2)


def test_another_tenants_query_id_does_not_exist(story: Story) -> None:
    other = story.me.warehouse.local("other", roles=("admin",))
    with pytest.raises(NotFound, match="no query"):
        other.explain_cell(story.before.query_id, 0)
    with pytest.raises(NotFound, match="no query"):
        other.explain_cell(story.sql.query_id, 0)


def test_roles_a_reader_explains_an_auditor_sees_lineage_only(story: Story) -> None:
    wh = story.me.warehouse
    reader = wh.local(None, roles=("reader",), user="rita")
    assert set(_fact_batches(reader.explain_cell(story.before.query_id, 0))) == {"b1", "b2"}
    auditor = wh.local(None, roles=("auditor",), user="audrey")
    assert auditor.lineage("fact_trade", "notional_base")["edges"]
    with pytest.raises(Forbidden):
        auditor.explain_cell(story.before.query_id, 0)


def test_over_http_the_same_answer_and_the_same_isolation(story: Story, tmp_path: Path) -> None:
    wh = story.me.warehouse
    reader_key = story.me.create_api_key("rita", ("reader",))
    other_key = admin(wh, "other").create_api_key("mallory", ("admin",))
    query_id = story.before.query_id
    with _serve(wh) as base:
        mine = httpx.get(
            f"{base}/v1/queries/{query_id}/cells/0",
            headers={"Authorization": f"Bearer {reader_key}"},
            timeout=30,
        )
        assert mine.status_code == 200, mine.text
        assert mine.json() == story.me.explain_cell(query_id, 0) | {
            "batches": mine.json()["batches"]
        }
        assert {b["batch_id"] for b in mine.json()["batches"]} >= {"b1", "b2"}
        theirs = httpx.get(
            f"{base}/v1/queries/{query_id}/cells/0",
            headers={"Authorization": f"Bearer {other_key}"},
            timeout=30,
        )
        assert theirs.status_code == 404
        assert theirs.json()["error"]["code"] == "not_found"
        edges = httpx.get(
            f"{base}/v1/lineage/fact_trade/notional_base",
            params={"depth": 1},
            headers={"Authorization": f"Bearer {reader_key}"},
            timeout=30,
        ).json()
        assert edges == story.me.lineage("fact_trade", "notional_base", depth=1)
