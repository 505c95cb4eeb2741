"""Bad input answers 4xx with the error envelope, never 500 (security issue: no 500 for bad
input): as_of values out of any range, nested params, storage failing under a query, paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledgerhouse import Warehouse
from ledgerhouse.api import create_app
from ledgerhouse.errors import InvalidRequest
from ledgerhouse.session import Session
from tests.conftest import InitCopy


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    wh, key = Warehouse.init(root=tmp_path_factory.mktemp("bad") / "wh")
    with wh, TestClient(create_app(wh), raise_server_exceptions=False) as c:
        yield c, {"Authorization": f"Bearer {key}"}


def envelope(resp: Any, *statuses: int) -> dict[str, Any]:
    assert resp.status_code in statuses, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "hint", "retryable", "details"}
    return body["error"]  # type: ignore[no-any-return]


#: Every route that takes as_of: (method, path, where as_of goes, the rest of a valid request).
AS_OF_ROUTES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/v1/query/sql", "body", {"sql": "SELECT 1"}),
    ("GET", "/v1/tables", "query", {}),
    ("GET", "/v1/cubes", "query", {}),
    ("GET", "/v1/cubes/trades", "query", {}),
    ("POST", "/v1/cubes/trades/query", "body", {"measures": ["trades"]}),
    ("POST", "/v1/analytics/performance", "body", {}),
    ("POST", "/v1/analytics/returns", "body", {}),
    ("POST", "/v1/analytics/exposures", "body", {"date": "2024-01-02"}),
    ("POST", "/v1/analytics/reconcile_positions", "body", {"date": "2024-01-02"}),
    ("POST", "/v1/analytics/pnl", "body", {"date": "2024-01-02"}),
    ("POST", "/v1/analytics/correlation", "body", {}),
    ("POST", "/v1/analytics/attribution", "body", {"start": "2024-01-01", "end": "2024-01-31"}),
    ("POST", "/v1/analytics/vwap", "body", {"start": "2024-01-01", "end": "2024-01-31"}),
    ("POST", "/v1/analytics/slippage", "body", {"start": "2024-01-01", "end": "2024-01-31"}),
]
BAD_AS_OF: list[Any] = [
    10**20, "100000000000000000000", 2**63, -1, "-5", 0, "0", True, "²", "١٢",
    "99999-01-01", "0000-01-01", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00",
]  # fmt: skip


@pytest.mark.parametrize("value", BAD_AS_OF, ids=repr)
@pytest.mark.parametrize(("method", "path", "where", "rest"), AS_OF_ROUTES, ids=lambda v: str(v))
def test_bad_as_of_is_a_4xx_on_every_route(api, method, path, where, rest, value) -> None:  # type: ignore[no-untyped-def]
    c, h = api
    if where == "query":
        resp = c.request(method, path, headers=h, params={**rest, "as_of": str(value)})
    else:
        resp = c.request(method, path, headers=h, json={**rest, "as_of": value})
    error = envelope(resp, 400, 404, 422)
    assert error["code"] in ("invalid_request", "not_found")


def test_as_of_messages_say_what_is_wrong(api) -> None:  # type: ignore[no-untyped-def]
    c, h = api
    for value in (10**20, 0, -1, "-5"):
        r = c.post("/v1/query/sql", headers=h, json={"sql": "SELECT 1", "as_of": value})
        assert "is not a commit id" in envelope(r, 400)["message"]
    r = c.post("/v1/query/sql", headers=h, json={"sql": "SELECT 1", "as_of": "99999-01-01"})
    assert "neither a commit id nor an ISO timestamp" in envelope(r, 400)["message"]


def test_as_of_in_another_time_zone_means_that_instant(wh: Session) -> None:
    latest = wh.commits()[0]
    created = latest.created_at
    assert wh.query("SELECT 1", as_of=created.isoformat()).commit.id == latest.id
    # the same instant written at UTC-05:00 (its wall time is five hours earlier)
    from datetime import timedelta, timezone

    west = created.astimezone(timezone(timedelta(hours=-5))).isoformat()
    assert wh.query("SELECT 1", as_of=west).commit.id == latest.id


def test_library_as_of_of_another_type_is_refused(wh: Session) -> None:
    for value in (1.5, [1], True):
        with pytest.raises(InvalidRequest, match="as_of"):
            wh.query("SELECT 1", as_of=value)  # type: ignore[arg-type]


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize("params", [_nested(2), _nested(100), _nested(5000), '[{"a": 1}]'])
def test_params_must_be_a_flat_list_of_scalars(api, params: str) -> None:  # type: ignore[no-untyped-def]
    c, h = api
    body = '{"sql": "SELECT ?", "params": ' + params + "}"
    r = c.post("/v1/query/sql", headers={**h, "Content-Type": "application/json"}, content=body)
    envelope(r, 400, 422)


def test_flat_params_still_bind(api) -> None:  # type: ignore[no-untyped-def]
    c, h = api
    params = ["a", 1, 1.5, True, None, 10**20]
    sql = "SELECT ?, ?, ?, ?, ?, ?"
    r = c.post("/v1/query/sql", headers=h, json={"sql": sql, "params": params})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [params]
    r = c.post("/v1/query/sql", headers=h, json={"sql": "SELECT ?", "params": [10**400]})
    envelope(r, 400)


def test_library_params_must_be_flat(wh: Session) -> None:
    from datetime import date

    assert wh.query("SELECT ?, ?", params=[date(2024, 1, 2), "x"]).rows() == [
        [date(2024, 1, 2), "x"]
    ]
    for bad in ([[1]], [{"a": 1}], [object()], "abc"):
        with pytest.raises(InvalidRequest, match="params"):
            wh.query("SELECT ?", params=bad)  # type: ignore[arg-type]


def test_cube_filter_values_must_be_scalars(api) -> None:  # type: ignore[no-untyped-def]
    c, h = api
    for values in ([[1]], [{"a": 1}], json.loads(_nested(500))):
        flt = {"member": "portfolio_code", "op": "in", "values": values}
        body = {"measures": ["trades"], "filters": [flt]}
        envelope(c.post("/v1/cubes/trades/query", headers=h, json=body), 400, 422)
    body = {"measures": ["trades"], "dimensions": ["portfolio_code"],
            "drill": {"hierarchy": "portfolio", "value": {"a": [1]}}}  # fmt: skip
    envelope(c.post("/v1/cubes/trades/query", headers=h, json=body), 400, 422)


def test_no_answer_names_the_warehouse_root(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, key = init_copy(tmp_path / "wh")
    h = {"Authorization": f"Bearer {key}"}
    root = str(wh.root)
    with wh, TestClient(create_app(wh), raise_server_exceptions=False) as c:
        r = c.post("/v1/query/sql", headers=h,
                   json={"sql": f"SELECT * FROM read_csv('{root}/x.csv')"})  # fmt: skip
        assert root not in r.text
        r = c.post("/v1/query/sql", headers=h, json={"sql": "SELECT 1 FROM fact_trade"})
        assert r.status_code == 200
    assert str(tmp_path) not in r.text


@pytest.fixture
def traded(ref_wh: Session) -> Session:
    from tests.conftest import TRADE_HEADER, trade_row

    body = TRADE_HEADER + trade_row("T1") + trade_row("T2", date="2024-02-02")
    ref_wh.ingest("trades", body.encode(), fmt="csv")
    return ref_wh


def _trade_files(wh: Session) -> list[Path]:
    files = sorted((wh.warehouse.root / "tenants").glob("*/core/fact_trade/**/*.parquet"))
    assert files
    return files


@pytest.mark.parametrize("bound", [False, True], ids=["before-binding", "after-binding"])
def test_a_vanished_data_file_is_storage_damaged_naming_it_but_no_server_path(
    traded, bound
) -> None:  # type: ignore[no-untyped-def]
    """A committed version's file gone is damage, not a passing failure (issue 16): 503
    storage_damaged naming the table, version and file relative to the root."""
    from ledgerhouse.errors import StorageDamaged

    wh = traded
    key = wh.create_api_key("reader", ("reader",))
    if bound:  # the version is bound (a view over its files) before they vanish
        assert wh.query("SELECT count(*) FROM fact_trade").rows() == [[2]]
    files = _trade_files(wh)
    for f in files:
        f.unlink()
    with pytest.raises(StorageDamaged) as caught:
        wh.query("SELECT * FROM fact_trade", use_cache=False)
    assert not caught.value.retryable and str(wh.warehouse.root) not in caught.value.message
    assert caught.value.details["table"] == "fact_trade"
    with TestClient(create_app(wh.warehouse), raise_server_exceptions=False) as c:
        h = {"Authorization": f"Bearer {key}"}
        r = c.post("/v1/query/sql", headers=h, json={"sql": "SELECT * FROM fact_trade"})
        error = envelope(r, 503)
        assert error["code"] == "storage_damaged" and "fact_trade" in error["message"]
        assert "tenants/default/core/fact_trade/" in error["message"], error
        assert any(f.name in error["message"] for f in files)
        log = c.get("/v1/queries", headers=h)
        assert log.status_code == 200 and log.json()[0]["status"] == "error"
        assert str(wh.warehouse.root) not in log.text and "/tmp/" not in log.text


class _FailingCursor:
    """A DuckDB cursor whose result stream fails after the first batch, as a stream does when
    a file vanishes (or a value fails to convert) mid-query: pyarrow raises OSError."""

    def __init__(self, real: Any, message: str) -> None:
        self.real, self.message = real, message

    def sql(self, text: str, params: Any = None) -> Any:
        reader = self.real.sql(text, params=params).to_arrow_reader(8192)
        message = self.message

        class Relation:
            def to_arrow_reader(self, _rows: int) -> Any:
                class Reader:
                    schema = reader.schema

                    def __iter__(self) -> Any:
                        yield from reader
                        raise OSError(message)

                return Reader()

        return Relation()

    def interrupt(self) -> None:
        self.real.interrupt()

    def close(self) -> None:
        self.real.close()


@pytest.mark.parametrize(
    ("message", "status", "code"),
    [
        ('IO Error: Cannot open file "{root}/tenants/x.parquet": No such file', 503,
         "storage_unavailable"),
        ('IO Error: Could not read from file "/var/tmp/duckdb_temp_storage-0.tmp"', 503,
         "storage_unavailable"),
        ("Conversion Error: Could not convert string 'x1' to INT32", 400, "query_failed"),
    ],
)  # fmt: skip
def test_a_stream_failing_mid_query_is_not_an_internal_error(  # type: ignore[no-untyped-def]
    traded, monkeypatch, message: str, status: int, code: str
) -> None:
    wh = traded
    engine = wh.warehouse.engines.get("default")
    real_session = engine.session
    text = message.format(root=wh.warehouse.root)

    def failing_session() -> Any:  # the session's cursor fails mid-stream
        session = real_session()
        session._cur = _FailingCursor(session._cur, text)
        return session

    monkeypatch.setattr(engine, "session", failing_session)
    with TestClient(create_app(wh.warehouse), raise_server_exceptions=False) as c:
        key = wh.create_api_key("reader", ("reader",))
        r = c.post("/v1/query/sql", headers={"Authorization": f"Bearer {key}"},
                   json={"sql": "SELECT * FROM fact_trade", "cache": False})  # fmt: skip
    error = envelope(r, status)
    assert error["code"] == code
    assert str(wh.warehouse.root) not in r.text and "/var/tmp" not in r.text


def test_model_artifacts_are_named_relative_to_the_tenant(wh: Session) -> None:
    tenant_root = wh.warehouse.store.tenant_root("default")
    wh.warehouse.meta.models_store.record_model("default", "m1", "trade_anomaly", 1, None,
                         {"artifact": str(tenant_root / "models" / "m1.joblib")})  # fmt: skip
    wh.warehouse.meta.models_store.record_model("default", "m2", "trade_anomaly", 1, None,
                         {"artifact": "/elsewhere/m2.joblib"})  # fmt: skip
    artifacts = {m["id"]: m["artifact"] for m in wh.models()}
    assert artifacts == {"m1": "models/m1.joblib", "m2": "m2.joblib"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/analytics/attribution", {"start": "0001-01-01", "end": "0001-01-31"}),
        ("/v1/analytics/anomalies", {"train_start": "0001-01-01", "train_end": "0001-02-01",
                                     "score_start": "0001-01-02", "score_end": "0001-03-01"}),
    ],
)  # fmt: skip
def test_dates_near_year_one_are_not_an_overflow(api, path: str, body: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    # found by the fuzz tier: a look-back before 0001-01-01 overflowed Python's date
    c, h = api
    r = c.post(path, headers=h, json=body)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        envelope(r, r.status_code)


@pytest.mark.parametrize("key_id", [2**63, 10**24, 0, -1])
@pytest.mark.parametrize("action", ["revoke", "rotate"])
def test_key_ids_out_of_range_are_not_found(api, action: str, key_id: int) -> None:  # type: ignore[no-untyped-def]
    # found by the fuzz tier: an id past 64 bits overflowed SQLite's INTEGER
    c, h = api
    r = c.post(f"/v1/keys/{key_id}/{action}", headers=h)
    assert envelope(r, 404)["code"] == "not_found"
