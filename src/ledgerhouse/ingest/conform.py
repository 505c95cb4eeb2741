"""Conformance: point-in-time dimension lookups and currency conversion, on Polars frames."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from ledgerhouse.ingest.validate import REASON
from ledgerhouse.model.money import MONEY_PL, RATE_PL, exact_product
from ledgerhouse.model.schema import MONEY, RATE_SCALE


def lookup_version(
    facts: pl.DataFrame,
    dim: pl.DataFrame,
    *,
    code: str,
    on: str,
    key: str,
    take: list[str],
) -> pl.DataFrame:
    """Attach the dimension version valid on each fact's business date (``on``).

    Facts whose code is unknown, or that fall before the code's first version, get a reason.
    """
    dim_sorted = dim.select(code, "valid_from", "valid_to", key, *take).sort("valid_from")
    # Row order is not kept: rows are identified by their _row_number, not their position.
    if not facts[on].is_sorted():
        facts = facts.sort(on)
    joined = facts.join_asof(
        dim_sorted,
        left_on=on,
        right_on="valid_from",
        by=code,
        strategy="backward",
        check_sortedness=False,
    )
    known = set(dim[code].unique().to_list()) if not dim.is_empty() else set()
    unknown = pl.col(code).is_in(list(known)).not_()
    reason = (
        pl.when(pl.col(REASON).is_not_null())
        .then(pl.col(REASON))
        .when(pl.col(code).is_null())
        .then(None)
        .when(unknown)
        .then(pl.format("unknown {} {}", pl.lit(code), pl.format("'{}'", pl.col(code))))
        .when(pl.col(key).is_null() | (pl.col(on) >= pl.col("valid_to")))
        .then(
            pl.format(
                "{} '{}' has no version valid on {}",
                pl.lit(code),
                pl.col(code),
                pl.col(on).cast(pl.String),
            )
        )
    )
    return joined.with_columns(reason.alias(REASON)).drop("valid_from", "valid_to")


def fx_to(
    facts: pl.DataFrame,
    rates: pl.DataFrame,
    *,
    on: str,
    from_ccy: str,
    to_ccy: str,
    out: str = "fx_rate",
) -> pl.DataFrame:
    """Attach ``out``: units of ``to_ccy`` per unit of ``from_ccy`` on date ``on`` (latest
    rate on or before it). USD is 1 by definition. A missing rate gives a reason."""
    usd = pl.DataFrame(
        {"currency_code": ["USD"], "rate_date": [date(1900, 1, 1)], "rate_to_usd": [Decimal(1)]},
        schema={"currency_code": pl.String, "rate_date": pl.Date, "rate_to_usd": RATE_PL},
    )
    table = pl.concat(
        [
            rates.select("currency_code", "rate_date", pl.col("rate_to_usd").cast(RATE_PL)),
            usd.select("currency_code", "rate_date", "rate_to_usd"),
        ]
    ).sort("rate_date")
    df = facts if facts[on].is_sorted() else facts.sort(on)
    for side, col in (("_from", from_ccy), ("_to", to_ccy)):
        df = df.join_asof(
            table.rename(
                {"currency_code": col, "rate_to_usd": f"{side}_usd", "rate_date": f"{side}_date"}
            ),
            left_on=on,
            right_on=f"{side}_date",
            by=col,
            strategy="backward",
            check_sortedness=False,
        )
    df = df.drop("_from_date", "_to_date")
    missing = (
        pl.when(pl.col("_from_usd").is_null()).then(pl.col(from_ccy)).otherwise(pl.col(to_ccy))
    )
    reason = (
        pl.when(pl.col(REASON).is_not_null())
        .then(pl.col(REASON))
        .when(
            pl.col(from_ccy).is_not_null()
            & (pl.col("_from_usd").is_null() | pl.col("_to_usd").is_null())
        )
        .then(pl.format("no FX rate for {} on or before {}", missing, pl.col(on).cast(pl.String)))
    )
    # one exact division, rounded half-even to RATE_SCALE places: the rate stored and applied
    rate = (pl.col("_from_usd") / pl.col("_to_usd")).round(RATE_SCALE).cast(RATE_PL, strict=False)
    df = df.with_columns(rate.alias(out), reason.alias(REASON))
    unusable = (
        pl.col("_from_usd").is_not_null()
        & pl.col("_to_usd").is_not_null()
        & (pl.col(out).is_null() | (pl.col(out) == 0))
    )
    df = df.with_columns(
        pl.when(pl.col(REASON).is_null() & unusable)
        .then(
            pl.format(
                "the FX rate from {} to {} on {} ({} / {} USD) does not fit {} as a non-zero rate",
                pl.col(from_ccy),
                pl.col(to_ccy),
                pl.col(on).cast(pl.String),
                pl.col("_from_usd").cast(pl.String),
                pl.col("_to_usd").cast(pl.String),
                pl.lit(f"decimal({RATE_PL.precision},{RATE_PL.scale})"),
            )
        )
        .otherwise(pl.col(REASON))
        .alias(REASON)
    )
    return df.drop("_from_usd", "_to_usd")


def fx_to_reporting(
    facts: pl.DataFrame, rates: pl.DataFrame, *, on: str, reporting_currency: str
) -> pl.DataFrame:
    """Attach ``reporting_currency`` and ``reporting_fx_rate``: units of the reporting
    currency per unit of the row's ``base_currency`` on date ``on`` (through USD, the FX
    table's pivot). A missing rate gives a reason."""
    df = facts.with_columns(reporting_currency=pl.lit(reporting_currency, pl.String))
    return fx_to(
        df,
        rates,
        on=on,
        from_ccy="base_currency",
        to_ccy="reporting_currency",
        out="reporting_fx_rate",
    )


def month_of(col: str) -> pl.Expr:
    return pl.col(col).dt.strftime("%Y-%m")


def with_products(df: pl.DataFrame, products: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    """Add each ``(out, a, b, scale_b)``: ``out = a * b`` (``model/money.py: exact_product``:
    exact, rounded once half to even to MONEY_SCALE places), in order (a later
    product may use an earlier one); a row whose product does not fit gets a reason."""
    for out, a, b, scale_b in products:
        df = df.with_columns(exact_product(a, b, scale_b).alias(out))  # null: too large
        df = _refuse_unfit(df, out, a, "×", b)
    return df


def with_differences(df: pl.DataFrame, differences: list[tuple[str, str, str]]) -> pl.DataFrame:
    """Add each ``(out, a, b)``: ``out = a - b`` of two amounts, exact; a row whose difference
    does not fit MONEY gets a reason (never a silent null)."""
    for out, a, b in differences:
        df = df.with_columns((pl.col(a) - pl.col(b)).cast(MONEY_PL, strict=False).alias(out))
        df = _refuse_unfit(df, out, a, "-", b)
    return df


def _refuse_unfit(df: pl.DataFrame, out: str, a: str, op: str, b: str) -> pl.DataFrame:
    """A reason for each row where ``out`` (``a op b``) is null though ``a`` and ``b`` are not:
    the result does not fit MONEY."""
    unfit = pl.col(out).is_null() & pl.col(a).is_not_null() & pl.col(b).is_not_null()
    text = pl.format(
        f"{out} = {a} {op} {b} = {{}} {op} {{}} does not fit "
        f"decimal({MONEY.precision},{MONEY.scale})",
        pl.col(a).cast(pl.String),
        pl.col(b).cast(pl.String),
    )
    reason = pl.when(pl.col(REASON).is_null() & unfit).then(text).otherwise(pl.col(REASON))
    return df.with_columns(reason.alias(REASON))
