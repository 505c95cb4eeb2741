"""The FinBench queries, each written once per path.

The product path is a call a user of Ledgerhouse makes (a cube query, or the SQL API where SQL
is the natural interface, as for point lookups); the raw DuckDB, Polars and pandas paths are
what a competent user writes by hand over the same pinned Parquet files (with the month
partition filter where the question names a period). Every path returns the same columns in
the same order, so answers can be compared row by row.

Money, quantities and prices are decimals (decision 0014). Every path sums and subtracts them
exactly and divides in float64, as DuckDB does (``DECIMAL / DECIMAL`` is a DOUBLE there): a
money column must equal raw DuckDB's exactly, a ratio within the float tolerance. Polars keeps
the larger input scale in a decimal product and the dividend's in a decimal quotient (digits
beyond are dropped), so the Polars paths widen a factor's scale before a product and cast to
Float64 before a division. pandas reads decimals as ``pd.ArrowDtype`` columns (see
``bench.RawFiles.pandas``) and casts to float64 before a product or a division. Cube money
measures are in the reporting currency (``*_reporting`` columns), so are the hand-written ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

# (relation, columns, [(column, op, value)]) -> a pandas DataFrame of the pinned files
PandasRead = Callable[[str, list[str], list[tuple[str, str, Any]] | None], Any]
PolarsScan = Callable[[str], pl.LazyFrame]


def as_float(name: str) -> pl.Expr:
    """A decimal column as Float64: what DuckDB does to both sides of a decimal division."""
    return pl.col(name).cast(pl.Float64)


@dataclass(frozen=True)
class Params:
    month: str  # YYYY-MM
    month_first: date
    month_last: date
    exposure_date: date
    desk: str
    week_first: date
    week_last: date
    trade_id: str
    instrument: str
    trade_date: date
    var_first: date  # the first of the last 250 performance days

    @property
    def week_months(self) -> list[str]:
        return sorted({self.week_first.strftime("%Y-%m"), self.week_last.strftime("%Y-%m")})


@dataclass(frozen=True)
class Product:
    kind: str  # cube | sql | analytics
    cube: str = ""
    query: dict[str, Any] | None = None
    sql: str = ""
    params: list[Any] | None = None
    method: str = ""  # analytics: the call (performance, slippage, attribution...)
    args: dict[str, Any] | None = None
    columns: list[str] | None = None  # analytics: the columns of the answer compared
    api_args: dict[str, Any] | None = None  # analytics over HTTP, when named otherwise

    def describe(self) -> str:
        if self.kind == "cube":
            return f"cube {self.cube}"
        if self.kind == "analytics":
            return f"analytics {self.method}"
        return "SQL API"


@dataclass(frozen=True)
class BenchQuery:
    id: str
    finbench: int
    title: str
    product: Callable[[Params], Product]
    # None: no hand-written version on that path (the bench reports n/a)
    duckdb: Callable[[Params], str] | None
    polars: Callable[[PolarsScan, Params], pl.DataFrame] | None
    pandas: Callable[[PandasRead, Params], Any] | None


def _d(value: date) -> str:
    return f"DATE '{value.isoformat()}'"


# -- 1. daily P&L per portfolio for one month -------------------------------------------------
def _q1_product(p: Params) -> Product:
    return Product(
        "cube",
        "performance",
        {
            "measures": ["pnl"],
            "dimensions": ["portfolio"],
            "time_dimension": {
                "granularity": "day",
                "date_range": [p.month_first.isoformat(), p.month_last.isoformat()],
            },
        },
    )


def _q1_duckdb(p: Params) -> str:
    return f"""SELECT portfolio_code, performance_date,
       sum(end_nav_reporting - begin_nav_reporting - net_flow_reporting) AS pnl
