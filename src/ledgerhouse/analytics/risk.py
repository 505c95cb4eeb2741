"""Risk views that are not per-portfolio scalars: exposures on a date at any level of the
portfolio hierarchy, and the correlation matrix of portfolio returns."""

from __future__ import annotations

import numpy as np
import polars as pl

from ledgerhouse.analytics.performance import D, P, daily_returns

#: exposure breakdowns and the column each comes from (the instrument version valid that day)
EXPOSURE_BY = {
    "asset_class": "i.asset_class",
    "sector": "i.sector",
    "currency": "x.currency",
    "country": "i.country",
}
#: the portfolio hierarchy, coarse to fine (the portfolio version valid that day)
LEVELS = {"firm": "p.firm", "desk": "p.desk", "portfolio": "x.portfolio_code"}


def exposure_sql(by: list[str], level: str) -> str:
    """Long, short, gross and net exposure in the reporting currency on one date (parameters:
    the date, then its month), grouped by ``level`` of the hierarchy and the ``by``
    breakdowns: a firm or desk holds portfolios of several base currencies, so base amounts
    are never added up across them."""
    groups = [f"{LEVELS[level]} AS {level}"] + [f"{EXPOSURE_BY[b]} AS {b}" for b in by]
    return f"""
SELECT {", ".join(groups)},
       sum(greatest(x.market_value_reporting, 0)) AS long,
       sum(least(x.market_value_reporting, 0)) AS short,
       sum(abs(x.market_value_reporting)) AS gross,
       sum(x.market_value_reporting) AS net,
       count(*) AS positions,
       any_value(x.reporting_currency) AS reporting_currency
FROM fact_position x
LEFT JOIN dim_instrument i ON x.instrument_key = i.instrument_key
LEFT JOIN dim_portfolio p ON x.portfolio_key = p.portfolio_key
WHERE x.position_date = ? AND x.position_month = ?
GROUP BY ALL
ORDER BY ALL
"""


def with_shares(exposures: pl.DataFrame, level: str) -> pl.DataFrame:
    """Each row's share of its hierarchy member's gross exposure: a float ratio of two exact
    decimal amounts (the member's gross is an exact sum, so its order does not matter)."""
    total = pl.col("gross").sum().over(level)
    return exposures.with_columns(
        gross_share=pl.col("gross").cast(pl.Float64) / total.cast(pl.Float64)
    )


def correlation_matrix(perf: pl.DataFrame, min_periods: int = 20) -> pl.DataFrame:
    """Pearson correlation of daily returns between portfolios, pairwise over the days both
    have a return (matrix products, no loop over pairs); null where fewer than
    ``min_periods`` days are shared. One row per portfolio, one column per portfolio."""
    r = daily_returns(perf).filter(pl.col("r").is_not_null())
    wide = r.pivot(on=P, index=D, values="r", aggregate_function=None).sort(D)
    codes = sorted(c for c in wide.columns if c != D)
    x = wide.select(codes).to_numpy().astype(float)
    m = (~np.isnan(x)).astype(float)
    x0 = np.nan_to_num(x)
    n = _gram(m, m)
    sa, sb = _gram(x0, m), _gram(m, x0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = _gram(x0, x0) - sa * sb / n
        va = _gram(x0**2, m) - sa**2 / n
        vb = _gram(m, x0**2) - sb**2 / n
        corr = cov / np.sqrt(va * vb)
    corr[(n < min_periods) | ~np.isfinite(corr)] = np.nan
    np.fill_diagonal(corr, 1.0)
    out = pl.DataFrame({P: codes}).hstack(pl.DataFrame(corr, schema=codes, orient="row"))
    return out.with_columns(pl.col(codes).fill_nan(None))


def _gram(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """aᵀb, summed over the days in one fixed order on one thread (einsum's own loops): a
    multi-threaded BLAS may split the sums differently from run to run, and change the bits."""
    return np.einsum("ki,kj->ij", a, b, optimize=False)


#: Positions rebuilt from the cumulative live trades up to a date, beside the stored snapshot
#: of that date. Quantities are decimals: the sums are exact and ``matches`` is equality, not
#: a tolerance. Parameters: the date, the date, its month.
RECONCILE_SQL = """
WITH rebuilt AS (
  SELECT portfolio_code, instrument_code, sum(signed_quantity) AS quantity
  FROM fact_trade WHERE trade_date <= ?
  GROUP BY 1, 2 HAVING sum(signed_quantity) <> 0
),
snapshot AS (
  SELECT portfolio_code, instrument_code, quantity
  FROM fact_position WHERE position_date = ? AND position_month = ?
)
SELECT coalesce(r.portfolio_code, s.portfolio_code) AS portfolio_code,
       coalesce(r.instrument_code, s.instrument_code) AS instrument_code,
       coalesce(r.quantity, 0) AS rebuilt_quantity,
       coalesce(s.quantity, 0) AS snapshot_quantity,
       coalesce(r.quantity, 0) - coalesce(s.quantity, 0) AS difference,
       coalesce(r.quantity, 0) = coalesce(s.quantity, 0) AS matches
FROM rebuilt r
FULL JOIN snapshot s
  ON r.portfolio_code = s.portfolio_code AND r.instrument_code = s.instrument_code
ORDER BY 1, 2
"""
