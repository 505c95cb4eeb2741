"""The HTTP API: auth, ingestion with Idempotency-Key, SQL, and one error envelope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgerhouse.api import create_app
from tests.conftest import REF, TRADE_HEADER, InitCopy, trade_row


@pytest.fixture
def client(init_copy: InitCopy, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    wh, key = init_copy(tmp_path / "wh")
    with TestClient(create_app(wh)) as c:
        yield c, {"Authorization": f"Bearer {key}"}
    wh.close()


def _envelope(resp, status: int, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "hint", "retryable", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


def test_ops_endpoints(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/readyz").json() == {"status": "ready"}
    assert "ledgerhouse_http_requests_total" in c.get("/metrics").text
    assert c.get("/openapi.json").json()["info"]["title"] == "Ledgerhouse"


def test_auth_is_required_and_checked(client) -> None:  # type: ignore[no-untyped-def]
    c, _ = client
    _envelope(c.get("/v1/tables"), 401, "unauthorized")
    _envelope(c.get("/v1/tables", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    _envelope(c.get("/v1/tables", headers={"Authorization": "Basic abc"}), 401, "unauthorized")


def test_ingest_resend_and_query(client) -> None:  # type: ignore[no-untyped-def]
    c, h = client
    for ds, text in REF.items():
        r = c.post(f"/v1/ingest/{ds}", content=text, headers={**h, "Content-Type": "text/csv"})
        assert r.status_code == 201, r.text
    body = TRADE_HEADER + trade_row("T1") + trade_row("T2")
    hdr = {**h, "Content-Type": "text/csv; charset=utf-8", "Idempotency-Key": "trades-001"}
    first = c.post("/v1/ingest/trades", content=body, headers=hdr)
    assert first.status_code == 201 and first.json()["rows_accepted"] == 2
    again = c.post("/v1/ingest/trades", content=body, headers=hdr)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["commit_id"] == first.json()["commit_id"]
    got = c.get("/v1/ingest/batches/trades-001", headers=h).json()
    assert got["rows_accepted"] == 2
    q = c.post(
        "/v1/query/sql",
        headers=h,
        json={"sql": "SELECT trade_id, notional_base FROM fact_trade ORDER BY 1"},
    ).json()
    assert set(q) >= {"query_id", "columns", "rows", "route", "cache_hit", "commit"}
    assert q["rows"] == [["T1", 1000.0], ["T2", 1000.0]]
    assert q["columns"][0] == {"name": "trade_id", "type": "string"}
    old = c.post(
        "/v1/query/sql",
        headers=h,
        json={"sql": "SELECT count(*) FROM fact_trade", "as_of": first.json()["commit_id"] - 1},
    ).json()
    assert old["rows"] == [[0]]
    tables = {t["name"]: t for t in c.get("/v1/tables", headers=h).json()}
    assert tables["fact_trade"]["rows"] == 2 and tables["fact_trade"]["layer"] == "core"
    assert c.get("/v1/commits", headers=h).json()[0]["batch_id"] == "trades-001"


def test_errors_share_one_envelope(client) -> None:  # type: ignore[no-untyped-def]
    c, h = client
    _envelope(
        c.post("/v1/ingest/trades", content=b"", headers={**h, "Content-Type": "text/csv"}),
        422,
        "unreadable_payload",
    )
    _envelope(
        c.post("/v1/ingest/trades", content=b"x", headers={**h, "Content-Type": "image/png"}),
        400,
        "unsupported_format",
    )
    _envelope(
        c.post("/v1/ingest/nope", content=b"a\n1\n", headers={**h, "Content-Type": "text/csv"}),
        400,
        "unknown_dataset",
    )
    rejected = _envelope(
        c.post(
            "/v1/ingest/trades",
            content=TRADE_HEADER + trade_row("T1"),
            headers={**h, "Content-Type": "text/csv"},
        ),
        422,
        "batch_rejected",
    )
    assert rejected["details"]["report"]["rows_quarantined"] == 1
    _envelope(
        c.post("/v1/query/sql", headers=h, json={"sql": "DROP TABLE fact_trade"}),
        400,
        "query_rejected",
    )
    _envelope(
        c.post("/v1/query/sql", headers=h, json={"sql": "SELECT nope FROM fact_trade"}),
        400,
        "query_failed",
    )
    _envelope(c.post("/v1/query/sql", headers=h, json={"nosql": 1}), 400, "invalid_request")
    _envelope(c.get("/v1/ingest/batches/missing", headers=h), 404, "not_found")
    _envelope(c.get("/v1/nothing-here", headers=h), 404, "not_found")


def test_upload_limit(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, key = init_copy(tmp_path / "wh", max_upload_bytes=100)
    with TestClient(create_app(wh)) as c:
        err = _envelope(
            c.post(
                "/v1/ingest/trades",
                content=b"x" * 1000,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
            ),
            413,
            "payload_too_large",
        )
        assert "100-byte limit" in err["message"]
    wh.close()


def test_roles_are_enforced_and_tenants_isolated(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c, admin = client
    reader = c.post("/v1/keys", headers=admin, json={"user": "ana", "roles": ["reader"]})
    assert reader.status_code == 201
    rh = {"Authorization": f"Bearer {reader.json()['api_key']}"}
    assert c.post("/v1/query/sql", headers=rh, json={"sql": "SELECT 1 AS x"}).json()["rows"] == [
        [1]
    ]
    err = _envelope(
        c.post(
            "/v1/ingest/fx_rates",
            content=REF["fx_rates"],
            headers={**rh, "Content-Type": "text/csv"},
        ),
        403,
        "forbidden",
    )
    assert "may not ingest" in err["message"]
    _envelope(
        c.post("/v1/keys", headers=rh, json={"user": "eve", "roles": ["admin"]}), 403, "forbidden"
    )
    _envelope(
        c.post("/v1/keys", headers=admin, json={"user": "x", "roles": ["root"]}),
        400,
        "invalid_request",
    )
    # a second tenant's key sees only its own (empty) tables
    wh = c.app.state.warehouse
    other_key = wh.create_tenant("acme")
    c.post(
        "/v1/ingest/fx_rates",
        content=REF["fx_rates"],
        headers={**admin, "Content-Type": "text/csv"},
    )
    oh = {"Authorization": f"Bearer {other_key}"}
    mine = c.post("/v1/query/sql", headers=admin, json={"sql": "SELECT count(*) FROM fact_fx_rate"})
    theirs = c.post("/v1/query/sql", headers=oh, json={"sql": "SELECT count(*) FROM fact_fx_rate"})
    assert mine.json()["rows"] == [[3]] and theirs.json()["rows"] == [[0]]