FROM fact_performance WHERE performance_month = '{p.month}'
GROUP BY 1, 2"""


def _q1_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    return (
        scan("fact_performance")
        .filter(pl.col("performance_month") == p.month)
        .group_by("portfolio_code", "performance_date")
        .agg(
            pnl=(
                pl.col("end_nav_reporting")
                - pl.col("begin_nav_reporting")
                - pl.col("net_flow_reporting")
            ).sum()
        )
        .collect()
    )


def _q1_pandas(read: PandasRead, p: Params) -> Any:
    df = read(
        "fact_performance",
        [
            "portfolio_code",
            "performance_date",
            "begin_nav_reporting",
            "end_nav_reporting",
            "net_flow_reporting",
        ],
        [("performance_month", "==", p.month)],
    )
    df["pnl"] = df["end_nav_reporting"] - df["begin_nav_reporting"] - df["net_flow_reporting"]
    return df.groupby(["portfolio_code", "performance_date"], as_index=False)["pnl"].sum()


# -- 2. top-10 exposures by sector for one desk, on a date ------------------------------------
def _q2_product(p: Params) -> Product:
    day = p.exposure_date.isoformat()
    return Product(
        "cube",
        "positions",
        {
            "measures": ["gross_exposure"],
            "dimensions": ["sector"],
            "filters": [{"member": "desk", "op": "equals", "values": [p.desk]}],
            "time_dimension": {"date_range": [day, day]},
            "order": [{"member": "gross_exposure", "desc": True}],
            "limit": 10,
        },
    )


def _q2_duckdb(p: Params) -> str:
    desk = p.desk.replace("'", "''")
    return f"""SELECT i.sector, sum(abs(x.market_value_reporting)) AS gross
FROM fact_position x
JOIN dim_instrument i ON x.instrument_key = i.instrument_key
JOIN dim_portfolio d ON x.portfolio_key = d.portfolio_key
WHERE x.position_month = '{p.month}' AND x.position_date = {_d(p.exposure_date)}
  AND d.desk = '{desk}'
GROUP BY 1 ORDER BY gross DESC LIMIT 10"""


def _q2_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    desk = scan("dim_portfolio").filter(pl.col("desk") == p.desk).select("portfolio_key")
    return (
        scan("fact_position")
        .filter(
            (pl.col("position_month") == p.month) & (pl.col("position_date") == p.exposure_date)
        )
        .join(desk, on="portfolio_key")
        .join(scan("dim_instrument").select("instrument_key", "sector"), on="instrument_key")
        .group_by("sector")
        .agg(gross=pl.col("market_value_reporting").abs().sum())
        .sort("gross", descending=True)
        .head(10)
        .collect()
    )


def _q2_pandas(read: PandasRead, p: Params) -> Any:
    pos = read(
        "fact_position",
        ["portfolio_key", "instrument_key", "market_value_reporting"],
        [("position_month", "==", p.month), ("position_date", "==", p.exposure_date)],
    )
    desks = read("dim_portfolio", ["portfolio_key", "desk"], None)
    inst = read("dim_instrument", ["instrument_key", "sector"], None)
    df = pos.merge(desks[desks["desk"] == p.desk][["portfolio_key"]], on="portfolio_key")
    df = df.merge(inst, on="instrument_key")
    df["gross"] = df["market_value_reporting"].abs()
    out = df.groupby("sector", as_index=False)["gross"].sum()
    return out.sort_values("gross", ascending=False).head(10)


# -- 3. VWAP per instrument per day over a week -----------------------------------------------
def _q3_product(p: Params) -> Product:
    return Product(
        "cube",
        "trades",
        {
            "measures": ["vwap"],
            "dimensions": ["instrument"],
            "time_dimension": {
                "granularity": "day",
                "date_range": [p.week_first.isoformat(), p.week_last.isoformat()],
            },
        },
    )


def _q3_duckdb(p: Params) -> str:
    months = ", ".join(f"'{m}'" for m in p.week_months)
    return f"""SELECT instrument_code, trade_date, sum(price * quantity) / sum(quantity) AS vwap
FROM fact_trade
WHERE trade_month IN ({months})
  AND trade_date BETWEEN {_d(p.week_first)} AND {_d(p.week_last)}
