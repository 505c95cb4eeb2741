"""Query results in the format the client asks for (``Accept``, negotiated against the answer
formats of ledgerhouse.media), streamed batch by batch."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from starlette.responses import Response

from ledgerhouse.errors import InvalidRequest
from ledgerhouse.jsonio import dumps
from ledgerhouse.query.exports import portable

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


def _drain(buf: io.BytesIO) -> bytes:
    data = buf.getvalue()
    buf.seek(0)
    buf.truncate()
    return data


def json_response(payload: dict[str, Any]) -> Response:
    """A JSON answer serialized once, without re-validating every row against the response
    model (that doubled the time of a cached answer). NaN and infinities become null."""
    try:
        body = dumps(payload, default=_json_default)
    except ValueError:  # a non-finite float somewhere: rare, so only then walk the payload
        body = dumps(_finite(payload), default=_json_default)
    return Response(body, media_type="application/json")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
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
