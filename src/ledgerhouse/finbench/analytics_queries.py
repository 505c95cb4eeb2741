"""The analytics queries of FinBench (6, 7, 8, 11, 12): the product's analytics calls (or its
SQL API for a rolling window), against hand-written raw DuckDB, Polars and pandas versions.
Every path computes the daily return from NAVs as the product does:
r = end_nav / (begin_nav + net_flow) - 1."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl

from ledgerhouse.finbench.queries import BenchQuery, PandasRead, Params, PolarsScan, Product

_R_SQL = "end_nav / (begin_nav + net_flow) - 1"


# -- 5. positions rebuilt from cumulative trades, beside the snapshot -------------------------
_Q5_COLUMNS = ["portfolio_code", "instrument_code", "rebuilt_quantity", "snapshot_quantity"]


def _q5_product(p: Params) -> Product:
    return Product(
        "analytics",
        method="reconcile_positions",
        args={"on": p.exposure_date},
        api_args={"date": p.exposure_date},
        columns=_Q5_COLUMNS,
    )


def _q5_duckdb(p: Params) -> str:
    d = f"DATE '{p.exposure_date}'"
    return f"""WITH rebuilt AS (
  SELECT portfolio_code, instrument_code, sum(signed_quantity) AS q
  FROM fact_trade WHERE trade_date <= {d} GROUP BY 1, 2 HAVING abs(sum(signed_quantity)) > 1e-9),
snap AS (SELECT portfolio_code, instrument_code, quantity AS q FROM fact_position
         WHERE position_month = '{p.month}' AND position_date = {d})
SELECT coalesce(r.portfolio_code, s.portfolio_code), coalesce(r.instrument_code, s.instrument_code),
       coalesce(r.q, 0), coalesce(s.q, 0)
FROM rebuilt r FULL JOIN snap s USING (portfolio_code, instrument_code)"""


def _q5_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    keys = ["portfolio_code", "instrument_code"]
    rebuilt = (
        scan("fact_trade")
        .filter(pl.col("trade_date") <= p.exposure_date)
        .group_by(keys)
        .agg(rebuilt_quantity=pl.col("signed_quantity").sum())
        .filter(pl.col("rebuilt_quantity").abs() > 1e-9)
    )
    snap = (
        scan("fact_position")
        .filter(
            (pl.col("position_month") == p.month) & (pl.col("position_date") == p.exposure_date)
        )
        .select(*keys, snapshot_quantity="quantity")
    )
    return (
        rebuilt.join(snap, on=keys, how="full", coalesce=True)
        .with_columns(pl.col("rebuilt_quantity", "snapshot_quantity").fill_null(0.0))
        .select(_Q5_COLUMNS)
        .collect()
    )


def _q5_pandas(read: PandasRead, p: Params) -> Any:
    keys = ["portfolio_code", "instrument_code"]
    t = read("fact_trade", [*keys, "trade_date", "signed_quantity"],
             [("trade_date", "<=", p.exposure_date)])  # fmt: skip
    rebuilt = t.groupby(keys, as_index=False)["signed_quantity"].sum()
    rebuilt = rebuilt[rebuilt["signed_quantity"].abs() > 1e-9]
    on_day = [("position_month", "==", p.month), ("position_date", "==", p.exposure_date)]
    snap = read("fact_position", [*keys, "quantity"], on_day)
    out = rebuilt.merge(snap, on=keys, how="outer").fillna(
        {"signed_quantity": 0.0, "quantity": 0.0}
    )
    return out[[*keys, "signed_quantity", "quantity"]]


# -- 6. 30-day rolling volatility of daily returns per portfolio (SQL API) ---------------------
_Q6 = f"""SELECT portfolio_code, performance_date,
       CASE WHEN count(*) OVER w = 30 THEN stddev_samp(r) OVER w END AS vol_30d
