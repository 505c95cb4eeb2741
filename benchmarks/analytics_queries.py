"""The analytics queries of FinBench (6, 7, 8, 11, 12): the product's analytics calls (or its
SQL API for a rolling window), against hand-written raw DuckDB, Polars and pandas versions.
Every path computes the daily return from NAVs as the product does:
r = end_nav / (begin_nav + net_flow) - 1, the NAVs being exact decimals and the division a
float64 one (as DuckDB divides decimals; see queries.py on decimals in Polars and pandas)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from benchmarks.queries import BenchQuery, PandasRead, Params, PolarsScan, Product, as_float

_R_SQL = "end_nav / (begin_nav + net_flow) - 1"
#: the daily return in Polars: the decimal sum exact, the division in Float64 (as in DuckDB)
_R_POLARS = (
    pl.col("end_nav").cast(pl.Float64) / (pl.col("begin_nav") + pl.col("net_flow")).cast(pl.Float64)
    - 1
)


def _r_pandas(df: Any) -> Any:
    """The daily return in pandas: the decimal sum exact, the division in float64."""
    return (
        df["end_nav"].astype("float64") / (df["begin_nav"] + df["net_flow"]).astype("float64") - 1
    )


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
        .with_columns(pl.col("rebuilt_quantity", "snapshot_quantity").fill_null(0))
        .select(_Q5_COLUMNS)
        .collect()
    )


def _q5_pandas(read: PandasRead, p: Params) -> Any:
    keys = ["portfolio_code", "instrument_code"]
    t = read(
        "fact_trade",
        [*keys, "trade_date", "signed_quantity"],
        [("trade_date", "<=", p.exposure_date)],
    )
    rebuilt = t.groupby(keys, as_index=False)["signed_quantity"].sum()
    rebuilt = rebuilt[rebuilt["signed_quantity"].abs() > 1e-9]
    on_day = [("position_month", "==", p.month), ("position_date", "==", p.exposure_date)]
    snap = read("fact_position", [*keys, "quantity"], on_day)
    out = rebuilt.merge(snap, on=keys, how="outer").fillna(
        {"signed_quantity": Decimal(0), "quantity": Decimal(0)}
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
    return (
        scan("fact_performance")
        .select("portfolio_code", "performance_date", r=_R_POLARS)
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
    df["r"] = _r_pandas(df)
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
        slippage_bps=side
        * (pl.col("price") - pl.col("close_price")).cast(pl.Float64)
        / as_float("close_price")
        * 1e4,
    )


def _q7_pandas(read: PandasRead, p: Params) -> Any:
    import pandas as pd

    t = read(
        "fact_trade",
        ["trade_id", "instrument_code", "trade_date", "side", "price"],
        [
            ("trade_month", "in", p.week_months),
            ("trade_date", ">=", p.week_first),
            ("trade_date", "<=", p.week_last),
        ],
    )
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
    diff = (joined["price"] - joined["close_price"]).astype("float64")  # exact, then float64
    joined["slippage_bps"] = side * diff / joined["close_price"].astype("float64") * 1e4
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
    wealth = (1 + _R_POLARS).cum_prod().over("portfolio_code")
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
    df["growth"] = 1 + _r_pandas(df)
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


def _carino(rp: Any, rb: Any) -> Any:
    """Carino's factor for Polars expressions or pandas Series (1/(1+r) when equal)."""
    import numpy as np

    diff = rp - rb
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (np.log1p(rp) - np.log1p(rb)) / diff
    if isinstance(rp, pl.Expr):
        return pl.when(diff.abs() > 1e-15).then(ratio).otherwise(1 / (1 + rp))
    return ratio.where(diff.abs() > 1e-15, 1 / (1 + rp))