GROUP BY 1, 2"""


def _q3_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    return (
        scan("fact_trade")
        .filter(
            pl.col("trade_month").is_in(p.week_months)
            & pl.col("trade_date").is_between(p.week_first, p.week_last)
        )
        .group_by("instrument_code", "trade_date")
        .agg(  # the price at scale 12 first: the product keeps every digit, as in DuckDB
            vwap=(pl.col("price").cast(pl.Decimal(38, 12)) * pl.col("quantity"))
            .sum()
            .cast(pl.Float64)
            / as_float("quantity").sum()
        )
        .collect()
    )


def _q3_pandas(read: PandasRead, p: Params) -> Any:
    df = read(
        "fact_trade",
        ["instrument_code", "trade_date", "price", "quantity"],
        [
            ("trade_month", "in", p.week_months),
            ("trade_date", ">=", p.week_first),
            ("trade_date", "<=", p.week_last),
        ],
    )
    # float64 products (a pyarrow decimal product of two decimal(24,6) would need 49 digits)
    df["pq"] = df["price"].astype("float64") * df["quantity"].astype("float64")
    g = df.groupby(["instrument_code", "trade_date"], as_index=False)[["pq", "quantity"]].sum()
    g["vwap"] = g["pq"] / g["quantity"].astype("float64")
    return g[["instrument_code", "trade_date", "vwap"]]


# -- 4. traded notional by desk x asset class x month, whole period ---------------------------
def _q4_product(p: Params) -> Product:
    return Product(
        "cube",
        "trades",
        {
            "measures": ["notional"],
            "dimensions": ["desk", "asset_class"],
            "time_dimension": {"granularity": "month"},
        },
    )


def _q4_duckdb(p: Params) -> str:
    return """SELECT d.desk, i.asset_class,
       CAST(date_trunc('month', t.trade_date) AS DATE) AS month,
       sum(t.notional_reporting) AS notional
FROM fact_trade t
JOIN dim_portfolio d ON t.portfolio_key = d.portfolio_key
JOIN dim_instrument i ON t.instrument_key = i.instrument_key
GROUP BY 1, 2, 3"""


def _q4_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    return (
        scan("fact_trade")
        .select("portfolio_key", "instrument_key", "trade_date", "notional_reporting")
        .join(scan("dim_portfolio").select("portfolio_key", "desk"), on="portfolio_key")
        .join(scan("dim_instrument").select("instrument_key", "asset_class"), on="instrument_key")
        .group_by("desk", "asset_class", month=pl.col("trade_date").dt.truncate("1mo"))
        .agg(notional=pl.col("notional_reporting").sum())
        .collect()
    )


def _q4_pandas(read: PandasRead, p: Params) -> Any:
    columns = ["portfolio_key", "instrument_key", "trade_date", "notional_reporting"]
    t = read("fact_trade", columns, None)
    t = t.merge(read("dim_portfolio", ["portfolio_key", "desk"], None), on="portfolio_key")
    t = t.merge(
        read("dim_instrument", ["instrument_key", "asset_class"], None), on="instrument_key"
    )
    t["month"] = t["trade_date"].to_numpy().astype("datetime64[M]")
    return t.groupby(["desk", "asset_class", "month"], as_index=False)["notional_reporting"].sum()


# -- 9. counterparty concentration: top 10 by notional with their share -----------------------
def _q9_product(p: Params) -> Product:
    return Product(
        "cube",
        "trades",
        {
            "measures": ["notional", "notional_share"],
            "dimensions": ["counterparty"],
            "order": [{"member": "notional", "desc": True}],
            "limit": 10,
        },
    )


def _q9_duckdb(p: Params) -> str:
    return """SELECT counterparty_code, sum(notional_reporting) AS notional,
       sum(notional_reporting) / sum(sum(notional_reporting)) OVER () AS share
