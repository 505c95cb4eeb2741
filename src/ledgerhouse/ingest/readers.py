"""Input formats: a registry of readers turning a payload into a Polars frame.

Built-in formats register the same way a third party would (``register_format``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from ledgerhouse.ingest.errors import UnreadablePayload, UnsupportedFormat

Reader = Callable[[bytes], pl.DataFrame]
READERS: dict[str, Reader] = {}

CONTENT_TYPES: dict[str, str] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
    "application/vnd.apache.arrow.file": "arrow",
    "application/vnd.apache.arrow.stream": "arrow",
}

EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".arrows": "arrow",
    ".ipc": "arrow",
    ".feather": "arrow",
}


def register_format(name: str, reader: Reader) -> None:
    READERS[name] = reader


def format_from_content_type(content_type: str | None) -> str:
    base = (content_type or "").split(";")[0].strip().lower()
    if base in CONTENT_TYPES:
        return CONTENT_TYPES[base]
    raise UnsupportedFormat(
        f"unsupported Content-Type {content_type!r}",
        hint="Send one of: " + ", ".join(sorted(CONTENT_TYPES)),
        content_type=content_type,
    )


def format_from_path(path: Path) -> str:
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise UnsupportedFormat(
            f"cannot tell the format of {path.name!r} from its extension",
            hint="Use one of " + ", ".join(sorted(EXTENSIONS)) + " or pass --format.",
        )
    return fmt


def read_payload(data: bytes, fmt: str) -> pl.DataFrame:
    reader = READERS.get(fmt)
    if reader is None:
        raise UnsupportedFormat(
            f"unsupported format {fmt!r}", hint="Use one of: " + ", ".join(sorted(READERS))
        )
    if not data or not data.strip():
        raise UnreadablePayload(
            "the payload is empty (0 bytes)", hint="Send a file with a header and rows."
        )
    try:
        df = reader(data)
    except UnreadablePayload:
        raise
    except Exception as exc:  # every parser has its own exception types
        raise UnreadablePayload(
            f"could not read the payload as {fmt}: {str(exc).splitlines()[0][:300]}",
            hint=f"Check that the file is valid {fmt} (and that the format matches the file).",
            format=fmt,
        ) from exc
    if df.width == 0:
        raise UnreadablePayload(f"the {fmt} payload has no columns", hint="Add a header row.")
    return df


def _csv(data: bytes) -> pl.DataFrame:
    # Everything as text: validation casts each column and names the value it cannot read.
    return pl.read_csv(
        io.BytesIO(data),
        separator=_separator(data),
        infer_schema=False,
        try_parse_dates=False,
        raise_if_empty=True,
    )


def _separator(data: bytes) -> str:
    """',' unless the header says otherwise: spreadsheet exports use ';' or tabs in many
    locales."""
    import csv

    header = data[:65536].decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _json(data: bytes) -> pl.DataFrame:
    import json

    text = data.decode("utf-8")
    parsed = json.loads(text)
    if isinstance(parsed, dict):
        for key in ("rows", "data", "records"):
            if isinstance(parsed.get(key), list):
                parsed = parsed[key]
                break
    if not isinstance(parsed, list) or not all(isinstance(r, dict) for r in parsed):
        raise UnreadablePayload(
            'JSON payload must be an array of objects (or {"rows": [...]})',
            hint='Send [{"col": value, ...}, ...] or use NDJSON.',
        )
    if not parsed:
        raise UnreadablePayload("the JSON payload has no rows", hint="Send at least one row.")
    return _from_records(parsed)


def _ndjson(data: bytes) -> pl.DataFrame:
    import json

    rows = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnreadablePayload(
                f"NDJSON line {n} is not valid JSON: {exc.msg}",
                hint="Each line must hold one JSON object.",
                line=n,
            ) from exc
        if not isinstance(obj, dict):
            raise UnreadablePayload(
                f"NDJSON line {n} is not a JSON object", hint="Each line must hold one object."
            )
        rows.append(obj)
    if not rows:
        raise UnreadablePayload("the NDJSON payload has no rows", hint="Send at least one row.")
    return _from_records(rows)


def _from_records(rows: list[dict[str, object]]) -> pl.DataFrame:
    # Values become text first so a mixed column ("1", 1.5, "abc") is validated per row.
    columns: dict[str, list[object]] = {}
    for i, row in enumerate(rows):
        for k in row:
            if k not in columns:
                columns[k] = [None] * i
        for k, col in columns.items():
            v = row.get(k)
            col.append(None if v is None else _text(v))
    return pl.DataFrame(columns, schema={k: pl.String for k in columns})


def _text(v: object) -> str:
    import json

    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(v)


def _parquet(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


def _arrow(data: bytes) -> pl.DataFrame:
    buf = pa.BufferReader(data)
    try:
        table = ipc.open_file(buf).read_all()
    except pa.ArrowInvalid:
        table = ipc.open_stream(pa.BufferReader(data)).read_all()
    out = pl.from_arrow(table)
    assert isinstance(out, pl.DataFrame)
    return out


register_format("csv", _csv)
register_format("json", _json)
register_format("ndjson", _ndjson)
register_format("parquet", _parquet)
register_format("arrow", _arrow)