FROM (SELECT portfolio_code, performance_date, {_R_SQL} AS r FROM fact_performance)
WINDOW w AS (PARTITION BY portfolio_code ORDER BY performance_date
             ROWS BETWEEN 29 PRECEDING AND CURRENT ROW)"""


def _q6_product(p: Params) -> Product:
    return Product("sql", sql=_Q6, params=[])


def _q6_duckdb(p: Params) -> str:
    return _Q6


def _q6_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    r = pl.col("end_nav") / (pl.col("begin_nav") + pl.col("net_flow")) - 1
    return (
        scan("fact_performance")
        .select("portfolio_code", "performance_date", r=r)
        .sort("portfolio_code", "performance_date")
        .with_columns(vol_30d=pl.col("r").rolling_std(30).over("portfolio_code"))
        .select("portfolio_code", "performance_date", "vol_30d")
        .collect()
    )


def _q6_pandas(read: PandasRead, p: Params) -> Any:
    df = read(
        "fact_performance",
        ["portfolio_code", "performance_date", "begin_nav", "end_nav", "net_flow"],
        None,
    ).sort_values(["portfolio_code", "performance_date"])
    df["r"] = df["end_nav"] / (df["begin_nav"] + df["net_flow"]) - 1
    df["vol_30d"] = (
        df.groupby("portfolio_code")["r"].rolling(30).std().reset_index(level=0, drop=True)
    )
    return df[["portfolio_code", "performance_date", "vol_30d"]]


# -- 7. as-of join of trades to the prevailing price: slippage (one week) ----------------------
def _q7_product(p: Params) -> Product:
    return Product(
        "analytics",
        method="slippage",
        args={"start": p.week_first, "end": p.week_last},
        columns=["trade_id", "slippage_bps"],
    )


def _q7_duckdb(p: Params) -> str:
    months = ", ".join(f"'{m}'" for m in p.week_months)
    return f"""SELECT t.trade_id,
       (CASE WHEN t.side = 'BUY' THEN 1 ELSE -1 END) * (t.price - x.close_price)
           / x.close_price * 10000 AS slippage_bps
FROM fact_trade t
ASOF LEFT JOIN fact_price x
  ON t.instrument_code = x.instrument_code AND t.trade_date > x.price_date
WHERE t.trade_month IN ({months})
  AND t.trade_date BETWEEN DATE '{p.week_first}' AND DATE '{p.week_last}'"""


def _q7_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    trades = (
        scan("fact_trade")
        .filter(
            pl.col("trade_month").is_in(p.week_months)
            & pl.col("trade_date").is_between(p.week_first, p.week_last)
        )
        .select("trade_id", "instrument_code", "trade_date", "side", "price")
        .with_columns(before=pl.col("trade_date") - pl.duration(days=1))
        .sort("before")
        .collect()
    )
    prices = (
        scan("fact_price")
        .filter(pl.col("price_date") < p.week_last)
        .select("instrument_code", "price_date", "close_price")
        .sort("price_date")
        .collect()
    )
    joined = trades.join_asof(  # both sides are sorted by date above
        prices,
        left_on="before",
        right_on="price_date",
        by="instrument_code",
        check_sortedness=False,
    )
    side = pl.when(pl.col("side") == "BUY").then(1).otherwise(-1)
    return joined.select(
        "trade_id",
        slippage_bps=side * (pl.col("price") - pl.col("close_price")) / pl.col("close_price") * 1e4,
    )


def _q7_pandas(read: PandasRead, p: Params) -> Any:
    import pandas as pd

    t = read(
        "fact_trade",
        ["trade_id", "instrument_code", "trade_date", "side", "price"],
        [("trade_month", "in", p.week_months), ("trade_date", ">=", p.week_first),
         ("trade_date", "<=", p.week_last)],
    )  # fmt: skip
    months = sorted({d.strftime("%Y-%m") for d in pd.date_range(p.week_first, p.week_last)})
    prev = (pd.Timestamp(p.week_first) - pd.Timedelta(days=40)).strftime("%Y-%m")
    prices = read(
        "fact_price",
        ["instrument_code", "price_date", "close_price"],
        [("price_month", "in", sorted({prev, *months}))],
    )
    t["before"] = t["trade_date"] - pd.Timedelta(days=1)
    prices["price_date"] = prices["price_date"].astype(t["before"].dtype)
    joined = pd.merge_asof(
        t.sort_values("before"),
        prices.sort_values("price_date"),
        left_on="before",
        right_on="price_date",
        by="instrument_code",
    )
    side = joined["side"].map({"BUY": 1, "SELL": -1})
    joined["slippage_bps"] = (
        side * (joined["price"] - joined["close_price"]) / joined["close_price"] * 1e4
    )
    return joined[["trade_id", "slippage_bps"]]


# -- 8. maximum drawdown per portfolio (whole period) -----------------------------------------
def _q8_product(p: Params) -> Product:
    return Product(
        "analytics", method="performance", args={}, columns=["portfolio_code", "max_drawdown"]
    )


def _q8_duckdb(p: Params) -> str:
    return f"""WITH w AS (
  SELECT portfolio_code, performance_date,
         exp(sum(ln(1 + ({_R_SQL}))) OVER (PARTITION BY portfolio_code
             ORDER BY performance_date ROWS UNBOUNDED PRECEDING)) AS wealth
  FROM fact_performance)
