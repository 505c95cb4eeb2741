"""POST /v1/query/sql with Accept CSV, Parquet or Arrow streams every row past the row limit
(unless the request gives a limit); JSON stays capped, flagged and says how to get the rest."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from ledgerhouse.api import create_app
from tests.conftest import InitCopy

ALL_DAYS = "SELECT * FROM dim_date"
MEDIA = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}


@pytest.fixture
def api(init_copy: InitCopy, tmp_path: Path):  # type: ignore[no-untyped-def]
    wh, key = init_copy(tmp_path / "wh", query_row_limit=1000)
    with TestClient(create_app(wh)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        yield c
    wh.close()


def _read(body: bytes, fmt: str) -> pa.Table:
    if fmt == "csv":
        return pacsv.read_csv(io.BytesIO(body))
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(body))
    return ipc.open_stream(io.BytesIO(body)).read_all()


def _reference(c: TestClient) -> tuple[int, int]:
    r = c.post("/v1/query/sql", json={"sql": "SELECT count(*), sum(date_key) FROM dim_date"})
    ((n, total),) = r.json()["rows"]
    return n, total


@pytest.mark.parametrize("fmt", list(MEDIA))
def test_a_streamed_format_has_every_row(api: TestClient, fmt: str) -> None:
    r = api.post("/v1/query/sql", headers={"Accept": MEDIA[fmt]}, json={"sql": ALL_DAYS})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(MEDIA[fmt])
    assert r.headers["x-truncated"] == "false" and r.headers["x-query-id"]
    assert r.headers["x-commit"] == "1" and r.headers["x-route"] == "export"
    table = _read(r.content, fmt)
    assert (table.num_rows, pa.compute.sum(table.column("date_key")).as_py()) == _reference(api)
    assert table.num_rows == 25933


def test_a_limit_in_the_request_limits_a_stream(api: TestClient) -> None:
    r = api.post(
        "/v1/query/sql",
        headers={"Accept": MEDIA["parquet"]},
        json={"sql": ALL_DAYS, "limit": 2500},
    )
    assert r.status_code == 200 and pq.read_table(io.BytesIO(r.content)).num_rows == 2500


def test_json_stays_capped_and_says_how_to_get_the_rest(api: TestClient) -> None:
    body = api.post("/v1/query/sql", json={"sql": ALL_DAYS}).json()
    assert len(body["rows"]) == 1000 and body["truncated"] is True
    assert "Accept" in body["hint"] and "text/csv" in body["hint"]
    assert api.post("/v1/query/sql", json={"sql": "SELECT 1"}).json().get("hint") is None


def test_a_refused_or_forbidden_stream_is_the_usual_error(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledgerhouse.access import permissions

    h = {"Accept": MEDIA["csv"]}
    r = api.post("/v1/query/sql", headers=h, json={"sql": "DELETE FROM dim_date"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "query_rejected"
    admitted = permissions.may

    def deny_dim_date(p, action, resource=None):  # type: ignore[no-untyped-def]
        if resource is not None and resource.name == "dim_date":
            return False
        return admitted(p, action, resource)

    monkeypatch.setattr(permissions, "may", deny_dim_date)
    r = api.post("/v1/query/sql", headers=h, json={"sql": ALL_DAYS})
    assert r.status_code == 403 and "dim_date" in r.json()["error"]["message"]


def test_a_timeout_mid_stream_aborts_the_response(api: TestClient) -> None:
    """Once rows have gone out the status cannot change: the stream is cut off (the server
    drops the connection, so no client takes a partial answer for a whole one)."""
    from ledgerhouse.errors import QueryTimeout

    sql = "SELECT a.date_key AS a, b.date_key AS b FROM dim_date a, dim_date b"
    # the test client re-raises what the server does: a handled error after the start
    with pytest.raises(RuntimeError, match="response already started") as failed:
        api.post("/v1/query/sql", headers={"Accept": MEDIA["csv"]},
                 json={"sql": sql, "timeout_s": 0.5})  # fmt: skip
    assert isinstance(failed.value.__cause__, QueryTimeout)
    assert len(api.get("/v1/queries", params={"status": "timeout"}).json()) == 1
