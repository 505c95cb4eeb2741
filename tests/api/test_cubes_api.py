"""Cubes over HTTP: metadata, queries, dry runs, drills, formats, errors; and the client."""

from __future__ import annotations

import csv as csv_module
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from ledgerhouse import Warehouse
from ledgerhouse.api import create_app
from ledgerhouse.client import Client
from ledgerhouse.errors import InvalidRequest, NotFound
from tests.api.test_api import _envelope
from tests.conftest import REF, TRADE_HEADER, admin, copy_warehouse, trade_row


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A warehouse holding REF and three trades, built once (each test serves a copy), and
    its admin key."""
    root = tmp_path_factory.mktemp("cubes-api") / "wh"
    wh, key = Warehouse.init(root=root)
    assert key is not None
    with wh:
        for ds, text in REF.items():
            admin(wh).ingest(ds, text.encode(), fmt="csv")
        rows = [
            trade_row("T1", qty="10", price="10"),
            trade_row("T2", qty="5", price="20", pf="P2", inst="BUND", ccy="EUR", side="SELL"),
            trade_row("T3", qty="1", price="30", date="2024-02-05", ts="2024-02-05T10:00:00Z"),
        ]
        admin(wh).ingest("trades", (TRADE_HEADER + "".join(rows)).encode(), fmt="csv")
    return root, key


@pytest.fixture
def client(
    tmp_path: Path, template: tuple[Path, str]
) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    root, key = template
    wh = copy_warehouse(root, tmp_path / "wh").warehouse
    with TestClient(create_app(wh)) as c:
        yield c, {"Authorization": f"Bearer {key}"}, key
    wh.close()


def test_cube_metadata(client) -> None:  # type: ignore[no-untyped-def]
    c, h, _ = client
    cubes = c.get("/v1/cubes", headers=h).json()
    assert [x["name"] for x in cubes] == ["performance", "positions", "trades"]
    trades = c.get("/v1/cubes/trades", headers=h).json()
    assert trades["hierarchies"]["portfolio"] == ["firm", "desk", "portfolio"]
    assert trades["hierarchies"]["date"] == ["year", "quarter", "month", "day"]
    assert {m["type"] for m in trades["measures"]} >= {
        "sum", "count", "count_distinct", "avg", "min", "max", "weighted_avg", "ratio",
        "running_total",
    }  # fmt: skip
    assert {r["name"]: r["rows"] for r in trades["rollups"]}[
        "desk_month"
    ] == 3  # 2 desks in January, 1 in February
    _envelope(c.get("/v1/cubes/nope", headers=h), 404, "not_found")
    _envelope(c.get("/v1/cubes"), 401, "unauthorized")


def test_cube_query_json_dry_run_drill_and_csv(client) -> None:  # type: ignore[no-untyped-def]
    c, h, _ = client
    q = {"measures": ["notional", "trades"], "hierarchies": {"portfolio": "firm"}}
    body = c.post("/v1/cubes/trades/query", json=q, headers=h).json()
    # in the reporting currency (USD): 100 + 30 USD (P1) and 100 EUR = 110 USD (P2)
    assert body["rows"] == [["ACME", 240.0, 3]]
    assert body["route"].startswith("rollup:") and body["cache_hit"] is False
    assert body["navigation"]["portfolio"] == {"level": "firm", "up": None, "down": "desk"}
    drilled = c.post(
        "/v1/cubes/trades/query",
        json={**q, "drill": {"hierarchy": "portfolio", "value": "ACME"}},
        headers=h,
    ).json()
    assert drilled["rows"] == [["ACME", "Equities", 130.0, 2], ["ACME", "Europe", 110.0, 1]]
    assert drilled["query"]["hierarchies"] == {"portfolio": "desk"}
    monthly = {"measures": ["trades"], "time_dimension": {"granularity": "month"}}
    dry = c.post("/v1/cubes/trades/query", json={**monthly, "dry_run": True}, headers=h).json()
    assert dry["dry_run"] is True and dry["rows"] == [] and "date_trunc" in dry["sql"]
    csv = c.post("/v1/cubes/trades/query", json=monthly, headers={**h, "Accept": "text/csv"})
    assert list(csv_module.reader(io.StringIO(csv.text))) == [
        ["trade_date", "trades"], ["2024-01-01", "2"], ["2024-02-01", "1"],
    ]  # fmt: skip
    assert csv.headers["X-Route"].startswith("rollup:")
    parquet = c.post(
        "/v1/cubes/trades/query",
        json={**monthly, "pivot": None},
        headers={**h, "Accept": "application/vnd.apache.parquet"},
    )
    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == 2
    metrics = c.get("/metrics").text
    assert f'ledgerhouse_query_seconds_count{{route="{body["route"]}"}} ' in metrics


def test_cube_query_errors_use_the_envelope(client) -> None:  # type: ignore[no-untyped-def]
    c, h, _ = client
    err = _envelope(
        c.post("/v1/cubes/trades/query", json={"measures": ["nope"]}, headers=h),
        400,
        "invalid_request",
    )
    assert "no measure 'nope'" in err["message"] and "notional" in err["hint"]
    _envelope(c.post("/v1/cubes/nope/query", json={"measures": ["x"]}, headers=h), 404, "not_found")
    err = _envelope(
        c.post("/v1/cubes/trades/query", json={"bogus": 1}, headers=h), 400, "invalid_request"
    )
    assert "bogus" in err["message"]


def test_a_cube_document_may_name_its_cube(client) -> None:  # type: ignore[no-untyped-def]
    """Issue 12 item 8: tour.json's "cube" key is accepted when it names the cube of the path,
    and refused (400, naming both) when it names another."""
    c, h, _ = client
    query = {"measures": ["trades"], "dimensions": ["side"]}
    plain = c.post("/v1/cubes/trades/query", json=query, headers=h)
    named = c.post("/v1/cubes/trades/query", json={"cube": "trades", **query}, headers=h)
    assert named.status_code == 200, named.text
    assert named.json()["rows"] == plain.json()["rows"] == [["BUY", 2], ["SELL", 1]]
    err = _envelope(
        c.post("/v1/cubes/positions/query", json={"cube": "trades", **query}, headers=h),
        400,
        "invalid_request",
    )
    assert "'trades'" in err["message"] and "'positions'" in err["message"]
    assert err["details"] == {"cube": "positions", "document_cube": "trades"}


def test_client_cubes(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c, _, key = client
    lh = Client("http://testserver", key, http=c)
    assert "trades" in {x["name"] for x in lh.cubes()}
    res = lh.cube("trades", {"measures": ["trades"], "dimensions": ["side"]})
    assert res.rows() == [["BUY", 2], ["SELL", 1]]
    down = lh.cube("trades", lh.cube_drill("trades", {"measures": ["trades"]}, "instrument"))
    assert [r[0] for r in down.rows()] == ["BOND", "EQUITY"]
    plan = lh.cube("trades", {"cube": "trades", "measures": ["trades"]}, dry_run=True)
    assert plan.table is None and plan.answer is not None and "SELECT" in plan.answer["sql"]
    with pytest.raises(InvalidRequest, match="no dimension"):
        lh.cube("trades", {"dimensions": ["nope"]})
    with pytest.raises(NotFound):
        lh.cube("nope", {"measures": ["trades"]})