SELECT portfolio_code,
       min(wealth / greatest(1, peak) - 1) AS max_drawdown
FROM (SELECT *, max(wealth) OVER (PARTITION BY portfolio_code ORDER BY performance_date
                                  ROWS UNBOUNDED PRECEDING) AS peak FROM w)
GROUP BY 1"""


def _q8_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    r = pl.col("end_nav") / (pl.col("begin_nav") + pl.col("net_flow")) - 1
    wealth = (1 + r).cum_prod().over("portfolio_code")
    return (
        scan("fact_performance")
        .sort("portfolio_code", "performance_date")
        .with_columns(wealth=wealth)
        .with_columns(
            peak=pl.max_horizontal(pl.col("wealth").cum_max().over("portfolio_code"), 1.0)
        )
        .group_by("portfolio_code")
        .agg(max_drawdown=(pl.col("wealth") / pl.col("peak") - 1).min())
        .collect()
    )


def _q8_pandas(read: PandasRead, p: Params) -> Any:
    df = read(
        "fact_performance",
        ["portfolio_code", "performance_date", "begin_nav", "end_nav", "net_flow"],
        None,
    ).sort_values(["portfolio_code", "performance_date"])
    df["growth"] = df["end_nav"] / (df["begin_nav"] + df["net_flow"])
    df["wealth"] = df.groupby("portfolio_code")["growth"].cumprod()
    df["peak"] = df.groupby("portfolio_code")["wealth"].cummax().clip(lower=1.0)
    df["dd"] = df["wealth"] / df["peak"] - 1
    return df.groupby("portfolio_code", as_index=False)["dd"].min()


# -- 11. Brinson attribution by sector for one month (product and raw DuckDB only) ------------
def _q11_product(p: Params) -> Product:
    return Product(
        "analytics",
        method="attribution",
        args={"start": p.month_first, "end": p.month_last},
        columns=["portfolio_code", "sector", "allocation", "selection", "interaction"],
    )


def _q11_duckdb(p: Params) -> str:
    first, last = p.month_first, p.month_last
    lookback = first - timedelta(days=10)
    months = f"'{lookback.strftime('%Y-%m')}' AND '{last.strftime('%Y-%m')}'"
    return f"""WITH px AS (
  SELECT instrument_code, price_date, lag(price_date) OVER w AS prev_date,
         close_price / lag(close_price) OVER w - 1 AS r
  FROM fact_price WHERE price_date BETWEEN DATE '{lookback}' AND DATE '{last}'
  WINDOW w AS (PARTITION BY instrument_code ORDER BY price_date)),
hold AS (
  SELECT x.portfolio_code, px.price_date AS day, i.sector,
         sum(x.market_value_base) AS mv, sum(x.market_value_base * px.r) AS mvr
  FROM fact_position x
  JOIN dim_instrument i ON x.instrument_key = i.instrument_key
  JOIN px ON px.instrument_code = x.instrument_code AND px.prev_date = x.position_date
  WHERE px.price_date BETWEEN DATE '{first}' AND DATE '{last}'
    AND x.position_month BETWEEN {months}
  GROUP BY ALL),
pw AS (
  SELECT *, mv / sum(mv) OVER pd AS w_p, mvr / mv AS r_p, sum(mvr) OVER pd / sum(mv) OVER pd AS tp
  FROM hold WINDOW pd AS (PARTITION BY portfolio_code, day)),
owner AS (
  SELECT portfolio_code, benchmark_code FROM dim_portfolio
  WHERE valid_from <= DATE '{last}' AND DATE '{last}' < valid_to
    AND benchmark_code IS NOT NULL),
bw AS (
  SELECT c.benchmark_code, c.as_of_date AS day, i.sector,
         sum(c.weight) AS w, sum(c.weight * c.daily_return) AS wr
  FROM fact_benchmark_constituent c JOIN dim_instrument i ON c.instrument_key = i.instrument_key
  WHERE c.as_of_date BETWEEN DATE '{first}' AND DATE '{last}' GROUP BY ALL),
bb AS (
  SELECT *, w / sum(w) OVER bd AS w_b, wr / w AS r_b, sum(wr) OVER bd / sum(w) OVER bd AS tb
  FROM bw WINDOW bd AS (PARTITION BY benchmark_code, day)),
days AS (
  SELECT DISTINCT p.portfolio_code, o.benchmark_code, p.day, p.tp, b.tb
  FROM pw p JOIN owner o USING (portfolio_code)
  JOIN (SELECT DISTINCT benchmark_code, day, tb FROM bb) b
    ON b.benchmark_code = o.benchmark_code AND b.day = p.day),