def _q11_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    first, last = p.month_first, p.month_last
    lookback = first - timedelta(days=10)
    pc, day = "portfolio_code", "day"
    px = (
        scan("fact_price")
        .filter(pl.col("price_date").is_between(lookback, last))
        .sort("instrument_code", "price_date")
        .with_columns(
            prev_date=pl.col("price_date").shift(1).over("instrument_code"),
            r=(as_float("close_price") / as_float("close_price").shift(1) - 1).over(
                "instrument_code"
            ),
        )
        .filter(pl.col("price_date").is_between(first, last))
        .select("instrument_code", "prev_date", day=pl.col("price_date"), r="r")
    )
    inst = scan("dim_instrument").select("instrument_key", "sector")
    months = (lookback.strftime("%Y-%m"), last.strftime("%Y-%m"))
    hold = (
        scan("fact_position")
        .filter(pl.col("position_month").is_between(pl.lit(months[0]), pl.lit(months[1])))
        .join(inst, on="instrument_key")
        .join(
            px,
            left_on=["instrument_code", "position_date"],
            right_on=["instrument_code", "prev_date"],
        )
        .group_by(pc, day, "sector")
        .agg(
            mv=pl.col("market_value_base").sum(),
            mvr=(as_float("market_value_base") * pl.col("r")).sum(),
        )
    )
    mv_day = pl.col("mv").sum().over(pc, day).cast(pl.Float64)  # exact sum, float division
    pw = hold.with_columns(
        w_p=as_float("mv") / mv_day,
        r_p=pl.col("mvr") / as_float("mv"),
        tp=pl.col("mvr").sum().over(pc, day) / mv_day,
    )
    owner = (
        scan("dim_portfolio")
        .filter((pl.col("valid_from") <= last) & (pl.col("valid_to") > last))
        .filter(pl.col("benchmark_code").is_not_null())
        .select(pc, "benchmark_code")
    )
    bw = (
        scan("fact_benchmark_constituent")
        .filter(pl.col("as_of_date").is_between(first, last))
        .join(inst, on="instrument_key")
        .group_by("benchmark_code", "sector", day=pl.col("as_of_date"))
        .agg(w=pl.col("weight").sum(), wr=(pl.col("weight") * pl.col("daily_return")).sum())
    )
    bb = bw.with_columns(
        w_b=pl.col("w") / pl.col("w").sum().over("benchmark_code", day),
        r_b=pl.col("wr") / pl.col("w"),
        tb=pl.col("wr").sum().over("benchmark_code", day)
        / pl.col("w").sum().over("benchmark_code", day),
    )
    days = (
        pw.select(pc, day, "tp")
        .unique()
        .join(owner, on=pc)
        .join(bb.select("benchmark_code", day, "tb").unique(), on=["benchmark_code", day])
    )
    sectors = pl.concat(
        [
            pw.select(pc, day, "sector"),
            days.join(
                bb.select("benchmark_code", day, "sector"), on=["benchmark_code", day]
            ).select(pc, day, "sector"),
        ]
    ).unique()
    eff = (
        days.join(sectors, on=[pc, day])
        .join(pw.select(pc, day, "sector", "w_p", "r_p"), on=[pc, day, "sector"], how="left")
        .join(
            bb.select("benchmark_code", day, "sector", "w_b", "r_b"),
            on=["benchmark_code", day, "sector"],
            how="left",
        )
        .with_columns(
            wp=pl.col("w_p").fill_null(0.0),
            wb=pl.col("w_b").fill_null(0.0),
            rb=pl.col("r_b").fill_null(pl.col("tb")),
            rp=pl.col("r_p").fill_null(pl.col("r_b")).fill_null(pl.col("tb")),
        )
    )
    big = (
        days.group_by(pc)
        .agg(Rp=(1 + pl.col("tp")).product() - 1, Rb=(1 + pl.col("tb")).product() - 1)
        .with_columns(kk=_carino(pl.col("Rp"), pl.col("Rb")))
    )
    scale = pl.col("kt") / pl.col("kk")
    return (
        eff.with_columns(kt=_carino(pl.col("tp"), pl.col("tb")))
        .join(big.select(pc, "kk"), on=pc)
        .group_by(pc, "sector")
        .agg(
            allocation=(
                (pl.col("wp") - pl.col("wb")) * (pl.col("rb") - pl.col("tb")) * scale
            ).sum(),
            selection=(pl.col("wb") * (pl.col("rp") - pl.col("rb")) * scale).sum(),
            interaction=(
                (pl.col("wp") - pl.col("wb")) * (pl.col("rp") - pl.col("rb")) * scale
            ).sum(),
        )
        .collect()
    )


