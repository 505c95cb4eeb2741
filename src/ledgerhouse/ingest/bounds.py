"""What decoding one payload may cost: rows and decoded bytes, counted while it is decoded.

A compressed or dictionary-encoded file can decode to a thousand times its size (a
"decompression bomb": an 856 KB Parquet file decoded to 2.2 GB). The columnar readers check
the sizes a file declares before decoding anything, then decode batch by batch and count what
each batch really holds, so a payload past a limit is refused after decoding about that
limit, never in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ledgerhouse.errors import PayloadTooLarge
from ledgerhouse.ingest.errors import UnreadablePayload

#: Bytes a Polars text cell costs beyond its characters (a 16-byte view).
CELL_BYTES = 16


@dataclass(frozen=True)
class ReadLimits:
    """The limits of one payload (settings ``max_decoded_bytes`` and ``max_batch_rows``)."""

    max_decoded_bytes: int = 4 * 1024**3
    max_rows: int = 20_000_000


class DecodeBudget:
    """The running rows and decoded bytes of one payload; past a limit, PayloadTooLarge."""

    def __init__(self, limits: ReadLimits, fmt: str) -> None:
        self.limits = limits
        self.fmt = fmt
        self.rows = 0
        self.nbytes = 0

    def add(self, rows: int = 0, nbytes: int = 0) -> None:
        self.rows += rows
        self.nbytes += nbytes
        self.check(self.rows, self.nbytes)

    def check(self, rows: int = 0, nbytes: int = 0) -> None:
        """Refuse when ``rows`` or ``nbytes`` (declared or counted so far) pass a limit."""
        if rows > self.limits.max_rows:
            raise PayloadTooLarge(
                f"the {self.fmt} payload has more than {self.limits.max_rows:,} rows "
                "(max_batch_rows)",
                hint="Split the batch, or raise LEDGERHOUSE_MAX_BATCH_ROWS.",
                limit=self.limits.max_rows,
                setting="max_batch_rows",
            )
        if nbytes > self.limits.max_decoded_bytes:
            raise PayloadTooLarge(
                f"the {self.fmt} payload decodes to more than "
                f"{self.limits.max_decoded_bytes:,} bytes (max_decoded_bytes)",
                hint="Split the batch, or raise LEDGERHOUSE_MAX_DECODED_BYTES.",
                limit=self.limits.max_decoded_bytes,
                setting="max_decoded_bytes",
            )


def check_flat(schema: pa.Schema, fmt: str) -> None:
    """Refuse nested columns (lists, structs, maps, unions, run-end encoded): no dataset takes
    them, and their decoded size cannot be told from their buffers (list views overlap)."""
    for field in schema:
        t = _storage(field.type)
        if pa.types.is_dictionary(t):
            t = _storage(t.value_type)
        if pa.types.is_nested(t) or pa.types.is_dictionary(t):
            raise UnreadablePayload(
                f"column {field.name!r} of the {fmt} payload has the nested type {t}",
                hint="Send flat columns of numbers, text, dates or timestamps.",
                column=field.name,
                format=fmt,
            )


def decoded_nbytes(column: pa.Array | pa.ChunkedArray) -> int:
    """The bytes ``column`` holds once decoded: dictionary values repeated per row and string
    views expanded, the way Polars, validation and the Delta writer will hold them."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return sum(_chunk_nbytes(c) for c in chunks)


def _chunk_nbytes(arr: pa.Array) -> int:
    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    t = arr.type
    if pa.types.is_dictionary(t):
        values = _storage(t.value_type)
        if is_binary_like(values):
            lengths = pa.array(_lengths(arr.dictionary))  # one per distinct value: small
            repeated = pc.sum(pc.take(lengths, arr.indices)).as_py()
            return int(repeated or 0) + CELL_BYTES * len(arr)
        return max(values.bit_width // 8, 1) * len(arr)
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        return int(_lengths(arr).sum()) + CELL_BYTES * len(arr)
    return int(arr.nbytes)


def _lengths(arr: pa.Array) -> Any:
    """The byte length of each value of a text array (0 for a null), as a NumPy array. Many
    string views may point at one long value, so a view array's buffers say nothing of its
    size: each 16-byte view starts with its value's length (int32)."""
    import numpy as np

    if isinstance(arr, pa.ExtensionArray):
        arr = arr.storage
    n = len(arr)
    if pa.types.is_string_view(arr.type) or pa.types.is_binary_view(arr.type):
        views = arr.buffers()[1]
        if n == 0 or views is None:
            return np.zeros(n, dtype=np.int64)
        lengths = np.frombuffer(views, dtype="<i4", count=4 * n, offset=16 * arr.offset)[::4]
    else:
        lengths = pc.fill_null(pc.binary_length(arr), 0).to_numpy(zero_copy_only=False)
    if arr.null_count:  # a null view's length is undefined
        lengths = np.where(arr.is_valid().to_numpy(zero_copy_only=False), lengths, 0)
    return lengths.astype(np.int64)


def plain(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """``column`` with its dictionary decoded (call after its decoded size was counted)."""
    if not pa.types.is_dictionary(column.type):
        return column
    if isinstance(column, pa.ChunkedArray):
        chunks = [plain(c) for c in column.chunks]
        return pa.chunked_array(chunks, type=plain_type(column.type))
    values = column.dictionary
    if values.type != plain_type(column.type):  # Arrow cannot take from views yet
        values = pc.cast(values, plain_type(column.type))
    return pa.DictionaryArray.from_arrays(column.indices, values).dictionary_decode()


def plain_type(t: pa.DataType) -> pa.DataType:
    """The type of a column once its dictionary is decoded."""
    if not pa.types.is_dictionary(t):
        return t
    if pa.types.is_string_view(t.value_type):
        return pa.large_string()
    if pa.types.is_binary_view(t.value_type):
        return pa.large_binary()
    return t.value_type


def _storage(t: pa.DataType) -> pa.DataType:
    return t.storage_type if isinstance(t, pa.BaseExtensionType) else t


def is_binary_like(t: pa.DataType) -> bool:
    """Strings and binaries of every layout (their decoded size is their bytes)."""
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary_view(t)
    )
