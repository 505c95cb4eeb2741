"""Input formats: a registry of readers turning a payload into a Polars frame.

Built-in formats register the same way a third party would (``register_format``). A reader
gets the payload and its ReadLimits, and refuses (PayloadTooLarge) a payload that would decode
past them before it decodes it all (columnar.py for Parquet and Arrow IPC). The media types
and file extensions of each format are declared once, in ledgerhouse.media.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal

import polars as pl

from ledgerhouse.errors import LedgerhouseError
from ledgerhouse.ingest.bounds import CELL_BYTES, DecodeBudget, ReadLimits
from ledgerhouse.ingest.columnar import read_arrow, read_parquet
from ledgerhouse.ingest.errors import UnreadablePayload, UnsupportedFormat
from ledgerhouse.jsonio import dumps

Reader = Callable[[bytes, ReadLimits], pl.DataFrame]
READERS: dict[str, Reader] = {}


def register_format(name: str, reader: Reader) -> None:
    READERS[name] = reader


def read_payload(data: bytes, fmt: str, limits: ReadLimits | None = None) -> pl.DataFrame:
    limits = limits or ReadLimits()
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
        df = reader(data, limits)
    except LedgerhouseError:  # unreadable, or past a limit: already says what to do
        raise
    except Exception as exc:  # every parser has its own exception types
        raise UnreadablePayload(
            f"could not read the payload as {fmt}: {str(exc).splitlines()[0][:300]}",
            hint=f"Check that the file is valid {fmt} (and that the format matches the file).",
            format=fmt,
        ) from exc
    if df.width == 0:
        raise UnreadablePayload(f"the {fmt} payload has no columns", hint="Add a header row.")
    DecodeBudget(limits, fmt).check(rows=df.height)
    return df


def _csv(data: bytes, limits: ReadLimits) -> pl.DataFrame:
    separator = _separator(data)
    # Short rows and blank lines are padded with nulls: a wide header over a million empty
    # lines is a trillion cells. Cells, not bytes, bound what the frame costs (and its rows,
    # counted by read_payload once read).
    header = data[: data.find(b"\n")] if b"\n" in data else data
    cells = (header.count(separator.encode()) + 1) * (data.count(b"\n") + 1)
    DecodeBudget(limits, "csv").check(nbytes=len(data) + CELL_BYTES * cells)
    # Everything as text: validation casts each column and names the value it cannot read.
    return pl.read_csv(
        io.BytesIO(data),
        separator=separator,
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


def _json(data: bytes, limits: ReadLimits) -> pl.DataFrame:
    import json

    text = data.decode("utf-8")
    parsed = json.loads(text, parse_float=Decimal)  # a number's own digits, no float
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
    return _from_records(parsed, DecodeBudget(limits, "json"), len(data))


def _ndjson(data: bytes, limits: ReadLimits) -> pl.DataFrame:
    import json

    budget = DecodeBudget(limits, "ndjson")
    rows = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_float=Decimal)
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
        if len(rows) > limits.max_rows:
            budget.check(rows=len(rows))
    if not rows:
        raise UnreadablePayload("the NDJSON payload has no rows", hint="Send at least one row.")
    return _from_records(rows, budget, len(data))


def _from_records(rows: list[dict[str, object]], budget: DecodeBudget, size: int) -> pl.DataFrame:
    budget.check(rows=len(rows))
    names = dict.fromkeys(k for row in rows for k in row)  # in order of first appearance
    # A row missing a key gets a null: a thousand rows of a thousand new keys each is a
    # million columns of a thousand cells. Count the cells before making them.
    budget.check(nbytes=size + CELL_BYTES * len(names) * len(rows))
    # Values become text first so a mixed column ("1", 1.5, "abc") is validated per row.
    columns = {k: [None if (v := row.get(k)) is None else _text(v) for row in rows] for k in names}
    return pl.DataFrame(columns, schema={k: pl.String for k in columns})


def _text(v: object) -> str:

    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, Decimal):
        return str(v)
    return dumps(v)  # a nested value as JSON text, its numbers with their own digits


register_format("csv", _csv)
register_format("json", _json)
register_format("ndjson", _ndjson)
register_format("parquet", read_parquet)
register_format("arrow", read_arrow)
