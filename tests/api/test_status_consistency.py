"""One status per error code, and one set of type names, whichever route answers (issue 12,
item 20): a body that does not match its schema is `invalid_request` 400 like every other
invalid request, and analytics answers name column types as SQL answers do (Arrow names)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerhouse.api import create_app
from ledgerhouse.errors import REGISTRY, InvalidRequest
from ledgerhouse.session import Session


@pytest.fixture(scope="module")
def api(loaded: Session) -> Iterator[tuple[TestClient, dict[str, str]]]:
    key = loaded.create_api_key("status-consistency", ("admin",))
    with TestClient(create_app(loaded.warehouse)) as c:
        yield c, {"Authorization": f"Bearer {key}"}


def _invalid(resp: Any) -> dict[str, Any]:
    assert resp.status_code == InvalidRequest.status == 400, resp.text
    error: dict[str, Any] = resp.json()["error"]
    assert error["code"] == "invalid_request" and error["message"], error
    return error


MALFORMED = [  # a body the schema refuses (a missing field, a wrong type, an unknown field)
    ("/v1/query/sql", {"nosql": 1}),
    ("/v1/query/sql", {"sql": "SELECT 1", "limit": "many"}),
    ("/v1/cubes/trades/query", {"bogus": 1}),
    ("/v1/analytics/performance", {"start": "not a date"}),
    ("/v1/analytics/exposures", {"date": "2025-01-01", "by": ["colour"]}),
    ("/v1/analytics/pnl", {"portfolios": 7}),
    ("/v1/keys", {"user": "x", "roles": ["emperor"]}),
    ("/v1/keys", {"roles": ["reader"]}),
]


@pytest.mark.parametrize(("path", "body"), MALFORMED, ids=[f"{p} {b}" for p, b in MALFORMED])
def test_a_malformed_body_is_invalid_request_400(api: Any, path: str, body: Any) -> None:
    c, h = api
    error = _invalid(c.post(path, json=body, headers=h))
    assert error["hint"], error


def test_a_body_that_is_not_json_is_invalid_request_400(api: Any) -> None:
    c, h = api
    headers = {**h, "Content-Type": "application/json"}
    _invalid(c.post("/v1/query/sql", content=b"{not json", headers=headers))


def test_a_malformed_query_parameter_is_invalid_request_400(api: Any) -> None:
    c, h = api
    _invalid(c.get("/v1/commits", params={"limit": "lots"}, headers=h))
    _invalid(c.post("/v1/keys/not-an-id/revoke", headers=h))


def test_a_domain_invalid_request_has_the_same_status(api: Any) -> None:
    c, h = api
    err = _invalid(c.post("/v1/cubes/trades/query", json={"measures": ["nope"]}, headers=h))
    assert "nope" in err["message"]
    _invalid(c.post("/v1/query/sql", json={"sql": "SELECT 1", "as_of": 0}, headers=h))


def test_invalid_request_has_one_status_in_the_registry() -> None:
    assert REGISTRY["invalid_request"].status == 400


def _types(answer: dict[str, Any]) -> dict[str, str]:
    return {col["name"]: col["type"] for col in answer["columns"]}


def test_analytics_and_sql_name_the_same_column_types_alike(api: Any) -> None:
    c, h = api
    first = c.post(
        "/v1/query/sql", json={"sql": "SELECT min(trade_date) FROM fact_trade"}, headers=h
    ).json()["rows"][0][0]
    vwap = c.post("/v1/analytics/vwap", json={"start": first, "end": first}, headers=h)
    assert vwap.status_code == 200, vwap.text
    analytics = _types(vwap.json())
    dates = [n for n, t in analytics.items() if "date" in n and t.startswith("date")]
    floats = [n for n, t in analytics.items() if n == "vwap"]
    assert dates and floats, analytics
    date, number = dates[0], floats[0]
    sql = c.post(
        "/v1/query/sql",
        json={"sql": f"SELECT trade_date AS {date}, CAST(price AS DOUBLE) AS {number}, "
              "CAST(trade_id AS VARCHAR) AS name FROM fact_trade LIMIT 1"},
        headers=h,
    )  # fmt: skip
    assert sql.status_code == 200, sql.text
    described = _types(sql.json())
    assert analytics[date] == described[date] == "date32[day]"
    assert analytics[number] == described[number] == "double"
    strings = [n for n, t in analytics.items() if "string" in t or t == "String"]
    assert strings, analytics
    for name in strings:  # a text column too: string, as DuckDB names it (not large_string)
        assert analytics[name] == described["name"] == "string", (name, analytics)


def test_every_analytics_answer_uses_arrow_type_names(api: Any) -> None:
    c, h = api
    polars_names = {"Date", "Float64", "Int64", "String", "Boolean", "Utf8", "Int32", "UInt32"}
    for path, body in [
        ("/v1/analytics/performance", {}),
        ("/v1/analytics/correlation", {"min_periods": 2}),
    ]:
        resp = c.post(path, json=body, headers=h)
        assert resp.status_code == 200, resp.text
        types = set(_types(resp.json()).values())
        assert not types & polars_names, (path, types)
        assert not any(t.startswith(("List(", "Datetime(", "large_")) for t in types), types
