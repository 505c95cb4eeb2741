"""Result values as JSON and as Python: every type DuckDB returns, including the values Python
cannot hold (dates past 9999, infinities), encodes without raising (docs/api.md)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerhouse.jsonio import dumps
from ledgerhouse.model.values import iso_interval, json_rows, python_rows

CASES = [
    ("date '2024-01-31'", "2024-01-31"),
    ("date '10000-01-01'", "+10000-01-01"),
    ("'infinity'::date", "infinity"),
    ("'-infinity'::date", "-infinity"),
    ("'0001-01-01'::date - 1", "0000-12-31"),
    ("'5877642-06-25 (BC)'::date", "-5877641-06-25"),
    ("timestamp '2024-01-31 17:00:00.5'", "2024-01-31T17:00:00.500000"),
    ("timestamp '294247-01-01'", "+294247-01-01T00:00:00"),
    ("'-infinity'::timestamp", "-infinity"),
    ("'infinity'::timestamptz", "infinity"),
    ("timestamptz '2024-01-31 17:00:00+00'", "2024-01-31T17:00:00+00:00"),
    ("timestamptz '20000-01-31 17:00:00+00'", "+20000-01-31T17:00:00+00:00"),
    ("'infinity'::timestamp_ms", "infinity"),
    ("'-infinity'::timestamp_s", "-infinity"),
    ("timestamp_ns '2020-01-01 00:00:00.000000001'", "2020-01-01T00:00:00.000000001"),
    ("time '12:00:00.25'", "12:00:00.250000"),
    ("'nan'::double", None),
    ("'inf'::double", None),
    ("-'inf'::float", None),
    ("1.5::double", 1.5),
    ("12345678901234567890123456789012345678::decimal(38,0)",
     12345678901234567890123456789012345678),
    ("170141183460469231731687303715884105727::hugeint", 2**127 - 1),
    ("1.25::decimal(38,10)", 1.25),
    ("18446744073709551615::ubigint", 2**64 - 1),
    ("interval '1 month 2 days 3.5 seconds'", "P1M2DT3.5S"),
    ("interval 0 day", "PT0S"),
    ("'\\xAA'::blob", "aa"),
    ("[1, null, 3]", [1, None, 3]),
    ("[date '10000-01-01', null]", ["+10000-01-01", None]),
    ("{'a': 1, 'b': 'infinity'::date}", {"a": 1, "b": "infinity"}),
    ("map {'k': [date '10000-01-01']}", [["k", ["+10000-01-01"]]]),
    ("[1.0::double / 0]", [None]),
    ("[1, 2]::int[2]", [1, 2]),
    ("union_value(a := 'infinity'::date)", "infinity"),
    ("'x'::enum('x', 'y')", "x"),
    ("null::int[]", None),
]  # fmt: skip


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_duckdb_type_encodes_as_documented(con, sql: str, expected: object) -> None:  # type: ignore[no-untyped-def]
    table = con.sql(f"SELECT {sql} AS v").to_arrow_table()
    rows = json_rows(table)
    assert rows == [[expected]]
    dumps(rows)  # JSON can hold every value
    assert len(python_rows(table)) == 1  # and Python rows never raise


def test_decimals_are_written_to_json_with_their_exact_digits(con) -> None:  # type: ignore[no-untyped-def]
    table = con.sql(
        "SELECT 176504300500.375370::decimal(38,6) AS a, -0.000001::decimal(24,6) AS b, "
        "12345678901234567890.123456789012345678::decimal(38,18) AS c"
    ).to_arrow_table()
    text = dumps({"rows": json_rows(table), "name": "x\u0000y"})
    assert text == (
        '{"rows":[[176504300500.375370,-0.000001,12345678901234567890.123456789012345678]],'
        '"name":"x\\u0000y"}'
    )
    parsed = json.loads(text, parse_float=Decimal)
    assert parsed["rows"][0][0] == Decimal("176504300500.375370")  # no float in between


def test_a_string_never_turns_into_a_number() -> None:
    forged = ["\u0000" + "0" * 16 + ":1.5", "\x00D:1.5", '"\u0000:1"']
    assert json.loads(dumps(forged)) == forged


def test_python_rows_keep_python_values_and_text_only_what_python_cannot_hold(con) -> None:  # type: ignore[no-untyped-def]
    table = con.sql(
        "SELECT * FROM (VALUES (date '2024-01-31', 1.5::decimal(4,2), timestamptz "
        "'2024-01-31 17:00:00+00'), ('infinity'::date, null, '-infinity'::timestamptz)) v(d, x, t)"
    ).to_arrow_table()
    assert python_rows(table) == [
        [date(2024, 1, 31), Decimal("1.50"), datetime(2024, 1, 31, 17, tzinfo=UTC)],
        ["infinity", None, "-infinity"],
    ]


def test_chunked_and_sliced_columns(con) -> None:  # type: ignore[no-untyped-def]
    table = con.sql(
        "SELECT CASE WHEN i % 3 = 0 THEN 'infinity'::date ELSE date '2024-01-01' + i::int END d,"
        " [i, i + 1] l, {'s': i} s FROM range(10) t(i) ORDER BY i"
    ).to_arrow_table()
    table = pa.concat_tables([table.slice(0, 4), table.slice(4)]).slice(2, 5)
    rows = json_rows(table)
    assert [r[0] for r in rows] == ["2024-01-03", "infinity", "2024-01-05", "2024-01-06",
                                    "infinity"]  # fmt: skip
    assert [r[1] for r in rows] == [[i, i + 1] for i in range(2, 7)]
    assert [r[2] for r in rows] == [{"s": i} for i in range(2, 7)]


@given(st.integers(min_value=-719_162, max_value=2_932_896))
def test_expanded_dates_agree_with_python_where_python_can(days: int) -> None:
    from ledgerhouse.model.values import _iso_date

    assert _iso_date(days) == (date(1970, 1, 1) + (date.min - date.min).__class__(days)).isoformat()


def test_iso_interval() -> None:
    assert iso_interval(14, 0, 0) == "P14M"
    assert iso_interval(0, -1, -1_500_000_000) == "P-1DT-1.5S"
    assert iso_interval(0, 0, 1) == "PT0.000000001S"


def test_durations_and_polars_types() -> None:
    table = pa.table({"d": pa.array([86_400 * 10**6, None], pa.duration("us")),
                      "s": pa.array(["a", None], pa.string_view())})  # fmt: skip
    assert json_rows(table) == [["PT86400S", "a"], [None, None]]
