"""Brinson-Fachler attribution by sector against the benchmark, per day and linked over a
period with Carino's logarithmic smoothing (Carino 1999), vectorized over days and sectors.

Per day t and sector s, with portfolio weights w_p (start-of-day holdings at market value) and
returns r_p, benchmark weights w_b and returns r_b, and total benchmark return R_b:

    allocation   = (w_p - w_b) (r_b - R_b)
    selection    = w_b (r_p - r_b)
    interaction  = (w_p - w_b) (r_p - r_b)

which add up, over sectors, to R_p - R_b. A sector the portfolio does not hold takes the
benchmark's sector return (no selection effect); one the benchmark does not hold has r_b = R_b.
Linking: each day's effects are scaled by k_t / K, k_t = (ln(1+R_p,t) - ln(1+R_b,t)) /
(R_p,t - R_b,t) and K the same for the period's compounded returns, so the linked effects add up
to the period's compounded R_p - R_b exactly.
"""

from __future__ import annotations

import polars as pl

from ledgerhouse.analytics.models import fixed_sum
from ledgerhouse.analytics.performance import ordered_sums

# Portfolio: start-of-day holdings (the previous position date) times the day's price return.
# mv is an exact sum of amounts; each holding's price gain mv * (close / previous - 1) is an
# amount rounded to 6 places, so that mv_return is an exact sum too (the same on every run).
HOLDINGS_SQL = """
WITH px AS (
  SELECT instrument_code, price_date,
         lag(price_date) OVER w AS prev_date,
         close_price - lag(close_price) OVER w AS change,
         lag(close_price) OVER w AS prev_close
  FROM fact_price
  WHERE price_date BETWEEN ? AND ?
  WINDOW w AS (PARTITION BY instrument_code ORDER BY price_date)
)
SELECT x.portfolio_code, px.price_date AS day, i.sector,
       sum(x.market_value_base) AS mv,
       sum(CAST(x.market_value_base * px.change / px.prev_close AS DECIMAL(38, 6))) AS mv_return
FROM fact_position x
JOIN dim_instrument i ON x.instrument_key = i.instrument_key
JOIN px ON px.instrument_code = x.instrument_code AND px.prev_date = x.position_date
WHERE px.price_date BETWEEN ? AND ? AND x.position_month BETWEEN ? AND ?{portfolios}
GROUP BY ALL
"""
# Benchmark: constituent weights of the day (start of day) and their returns that day; floats,
# summed in fixed point (``fixed_sum``) so that the sums do not depend on DuckDB's threads.
BENCHMARK_SQL = f"""
SELECT c.benchmark_code, c.as_of_date AS day, i.sector,
       {fixed_sum("c.weight")} AS w, {fixed_sum("c.weight * c.daily_return")} AS w_return
FROM fact_benchmark_constituent c
JOIN dim_instrument i ON c.instrument_key = i.instrument_key
WHERE c.as_of_date BETWEEN ? AND ?
GROUP BY ALL
"""


def _portfolio_side(holdings: pl.DataFrame) -> pl.DataFrame:
    """Weights and returns of the portfolio's sectors: float ratios of amounts. With decimal
    amounts the day's totals are exact sums (the same in any order), divided once."""
    day = ["portfolio_code", "day"]
    mv, ret = pl.col("mv"), pl.col("mv_return")
    total_mv, total_ret = mv.sum().over(day), ret.sum().over(day)
    if not isinstance(holdings.schema["mv"], pl.Decimal):  # floats: add them in one order
        sums = ordered_sums(holdings.sort(*day, "sector"), day, {"_mv": mv, "_ret": ret})
        holdings = holdings.join(sums, on=day, how="left")
        total_mv, total_ret = pl.col("_mv"), pl.col("_ret")
    f = pl.Float64
    return holdings.with_columns(
        w_p=mv.cast(f) / total_mv.cast(f),
        r_p=ret.cast(f) / mv.cast(f),
        total_p=total_ret.cast(f) / total_mv.cast(f),
    ).drop("_mv", "_ret", strict=False)


def _benchmark_side(bench: pl.DataFrame) -> pl.DataFrame:
    """Weights and returns of the benchmark's sectors; the day's float totals are added in
    one fixed order (sector order, ``ordered_sums``)."""
    day = ["benchmark_code", "day"]
    sums = ordered_sums(bench.sort(*day, "sector"), day, {"_w": pl.col("w"),
                                                          "_wr": pl.col("w_return")})  # fmt: skip
    return (
        bench.join(sums, on=day, how="left")
        .with_columns(
            w_b=pl.col("w") / pl.col("_w"),
            r_b=pl.col("w_return") / pl.col("w"),
            total_b=pl.col("_wr") / pl.col("_w"),
        )
        .drop("_w", "_wr")
    )


