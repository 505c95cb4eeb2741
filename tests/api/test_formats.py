"""Query results by Accept: JSON, CSV, Parquet and Arrow IPC stream, with the same rows."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from ledgerhouse.api import create_app
from tests.conftest import InitCopy

SQL = "SELECT date, year, day_name, is_business_day FROM dim_date WHERE year = 2024 ORDER BY date"


def test_every_format_returns_the_same_rows(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, key = init_copy(tmp_path / "wh")
    with TestClient(create_app(wh)) as c:
        h = {"Authorization": f"Bearer {key}"}
        as_json = c.post("/v1/query/sql", headers=h, json={"sql": SQL}).json()
        expected = pl.DataFrame(
            as_json["rows"], schema=[col["name"] for col in as_json["columns"]], orient="row"
        ).with_columns(pl.col("date").str.to_date())
        assert expected.height == 366
        frames = {}
        for media in (
            "text/csv",
            "application/vnd.apache.parquet",
            "application/vnd.apache.arrow.stream",
        ):
            r = c.post("/v1/query/sql", headers={**h, "Accept": media}, json={"sql": SQL})
            assert r.status_code == 200 and r.headers["content-type"].startswith(media)
            assert r.headers["x-commit"] == str(as_json["commit"])
            assert r.headers["x-truncated"] == "false" and r.headers["x-query-id"]
            body = io.BytesIO(r.content)
            if media == "text/csv":
                frames[media] = pl.read_csv(body, try_parse_dates=True)
            elif media.endswith("parquet"):
                frames[media] = pl.read_parquet(body)
            else:
                frames[media] = pl.from_arrow(ipc.open_stream(body).read_all())
        for media, df in frames.items():
            assert df.select(expected.columns).cast(expected.schema).equals(expected), media
        empty = c.post(
            "/v1/query/sql",
            headers={**h, "Accept": "text/csv"},
            json={"sql": "SELECT year FROM dim_date WHERE year = 1"},
        )
        assert empty.text.strip() == '"year"'
        err = c.post(
            "/v1/query/sql",
            headers={**h, "Accept": "text/csv"},
            json={"sql": "DROP TABLE dim_date"},
        )
        assert err.status_code == 400 and err.json()["error"]["code"] == "query_rejected"
    wh.close()


def test_json_numbers_are_numbers(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, key = init_copy(tmp_path / "wh")
    with TestClient(create_app(wh)) as c:
        r = c.post(
            "/v1/query/sql",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "sql": "SELECT sum(year) AS s, sum(month)::DECIMAL(18, 2) / 7 AS d, "
                "count(*) AS n FROM dim_date WHERE year = 2024"
            },
        ).json()
        s, d, n = r["rows"][0]
        assert s == 2024 * 366 and isinstance(s, int)  # DuckDB's sum is DECIMAL(38, 0)
        days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]  # 2024
        month_sum = sum(m * n for m, n in enumerate(days, start=1))  # 2384
        assert isinstance(d, float) and abs(d - month_sum / 7) < 1e-6
        assert n == 366
    wh.close()


def test_json_answers_carry_nan_and_infinity_as_null(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, key = init_copy(tmp_path / "wh")
    sql = "SELECT 'NaN'::DOUBLE AS a, 'inf'::DOUBLE AS b, 1.5 AS c, DATE '2024-01-02' AS d"
    with wh, TestClient(create_app(wh)) as c:
        r = c.post("/v1/query/sql", json={"sql": sql}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [[None, None, 1.5, "2024-01-02"]]


#: Values JSON cannot hold or Python cannot represent: every format answers them (no 500).
EXOTIC = (
    "SELECT far, inf, '-infinity'::timestamp AS ninf, timestamp '294247-01-01' AS ts_far, "
    "'nan'::double AS nan, 170141183460469231731687303715884105727::hugeint AS huge, "
    "interval '1 month 2 days' AS iv, '\\xFF'::blob AS b, [far] AS l, {'a': 1, 'd': inf} AS s, "
    "map {'k': 1} AS m, union_value(u := 1) AS u "
    "FROM (SELECT date '10000-01-01' AS far, 'infinity'::date AS inf) AS t"
)


def test_values_json_cannot_hold_are_encoded_in_every_format(
    init_copy: InitCopy, tmp_path: Path
) -> None:
    wh, key = init_copy(tmp_path / "wh")
    h = {"Authorization": f"Bearer {key}"}
    with wh, TestClient(create_app(wh)) as c:
        r = c.post("/v1/query/sql", json={"sql": EXOTIC}, headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == [[
            "+10000-01-01", "infinity", "-infinity", "+294247-01-01T00:00:00", None,
            2**127 - 1, "P1M2D", "ff", ["+10000-01-01"], {"a": 1, "d": "infinity"}, [["k", 1]], 1,
        ]]  # fmt: skip
        csv = c.post("/v1/query/sql", json={"sql": EXOTIC}, headers={**h, "Accept": "text/csv"})
        assert csv.status_code == 200, csv.text
        _header, row = csv.text.strip().splitlines()
        assert row.startswith('"+10000-01-01","infinity","-infinity","+294247-01-01T00:00:00",nan,')
        assert '"P1M2D","ff","[""+10000-01-01""]","{""a"":1,""d"":""infinity""}"' in row
        for media in ("application/vnd.apache.parquet", "application/vnd.apache.arrow.stream"):
            got = c.post("/v1/query/sql", json={"sql": EXOTIC}, headers={**h, "Accept": media})
            assert got.status_code == 200, (media, got.text)
            if media.endswith("parquet"):
                table = pq.read_table(io.BytesIO(got.content))
            else:
                table = ipc.open_stream(io.BytesIO(got.content)).read_all()
            assert table.num_rows == 1 and table.column_names[0] == "far"
        cube = c.post("/v1/cubes/trades/query", json={"measures": ["trades"]}, headers=h)
        assert cube.status_code == 200, cube.text