def _q11_pandas(read: PandasRead, p: Params) -> Any:
    import pandas as pd

    first, last = pd.Timestamp(p.month_first), pd.Timestamp(p.month_last)
    lookback = first - pd.Timedelta(days=10)
    pc = "portfolio_code"
    months = sorted({d.strftime("%Y-%m") for d in pd.date_range(lookback, last)})
    px = read(
        "fact_price",
        ["instrument_code", "price_date", "close_price"],
        [("price_month", "in", months)],
    ).sort_values(["instrument_code", "price_date"])
    px = px[(px["price_date"] >= lookback) & (px["price_date"] <= last)].copy()
    g = px.groupby("instrument_code")
    px["prev_date"], px["r"] = (
        g["price_date"].shift(1),
        px["close_price"].astype("float64") / g["close_price"].shift(1).astype("float64") - 1,
    )
    px = px[px["price_date"] >= first].rename(columns={"price_date": "day"})
    inst = read("dim_instrument", ["instrument_key", "sector"], None)
    pos = read(
        "fact_position",
        [pc, "instrument_key", "instrument_code", "position_date", "market_value_base"],
        [("position_month", "in", months)],
    )
    h = pos.merge(inst, on="instrument_key").merge(
        px[["instrument_code", "prev_date", "day", "r"]],
        left_on=["instrument_code", "position_date"],
        right_on=["instrument_code", "prev_date"],
    )
    h["mvr"] = h["market_value_base"].astype("float64") * h["r"]
    pw = h.groupby([pc, "day", "sector"], as_index=False).agg(
        mv=("market_value_base", "sum"), mvr=("mvr", "sum")
    )
    tot = pw.groupby([pc, "day"])
    mv, mv_day = pw["mv"].astype("float64"), tot["mv"].transform("sum").astype("float64")
    pw["w_p"], pw["r_p"] = mv / mv_day, pw["mvr"] / mv
    pw["tp"] = tot["mvr"].transform("sum") / mv_day
    port = read("dim_portfolio", [pc, "benchmark_code", "valid_from", "valid_to"], None)
    owner = port[
        (port["valid_from"] <= last) & (port["valid_to"] > last) & port["benchmark_code"].notna()
    ][[pc, "benchmark_code"]]
    bc = read(
        "fact_benchmark_constituent",
        ["benchmark_code", "instrument_key", "as_of_date", "weight", "daily_return"],
        [("as_of_date", ">=", p.month_first), ("as_of_date", "<=", p.month_last)],
    )
    bc = bc.merge(inst, on="instrument_key").rename(columns={"as_of_date": "day"})
    bc["wr"] = bc["weight"] * bc["daily_return"]
    bb = bc.groupby(["benchmark_code", "day", "sector"], as_index=False).agg(
        w=("weight", "sum"), wr=("wr", "sum")
    )
    bt = bb.groupby(["benchmark_code", "day"])
    bb["w_b"], bb["r_b"] = bb["w"] / bt["w"].transform("sum"), bb["wr"] / bb["w"]
    bb["tb"] = bt["wr"].transform("sum") / bt["w"].transform("sum")
    days = (
        pw[[pc, "day", "tp"]]
        .drop_duplicates()
        .merge(owner, on=pc)
        .merge(bb[["benchmark_code", "day", "tb"]].drop_duplicates(), on=["benchmark_code", "day"])
    )
    sectors = pd.concat(
        [
            pw[[pc, "day", "sector"]],
            days.merge(bb[["benchmark_code", "day", "sector"]], on=["benchmark_code", "day"])[
                [pc, "day", "sector"]
            ],
        ]
    ).drop_duplicates()
    e = days.merge(sectors, on=[pc, "day"]).merge(
        pw[[pc, "day", "sector", "w_p", "r_p"]], on=[pc, "day", "sector"], how="left"
    )
    e = e.merge(
        bb[["benchmark_code", "day", "sector", "w_b", "r_b"]],
        on=["benchmark_code", "day", "sector"],
        how="left",
    )
    e["wp"], e["wb"] = e["w_p"].fillna(0.0), e["w_b"].fillna(0.0)
    e["rb"] = e["r_b"].fillna(e["tb"])
    e["rp"] = e["r_p"].fillna(e["rb"])
    big = days.assign(gp=1 + days["tp"], gb=1 + days["tb"]).groupby(pc)[["gp", "gb"]].prod() - 1
    big["kk"] = _carino(big["gp"], big["gb"])
    e["kt"] = _carino(e["tp"], e["tb"])
    e = e.merge(big[["kk"]], left_on=pc, right_index=True)
    s = e["kt"] / e["kk"]
    e["allocation"] = (e["wp"] - e["wb"]) * (e["rb"] - e["tb"]) * s
    e["selection"] = e["wb"] * (e["rp"] - e["rb"]) * s
    e["interaction"] = (e["wp"] - e["wb"]) * (e["rp"] - e["rb"]) * s
    return e.groupby([pc, "sector"], as_index=False)[
        ["allocation", "selection", "interaction"]
    ].sum()


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
    return (
        scan("fact_performance")
        .filter(pl.col("performance_date") >= p.var_first)
        .group_by("portfolio_code")
        .agg(var_99=-_R_POLARS.quantile(0.01, interpolation="linear"))
        .collect()
    )


