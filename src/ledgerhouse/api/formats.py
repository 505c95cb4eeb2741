"""Query results in the format the client asks for (``Accept``), streamed batch by batch."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

MEDIA = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/vnd.apache.arrow.stream": "arrow",
}

_BATCH_ROWS = 65_536


def negotiate(accept: str | None) -> tuple[str, str]:
    """(format, media type) for an Accept header; JSON when absent or */*."""
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media in MEDIA:
            return MEDIA[media], media
    return "json", "application/json"


def stream(table: pa.Table, fmt: str) -> Iterator[bytes]:
    batches = table.to_batches(max_chunksize=_BATCH_ROWS) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)
    ]
    buf = io.BytesIO()
    writer: pacsv.CSVWriter | pq.ParquetWriter | ipc.RecordBatchStreamWriter
    if fmt == "csv":
        writer = pacsv.CSVWriter(buf, table.schema)
    elif fmt == "parquet":
        writer = pq.ParquetWriter(buf, table.schema)
    else:
        writer = ipc.new_stream(buf, table.schema)
    for batch in batches:
        if fmt == "parquet":
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
