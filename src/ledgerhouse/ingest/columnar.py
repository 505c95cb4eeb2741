"""Parquet and Arrow IPC, decoded in bounded batches (see bounds.py for why).

Before decoding anything, a Parquet file's page headers and an Arrow IPC payload's message
headers say how many bytes their compressed pages and buffers expand to, and how many rows
there are: past a limit, the payload is refused right there. Then the rows are decoded batch by
batch, text columns as dictionaries, and each batch is counted as it will be held once its
dictionaries are expanded, so a column of one long value repeated a million times is refused
after about ``max_decoded_bytes``, not after the million copies were made.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ledgerhouse.ingest.bounds import (
    DecodeBudget,
    ReadLimits,
    check_flat,
    decoded_nbytes,
    is_binary_like,
    plain,
    plain_type,
)
from ledgerhouse.ingest.errors import UnreadablePayload, UnsupportedFormat

#: Rows per decoded Parquet batch, fewer when the fixed-width columns are wide (text columns
#: come as dictionaries, counted before they are expanded). Smaller batches cost time: 65k-row
#: batches read 2M trades 3x slower than 1M-row ones.
BATCH_ROWS = 1024**2
BATCH_BYTES = 128 * 1024**2
#: Bytes counted for each Parquet page on top of its content: a file of millions of tiny pages
#: costs time and memory to walk even when each page is small.
PAGE_OVERHEAD = 4096

_DICTIONARY_ENCODINGS = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}


class _Corrupt(Exception):
    """A header that cannot be parsed (the caller says which payload)."""


# -- Parquet ----------------------------------------------------------------------------------
def read_parquet(data: bytes, limits: ReadLimits) -> pl.DataFrame:
    budget = DecodeBudget(limits, "parquet")
    source = pa.py_buffer(data)
    pf = pq.ParquetFile(pa.BufferReader(source))  # the footer only
    md = pf.metadata
    budget.check(rows=md.num_rows)
    schema = pf.schema_arrow
    check_flat(schema, "parquet")
    columns = [f.name for f in schema]
    pages, dictionary_coded = _parquet_pages(data, md)
    budget.check(nbytes=pages)
    target = pa.schema([f.with_type(plain_type(f.type)) for f in schema])
    text = [f.name for f in schema if is_binary_like(f.type) and f.name in dictionary_coded]
    pf = pq.ParquetFile(pa.BufferReader(source), metadata=md, read_dictionary=text)
    batches = pf.iter_batches(batch_size=_batch_rows(schema), columns=columns)
    return _frames(_counted(batches, budget), target)


def _parquet_pages(data: bytes, md: pq.FileMetaData) -> tuple[int, set[str]]:
    """The bytes every page of every column chunk decompresses to (from the page headers the
    reader will use, not the footer's totals, which a crafted file can understate), and the
    columns with dictionary-encoded chunks."""
    total, coded = 0, set()
    view = memoryview(data)
    for rg in range(md.num_row_groups):
        group = md.row_group(rg)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if "DELTA_BYTE_ARRAY" in chunk.encodings:
                # Each value is a prefix of the one before plus a suffix: a long value repeated
                # costs nothing to store and has no bound until every value was decoded.
                raise UnsupportedFormat(
                    f"column {chunk.path_in_schema!r} of the parquet payload uses the "
                    "DELTA_BYTE_ARRAY encoding, whose decoded size cannot be bounded",
                    hint="Write the file with dictionary or plain encoding (the default of "
                    "pyarrow, Polars and DuckDB; in Spark, parquet.writer.version=v1), or send "
                    "CSV or Arrow.",
                    column=chunk.path_in_schema,
                )
            if _DICTIONARY_ENCODINGS & set(chunk.encodings):
                coded.add(chunk.path_in_schema)
            start = chunk.data_page_offset
            dictionary = chunk.dictionary_page_offset
            if chunk.has_dictionary_page and dictionary and 0 < dictionary < start:
                start = dictionary  # where Arrow's reader starts too
            end = start + chunk.total_compressed_size
            if start < 0 or end > len(data):
                raise _unreadable("parquet", f"column chunk {chunk.path_in_schema!r} is truncated")
            pos = start
            while pos < end:
                try:
                    fields, body = _thrift_struct(view, pos, {2, 3})
                except _Corrupt as exc:
                    raise _unreadable("parquet", f"bad page header: {exc}") from None
                uncompressed, compressed = fields.get(2, -1), fields.get(3, -1)
                if uncompressed < 0 or compressed < 0:
                    raise _unreadable("parquet", "a page header has no size")
                total += uncompressed + PAGE_OVERHEAD
                pos = body + compressed
    return total, coded


def _batch_rows(schema: pa.Schema) -> int:
    width = 0
    for f in schema:
        t = plain_type(f.type)
        if pa.types.is_fixed_size_binary(t):
            width += t.byte_width
        elif not is_binary_like(t) and not pa.types.is_null(t):
            width += max(t.bit_width // 8, 1)
    return max(1, min(BATCH_ROWS, BATCH_BYTES // max(width, 1)))


# Thrift compact protocol (Parquet page headers): just enough to read integer fields of a
# struct and skip everything else.
def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Corrupt("truncated")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise _Corrupt("varint too long")


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _thrift_struct(
    buf: memoryview, pos: int, want: set[int], depth: int = 0
) -> tuple[dict[int, int], int]:
    """Read a struct at ``pos``: the integer fields in ``want``, and where it ends."""
    if depth > 32:
        raise _Corrupt("nested too deeply")
    out: dict[int, int] = {}
    last = 0
    while True:
        if pos >= len(buf):
            raise _Corrupt("truncated")
        header = buf[pos]
        pos += 1
        if header == 0:
            return out, pos
        kind, delta = header & 0x0F, header >> 4
        if delta:
            field = last + delta
        else:
            raw, pos = _varint(buf, pos)
            field = _zigzag(raw)
        last = field
        if field in want and kind in (4, 5, 6):
            raw, pos = _varint(buf, pos)
            out[field] = _zigzag(raw)
        else:
            pos = _thrift_skip(buf, pos, kind, depth)


def _thrift_skip(buf: memoryview, pos: int, kind: int, depth: int) -> int:
    if kind in (1, 2):  # a boolean field: the value is in the type
        return pos
    if kind == 3:
        return pos + 1
    if kind in (4, 5, 6):
        return _varint(buf, pos)[1]
    if kind == 7:
        return pos + 8
    if kind == 8:
        size, pos = _varint(buf, pos)
        return pos + size
    if kind in (9, 10):
        if pos >= len(buf):
            raise _Corrupt("truncated")
        header = buf[pos]
        pos += 1
        size, element = header >> 4, header & 0x0F
        if size == 15:
            size, pos = _varint(buf, pos)
        for _ in range(size):
            pos = 1 + pos if element in (1, 2) else _thrift_skip(buf, pos, element, depth + 1)
            if pos > len(buf):
                raise _Corrupt("truncated")
        return pos
    if kind == 11:
        size, pos = _varint(buf, pos)
        if size:
            if pos >= len(buf):
                raise _Corrupt("truncated")
            key, value = buf[pos] >> 4, buf[pos] & 0x0F
            pos += 1
            for _ in range(size):
                pos = _thrift_skip(buf, pos, key, depth + 1)
                pos = _thrift_skip(buf, pos, value, depth + 1)
                if pos > len(buf):
                    raise _Corrupt("truncated")
        return pos
    if kind == 12:
        return _thrift_struct(buf, pos, set(), depth + 1)[1]
    raise _Corrupt(f"unknown field type {kind}")


# -- Arrow IPC --------------------------------------------------------------------------------
def read_arrow(data: bytes, limits: ReadLimits) -> pl.DataFrame:
    """An Arrow IPC file (its footer lists the messages) or stream. Every message header is
    checked before a batch is decoded, then the batches are decoded one by one."""
    buf = pa.py_buffer(data)
    scanned = DecodeBudget(limits, "arrow")  # what the buffers decompress to
    counted = DecodeBudget(limits, "arrow")  # what the batches hold, dictionaries expanded
    if _is_ipc_file(buf):
        reader = ipc.open_file(buf)  # reads the footer only
        schema = reader.schema
        check_flat(schema, "arrow")
        for block in _footer_blocks(buf):
            try:
                message = ipc.read_message(buf.slice(*block))
            except (pa.ArrowInvalid, OSError) as exc:
                raise _unreadable("arrow", f"bad message: {exc}") from None
            _check_message(message, scanned)
        batches: Iterable[pa.RecordBatch] = (
            reader.get_batch(i) for i in range(reader.num_record_batches)
        )
    else:
        schema = _scan_stream(buf, scanned)
        check_flat(schema, "arrow")
        batches = ipc.open_stream(buf)
    target = pa.schema([f.with_type(plain_type(f.type)) for f in schema])
    return _frames(_counted(batches, counted), target)


def _is_ipc_file(buf: pa.Buffer) -> bool:
    magic = b"ARROW1"
    return bool(buf.size >= 18 and buf[:6].to_pybytes() == magic and buf[-6:].to_pybytes() == magic)


def _footer_blocks(buf: pa.Buffer) -> list[tuple[int, int]]:
    """(offset, length) of every dictionary and record batch message the footer lists
    (File.fbs: Footer {version, schema, dictionaries: [Block], recordBatches: [Block]};
    Block {offset: long, metaDataLength: int, bodyLength: long})."""
    (size,) = struct.unpack("<i", buf[-10:-6].to_pybytes())
    start = buf.size - 10 - size
    if size <= 0 or start < 8:
        raise _unreadable("arrow", "the file footer is corrupt")
    try:
        footer = _FlatTable.root(memoryview(buf.slice(start, size).to_pybytes()))
        blocks = [*footer.structs(2, "<qi4xq"), *footer.structs(3, "<qi4xq")]
    except (_Corrupt, struct.error) as exc:
        raise _unreadable("arrow", f"the file footer is corrupt: {exc}") from None
    out = []
    for offset, meta, body in blocks:
        if offset < 0 or meta < 0 or body < 0 or offset + meta + body > buf.size:
            raise _unreadable("arrow", "a block of the footer lies outside the file")
        out.append((offset, meta + body))
    return out


def _scan_stream(buf: pa.Buffer, budget: DecodeBudget) -> pa.Schema:
    schema: pa.Schema | None = None
    for message in ipc.MessageReader.open_stream(pa.BufferReader(buf)):
        if message.type == "schema":
            schema = ipc.read_schema(message)
        else:
            _check_message(message, budget)
    if schema is None:
        raise _unreadable("arrow", "no schema message")
    return schema


def _check_message(message: ipc.Message, budget: DecodeBudget) -> None:
    """Count the rows and decoded bytes a record or dictionary batch declares (a compressed
    buffer starts with its decompressed length) without decompressing it."""
    if message.type not in ("record batch", "dictionary"):
        raise _unreadable("arrow", f"unexpected {message.type} message")
    try:
        rows, nbytes = _batch_size(message)
    except (_Corrupt, struct.error) as exc:
        raise _unreadable("arrow", f"bad message header: {exc}") from None
    budget.add(rows=rows if message.type == "record batch" else 0, nbytes=nbytes)


def _batch_size(message: ipc.Message) -> tuple[int, int]:
    """(rows, decoded bytes) of a record batch or dictionary batch message, from its
    flatbuffer header (Message.fbs: Message.header -> RecordBatch {length, nodes, buffers,
    compression}; DictionaryBatch {id, data: RecordBatch})."""
    meta = memoryview(message.metadata.to_pybytes())
    root = _FlatTable.root(meta)
    header = root.table(2)
    if header is None:
        raise _Corrupt("no header")
    if message.type == "dictionary":
        header = header.table(1)
        if header is None:
            raise _Corrupt("dictionary batch without data")
    rows = header.scalar(0, "<q", 0)
    compressed = header.table(3) is not None
    body = message.body
    nbytes = 0
    for offset, length in header.structs(2, "<qq"):
        if length <= 0:
            continue
        if not compressed:
            nbytes += length
            continue
        if offset < 0 or length < 8 or body is None or offset + 8 > body.size:
            raise _Corrupt("buffer outside the body")
        (decoded,) = struct.unpack("<q", body.slice(offset, 8).to_pybytes())
        nbytes += length - 8 if decoded == -1 else decoded
        if decoded < -1:
            raise _Corrupt("negative buffer length")
    return rows, nbytes


class _FlatTable:
    """A flatbuffers table: scalars, sub-tables and vectors of structs by field index."""

    def __init__(self, buf: memoryview, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self.vtable = pos - _unpack(buf, "<i", pos)
        self.vtable_size = _unpack(buf, "<H", self.vtable)

    @classmethod
    def root(cls, buf: memoryview) -> _FlatTable:
        return cls(buf, _unpack(buf, "<I", 0))

    def _field(self, index: int) -> int:
        slot = 4 + 2 * index
        if slot + 2 > self.vtable_size:
            return 0
        return _unpack(self.buf, "<H", self.vtable + slot)

    def scalar(self, index: int, fmt: str, default: int) -> int:
        off = self._field(index)
        return _unpack(self.buf, fmt, self.pos + off) if off else default

    def table(self, index: int) -> _FlatTable | None:
        off = self._field(index)
        if not off:
            return None
        at = self.pos + off
        return _FlatTable(self.buf, at + _unpack(self.buf, "<I", at))

    def structs(self, index: int, fmt: str) -> Iterator[tuple[int, ...]]:
        off = self._field(index)
        if not off:
            return
        at = self.pos + off
        at += _unpack(self.buf, "<I", at)
        count = _unpack(self.buf, "<I", at)
        size = struct.calcsize(fmt)
        if at + 4 + count * size > len(self.buf):
            raise _Corrupt("vector outside the header")
        for i in range(count):
            yield struct.unpack_from(fmt, self.buf, at + 4 + i * size)


def _unpack(buf: memoryview, fmt: str, pos: int) -> int:
    if pos < 0 or pos + struct.calcsize(fmt) > len(buf):
        raise _Corrupt("offset outside the header")
    return int(struct.unpack_from(fmt, buf, pos)[0])


# -- both -------------------------------------------------------------------------------------
def _counted(batches: Iterable[pa.RecordBatch], budget: DecodeBudget) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        budget.add(batch.num_rows, sum(decoded_nbytes(c) for c in batch.columns))
        yield batch


def _frames(batches: Iterable[pa.RecordBatch], target: pa.Schema) -> pl.DataFrame:
    """One Polars frame from the batches, each converted as it comes (dictionaries expanded),
    so the Arrow copy of only one batch is alive at a time."""
    frames = []
    for batch in batches:
        decoded = pa.RecordBatch.from_arrays([plain(c) for c in batch.columns], schema=target)
        frames.append(_polars(decoded))
    if not frames:
        return _polars(target.empty_table())
    return pl.concat(frames, how="vertical", rechunk=False)


def _polars(data: pa.RecordBatch | pa.Table) -> pl.DataFrame:
    out = pl.from_arrow(data)
    assert isinstance(out, pl.DataFrame)
    return out


def _unreadable(fmt: str, why: str) -> UnreadablePayload:
    return UnreadablePayload(
        f"could not read the payload as {fmt}: {why}",
        hint=f"Check that the file is valid {fmt} (and that the format matches the file).",
        format=fmt,
    )
