"""dim_date generation: a calendar with business days (Monday to Friday)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from ledgerhouse.model.schema import DIM_DATE

CALENDAR_START = date(1990, 1, 1)
CALENDAR_END = date(2060, 12, 31)


def build_dim_date(start: date = CALENDAR_START, end: date = CALENDAR_END) -> pl.DataFrame:
    days = pl.date_range(start, end, "1d", eager=True).alias("date")
    df = pl.DataFrame(days).with_columns(
        date_key=(pl.col("date").dt.strftime("%Y%m%d").cast(pl.Int32)),
        year=pl.col("date").dt.year().cast(pl.Int16),
        quarter=pl.col("date").dt.quarter().cast(pl.Int16),
        month=pl.col("date").dt.month().cast(pl.Int16),
        day=pl.col("date").dt.day().cast(pl.Int16),
        day_of_week=pl.col("date").dt.weekday().cast(pl.Int16),
        day_name=pl.col("date").dt.strftime("%A"),
        month_name=pl.col("date").dt.strftime("%B"),
        iso_week=pl.col("date").dt.week().cast(pl.Int16),
        month_label=pl.col("date").dt.strftime("%Y-%m"),
        quarter_label=pl.format("{}-Q{}", pl.col("date").dt.year(), pl.col("date").dt.quarter()),
    )
    df = df.with_columns(is_weekend=pl.col("day_of_week") >= 6)
    df = df.with_columns(is_business_day=~pl.col("is_weekend"))
    return df.select(DIM_DATE.column_names)


def days_before(day: date, days: int) -> date:
    """``day`` minus ``days``, or 0001-01-01 when that is earlier (Python's first date: a
    look-back from a date near it must not overflow; nothing is stored before it)."""
    return day - timedelta(days=days) if day > date.min + timedelta(days=days) else date.min