sectors AS (
  SELECT portfolio_code, day, sector FROM pw
  UNION
  SELECT d.portfolio_code, d.day, b.sector
  FROM days d JOIN bb b ON b.benchmark_code = d.benchmark_code AND b.day = d.day),
eff AS (
  SELECT d.portfolio_code, s.sector, d.day, d.tb,
         coalesce(p.w_p, 0) AS wp, coalesce(b.w_b, 0) AS wb,
         coalesce(b.r_b, d.tb) AS rb, coalesce(p.r_p, b.r_b, d.tb) AS rp
  FROM days d JOIN sectors s USING (portfolio_code, day)
  LEFT JOIN pw p ON p.portfolio_code = d.portfolio_code AND p.day = d.day AND p.sector = s.sector
  LEFT JOIN bb b ON b.benchmark_code = d.benchmark_code AND b.day = d.day AND b.sector = s.sector),
k AS (
  SELECT portfolio_code, day,
         CASE WHEN abs(tp - tb) > 1e-15 THEN (ln(1 + tp) - ln(1 + tb)) / (tp - tb)
              ELSE 1 / (1 + tp) END AS kt
  FROM days),
big AS (
  SELECT portfolio_code, product(1 + tp) - 1 AS rp, product(1 + tb) - 1 AS rb
  FROM days GROUP BY 1),
bigk AS (
  SELECT portfolio_code,
         CASE WHEN abs(rp - rb) > 1e-15 THEN (ln(1 + rp) - ln(1 + rb)) / (rp - rb)
              ELSE 1 / (1 + rp) END AS kk
  FROM big)
SELECT e.portfolio_code, e.sector,
       sum((e.wp - e.wb) * (e.rb - e.tb) * k.kt / g.kk) AS allocation,
       sum(e.wb * (e.rp - e.rb) * k.kt / g.kk) AS selection,
       sum((e.wp - e.wb) * (e.rp - e.rb) * k.kt / g.kk) AS interaction
FROM eff e JOIN k USING (portfolio_code, day) JOIN bigk g USING (portfolio_code)
GROUP BY 1, 2"""


# -- 12. historical 1-day 99% VaR per portfolio over the last 250 days -----------------------
def _q12_product(p: Params) -> Product:
    return Product(
        "analytics",
        method="performance",
        args={"start": p.var_first},
        columns=["portfolio_code", "var_99"],
    )


def _q12_duckdb(p: Params) -> str:
    return f"""SELECT portfolio_code, -quantile_cont({_R_SQL}, 0.01) AS var_99
FROM fact_performance WHERE performance_date >= DATE '{p.var_first}' GROUP BY 1"""


def _q12_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    r = pl.col("end_nav") / (pl.col("begin_nav") + pl.col("net_flow")) - 1
    return (
        scan("fact_performance")
        .filter(pl.col("performance_date") >= p.var_first)
        .group_by("portfolio_code")
        .agg(var_99=-r.quantile(0.01, interpolation="linear"))
        .collect()
    )


def _q12_pandas(read: PandasRead, p: Params) -> Any:
    df = read(
        "fact_performance",
        ["portfolio_code", "begin_nav", "end_nav", "net_flow"],
        [("performance_date", ">=", p.var_first)],
    )
    df["r"] = df["end_nav"] / (df["begin_nav"] + df["net_flow"]) - 1
    out = df.groupby("portfolio_code", as_index=False)["r"].quantile(0.01)
    out["r"] = -out["r"]
    return out


ANALYTICS_QUERIES: tuple[BenchQuery, ...] = (
    BenchQuery("q05_positions_rebuilt", 5, "Positions rebuilt from cumulative trades vs snapshot",
               _q5_product, _q5_duckdb, _q5_polars, _q5_pandas),
    BenchQuery("q06_rolling_volatility", 6, "30-day rolling volatility per portfolio",
               _q6_product, _q6_duckdb, _q6_polars, _q6_pandas),
    BenchQuery("q07_slippage_week", 7, "Slippage: each trade of a week vs the prevailing close",
               _q7_product, _q7_duckdb, _q7_polars, _q7_pandas),
    BenchQuery("q08_max_drawdown", 8, "Maximum drawdown per portfolio",
               _q8_product, _q8_duckdb, _q8_polars, _q8_pandas),
    BenchQuery("q11_brinson_month", 11, "Brinson attribution by sector for one month",
               _q11_product, _q11_duckdb, None, None),
    BenchQuery("q12_var_99", 12, "Historical 1-day 99% VaR per portfolio, last 250 days",
               _q12_product, _q12_duckdb, _q12_polars, _q12_pandas),
)  # fmt: skip