def _q12_pandas(read: PandasRead, p: Params) -> Any:
    df = read(
        "fact_performance",
        ["portfolio_code", "begin_nav", "end_nav", "net_flow"],
        [("performance_date", ">=", p.var_first)],
    )
    df["r"] = _r_pandas(df)
    out = df.groupby("portfolio_code", as_index=False)["r"].quantile(0.01)
    out["r"] = -out["r"]
    return out


ANALYTICS_QUERIES: tuple[BenchQuery, ...] = (
    BenchQuery(
        "q05_positions_rebuilt",
        5,
        "Positions rebuilt from cumulative trades vs snapshot",
        _q5_product,
        _q5_duckdb,
        _q5_polars,
        _q5_pandas,
    ),
    BenchQuery(
        "q06_rolling_volatility",
        6,
        "30-day rolling volatility per portfolio",
        _q6_product,
        _q6_duckdb,
        _q6_polars,
        _q6_pandas,
    ),
    BenchQuery(
        "q07_slippage_week",
        7,
        "Slippage: each trade of a week vs the prevailing close",
        _q7_product,
        _q7_duckdb,
        _q7_polars,
        _q7_pandas,
    ),
    BenchQuery(
        "q08_max_drawdown",
        8,
        "Maximum drawdown per portfolio",
        _q8_product,
        _q8_duckdb,
        _q8_polars,
        _q8_pandas,
    ),
    BenchQuery(
        "q11_brinson_month",
        11,
        "Brinson attribution by sector for one month",
        _q11_product,
        _q11_duckdb,
        _q11_polars,
        _q11_pandas,
    ),
    BenchQuery(
        "q12_var_99",
        12,
        "Historical 1-day 99% VaR per portfolio, last 250 days",
        _q12_product,
        _q12_duckdb,
        _q12_polars,
        _q12_pandas,
    ),
)
