"""Validation of a batch against its contract, vectorized in Polars.

Every row either passes (typed to the contract) or gets the first reason it fails, worded so a
person can fix it: the column, the value, the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import pycountry

from ledgerhouse.ingest.decimals import DecimalType, to_decimal
from ledgerhouse.ingest.errors import BatchRejected
from ledgerhouse.ingest.models import Column, Contract

REASON = "_reason"
ROW = "_row_number"

_CURRENCIES = sorted(c.alpha_3 for c in pycountry.currencies)
_POLARS: dict[str, pl.DataType] = {
    "str": pl.String(),
    "currency": pl.String(),
    "float": pl.Float64(),
    "int": pl.Int64(),
    "date": pl.Date(),
    "ts": pl.Datetime("us", "UTC"),
    "bool": pl.Boolean(),
}


@dataclass
class Validated:
    typed: pl.DataFrame  # contract columns, typed, + _row_number + _reason (null = passed)
    original: pl.DataFrame  # the columns as received + _row_number (for quarantine records)
    warnings: list[str]

    @property
    def good(self) -> pl.DataFrame:
        if self.typed[REASON].null_count() == self.typed.height:
            return self.typed.drop(REASON)
        return self.typed.filter(pl.col(REASON).is_null()).drop(REASON)

    @property
    def bad(self) -> pl.DataFrame:
        return self.typed.filter(pl.col(REASON).is_not_null()).select(ROW, REASON)


def normalize_columns(df: pl.DataFrame, contract: Contract) -> tuple[pl.DataFrame, list[str]]:
    """Match columns case-insensitively; refuse the batch when a required column is missing."""
    rename: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in df.columns:
        norm = name.strip().lower()
        if norm in seen:
            raise BatchRejected(
                f"columns {seen[norm]!r} and {name!r} are the same column",
                hint="Send each column once.",
            )
        seen[norm] = name
        rename[name] = norm
    df = df.rename(rename)
    missing = [c.name for c in contract.columns if c.required and c.name not in df.columns]
    if missing:
        raise BatchRejected(
            f"dataset {contract.dataset!r} needs columns {missing}; the batch has "
            f"{sorted(df.columns)[:30]}",
            hint=f"See the {contract.dataset!r} contract in docs/datasets.md.",
            missing_columns=missing,
        )
    extra = sorted(set(df.columns) - set(contract.names))
    warnings = [f"ignored unknown columns {extra}"] if extra else []
    return df, warnings


def validate(df: pl.DataFrame, contract: Contract, max_field_chars: int) -> Validated:
    df, warnings = normalize_columns(df, contract)
    df = df.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))
    original = df
    df, decimal_checks = _decimals(df, contract)
    typed_exprs: list[pl.Expr] = []
    checks: list[pl.Expr] = list(decimal_checks)
    for col in contract.columns:
        if col.name in df.columns:
            typed, failed = _cast(df, col)
        else:
            typed, failed = pl.lit(col.default, dtype=_polars_type(col)), pl.lit(False)
        typed_exprs.append(typed.alias(col.name))
        raw = pl.col(col.name) if col.name in df.columns else pl.lit(None)
        if col.name in df.columns and df.schema[col.name] == pl.String:
            checks.append(
                pl.when(raw.str.len_chars() > max_field_chars).then(
                    pl.format(
                        "column {}: value of {} characters exceeds the {}-character limit",
                        pl.lit(col.name),
                        raw.str.len_chars(),
                        pl.lit(max_field_chars),
                    )
                )
            )
        checks.append(
            pl.when(failed).then(
                pl.format(
                    "column {}: cannot read {} as {}",
                    pl.lit(col.name),
                    _quote(raw.cast(pl.String).str.slice(0, 60)),
                    pl.lit(col.kind),
                )
            )
        )
    typed_df = df.select(ROW, *typed_exprs)
    rule_checks = [_rules(col, contract) for col in contract.columns]
    cast_reason = df.select(pl.coalesce(checks).alias("_cast_reason")).to_series()
    typed_df = typed_df.with_columns(cast_reason)
    typed_df = typed_df.with_columns(
        pl.coalesce(
            [
                pl.col("_cast_reason"),
                *[c for cs in rule_checks for c in cs],
                *_cross_rules(contract),
            ]
        ).alias(REASON)
    ).drop("_cast_reason")
    typed_df = _duplicates(typed_df, contract)
    return Validated(typed_df, original, warnings)


def _polars_type(col: Column) -> pl.DataType:
    if col.kind == "decimal":
        return pl.Decimal(col.precision, col.scale)
    return _POLARS[col.kind]


def _decimals(df: pl.DataFrame, contract: Contract) -> tuple[pl.DataFrame, list[pl.Expr]]:
    """Read the decimal columns exactly (ingest/decimals.py) into hidden columns, with the
    reason of each value refused."""
    added: list[pl.Series] = []
    checks: list[pl.Expr] = []
    for col in contract.columns:
        if col.kind != "decimal" or col.name not in df.columns:
            continue
        typed, why = to_decimal(df[col.name], DecimalType(col.precision, col.scale))
        added += [typed.alias(_typed_name(col)), why.alias(f"__why__{col.name}")]
        checks.append(
            pl.when(pl.col(f"__why__{col.name}").is_not_null()).then(
                pl.format("column {}: {}", pl.lit(col.name), pl.col(f"__why__{col.name}"))
            )
        )
    return (df.with_columns(added) if added else df), checks


def _typed_name(col: Column) -> str:
    return f"__typed__{col.name}"


def _quote(e: pl.Expr) -> pl.Expr:
    return pl.format("'{}'", e)


def _cast(df: pl.DataFrame, col: Column) -> tuple[pl.Expr, pl.Expr]:
    src = df.schema[col.name]
    c = pl.col(col.name)
    if col.kind == "decimal":  # read by _decimals, its refusals among the checks
        return pl.col(_typed_name(col)), pl.lit(False)
    target = _POLARS[col.kind]
    if isinstance(src, pl.List | pl.Struct | pl.Array | pl.Object):
        return pl.lit(None, dtype=target), c.is_not_null()
    if src == pl.String:
        s = c.str.strip_chars()
        s = pl.when(s == "").then(None).otherwise(s)
        if col.kind == "date":
            typed = pl.coalesce(
                s.str.to_date("%Y-%m-%d", strict=False),
                s.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False).dt.date(),
            )
        elif col.kind == "ts":
            typed = _parse_ts(s)
        elif col.kind in ("str", "currency"):
            typed = c
        elif col.kind == "bool":  # true/false, yes/no, 1/0, in any case
            low = s.str.to_lowercase()
            typed = pl.when(low.is_in(["true", "yes", "1", "t", "y"])).then(True)
            typed = typed.when(low.is_in(["false", "no", "0", "f", "n"])).then(False)
            typed = typed.otherwise(None)
        else:
            typed = s.cast(target, strict=False)
        return typed, s.is_not_null() & typed.is_null()
    if col.kind == "ts" and isinstance(src, pl.Datetime):
        typed = c.dt.replace_time_zone("UTC") if src.time_zone is None else c
        return typed.dt.convert_time_zone("UTC").cast(target), pl.lit(False)
    if col.kind == "date" and isinstance(src, pl.Datetime):
        return c.dt.date(), pl.lit(False)
    typed = c.cast(target, strict=False)
    return typed, c.is_not_null() & typed.is_null()


def _parse_ts(s: pl.Expr) -> pl.Expr:
    aware = [
        s.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False)
        for f in ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.fZ")
    ]
    naive = [
        s.str.to_datetime(f, time_unit="us", strict=False).dt.replace_time_zone("UTC")
        for f in ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")
    ]
    return pl.coalesce([*aware, *naive])


def _rules(col: Column, contract: Contract) -> list[pl.Expr]:
    c = pl.col(col.name)
    name = pl.lit(col.name)
    out: list[pl.Expr] = []
    required = col.required or (contract.dataset == "trades" and col.name in _TRADE_FIELDS)
    if required:
        cond = c.is_null()
        if not col.required:  # trades: required unless CANCEL
            cond = cond & (pl.col("event") != "CANCEL")
        out.append(pl.when(cond).then(pl.format("column {}: a value is required", name)))
    if col.enum:
        out.append(
            pl.when(c.is_not_null() & ~c.is_in(list(col.enum))).then(
                pl.format(
                    "column {}: {} is not one of {}",
                    name,
                    _quote(c.str.slice(0, 40)),
                    pl.lit("|".join(col.enum)),
                )
            )
        )
    if col.kind == "currency":
        out.append(
            pl.when(c.is_not_null() & ~c.is_in(_CURRENCIES)).then(
                pl.format(
                    "column {}: {} is not an ISO 4217 currency code",
                    name,
                    _quote(c.str.slice(0, 40)),
                )
            )
        )
    if col.pattern:
        out.append(
            pl.when(c.is_not_null() & ~c.str.contains(col.pattern)).then(
                pl.format(
                    "column {}: {} does not match {}",
                    name,
                    _quote(c.str.slice(0, 60)),
                    pl.lit(col.pattern),
                )
            )
        )
    if col.kind in ("float", "int", "decimal"):
        if col.kind != "decimal":
            out.append(
                pl.when(c.is_nan() | c.is_infinite()).then(
                    pl.format("column {}: {} is not a finite number", name, c.cast(pl.String))
                )
            )
        low = _bound(col, col.min)
        high = _bound(col, col.max)
        if col.min is not None:
            bad = c <= low if col.min_exclusive else c < low
            op = ">" if col.min_exclusive else "≥"
            out.append(
                pl.when(bad).then(
                    pl.format(
                        "column {}: {} must be {} {}",
                        name,
                        c.cast(pl.String),
                        pl.lit(op),
                        pl.lit(f"{col.min:g}"),
                    )
                )
            )
        if col.max is not None:
            out.append(
                pl.when(c > high).then(
                    pl.format(
                        "column {}: {} must be ≤ {}",
                        name,
                        c.cast(pl.String),
                        pl.lit(f"{col.max:g}"),
                    )
                )
            )
    return out


def _bound(col: Column, value: float | None) -> pl.Expr:
    if col.kind == "decimal" and value is not None:
        return pl.lit(Decimal(str(value)), pl.Decimal(38, col.scale))
    return pl.lit(value)


_TRADE_FIELDS = {
    "trade_ts",
    "trade_date",
    "settle_date",
    "portfolio_code",
    "instrument_code",
    "counterparty_code",
    "side",
    "quantity",
    "price",
    "currency",
}


def _cross_rules(contract: Contract) -> list[pl.Expr]:
    if contract.dataset == "trades":
        return [
            pl.when(pl.col("settle_date") < pl.col("trade_date")).then(
                pl.format(
                    "settle_date {} is before trade_date {}",
                    pl.col("settle_date").cast(pl.String),
                    pl.col("trade_date").cast(pl.String),
                )
            )
        ]
    if contract.dataset == "performance":
        return [
            pl.when((pl.col("begin_nav") + pl.col("net_flow").fill_null(0)) <= 0).then(
                pl.when(pl.col("daily_return").is_null()).then(
                    pl.lit(
                        "begin_nav + net_flow must be > 0 to derive daily_return; "
                        "send daily_return explicitly"
                    )
                )
            )
        ]
    return []


def _duplicates(df: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """A second row with the same key as an earlier valid row is a duplicate."""
    keys = list(contract.key)
    ok = df.filter(pl.col(REASON).is_null())
    if ok.is_empty():
        return df
    repeated = ok.select(keys).is_duplicated()
    if not repeated.any():
        return df  # the common case, decided by one hash pass
    ok = ok.filter(repeated)
    dup = ok.with_columns(
        _first_row=pl.col(ROW).min().over(keys), _n=pl.int_range(pl.len()).over(keys)
    ).filter(pl.col("_n") > 0)
    if dup.is_empty():
        return df
    key_text = pl.concat_str(
        [pl.format("{}={}", pl.lit(k), pl.col(k).cast(pl.String)) for k in keys], separator=", "
    )
    dup = dup.select(
        ROW,
        pl.format(
            "duplicate key ({}) within the batch; first seen at row {}",
            key_text,
            pl.col("_first_row"),
        ).alias("_dup"),
    )
    return (
        df.join(dup, on=ROW, how="left")
        .with_columns(pl.coalesce(REASON, "_dup").alias(REASON))
        .drop("_dup")
    )


def quarantine_records(original: pl.DataFrame, bad: pl.DataFrame) -> pl.DataFrame:
    """The refused rows as received, as JSON text, with their reasons."""
    if bad.is_empty():
        return pl.DataFrame(schema={ROW: pl.Int64, REASON: pl.String, "record": pl.String})
    rows = original.join(bad, on=ROW, how="inner")
    cols = [c for c in original.columns if c != ROW]
    as_text = rows.select(ROW, REASON, *[pl.col(c).cast(pl.String) for c in cols])
    return as_text.select(ROW, REASON, pl.struct(cols).struct.json_encode().alias("record")).sort(
        ROW
    )
