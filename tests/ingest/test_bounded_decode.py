"""Payloads that decode to far more than they weigh (decompression bombs, dictionary bombs,
padding bombs) are refused with 413 after decoding about the limit, and nothing is stored."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from ledgerhouse.errors import LedgerhouseError, PayloadTooLarge
from ledgerhouse.ingest.errors import UnreadablePayload, UnsupportedFormat
from ledgerhouse.session import Session
from tests.conftest import TRADE_HEADER, admin, snapshot, trade_row

MiB = 1024**2
LONG = "X" * 1000


@pytest.fixture
def bounded(ref_wh: Session) -> Iterator[Session]:
    """The reference warehouse with small decode limits (the defaults are GB-sized)."""
    limits = ref_wh.warehouse.ingestor.limits
    saved = limits.max_decoded_bytes, limits.max_batch_rows
    limits.max_decoded_bytes = 8 * MiB
    yield ref_wh
    limits.max_decoded_bytes, limits.max_batch_rows = saved


def _refused(
    wh: Session, payload: bytes, fmt: str, exc: type[LedgerhouseError] = PayloadTooLarge
) -> LedgerhouseError:
    before = snapshot(wh)
    batches = len(wh.batches())
    with pytest.raises(exc) as info:
        wh.ingest("trades", payload, fmt=fmt)
    assert snapshot(wh) == before, "a refused upload must not change any table"
    if exc is PayloadTooLarge:  # not even a rejection in the ledger (unreadable ones are)
        assert len(wh.batches()) == batches
    assert info.value.hint
    return info.value


def _dictionary_column(rows: int) -> pa.DictionaryArray:
    """One 1000-character value repeated ``rows`` times, without making the copies."""
    return pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array([LONG]))


def _parquet(table: pa.Table, **options: object) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", store_schema=False, **options)  # type: ignore[arg-type]
    return buf.getvalue()


def _ipc(batches: list[pa.RecordBatch], *, file: bool, repeat: int = 1) -> bytes:
    buf = io.BytesIO()
    options = ipc.IpcWriteOptions(compression="zstd")
    new = ipc.new_file if file else ipc.new_stream
    with new(buf, batches[0].schema, options=options) as writer:
        for _ in range(repeat):
            for batch in batches:
                writer.write_batch(batch)
    return buf.getvalue()


def test_parquet_dictionary_bomb(bounded: Session) -> None:
    # 1M rows of one 1000-character value: 200 KB on the wire, 1 GB decoded
    payload = _parquet(pa.table({"trade_id": _dictionary_column(1_000_000)}))
    assert len(payload) < 300_000
    err = _refused(bounded, payload, "parquet")
    assert "decodes to more than 8,388,608 bytes" in err.message
    assert err.details == {"limit": 8 * MiB, "setting": "max_decoded_bytes"}
    assert "LEDGERHOUSE_MAX_DECODED_BYTES" in err.hint


def test_parquet_page_bomb_is_refused_from_its_page_headers(bounded: Session) -> None:
    # plain encoding in one huge page: the page header says it decompresses to 100 MB
    table = pa.table({"trade_id": pa.array([LONG] * 100_000)})
    payload = _parquet(table, use_dictionary=False, data_page_size=1 << 30)
    assert len(payload) < 1_000_000
    _refused(bounded, payload, "parquet")


@pytest.mark.parametrize("file", [True, False], ids=["file", "stream"])
def test_compressed_arrow_bomb(bounded: Session, file: bool) -> None:
    # zstd batches of 8 MB each, 16 of them: refused from the message headers, none decoded
    batch = pa.record_batch([pa.array([LONG] * 8192)], names=["trade_id"])
    payload = _ipc([batch], file=file, repeat=16)
    assert len(payload) < 1_000_000
    _refused(bounded, payload, "arrow")


def test_arrow_dictionary_bomb(bounded: Session) -> None:
    batch = pa.record_batch([_dictionary_column(1_000_000)], names=["trade_id"])
    payload = _ipc([batch], file=False)
    assert len(payload) < 10_000  # 4 MB of indices compress to nothing
    _refused(bounded, payload, "arrow")


def test_string_view_bomb(bounded: Session) -> None:
    # 100k views of one value: 1.6 MB of buffers (below the limit), 100 MB once decoded
    batch = pa.record_batch([_views_of_one_value(100_000)], names=["trade_id"])
    payload = _ipc([batch], file=True)
    assert len(payload) < 2 * MiB
    _refused(bounded, payload, "arrow")


def test_csv_padding_bomb(bounded: Session) -> None:
    # a wide header over blank lines: every missing field becomes a null cell
    header = ",".join(f"c{i}" for i in range(20_000)).encode()
    payload = header + b"\n" + b"\n" * 200_000
    err = _refused(bounded, payload, "csv")
    assert err.details["setting"] == "max_decoded_bytes"


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_padding_bomb(bounded: Session, fmt: str) -> None:
    # every row brings new keys: rows x keys cells, nearly all of them padding
    rows = [{f"k{r}_{i}": 1 for i in range(100)} for r in range(500)]
    if fmt == "json":
        payload = json.dumps(rows).encode()
    else:
        payload = "\n".join(json.dumps(r) for r in rows).encode()
    assert len(payload) < 2 * MiB
    _refused(bounded, payload, fmt)


def _frame(rows: int) -> pl.DataFrame:
    text = TRADE_HEADER + "".join(trade_row(f"R{i}") for i in range(rows))
    return pl.read_csv(io.StringIO(text), infer_schema=False)


def _encoded(frame: pl.DataFrame, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "csv":
        frame.write_csv(buf)
    elif fmt == "json":
        return json.dumps(frame.to_dicts()).encode()
    elif fmt == "ndjson":
        frame.write_ndjson(buf)
    elif fmt == "parquet":
        frame.write_parquet(buf, compression="zstd")
    else:
        frame.write_ipc(buf, compression="zstd")
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson", "parquet", "arrow"])
def test_row_limit(bounded: Session, fmt: str) -> None:
    bounded.warehouse.ingestor.limits.max_batch_rows = 2
    err = _refused(bounded, _encoded(_frame(3), fmt), fmt)
    assert "more than 2 rows" in err.message
    assert err.details == {"limit": 2, "setting": "max_batch_rows"}
    assert "LEDGERHOUSE_MAX_BATCH_ROWS" in err.hint
    report = admin(bounded).ingest("trades", _encoded(_frame(2), fmt), fmt=fmt)
    assert report.rows_accepted == 2, report


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_compressed_uploads_within_the_limits_load(ref_wh: Session, fmt: str) -> None:
    # dictionary-encoded (categorical) and compressed, as Polars and pyarrow write them
    frame = _frame(2000).with_columns(pl.col("side", "currency").cast(pl.Categorical))
    report = ref_wh.ingest("trades", _encoded(frame, fmt), fmt=fmt)
    assert report.rows_accepted == 2000, report
    got = ref_wh.query("SELECT count(*), min(side), max(currency) FROM fact_trade").rows()
    assert got == [[2000, "BUY", "USD"]]


def test_nested_columns_are_refused(ref_wh: Session) -> None:
    table = pa.table({"trade_id": pa.array([["a", "b"]])})
    err = _refused(ref_wh, _parquet(table), "parquet", UnreadablePayload)
    assert "nested type" in err.message
    batch = pa.record_batch([pa.array([{"a": 1}])], names=["trade_id"])
    _refused(ref_wh, _ipc([batch], file=True), "arrow", UnreadablePayload)


def test_an_unboundable_parquet_encoding_is_refused(ref_wh: Session) -> None:
    table = pa.table({"trade_id": pa.array(["T1", "T2"])})
    payload = _parquet(
        table, use_dictionary=False, column_encoding={"trade_id": "DELTA_BYTE_ARRAY"}
    )
    err = _refused(ref_wh, payload, "parquet", UnsupportedFormat)
    assert "DELTA_BYTE_ARRAY" in err.message


def _views_of_one_value(rows: int) -> pa.Array:
    """A string view array whose ``rows`` views all point at one 1000-character value."""
    import numpy as np

    view = np.zeros(4, dtype="<i4")
    view[0] = len(LONG)  # length, then a 4-byte prefix, buffer index 0, offset 0
    view[1] = int.from_bytes(LONG[:4].encode(), "little")
    views = pa.py_buffer(np.tile(view, rows).tobytes())
    return pa.Array.from_buffers(pa.string_view(), rows, [None, views, pa.py_buffer(LONG.encode())])


def test_decoded_size_counts_repeated_values() -> None:
    from ledgerhouse.ingest.bounds import CELL_BYTES, decoded_nbytes

    rows = 100_000
    repeated = rows * (len(LONG) + CELL_BYTES)
    assert decoded_nbytes(_dictionary_column(rows)) == repeated
    views = _views_of_one_value(rows)
    assert views.nbytes < 2 * 1024 + 16 * rows  # its buffers hold one copy of the value
    assert decoded_nbytes(views) == repeated
    assert decoded_nbytes(views.slice(10, 5)) == 5 * (len(LONG) + CELL_BYTES)
    with_nulls = pa.array(["ab", None, "c"], pa.string_view())
    assert decoded_nbytes(with_nulls) == 3 + 3 * CELL_BYTES