FROM fact_trade GROUP BY 1 ORDER BY notional DESC LIMIT 10"""


def _q9_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    return (
        scan("fact_trade")
        .group_by("counterparty_code")
        .agg(notional=pl.col("notional_reporting").sum())
        .with_columns(share=as_float("notional") / as_float("notional").sum())
        .sort("notional", descending=True)
        .head(10)
        .collect()
    )


def _q9_pandas(read: PandasRead, p: Params) -> Any:
    t = read("fact_trade", ["counterparty_code", "notional_reporting"], None)
    g = t.groupby("counterparty_code", as_index=False)["notional_reporting"].sum()
    total = float(g["notional_reporting"].sum())  # the exact total, then a float64 division
    g["share"] = g["notional_reporting"].astype("float64") / total
    return g.sort_values("notional_reporting", ascending=False).head(10)


# -- 10. point lookups -------------------------------------------------------------------------
_Q10A = (
    "SELECT trade_id, portfolio_code, instrument_code, trade_date, quantity, price, "
    "notional_base FROM fact_trade WHERE trade_id = ?"
)
_Q10B = (
    "SELECT trade_id, quantity, price FROM fact_trade "
    "WHERE trade_month = ? AND instrument_code = ? AND trade_date = ?"
)


def _q10a_product(p: Params) -> Product:
    return Product("sql", sql=_Q10A, params=[p.trade_id])


def _q10a_duckdb(p: Params) -> str:
    return _Q10A.replace("?", f"'{p.trade_id}'")


def _q10a_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    cols = ["trade_id", "portfolio_code", "instrument_code", "trade_date", "quantity", "price"]
    return (
        scan("fact_trade")
        .filter(pl.col("trade_id") == p.trade_id)
        .select(*cols, "notional_base")
        .collect()
    )


def _q10a_pandas(read: PandasRead, p: Params) -> Any:
    cols = ["trade_id", "portfolio_code", "instrument_code", "trade_date", "quantity", "price"]
    return read("fact_trade", [*cols, "notional_base"], [("trade_id", "==", p.trade_id)])


def _q10b_params(p: Params) -> list[Any]:
    return [p.trade_date.strftime("%Y-%m"), p.instrument, p.trade_date.isoformat()]


def _q10b_product(p: Params) -> Product:
    return Product("sql", sql=_Q10B, params=_q10b_params(p))


def _q10b_duckdb(p: Params) -> str:
    month, inst, day = _q10b_params(p)
    return (
        "SELECT trade_id, quantity, price FROM fact_trade "
        f"WHERE trade_month = '{month}' AND instrument_code = '{inst}' "
        f"AND trade_date = DATE '{day}'"
    )


def _q10b_polars(scan: PolarsScan, p: Params) -> pl.DataFrame:
    return (
        scan("fact_trade")
        .filter(
            (pl.col("trade_month") == p.trade_date.strftime("%Y-%m"))
            & (pl.col("instrument_code") == p.instrument)
            & (pl.col("trade_date") == p.trade_date)
        )
        .select("trade_id", "quantity", "price")
        .collect()
    )


def _q10b_pandas(read: PandasRead, p: Params) -> Any:
    return read(
        "fact_trade",
        ["trade_id", "quantity", "price"],
        [
            ("trade_month", "==", p.trade_date.strftime("%Y-%m")),
            ("instrument_code", "==", p.instrument),
            ("trade_date", "==", p.trade_date),
        ],
    )


QUERIES: tuple[BenchQuery, ...] = (
    BenchQuery(
        "q01_daily_pnl",
        1,
        "Daily P&L per portfolio for one month",
        _q1_product,
        _q1_duckdb,
        _q1_polars,
        _q1_pandas,
    ),
    BenchQuery(
        "q02_desk_sector_exposure",
        2,
        "Top-10 sector exposures of one desk on a date",
        _q2_product,
        _q2_duckdb,
        _q2_polars,
        _q2_pandas,
    ),
    BenchQuery(
        "q03_vwap_week",
        3,
        "VWAP per instrument per day over a week",
        _q3_product,
        _q3_duckdb,
        _q3_polars,
        _q3_pandas,
    ),
    BenchQuery(
        "q04_notional_desk_class_month",
        4,
        "Traded notional by desk x asset class x month (whole period)",
        _q4_product,
        _q4_duckdb,
        _q4_polars,
        _q4_pandas,
    ),
    BenchQuery(
        "q09_counterparty_concentration",
        9,
        "Top-10 counterparties by notional with their share",
        _q9_product,
        _q9_duckdb,
        _q9_polars,
        _q9_pandas,
    ),
    BenchQuery(
        "q10a_trade_by_id",
        10,
        "Point lookup: one trade by id",
        _q10a_product,
        _q10a_duckdb,
        _q10a_polars,
        _q10a_pandas,
    ),
    BenchQuery(
        "q10b_instrument_day",
        10,
        "Point lookup: one instrument's trades on one day",
        _q10b_product,
        _q10b_duckdb,
        _q10b_polars,
        _q10b_pandas,
    ),
)

#: FinBench queries the product cannot answer yet, and why (the bench reports them).
NOT_YET: dict[int, str] = {}


def week_of(day: date) -> tuple[date, date]:
    """Monday and Friday of the week of ``day``."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=4)