def daily_effects(
    holdings: pl.DataFrame, bench: pl.DataFrame, benchmark_of: pl.DataFrame
) -> pl.DataFrame:
    """Brinson-Fachler effects per portfolio, day and sector, in (portfolio, day, sector)
    order. ``holdings``: portfolio_code, day, sector, mv, mv_return (amounts, decimal or
    float); ``bench``: benchmark_code, day, sector, w, w_return; ``benchmark_of``:
    portfolio_code, benchmark_code."""
    p = _portfolio_side(holdings).join(benchmark_of, on="portfolio_code")
    b = _benchmark_side(bench)
    keys = ["portfolio_code", "day"]
    days = (
        p.select("portfolio_code", "benchmark_code", "day", "total_p")
        .unique()
        .join(b.select("benchmark_code", "day", "total_b").unique(), on=["benchmark_code", "day"])
    )
    # every sector either side holds that day, for each portfolio-day with benchmark data
    sectors = pl.concat(
        [
            p.select(*keys, "sector"),
            days.join(
                b.select("benchmark_code", "day", "sector"), on=["benchmark_code", "day"]
            ).select(*keys, "sector"),
        ]
    ).unique()
    frame = (
        sectors.join(days, on=keys)
        .join(p.select(*keys, "sector", "w_p", "r_p"), on=[*keys, "sector"], how="left")
        .join(
            b.select("benchmark_code", "day", "sector", "w_b", "r_b"),
            on=["benchmark_code", "day", "sector"],
            how="left",
        )
    )
    rb = pl.col("r_b").fill_null(pl.col("total_b"))
    rp = pl.col("r_p").fill_null(rb)
    wp, wb = pl.col("w_p").fill_null(0.0), pl.col("w_b").fill_null(0.0)
    return frame.with_columns(
        allocation=(wp - wb) * (rb - pl.col("total_b")),
        selection=wb * (rp - rb),
        interaction=(wp - wb) * (rp - rb),
        w_p=wp,
        w_b=wb,
    ).select(
        "portfolio_code", "benchmark_code", "day", "sector", "w_p", "w_b",
        r_p=rp, r_b=rb, total_p="total_p", total_b="total_b",
        allocation="allocation", selection="selection", interaction="interaction",
    ).sort("portfolio_code", "day", "sector")  # fmt: skip


def linked(effects: pl.DataFrame) -> pl.DataFrame:
    """Carino-linked effects per portfolio and sector over all the days of ``effects``; the
    period's returns are cumulative products and the linked effects ordered sums over the
    days in date order, so the same effects give the same bits on every run."""
    per_day = (
        effects.group_by("portfolio_code", "day")
        .agg(rp=pl.col("total_p").first(), rb=pl.col("total_b").first())
        .sort("portfolio_code", "day")
    )
    period = per_day.group_by("portfolio_code", maintain_order=True).agg(
        Rp=(1 + pl.col("rp")).cum_prod().last() - 1,
        Rb=(1 + pl.col("rb")).cum_prod().last() - 1,
    )
    k = _carino("rp", "rb")
    big_k = _carino("Rp", "Rb")
    scale = per_day.join(period, on="portfolio_code").with_columns(factor=k / big_k)
    keys = ["portfolio_code", "benchmark_code", "sector"]
    scaled = effects.join(
        scale.select("portfolio_code", "day", "factor", "Rp", "Rb"),
        on=["portfolio_code", "day"],
    ).sort(*keys, "day")
    sums = ordered_sums(
        scaled,
        keys,
        {e: pl.col(e) * pl.col("factor") for e in ("allocation", "selection", "interaction")},
    )
    rest = scaled.group_by(keys).agg(
        portfolio_return=pl.col("Rp").first(),
        benchmark_return=pl.col("Rb").first(),
        days=pl.col("day").n_unique(),
    )
    out = sums.join(rest, on=keys, how="left").with_columns(
        total=pl.col("allocation") + pl.col("selection") + pl.col("interaction")
    )
    return out.sort("portfolio_code", "sector")


def _carino(rp: str, rb: str) -> pl.Expr:
    diff = pl.col(rp) - pl.col(rb)
    logs = (1 + pl.col(rp)).log() - (1 + pl.col(rb)).log()
    # when the returns are equal the factor's limit is 1 / (1 + r)
    return pl.when(diff.abs() > 1e-15).then(logs / diff).otherwise(1 / (1 + pl.col(rp)))
