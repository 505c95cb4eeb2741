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
#: Below 2^52 / 10^scale a double is spaced finer than 10^-scale, so at most one decimal of
#: ``scale`` places reads back as it: rounding its binary value to those places gives its
#: shortest decimal. The fast path (no text) for most Parquet floats.
_FAST_FLOAT = 2.0**52


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
        values = values.cast(pl.Float64)
        bound = min(_FAST_FLOAT / 10.0**target.scale, _limit(target))
        small = (values.abs() < bound).fill_null(False)
        fast = _only_where(small, values).cast(target.polars, strict=False)
        # below the bound, the shortest text has at most ``scale`` places iff it reads back
        ok = values.is_null() | (small & (fast.cast(pl.Float64) == values)).fill_null(False)
        return _with_slow_rows(fast, ok, values, target)
    if dtype.is_integer() or (isinstance(dtype, pl.Decimal) and (dtype.scale or 0) <= target.scale):
        wide = values.cast(pl.Decimal(38, target.scale), strict=False)
        fits = (wide.abs() < Decimal(10) ** _integer_digits(target)).fill_null(False)
        fast = _only_where(fits, wide).cast(target.polars, strict=False)
        return _with_slow_rows(fast, values.is_null() | fits, values, target)
    if isinstance(dtype, pl.Decimal) or dtype in (pl.Boolean, pl.Null) or dtype.is_temporal():
        return _from_text(values.cast(pl.String), target)
    unreadable = pl.Series(["cannot be read as a number"] * len(values), dtype=pl.String)
    return pl.Series([None] * len(values), dtype=target.polars), _only_where(
        values.is_not_null(), unreadable
    )


def _limit(target: DecimalType) -> float:
    return 10.0 ** _integer_digits(target)


def _integer_digits(target: DecimalType) -> int:
    return target.precision - target.scale


def _with_slow_rows(
    fast: pl.Series, ok: pl.Series, values: pl.Series, target: DecimalType
) -> tuple[pl.Series, pl.Series]:
    """``fast`` where ``ok``; the other rows (large, non-finite, more places than the scale)
    read through their text, which says why one is refused. Only those rows are rendered."""
    reasons = pl.Series([None] * len(values), dtype=pl.String)
    if bool(ok.all()):
        return fast, reasons
    rows = (~ok).arg_true()
    slow_typed, slow_reason = _from_text(values.gather(rows).cast(pl.String), target)
    typed = fast.cast(target.polars).scatter(rows, slow_typed)
    return typed, reasons.scatter(rows, slow_reason)


def _from_text(text: pl.Series, target: DecimalType) -> tuple[pl.Series, pl.Series]:
    """Plain decimal text (``-12.50``) by Polars' parser and the position of the point; the
    rest (exponents, text the parser refuses, values too large for it) by the full grammar."""
    parsed = text.str.to_decimal(scale=target.scale)
    dot = text.str.find(".", literal=True)
    places = (text.str.strip_chars_end("0").str.len_chars() - dot - 1).fill_null(0)
    plain = parsed.is_not_null() & ~text.str.contains("[eE]").fill_null(True)
    too_large = parsed.abs() >= Decimal(10) ** _integer_digits(target)
    ok = text.is_null() | (plain & (places <= target.scale) & ~too_large).fill_null(False)
    fast = _only_where(ok, parsed).cast(target.polars, strict=False)
    reasons = pl.Series([None] * len(text), dtype=pl.String)
    if bool(ok.all()):
        return fast, reasons
    rows = (~ok).arg_true()
    slow_typed, slow_reason = _by_grammar(text.gather(rows), target)
    return fast.scatter(rows, slow_typed), reasons.scatter(rows, slow_reason)


def _by_grammar(text: pl.Series, target: DecimalType) -> tuple[pl.Series, pl.Series]:
    """Every row by the number grammar ``_NUMBER``: sign, digits, point, exponent."""
    frame = pl.DataFrame({"v": text})
    v = pl.col("v")
    parts = v.str.extract_groups(_NUMBER)
    whole = parts.struct.field("1").fill_null("")
    fraction = parts.struct.field("2").fill_null("")
    exponent = parts.struct.field("3").cast(pl.Int64, strict=False)
    digits = whole + fraction
    trailing_zeros = digits.str.len_chars() - digits.str.strip_chars_end("0").str.len_chars()
    places = fraction.str.len_chars().cast(pl.Int64) - exponent.fill_null(0) - trailing_zeros
    places = pl.when(digits.str.strip_chars("0") == "").then(0).otherwise(places)  # 0E-10 is 0
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
