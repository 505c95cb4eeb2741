"""Query results in the format the client asks for (``Accept``, negotiated against the answer
formats of ledgerhouse.media), streamed batch by batch."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from starlette.responses import Response

from ledgerhouse.errors import InvalidRequest
from ledgerhouse.model.values import json_values

_BATCH_ROWS = 65_536


def stream(table: pa.Table, fmt: str) -> Iterator[bytes]:
    """The table in ``fmt``, batch by batch. The writer is opened here, before the response
    starts, so a table the format cannot hold is an error envelope, never a cut-off answer."""
    table = portable(table, fmt)
    buf = io.BytesIO()
    writer: pacsv.CSVWriter | pq.ParquetWriter | ipc.RecordBatchStreamWriter
    try:
        if fmt == "csv":
            writer = pacsv.CSVWriter(buf, table.schema)
        elif fmt == "parquet":
            writer = pq.ParquetWriter(buf, table.schema)
        else:
            writer = ipc.new_stream(buf, table.schema)
    except pa.ArrowException as exc:
        raise InvalidRequest(
            f"the result cannot be written as {fmt}: {exc}",
            hint="Ask for JSON or an Arrow stream (Accept), or cast the column to VARCHAR.",
        ) from None
    return _batches(table, fmt, writer, buf)


def _batches(
    table: pa.Table,
    fmt: str,
    writer: pacsv.CSVWriter | pq.ParquetWriter | ipc.RecordBatchStreamWriter,
    buf: io.BytesIO,
) -> Iterator[bytes]:
    batches = table.to_batches(max_chunksize=_BATCH_ROWS) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)
    ]
    for batch in batches:
        if isinstance(writer, pq.ParquetWriter):
            writer.write_table(pa.Table.from_batches([batch], table.schema))
        else:
            writer.write_batch(batch)
        yield _drain(buf)
    writer.close()
    yield _drain(buf)


def portable(table: pa.Table, fmt: str) -> pa.Table:
    """``table`` with each column that ``fmt`` cannot hold (CSV: nested values, intervals,
    bytes, dates Python cannot hold; Parquet: intervals, unions) as text: its JSON encoding
    (docs/api.md), so every format answers every result. Arrow holds everything."""
    if fmt not in ("csv", "parquet"):
        return table
    fits = _fits_csv if fmt == "csv" else _fits_parquet
    columns = [c if fits(c) else _as_text(c) for c in table.columns]
    if all(a is b for a, b in zip(columns, table.columns, strict=True)):
        return table
    return pa.Table.from_arrays(columns, names=table.column_names)


_CSV_SCALARS = (
    pa.types.is_null,
    pa.types.is_boolean,
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_decimal,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_time,
    pa.types.is_duration,
)
#: The range Python's datetime holds, 0001-01-01 to 9999-12-31, as days and as seconds.
_DAYS = (-719_162, 2_932_896)
_SECONDS = (-62_135_596_800, 253_402_300_799)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _fits_csv(column: pa.ChunkedArray) -> bool:
    t = column.type
    if pa.types.is_dictionary(t):
        t = t.value_type
        return pa.types.is_string(t) or pa.types.is_large_string(t)
    if any(is_type(t) for is_type in _CSV_SCALARS):
        return True
    if pa.types.is_date32(t):
        low, high = _DAYS
        return _within(column.cast(pa.int32()), low, high)
    if pa.types.is_timestamp(t):
        per = _PER_SECOND[t.unit]
        low, high = _SECONDS
        return _within(column.cast(pa.int64()), low * per, (high + 1) * per - 1)
    return False  # nested values, intervals, bytes, views, date64: as text


def _within(values: pa.ChunkedArray, low: int, high: int) -> bool:
    """Whether every value is in [low, high]: pyarrow's CSV text is right only there."""
    bounds = pc.min_max(values).as_py()
    return bounds["min"] is None or (bounds["min"] >= low and bounds["max"] <= high)


def _fits_parquet(column: pa.ChunkedArray) -> bool:
    try:
        pq.ParquetWriter(io.BytesIO(), pa.schema([pa.field("c", column.type)])).close()
    except pa.ArrowException:
        return False
    return True


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    return pa.array(
        [v if v is None or isinstance(v, str) else json.dumps(v, separators=(",", ":"))
         for v in json_values(column)],
        pa.string(),
    )  # fmt: skip


def _drain(buf: io.BytesIO) -> bytes:
    data = buf.getvalue()
    buf.seek(0)
    buf.truncate()
    return data


def json_response(payload: dict[str, Any]) -> Response:
    """A JSON answer serialized once, without re-validating every row against the response
    model (that doubled the time of a cached answer). NaN and infinities become null."""
    try:
        body = json.dumps(payload, default=_json_default, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a non-finite float somewhere: rare, so only then walk the payload
        body = json.dumps(
            _finite(payload), default=_json_default, allow_nan=False, separators=(",", ":")
        )
    return Response(body, media_type="application/json")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
