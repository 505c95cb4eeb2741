"""Cell lineage of answers the first cell tests do not cover: a parameterized SQL answer (the
query log keeps the parameters, type-tagged, so the answer is reproduced with them) and a SQL
answer over a mart at row precision (the mart's grain mapped to the fact's columns); each
checked against a direct query on fact_trade.batch_id at the answer's commit, before and after
an amendment, through the library and over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from ledgerhouse.client import Client
from ledgerhouse.errors import InvalidRequest
from ledgerhouse.session import Session
from ledgerhouse.storage.query_store import MAX_PARAMS_CHARS, decode_params, encode_params
from tests.api.conftest import _serve
from tests.conftest import copy_warehouse, trade_row, trades_csv

#: A parameter in the select list (dropped by the rewrite), one in the filter (kept), a Decimal
#: and a date: the reproduced answer and the provenance query both need every one right.
PARAM_SQL = (
    "SELECT t.portfolio_code, count(*) AS n, sum(t.quantity * ?) AS q2 "
    "FROM fact_trade t WHERE t.side = ? AND t.quantity >= ? AND t.trade_date >= ? "
    "GROUP BY t.portfolio_code ORDER BY 1"
)
PARAMS = [Decimal("2"), "BUY", Decimal("5.0000"), date(2024, 1, 1)]
MART_SQL = (
    "SELECT trade_date, portfolio_code, sum(notional_base) AS notional "
    "FROM mart_trading_activity GROUP BY ALL ORDER BY 1, 2"
)


@dataclass
class Story:
    me: Session
    param: Any  # the parameterized answer before the amendment
    param_after: Any  # the same query after it
    mart: Any  # the mart answer before the amendment
    mart_after: Any


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, ref_template: Path) -> Iterator[Story]:
    me = copy_warehouse(ref_template, tmp_path_factory.mktemp("cells-params") / "wh")
    warehouse = me.warehouse
    me.ingest(
        "trades",
        trades_csv(
            trade_row("T1"),
            trade_row("T2", qty="5", side="SELL"),
            trade_row("T3", pf="P2", inst="SAP", ccy="EUR"),
            trade_row("T5", qty="3"),  # under the quantity parameter: not in the group
        ),
        fmt="csv",
        batch_id="b1",
    )
    day3 = {"ts": "2024-01-03T10:00:00Z", "date": "2024-01-03"}
    me.ingest("trades", trades_csv(trade_row("T4", inst="BUND", ccy="EUR", **day3)), fmt="csv",
              batch_id="b2")  # fmt: skip
    param = me.query(PARAM_SQL, params=PARAMS)
    mart = me.query(MART_SQL)
    amend = trade_row("T1", event="AMEND", ts="2024-01-02T15:00:00Z", qty="200")
    assert me.ingest("trades", trades_csv(amend), fmt="csv", batch_id="b3").status == "committed"
    param_after = me.query(PARAM_SQL, params=PARAMS)
    mart_after = me.query(MART_SQL)
    yield Story(me, param, param_after, mart, mart_after)
    warehouse.close()


def _direct(me: Session, commit: int, where: str, params: list[Any] | None = None) -> dict:
    rows = me.query(
        f"SELECT batch_id, count(*) FROM fact_trade WHERE {where} GROUP BY 1",
        as_of=commit,
        params=params,
    ).rows()
    return {b: n for b, n in rows}


def _fact_batches(explained: dict[str, Any]) -> dict[str, int]:
    return {
        b["batch_id"]: b["rows_in_answer"]["fact_trade"]
        for b in explained["batches"]
        if "fact_trade" in b["rows_in_answer"]
    }


def _row_of(result: Any, *key: Any) -> int:
    return next(i for i, r in enumerate(result.rows()) if tuple(r[: len(key)]) == key)


# -- parameters in the query log ----------------------------------------------------------------
def test_parameters_round_trip_exactly_with_their_types() -> None:
    values = [
        None, True, 7, 1.5, "x", Decimal("12345678901234567890.123456789"), Decimal("5.0000"),
        date(2024, 1, 2), datetime(2024, 1, 2, 10, 30, tzinfo=UTC), datetime(2024, 1, 2, 10),
        time(9, 15, 1), timedelta(days=1, seconds=5, microseconds=7),
        UUID("12345678-1234-5678-1234-567812345678"), float("inf"),
    ]  # fmt: skip
    back = decode_params(encode_params(values))
    assert back == values
    assert [type(v) for v in back] == [type(v) for v in values]
    assert str(back[6]) == "5.0000"  # the scale is kept, not only the value
    assert encode_params(None) is None and decode_params(None) is None


def test_parameters_too_large_are_omitted_and_the_entry_says_so(story: Story) -> None:
    stored = encode_params(["x" * MAX_PARAMS_CHARS])
    assert stored is not None and "values" not in stored
    assert stored["omitted"]["count"] == 1 and "over the" in stored["omitted"]["reason"]
    me = story.me
    big = me.query("SELECT count(*) FROM fact_trade WHERE side <> ?",
                   params=["y" * (MAX_PARAMS_CHARS + 10)])  # fmt: skip
    me.warehouse.query_log.flush()
    entry = me.query_log_entry(big.query_id)
    assert entry["params"] is None and entry["params_omitted"]["count"] == 1
    with pytest.raises(InvalidRequest, match="parameters were not kept"):
        me.explain_cell(big.query_id, 0)


def test_the_logged_entry_gives_back_the_parameters(story: Story) -> None:
    entry = story.me.query_log_entry(story.param.query_id)
    assert entry["params"] == PARAMS and entry["params_omitted"] is None
    assert isinstance(entry["params"][0], Decimal) and str(entry["params"][2]) == "5.0000"
    assert isinstance(entry["params"][3], date)


# -- a parameterized answer -------------------------------------------------------------------
GROUP_WHERE = "side = ? AND quantity >= ? AND trade_date >= ? AND portfolio_code = ?"


def test_a_parameterized_group_by_names_exactly_the_batches_of_its_group(story: Story) -> None:
    me, answer = story.me, story.param
    row = _row_of(answer, "P1")
    explained = me.explain_cell(answer.query_id, row)
    assert explained["precision"] == "row" and explained["scope"] == "group"
    assert explained["values"]["q2"] == str(answer.rows()[row][2])
    want = _direct(me, answer.commit.id, GROUP_WHERE, [*PARAMS[1:], "P1"])
    assert _fact_batches(explained) == want == {"b1": 1, "b2": 1}  # T5 is under the quantity
    assert sum(want.values()) == answer.rows()[row][1]


def test_after_an_amendment_the_old_parameterized_answer_keeps_its_batches(story: Story) -> None:
    me = story.me
    old = me.explain_cell(story.param.query_id, _row_of(story.param, "P1"))
    assert _fact_batches(old) == {"b1": 1, "b2": 1}
    new = me.explain_cell(story.param_after.query_id, _row_of(story.param_after, "P1"))
    want = _direct(me, story.param_after.commit.id, GROUP_WHERE, [*PARAMS[1:], "P1"])
    assert _fact_batches(new) == want == {"b2": 1, "b3": 1}


def test_over_http_a_parameterized_answer_is_explained_the_same(story: Story) -> None:
    me = story.me
    key = me.create_api_key("rita", ("reader",))
    sql = "SELECT portfolio_code, count(*) FROM fact_trade WHERE side = ? GROUP BY 1 ORDER BY 1"
    with _serve(me.warehouse) as base, Client(base, key) as client:
        answer = client.query(sql, params=["BUY"])
        explained = client.explain_cell(answer.query_id, 0)
        local = me.explain_cell(answer.query_id, 0)
    assert explained.pop("cube", None) is None  # the HTTP schema's field for cube answers
    assert explained == local | {"batches": explained["batches"]}
    assert _fact_batches(explained) == _fact_batches(local)
    assert _fact_batches(explained) == _direct(
        me, answer.commit.id, "side = 'BUY' AND portfolio_code = ?", [answer.rows()[0][0]]
    )


# -- a mart answer at row precision ------------------------------------------------------------
def test_a_mart_answer_names_the_batches_of_its_rows(story: Story) -> None:
    me, answer = story.me, story.mart
    row = _row_of(answer, date(2024, 1, 2), "P1")
    explained = me.explain_cell(answer.query_id, row)
    assert explained["precision"] == "row", explained["method"]
    assert explained["kind"] == "sql" and "mart_trading_activity" in explained["method"]
    want = _direct(me, answer.commit.id, "trade_date = DATE '2024-01-02' AND portfolio_code = 'P1'")
    assert _fact_batches(explained) == want == {"b1": 3}


def test_after_an_amendment_the_old_mart_answer_keeps_its_batches(story: Story) -> None:
    me = story.me
    old = me.explain_cell(story.mart.query_id, _row_of(story.mart, date(2024, 1, 2), "P1"))
    assert _fact_batches(old) == {"b1": 3}
    after = story.mart_after
    new = me.explain_cell(after.query_id, _row_of(after, date(2024, 1, 2), "P1"))
    want = _direct(me, after.commit.id, "trade_date = DATE '2024-01-02' AND portfolio_code = 'P1'")
    assert _fact_batches(new) == want == {"b1": 2, "b3": 1}


def test_a_mart_answer_filtered_on_a_measure_selects_its_mart_rows_first(story: Story) -> None:
    me = story.me
    answer = me.query("SELECT count(*) FROM mart_trading_activity WHERE trades >= 2")
    explained = me.explain_cell(answer.query_id, 0)
    assert explained["precision"] == "row"
    groups = me.query(  # the mart rows the filter keeps, then their fact rows, directly
        "SELECT trade_date, portfolio_code, asset_class FROM mart_trading_activity "
        "WHERE trades >= 2", as_of=answer.commit.id,
    ).rows()  # fmt: skip
    assert groups  # the filter keeps some rows and drops others
    assert len(groups) < me.query("SELECT count(*) FROM mart_trading_activity").rows()[0][0]
    want: dict[str, int] = {}
    for day, portfolio, asset_class in groups:
        where = (
            "trade_date = ? AND portfolio_code = ? AND instrument_key IN "
            "(SELECT instrument_key FROM dim_instrument WHERE asset_class = ?)"
        )
        for b, n in _direct(me, answer.commit.id, where, [day, portfolio, asset_class]).items():
            want[b] = want.get(b, 0) + n
    assert _fact_batches(explained) == want


def test_a_mart_read_with_a_window_function_stays_at_relation_precision(story: Story) -> None:
    me = story.me
    answer = me.query(
        "SELECT portfolio_code, sum(notional_base) OVER (PARTITION BY portfolio_code) "
        "FROM mart_trading_activity"
    )
    explained = me.explain_cell(answer.query_id, 0)
    assert explained["precision"] == "relation" and explained["provenance_sql"] is None
    every = me.query("SELECT DISTINCT batch_id FROM fact_trade", as_of=answer.commit.id).rows()
    assert set(_fact_batches(explained)) == {r[0] for r in every}


def test_the_rewrite_renumbers_the_querys_own_placeholders() -> None:
    """A placeholder in a grouping expression is copied into the filter, one in the select
    list is dropped with it, one in the WHERE stays: each keeps its own value."""
    from ledgerhouse.governance.lineage.cells import attribution

    schema = {"fact_trade": ["trade_date", "side", "quantity", "batch_id"]}
    plan = attribution(
        "SELECT date_trunc(?, trade_date) AS m, sum(quantity * ?) FROM fact_trade "
        "WHERE side = ? GROUP BY 1",
        schema,
        [date(2024, 1, 1), Decimal("4")],
        {},
        params=["month", Decimal("2"), "BUY"],
    )
    assert plan is not None
    assert "$1" in plan.sql and "$3" in plan.sql and "?" not in plan.sql
    assert plan.params == ["BUY", "month", date(2024, 1, 1)]  # in order of first use
    where = plan.sql[plan.sql.index("WHERE") :]
    for n, value in enumerate(plan.params, start=1):  # each number is bound to its own value
        assert f"${n}" in where
        if value == "BUY":
            assert f"side = ${n}" in where
        if value == "month":
            assert f"DATE_TRUNC(${n}, trade_date)" in where
    assert Decimal("2") not in plan.params  # the select list's parameter went with it
    assert attribution("SELECT count(*) FROM fact_trade WHERE side = ?", schema, [1], {},
                       params=[]) is None  # fmt: skip
