"""The hostile corpus through every route that accepts SQL or a query: the SQL route (plain and
with EXPLAIN), the query-plan route and cube filters. Each is refused with a 4xx envelope that
leaks no path, no setting and no other tenant's value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgerhouse import Warehouse
from ledgerhouse.api import create_app
from tests.conftest import REF, TRADE_HEADER, admin, trade_row
from tests.query.hostile import CORPUS, DANGEROUS_CALLS, LEGITIMATE

SECRET_TRADE = "SECRET-4242"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict, Path]]:  # type: ignore[type-arg]
    root = tmp_path_factory.mktemp("hostile") / "wh"
    wh, _ = Warehouse.init(root=root)
    for ds, text in REF.items():
        admin(wh).ingest(ds, text.encode(), fmt="csv")
    admin(wh).ingest("trades", (TRADE_HEADER + trade_row(SECRET_TRADE)).encode(), fmt="csv")
    other_admin = wh.create_tenant("other")
    assert other_admin
    reader = admin(wh, "other").create_api_key("eve", ("reader",))
    with TestClient(create_app(wh)) as c:
        yield c, {"Authorization": f"Bearer {reader}"}, wh.root
    wh.close()


def _refused(resp, root: Path) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["message"]
    text = resp.text
    assert str(root) not in text, text[:300]  # the server's own paths never show
    assert SECRET_TRADE not in text
    assert not re.search(r"\b\d+(\.\d+)? ?[GM]i?B\b", text), text[:300]  # a memory setting
    return body["error"]  # type: ignore[no-any-return]


def test_every_hostile_statement_is_refused_over_http(server) -> None:  # type: ignore[no-untyped-def]
    c, h, root = server
    for sql in CORPUS:
        _refused(c.post("/v1/query/sql", json={"sql": sql}, headers=h), root)


@pytest.mark.parametrize("explain", ["plan", "analyze"])
def test_explain_does_not_open_a_way_around_the_guard(server, explain: str) -> None:  # type: ignore[no-untyped-def]
    c, h, root = server
    for sql in CORPUS[::7]:
        body = {"sql": sql, "explain": explain, "timeout_s": 2}
        _refused(c.post("/v1/query/sql", json=body, headers=h), root)


def test_the_plan_route_runs_nothing_the_guard_refused(server) -> None:  # type: ignore[no-untyped-def]
    c, h, root = server
    for call in DANGEROUS_CALLS[:5]:
        _refused(c.post("/v1/query/sql", json={"sql": f"SELECT {call}"}, headers=h), root)
    entries = c.get("/v1/queries", params={"status": "rejected"}, headers=h).json()
    assert len(entries) >= 5
    for entry in entries[:5]:
        resp = c.get(f"/v1/queries/{entry['id']}", params={"plan": "true"}, headers=h)
        assert resp.status_code == 200 and resp.json()["plan"] is None


def test_another_tenants_data_is_not_reachable(server) -> None:  # type: ignore[no-untyped-def]
    c, h, _ = server
    resp = c.post("/v1/query/sql", json={"sql": "SELECT trade_id FROM fact_trade"}, headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["rows"] == []  # tenant "other" has no trades; default's stay unseen


def test_legitimate_sql_still_answers(server) -> None:  # type: ignore[no-untyped-def]
    c, h, _ = server
    runnable = [
        sql for sql in LEGITIMATE
        if "?" not in sql and "ASOF" not in sql and "trade_date, '%Y" not in sql
    ]  # fmt: skip
    for sql in runnable:
        resp = c.post("/v1/query/sql", json={"sql": sql}, headers=h)
        assert resp.status_code == 200, (sql, resp.text[:300])


@pytest.mark.parametrize(
    "value",
    [
        "x' OR '1'='1",
        "'); SELECT current_setting('x'); --",
        '"fact_trade@1"',
        "/etc/passwd",
        SECRET_TRADE,
    ],
)
def test_cube_filter_values_are_bound_not_spliced(server, value: str) -> None:  # type: ignore[no-untyped-def]
    c, h, _ = server
    q = {"measures": ["trades"], "dimensions": ["desk"],
         "filters": [{"member": "desk", "op": "equals", "values": [value]}]}  # fmt: skip
    resp = c.post("/v1/cubes/trades/query", json=q, headers=h)
    assert resp.status_code == 200, resp.text[:300]
    assert resp.json()["rows"] == []


@pytest.mark.parametrize(
    "member",
    [
        "desk; DROP TABLE fact_trade",
        "current_setting('x')",
        'desk" OR 1=1 --',
        "read_csv('/etc/passwd')",
        "fact_trade.trade_id",
    ],
)
def test_cube_members_that_are_not_in_the_model_are_refused(server, member: str) -> None:  # type: ignore[no-untyped-def]
    c, h, root = server
    for q in (
        {"measures": ["trades"], "dimensions": [member]},
        {"measures": [member]},
        {"measures": ["trades"], "filters": [{"member": member, "op": "set"}]},
        {"measures": ["trades"], "order": {member: "asc"}},
    ):
        _refused(c.post("/v1/cubes/trades/query", json=q, headers=h), root)
