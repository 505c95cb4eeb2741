"""Plausibility rules: values that read and conform but cannot be right.

Each rule works on the frames being conformed (a ``_reason`` column, null while the row is
good) and, like the lookups of ``conform.py``, gives a reason only to rows that have none yet:
the row goes to quarantine with it, and the batch is rejected whole above ``max_error_rate``.
The reasons name the value, what was expected and how to fix it. Every rule is a vectorized
Polars expression or join (the prevailing close is an as-of join), never a loop over rows.

The notional-outlier rule is statistical: by default it warns in the batch report instead of
refusing (docs/datasets.md says why); ``notional_outlier_action = "quarantine"`` refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import polars as pl

from ledgerhouse.ingest.validate import REASON

#: What ``notional_outlier_action`` may be.
OUTLIER_ACTIONS = ("warn", "quarantine", "off")


@dataclass(frozen=True)
class IngestRules:
    """The settings of the plausibility rules (config.py: the same names, documented in
    docs/configuration.md). A factor or band of 0 turns its rule off."""

    #: a business date may be at most this many days after the load date (the ingestor's clock)
    max_future_days: int = 5
    #: trades dated on a day that is not a business day (dim_date) are accepted
    allow_non_business_days: bool = False
    #: a trade's price may differ from the prevailing close by at most this share of it
    price_band: float = 0.5
    #: a close may be at most this many times (or this fraction of) the previous close
    price_jump_factor: float = 10.0
    #: a notional above this many times the instrument's 99th percentile is an outlier
    notional_outlier_factor: float = 10.0
    #: the outlier rule applies to instruments with at least this many notionals to compare
    notional_outlier_min_history: int = 50
    #: "warn" (the batch report's warnings), "quarantine" (refuse the trade) or "off"
    notional_outlier_action: str = "warn"


#: The defaults (config.py has the same).
DEFAULT_RULES = IngestRules()


def _refuse(df: pl.DataFrame, bad: pl.Expr, text: pl.Expr) -> pl.DataFrame:
    """Give ``text`` as the reason of each row that has none yet and is ``bad``."""
    reason = (
        pl.when(pl.col(REASON).is_null() & bad.fill_null(False))
        .then(text)
        .otherwise(pl.col(REASON))
    )
    return df.with_columns(reason.alias(REASON))


def _text(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String)


def _number(col: str | pl.Expr) -> pl.Expr:
    """A number as text without trailing zeros ("64", not "64.000000")."""
    text = (pl.col(col) if isinstance(col, str) else col).cast(pl.String)
    return (
        pl.when(text.str.contains(r"\."))
        .then(text.str.strip_chars_end("0").str.strip_chars_end("."))
        .otherwise(text)
    )


# -- dates -----------------------------------------------------------------------------------
def within_horizon(df: pl.DataFrame, on: str, today: date, max_future_days: int) -> pl.DataFrame:
    """Refuse rows whose business date ``on`` is more than ``max_future_days`` days after
    ``today`` (the load date): end-of-day data and trades do not come from the future."""
    room = (date.max - today).days  # a horizon past the calendar's end is no horizon
    last = today + timedelta(days=min(max_future_days, room))
    return _refuse(
        df,
        pl.col(on) > pl.lit(last),
        pl.format(
            "{} {} is more than {} days after the load date {} (latest accepted {}); correct "
            "the date, or raise max_future_days",
            pl.lit(on),
            _text(on),
            pl.lit(max_future_days),
            pl.lit(today.isoformat()),
            pl.lit(last.isoformat()),
        ),
    )


def on_business_day(df: pl.DataFrame, on: str, dim_date: pl.DataFrame) -> pl.DataFrame:
    """Refuse rows whose ``on`` is not a business day of ``dim_date`` (dates outside the
    calendar are not judged)."""
    closed = dim_date.filter(~pl.col("is_business_day"))["date"]
    if closed.is_empty():
        return df
    return _refuse(
        df,
        pl.col(on).is_in(closed.implode()),
        pl.format(
            "{} {} is a {}, not a business day; correct the date, or set "
            "allow_non_business_days for a tenant that trades every day",
            pl.lit(on),
            _text(on),
            pl.col(on).dt.strftime("%A"),
        ),
    )


# -- trades ------------------------------------------------------------------------------------
def currency_matches_instrument(df: pl.DataFrame) -> pl.DataFrame:
    """Refuse trades whose ``currency`` is not ``instrument_currency`` (the currency of the
    instrument's version valid on the trade date): the amounts would be converted from the
    wrong currency."""
    return _refuse(
        df,
        pl.col("instrument_currency").is_not_null()
        & (pl.col("currency") != pl.col("instrument_currency")),
        pl.format(
            "currency '{}' differs from the currency '{}' of instrument '{}' on {}; send the "
            "trade in the currency of the instrument (or correct its reference data)",
            pl.col("currency"),
            pl.col("instrument_currency"),
            pl.col("instrument_code"),
            _text("trade_date"),
        ),
    )


def price_in_band(df: pl.DataFrame, closes: pl.DataFrame, band: float) -> pl.DataFrame:
    """Refuse trades whose ``price`` is outside ``close * (1 ± band)``, ``close`` being the
    prevailing close: the latest ``closes`` row of the instrument on or before the trade date
    (an as-of join). Without a prevailing close the rule does not apply."""
    if band <= 0 or closes.is_empty() or df.is_empty():
        return df
    closes = closes.select(
        "instrument_code",
        pl.col("price_date").alias("_close_date"),
        pl.col("close_price").alias("_close"),
    ).sort("_close_date")
    if not df["trade_date"].is_sorted():
        df = df.sort("trade_date")
    df = df.join_asof(
        closes,
        left_on="trade_date",
        right_on="_close_date",
        by="instrument_code",
        strategy="backward",
        check_sortedness=False,
    )
    tolerance = pl.lit(Decimal(str(band)), pl.Decimal(38, 6))
    width = pl.col("_close") * tolerance
    df = df.with_columns(_low=pl.col("_close") - width, _high=pl.col("_close") + width)
    df = _refuse(
        df,
        pl.col("_close").is_not_null()
        & ((pl.col("price") < pl.col("_low")) | (pl.col("price") > pl.col("_high"))),
        pl.format(
            "price {} is outside ±{}% of the prevailing close {} of instrument '{}' (close of "
            "{}): expected {} to {}; correct the price (its unit or decimal point), load the "
            "close of the trade date first, or widen price_band",
            _number("price"),
            pl.lit(f"{band * 100:g}"),
            _number("_close"),
            pl.col("instrument_code"),
            _text("_close_date"),
            _number("_low"),
            _number("_high"),
        ),
    )
    return df.drop("_close_date", "_close", "_low", "_high")


def notional_outliers(
    df: pl.DataFrame, stored: pl.DataFrame, rules: IngestRules
) -> tuple[pl.DataFrame, list[str]]:
    """Trades whose ``notional_local`` is above ``notional_outlier_factor`` times the 99th
    percentile of their instrument's stored notionals (``stored``: the committed trades; the
    batch's own rows are not in it, so a batch cannot raise its own bar), for instruments with
    at least ``notional_outlier_min_history`` of them. Quarantined or warned about per
    ``notional_outlier_action``; returns the warnings."""
    factor, action = rules.notional_outlier_factor, rules.notional_outlier_action
    if factor <= 0 or action == "off" or df.is_empty() or stored.is_empty():
        return df, []
    size = pl.col("notional_local").cast(pl.Float64).abs()
    limits = (
        stored.group_by("instrument_code")
        .agg(pl.len().alias("_n"), size.quantile(0.99, "linear").alias("_p99"))
        .filter(pl.col("_n") >= rules.notional_outlier_min_history)
        .select("instrument_code", "_n", "_p99", (pl.col("_p99") * factor).alias("_limit"))
    )
    if limits.is_empty():
        return df, []
    df = df.join(limits, on="instrument_code", how="left")
    outlier = pl.col(REASON).is_null() & (size > pl.col("_limit")).fill_null(False)
    warnings: list[str] = []
    if action == "quarantine":
        df = _refuse(
            df,
            outlier,
            pl.format(
                "notional_local {} (quantity {} × price {}) is above {} × the 99th percentile "
                "{} of the {} notionals of instrument '{}'; correct the quantity or price, or "
                "raise notional_outlier_factor if the trade is real",
                _number("notional_local"),
                _number("quantity"),
                _number("price"),
                pl.lit(f"{factor:g}"),
                pl.col("_p99").round(2).cast(pl.String),
                pl.col("_n"),
                pl.col("instrument_code"),
            ),
        )
    else:
        found = df.filter(outlier)
        if not found.is_empty():
            shown = found.sort("trade_id").head(5)
            listed = "; ".join(
                f"{r['trade_id']} (instrument {r['instrument_code']}, notional "
                f"{r['notional_local']:f}, above {factor:g} × its 99th percentile "
                f"{r['_p99']:.2f})"
                for r in shown.iter_rows(named=True)
            )
            more = f" and {found.height - shown.height} more" if found.height > 5 else ""
            warnings.append(
                f"notional outliers: {found.height} trade(s) above {factor:g} × the 99th "
                "percentile of their instrument's stored notionals (notional_outlier_factor): "
                f"{listed}{more}. They were loaded: check their quantity and price, and amend "
                "them if they are wrong"
            )
    return df.drop("_n", "_p99", "_limit"), warnings


# -- prices ------------------------------------------------------------------------------------
def close_jumps(df: pl.DataFrame, stored: pl.DataFrame, factor: float) -> pl.DataFrame:
    """Refuse closes more than ``factor`` times (or less than 1/``factor`` of) the previous
    close of the instrument: the batch's own earlier close or the latest stored one. A jump
    the next close confirms (a split: the next close stays near the new level) passes."""
    if factor <= 0 or df.is_empty():
        return df
    key = ["instrument_code", "price_date"]
    ok = df.filter(pl.col(REASON).is_null()).select(*key, "close_price", _batch=pl.lit(True))
    kept = stored.join(ok.select(key), on=key, how="anti")  # a batch row replaces its key
    series = pl.concat(
        [ok, kept.select(*key, "close_price", _batch=pl.lit(False))], how="vertical_relaxed"
    )
    series = series.sort(key).with_columns(_c=pl.col("close_price").cast(pl.Float64))
    same_prev = pl.col("instrument_code") == pl.col("instrument_code").shift(1)
    same_next = pl.col("instrument_code") == pl.col("instrument_code").shift(-1)
    series = series.with_columns(
        _prev=pl.when(same_prev).then(pl.col("_c").shift(1)),
        _prev_close=pl.when(same_prev).then(pl.col("close_price").shift(1)),
        _prev_date=pl.when(same_prev).then(pl.col("price_date").shift(1)),
        _next=pl.when(same_next).then(pl.col("_c").shift(-1)),
    )
    up, nxt = pl.col("_c") / pl.col("_prev"), pl.col("_next") / pl.col("_c")
    jumped = (up > factor) | (up < 1 / factor)
    confirmed = (nxt <= factor) & (nxt >= 1 / factor)
    found = series.filter(pl.col("_batch") & jumped.fill_null(False) & ~confirmed.fill_null(False))
    if found.is_empty():
        return df
    df = df.join(found.select(*key, "_prev_close", "_prev_date"), on=key, how="left")
    df = _refuse(
        df,
        pl.col("_prev_close").is_not_null(),
        pl.format(
            "close_price {} of instrument '{}' on {} is {}× the previous close {} of {}, "
            "beyond price_jump_factor {}; correct the price (its unit or decimal point); a "
            "real jump passes when the next close confirms it, or raise price_jump_factor",
            _number("close_price"),
            pl.col("instrument_code"),
            _text("price_date"),
            _number(
                (pl.col("close_price").cast(pl.Float64) / pl.col("_prev_close").cast(pl.Float64))
                .round(4)
                .cast(pl.String)
            ),
            _number("_prev_close"),
            _text("_prev_date"),
            pl.lit(f"{factor:g}"),
        ),
    )
    return df.drop("_prev_close", "_prev_date")
