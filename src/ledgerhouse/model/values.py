"""Query-result values as Python and as JSON, for every type DuckDB or Polars can return.

``pyarrow``'s ``to_pylist`` raises on values Python cannot hold (DuckDB's dates past 9999 or
before year 1, ``'infinity'::date``, timestamps near the ends of their range), and some values
have no JSON form (NaN, intervals, bytes). docs/api.md ("How values are encoded in JSON")
documents the encoding; in short:

- a date or timestamp Python can hold is its ISO 8601 text (``2024-01-31``,
  ``2024-01-31T17:00:00+00:00``); one it cannot is the same text with an expanded year
  (``+10000-01-01``, ``-0044-03-15``: astronomical years, year 0 is 1 BC), and DuckDB's
  infinities are ``"infinity"`` and ``"-infinity"``;
- integers and HUGEINT are exact JSON integers; a DECIMAL is a JSON number written with its
  exact digits and scale (``1234.500000``, written by ``ledgerhouse.jsonio.dumps``; a reader
  that wants the exact value parses numbers as decimals, as ``ledgerhouse.client`` does);
  NaN and infinite doubles are ``null``;
- BLOB and BIT are hex text; INTERVAL is an ISO 8601 duration (``P1M2DT3.5S``);
- LIST is an array, STRUCT an object, MAP an array of ``[key, value]`` pairs, UNION the value of
  its member.

``python_values`` keeps Python values (dates, Decimals, bytes) and uses the JSON text only for
the values Python cannot hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

#: DuckDB's infinite DATE (days) and TIMESTAMP (any unit) values; minus these is -infinity.
_DATE_INFINITY = 2**31 - 1
_TIMESTAMP_INFINITY = 2**63 - 1
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_CONVERSION_ERRORS = (OverflowError, ValueError, pa.ArrowException)

Column: TypeAlias = "pa.Array | pa.ChunkedArray"


def json_rows(table: pa.Table) -> list[list[Any]]:
    """The rows of ``table`` as JSON values (see the module docstring)."""
    return _rows(table, as_json=True)


def python_rows(table: pa.Table) -> list[list[Any]]:
    """The rows of ``table`` as Python values; a value Python cannot hold is its JSON text."""
    return _rows(table, as_json=False)


def json_values(column: Column) -> list[Any]:
    return _column(column, as_json=True)


def python_values(column: Column) -> list[Any]:
    return _column(column, as_json=False)


def _rows(table: pa.Table, as_json: bool) -> list[list[Any]]:
    cols = [_column(c, as_json) for c in table.columns]
    return [list(r) for r in zip(*cols, strict=True)] if cols else []


def _column(column: Column, as_json: bool) -> list[Any]:
    if isinstance(column, pa.ChunkedArray):
        out: list[Any] = []
        for chunk in column.chunks:
            out.extend(_values(chunk, as_json))
        return out
    return _values(column, as_json)


def _values(arr: pa.Array, as_json: bool) -> list[Any]:
    if not as_json:
        try:
            return arr.to_pylist()  # the common case; the rest is for what it cannot convert
        except _CONVERSION_ERRORS:
            pass
    t = arr.type
    if isinstance(t, pa.ExtensionType):
        return _values(arr.storage, as_json)
    if pa.types.is_dictionary(t):
        return _values(arr.dictionary_decode(), as_json)
    if _is_list(t):
        return _lists(arr, as_json)
    if pa.types.is_map(t):
        entries = _lists(arr.view(pa.list_(pa.struct([t.key_field, t.item_field]))), as_json)
        return [None if e is None else [list(kv.values()) for kv in e] for e in entries]
    if pa.types.is_struct(t):
        names = [t.field(i).name for i in range(t.num_fields)]
        fields = [_values(f, as_json) for f in arr.flatten()]
        rows = zip(*fields, strict=True) if fields else iter([()] * len(arr))
        valid = arr.is_valid().to_pylist()
        return [dict(zip(names, r, strict=True)) if ok else None
                for ok, r in zip(valid, rows, strict=True)]  # fmt: skip
    if pa.types.is_union(t):
        return [_union_member(arr[i], as_json) for i in range(len(arr))]
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return _dates(arr, as_json)
    if pa.types.is_duration(t):
        per = _PER_SECOND[t.unit]
        nanoseconds = [None if v is None else v * 10**9 // per
                       for v in arr.cast(pa.int64()).to_pylist()]  # fmt: skip
        if not as_json:
            return [None if n is None else _timedelta(n) for n in nanoseconds]
        return [None if n is None else iso_interval(0, 0, n) for n in nanoseconds]
    if not as_json:  # no other type fails to_pylist: keep the error if one does
        return arr.to_pylist()
    if pa.types.is_decimal(t):
        return arr.to_pylist()  # Decimals: ``dumps`` writes their exact digits
    if pa.types.is_floating(t):
        return _finite(arr)
    if _is_binary(t):
        return [None if v is None else v.hex() for v in arr.to_pylist()]
    if pa.types.is_interval(t) and t == pa.month_day_nano_interval():
        return [None if v is None else iso_interval(*v) for v in arr.to_pylist()]
    return [_plain(v) for v in arr.to_pylist()]


def _is_list(t: pa.DataType) -> bool:
    return (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )


def _is_binary(t: pa.DataType) -> bool:
    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary_view(t)
    )


def _lists(arr: pa.Array, as_json: bool) -> list[Any]:
    values = _values(arr.flatten(), as_json)
    out: list[Any] = []
    at = 0
    for n in pc.list_value_length(arr).to_pylist():
        if n is None:
            out.append(None)
        else:
            out.append(values[at : at + n])
            at += n
    return out


def _union_member(scalar: Any, as_json: bool) -> Any:
    member = scalar.value
    if member is None:
        return None
    return _values(pa.repeat(member, 1), as_json)[0]


def _dates(arr: pa.Array, as_json: bool) -> list[Any]:
    """Dates and timestamps: Python values when Python holds them all (the common case), else
    value by value, with the expanded ISO text for the ones it cannot hold."""
    try:
        values = arr.to_pylist()
    except _CONVERSION_ERRORS:
        text = _expanded_text(arr.type)
        storage = arr.cast(pa.int32() if pa.types.is_date32(arr.type) else pa.int64())
        values = []
        for i, number in enumerate(storage.to_pylist()):
            try:
                values.append(arr[i].as_py())
            except _CONVERSION_ERRORS:
                values.append(text(number))
    if not as_json:
        return values
    return [v.isoformat() if isinstance(v, date) else v for v in values]


def _expanded_text(t: pa.DataType) -> Callable[[int], str]:
    """The text of a date or timestamp (as its integer storage) that Python cannot hold."""
    if pa.types.is_date32(t):
        return lambda days: _infinity(days, _DATE_INFINITY) or _iso_date(days)
    if pa.types.is_date64(t):
        return lambda ms: _iso_date(ms // 86_400_000)
    per = _PER_SECOND[t.unit]
    zone = "+00:00" if t.tz else ""  # an instant so far out is written in UTC

    def timestamp(value: int) -> str:
        special = _infinity(value, _TIMESTAMP_INFINITY)
        if special:
            return special
        days, rest = divmod(value, 86_400 * per)
        seconds, fraction = divmod(rest, per)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        digits = 9 if per == 10**9 and fraction % 1000 else 6
        fraction = fraction * 10**digits // per
        frac = f".{fraction:0{digits}d}" if fraction else ""
        return f"{_iso_date(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}{frac}{zone}"

    return timestamp


def _infinity(value: int, infinity: int) -> str:
    return "infinity" if value == infinity else "-infinity" if value == -infinity else ""


def _iso_date(days: int) -> str:
    """Days since 1970-01-01 as an ISO 8601 date of any year (proleptic Gregorian calendar,
    astronomical years; years past 9999 or before 0 carry a sign). H. Hinnant's
    ``civil_from_days``."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    if 0 <= year <= 9999:
        return f"{year:04d}-{month:02d}-{day:02d}"
    return f"{'+' if year > 0 else '-'}{abs(year):04d}-{month:02d}-{day:02d}"


def iso_interval(months: int, days: int, nanoseconds: int) -> str:
    """An interval as an ISO 8601 duration; each part keeps its own sign (``P-1M3D``)."""
    out = "P" + (f"{months}M" if months else "") + (f"{days}D" if days else "")
    if nanoseconds or out == "P":
        whole, fraction = divmod(abs(nanoseconds), 10**9)
        seconds = str(whole) + (f".{fraction:09d}".rstrip("0") if fraction else "")
        out += "T" + ("-" if nanoseconds < 0 else "") + seconds + "S"
    return out


def _timedelta(nanoseconds: int) -> timedelta | str:
    try:
        return timedelta(microseconds=nanoseconds // 1000)
    except OverflowError:
        return iso_interval(0, 0, nanoseconds)


def _finite(arr: pa.Array) -> list[Any]:
    values = arr.to_pylist()
    if arr.null_count == len(arr) or pc.all(pc.is_finite(arr)).as_py():
        return values
    return [v if v is None or math.isfinite(v) else None for v in values]


def _plain(value: Any) -> Any:
    """A value of a type with no rule above: JSON's own types as they are, else its text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_interval(0, value.days, (value.seconds * 10**6 + value.microseconds) * 1000)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
