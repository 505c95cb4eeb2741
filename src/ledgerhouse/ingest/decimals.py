"""Reading exact decimals: a value is stored as sent or refused, never rounded (decision 0014).

Text (CSV, JSON, NDJSON: JSON numbers are read as their text, not as floats) is parsed digit by
digit. A float (a Parquet or Arrow DOUBLE column) stands for the shortest decimal that reads
back as the same float — what Python, Polars and every CSV writer print for it: ``0.1`` is 0.1,
not 0.1000000000000000055511151231257827. An integer or a decimal column is taken as it is.

A value fits ``decimal(precision, scale)`` when it has at most ``scale`` decimal places once
trailing zeros are dropped (``1.500`` has one) and at most ``precision - scale`` integer digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

#: sign, integer digits, fraction digits, exponent
_NUMBER = r"^[+-]?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$"
#: Below 2^33 a double's spacing is under 10^-6, so rounding its exact binary value to 6
#: places gives its shortest decimal: the fast path (no text) for most Parquet floats.
_FAST_FLOAT = 2.0**33


@dataclass(frozen=True)
class DecimalType:
    precision: int
    scale: int

    @property
    def polars(self) -> pl.Decimal:
        return pl.Decimal(self.precision, self.scale)

    @property
    def text(self) -> str:
        return f"decimal({self.precision},{self.scale})"


def to_decimal(values: pl.Series, target: DecimalType) -> tuple[pl.Series, pl.Series]:
    """``values`` as ``target`` (null where a value cannot be read or does not fit) and, per
    row, why it was refused (null when it was read, or was null already)."""
    dtype = values.dtype
    if dtype == pl.String:
        text = values.str.strip_chars()
        return _from_text(_only_where(text != "", text), target)
    if dtype.is_float():
        return _from_float(values.cast(pl.Float64), target)
    if dtype.is_integer() or isinstance(dtype, pl.Decimal):
        return _from_text(values.cast(pl.String), target)
    if dtype == pl.Boolean or dtype == pl.Null or dtype.is_temporal():
        return _from_text(values.cast(pl.String), target)
    unreadable = pl.Series(["cannot be read as a number"] * len(values), dtype=pl.String)
    return pl.Series([None] * len(values), dtype=target.polars), _only_where(
        values.is_not_null(), unreadable
    )


def _from_float(values: pl.Series, target: DecimalType) -> tuple[pl.Series, pl.Series]:
    small = (values.abs() < min(_FAST_FLOAT, 10.0 ** (target.precision - target.scale))).fill_null(
        False
    )
    fast = _only_where(small, values).cast(target.polars, strict=False)
    ok = (small & (fast.cast(pl.Float64) == values)).fill_null(False)
    if bool(ok.all()) or values.null_count() == len(values):
        return fast, pl.Series([None] * len(values), dtype=pl.String)
    # the rest (large, non-finite, or with more places than the scale) through their text
    slow_typed, slow_reason = _from_text(values.cast(pl.String), target)
    typed = pl.select(pl.when(ok).then(fast).otherwise(slow_typed)).to_series()
    reason = pl.select(pl.when(ok).then(None).otherwise(slow_reason)).to_series()
    return typed.cast(target.polars), reason


def _from_text(text: pl.Series, target: DecimalType) -> tuple[pl.Series, pl.Series]:
    frame = pl.DataFrame({"v": text})
    v = pl.col("v")
    parts = v.str.extract_groups(_NUMBER)
    whole = parts.struct.field("1").fill_null("")
    fraction = parts.struct.field("2").fill_null("")
    exponent = parts.struct.field("3").cast(pl.Int64, strict=False)
    digits = whole + fraction
    trailing_zeros = digits.str.len_chars() - digits.str.strip_chars_end("0").str.len_chars()
    places = fraction.str.len_chars().cast(pl.Int64) - exponent.fill_null(0) - trailing_zeros
    integer_digits = whole.str.strip_chars_start("0").str.len_chars()
    matched = v.str.contains(_NUMBER) & digits.str.contains("[0-9]")
    max_integer = target.precision - target.scale
    parsed = v.str.to_decimal(scale=target.scale)
    too_large = parsed.abs() >= pl.lit(Decimal(10) ** max_integer, pl.Decimal(38, 0))
    out = frame.select(
        typed=pl.when(matched & (places <= target.scale)).then(parsed),
        places=places,
        integer_digits=integer_digits,
        matched=matched,
        plain=exponent.is_null(),
        too_large=too_large,
    )
    quoted = pl.format("'{}'", v.str.slice(0, 60))
    reason = (
        pl.when(v.is_null())
        .then(None)
        .when(~pl.col("matched"))
        .then(pl.format("cannot read {} as {}", quoted, pl.lit(target.text)))
        .when(pl.col("places") > target.scale)
        .then(
            pl.format(
                "{} has {} decimal places; {} holds at most {} (send the value rounded as you "
                "mean it: it is never rounded here)",
                quoted,
                pl.col("places"),
                pl.lit(target.text),
                pl.lit(target.scale),
            )
        )
        .when(
            (pl.col("plain") & (pl.col("integer_digits") > max_integer))
            | pl.col("too_large").fill_null(False)
            | pl.col("typed").is_null()
        )
        .then(
            pl.format(
                "{} does not fit {}: at most {} integer digits",
                quoted,
                pl.lit(target.text),
                pl.lit(max_integer),
            )
        )
    )
    out = pl.concat([frame, out], how="horizontal").with_columns(reason.alias("reason"))
    typed = out.select(
        pl.when(pl.col("reason").is_null()).then(pl.col("typed")).cast(target.polars)
    ).to_series()
    return typed, out["reason"]


def _only_where(mask: pl.Series, values: pl.Series) -> pl.Series:
    return pl.select(pl.when(mask).then(values)).to_series()
