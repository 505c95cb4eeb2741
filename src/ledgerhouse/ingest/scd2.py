"""Slowly changing dimensions, type 2.

The dimension is a pure function of every accepted record ever sent for a key: for each key and
day, the version in force is the record with the latest ``effective_date`` on or before that
day (of two with the same date, the later one sent wins); consecutive records with identical
attributes are one version. Computing it from the full record history (kept in the raw layer)
makes back-dated corrections land in the right place, and makes a resent unchanged record a
no-op. Surrogate keys of versions that survive are kept, so facts keep pointing at them.
"""

from __future__ import annotations

import polars as pl

from ledgerhouse.model.schema import OPEN_END


def scd2_versions(
    records: pl.DataFrame,
    *,
    code: str,
    attributes: list[str],
    order: list[str],
) -> pl.DataFrame:
    """Versions (code, attributes, valid_from, valid_to, is_current) from records.

    ``records`` has ``code``, ``effective_date``, the attributes and the ``order`` columns
    (ascending = sent earlier).
    """
    latest = (
        records.sort([code, "effective_date", *order])
        .unique(subset=[code, "effective_date"], keep="last", maintain_order=True)
        .sort([code, "effective_date"])
    )
    same_as_prev = pl.all_horizontal(
        [pl.col(a).eq_missing(pl.col(a).shift(1).over(code)) for a in attributes]
    ) & (pl.col(code).shift(1).over(code).is_not_null())
    versions = latest.filter(~same_as_prev).select(code, *attributes, "effective_date")
    versions = versions.rename({"effective_date": "valid_from"}).with_columns(
        valid_to=pl.col("valid_from").shift(-1).over(code).fill_null(OPEN_END)
    )
    return versions.with_columns(is_current=pl.col("valid_to") == OPEN_END)


def assign_keys(
    versions: pl.DataFrame, existing: pl.DataFrame, *, code: str, key: str
) -> pl.DataFrame:
    """Reuse the surrogate key of each (code, valid_from) that already had one; number the rest
    after the largest key ever used."""
    old = existing.select(code, "valid_from", key)
    out = versions.join(old, on=[code, "valid_from"], how="left")
    start = int(existing[key].max() or 0) if not existing.is_empty() else 0  # type: ignore[arg-type]
    fresh = out.filter(pl.col(key).is_null()).with_columns(
        (pl.int_range(pl.len()) + start + 1).cast(pl.Int64).alias(key)
    )
    return pl.concat([out.filter(pl.col(key).is_not_null()), fresh]).sort([code, "valid_from"])
