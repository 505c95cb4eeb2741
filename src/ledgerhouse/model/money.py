"""Exact money arithmetic on Polars columns, shared by ingestion and analytics (decision 0014).

A product of two decimals is computed at its full scale (the sum of the two scales: Polars
multiplies exactly and rounds to the larger scale of its operands, so the left one is widened
first) and rounded once, half to even, to MONEY_SCALE places.
"""

from __future__ import annotations

import polars as pl

from ledgerhouse.model.schema import MONEY, MONEY_SCALE, RATE

MONEY_PL = pl.Decimal(MONEY.precision, MONEY.scale)
RATE_PL = pl.Decimal(RATE.precision, RATE.scale)
_FAR_TOO_LARGE = 1e19


def exact_product(
    a: str | pl.Expr, b: str | pl.Expr, scale_b: int, *, out: pl.Decimal = MONEY_PL
) -> pl.Expr:
    """``a`` (MONEY_SCALE places) times ``b`` (``scale_b`` places), exact, rounded once half
    to even to MONEY_SCALE places, as ``out``; null where it does not fit ``out``."""
    left = pl.col(a) if isinstance(a, str) else a
    right = pl.col(b) if isinstance(b, str) else b
    # Polars raises (it does not give null) when a product overflows its 38 digits: a product
    # far past what ``out`` holds is null before it is computed (estimated in floats, with room
    # to spare: ``out`` holds less than 10^19, the wide product up to 10^20)
    estimate = (left.cast(pl.Float64) * right.cast(pl.Float64)).abs()
    left = pl.when(estimate < _FAR_TOO_LARGE).then(left)
    wide = left.cast(pl.Decimal(38, MONEY_SCALE + scale_b))
    return (wide * right).round(MONEY_SCALE).cast(out, strict=False)
