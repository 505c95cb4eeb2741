"""Exports: a query's every row as Arrow batches, and those batches written as CSV, Parquet or
an Arrow IPC stream one batch at a time, so an export of any size holds one batch in memory.

``QueryService.export`` yields an :class:`Export`; :func:`encode` turns its batches into the
bytes of a format (the API streams them), :func:`write` into a file (the library and the CLI).
A column a format cannot hold is written as its JSON text (:func:`portable`, docs/api.md).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ledgerhouse.errors import InvalidRequest
from ledgerhouse.jsonio import dumps
from ledgerhouse.model.values import json_values
from ledgerhouse.storage.metadata import WarehouseCommit

#: The formats an export is written in (a JSON answer is interactive: QueryService.sql).
EXPORT_FORMATS = ("parquet", "csv", "arrow")
#: Rows per batch an export is read and written in: a Parquet row group each.
EXPORT_BATCH_ROWS = 65_536


@dataclass
class Export:
    """A running export: its id, commit and schema, known before the first row; ``batches``
    streams the rows (consume it inside ``QueryService.export``'s ``with``); ``rows`` and
    ``bytes`` count what has streamed so far (logged when the export ends)."""

    query_id: str
    commit: WarehouseCommit
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    sql: str
    rows: int = 0
    bytes: int = 0
    route: str = field(default="export")
    #: the row and column policies the rows were read under (None: none applied)
    policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class ExportResult:
    """What an export to a file wrote."""

    query_id: str
    commit: WarehouseCommit
    format: str
    rows: int
    bytes: int


def check_format(fmt: str) -> str:
    if fmt not in EXPORT_FORMATS:
        raise InvalidRequest(
            f"unknown export format {fmt!r}",
            hint="Export as parquet, csv or arrow (an Arrow IPC stream).",
            format=fmt,
        )
    return fmt


def encode(
    schema: pa.Schema, batches: Iterator[pa.RecordBatch], fmt: str, *, quote_text: bool = False
) -> Iterator[bytes]:
    """The batches in ``fmt``, yielded as each is written. The writer is opened before this
    returns, so a schema the format cannot hold is an error before any byte goes out. CSV
    quotes text only where needed, or every text value with ``quote_text`` (the API's CSV,
    as pyarrow writes it)."""
    check_format(fmt)
    buf = io.BytesIO()
    target = portable_schema(schema, fmt)
    writer: pq.ParquetWriter | ipc.RecordBatchStreamWriter | None = None
    try:
        if fmt == "parquet":
            writer = pq.ParquetWriter(buf, target)
        elif fmt == "arrow":
            writer = ipc.new_stream(buf, target)
    except pa.ArrowException as exc:
        raise InvalidRequest(
            f"the result cannot be written as {fmt}: {exc}",
            hint="Export as an Arrow stream, or cast the column to VARCHAR.",
        ) from None
    return _encoded(target, batches, fmt, writer, buf, quote_text)


def _encoded(
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    fmt: str,
    writer: pq.ParquetWriter | ipc.RecordBatchStreamWriter | None,
    buf: io.BytesIO,
    quote_text: bool,
) -> Iterator[bytes]:
    header = True
    for batch in batches:
        table = portable(pa.Table.from_batches([batch]), fmt)
        if writer is None:  # CSV is text: each batch on its own, the header once
            _write_csv(table, buf, header, quote_text)
            header = False
        elif isinstance(writer, pq.ParquetWriter):
            writer.write_table(table.cast(schema))
        else:
            writer.write_table(table)
        yield _drain(buf)
    if writer is None:
        if header:  # no rows: the header alone
            empty = pa.Table.from_batches([], portable_schema(schema, fmt))
            _write_csv(empty, buf, True, quote_text)
    else:
        writer.close()
    yield _drain(buf)


def _write_csv(table: pa.Table, buf: io.BytesIO, header: bool, quote_text: bool) -> None:
    """Pyarrow's CSV (every text quoted), or Polars' (quoted only where needed)."""
    if quote_text:
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=header))
        return
    import polars as pl

    if header:  # the names as the query gave them (two columns may share one)
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(table.column_names)
        buf.write(text.getvalue().encode())
    frame = pl.from_arrow(table.rename_columns([f"c{i}" for i in range(table.num_columns)]))
    assert isinstance(frame, pl.DataFrame)
    frame.write_csv(buf, include_header=False)


def write(
    schema: pa.Schema, batches: Iterator[pa.RecordBatch], sink: str | Path | IO[bytes], fmt: str
) -> int:
    """Write the batches to ``sink`` in ``fmt``; the bytes written. A path is written to a
    temporary file beside it, renamed over it only once every row is written: a failure
    (a time limit mid-export) leaves no partial file."""
    chunks = encode(schema, batches, fmt)
    if not isinstance(sink, str | Path):
        return sum(sink.write(chunk) or 0 for chunk in chunks)
    path = Path(sink)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            size = sum(f.write(chunk) for chunk in chunks)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size


def portable_schema(schema: pa.Schema, fmt: str) -> pa.Schema:
    """The schema a ``fmt`` file of rows of ``schema`` has (a column it cannot hold: text)."""
    empty = pa.Table.from_batches([], schema)
    return portable(empty, fmt).schema


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
        [v if v is None or isinstance(v, str) else dumps(v)
         for v in json_values(column)],
        pa.string(),
    )  # fmt: skip


def _drain(buf: io.BytesIO) -> bytes:
    data = buf.getvalue()
    buf.seek(0)
    buf.truncate()
    return data
