"""Trading analytics, computed by the engine in SQL over live trades (``fact_trade``)."""

from __future__ import annotations

import polars as pl

#: VWAP = Σ price * quantity / Σ quantity; TWAP weights each trade's price by the time until
#: the next trade of the instrument that day (the last trade carries no weight), over the
#: span from the first to the last trade; with one trade (or all at one instant) it is the
#: plain mean of the prices. Parameters: first day, last day, then the months they span.
VWAP_TWAP_SQL = """
WITH t AS (
  SELECT instrument_code, trade_date, trade_ts, price, quantity,
         epoch(lead(trade_ts) OVER w) - epoch(trade_ts) AS held_s
  FROM fact_trade
  WHERE trade_date BETWEEN ? AND ? AND trade_month BETWEEN ? AND ?{instrument}
  WINDOW w AS (PARTITION BY instrument_code, trade_date ORDER BY trade_ts, trade_id)
)
SELECT instrument_code, trade_date,
       count(*) AS trades,
       sum(quantity) AS quantity,
       sum(price * quantity) / sum(quantity) AS vwap,
       CASE WHEN sum(held_s) > 0 THEN sum(price * held_s) / sum(held_s) ELSE avg(price) END
           AS twap,
       min(price) AS low, max(price) AS high
FROM t
GROUP BY 1, 2
ORDER BY 1, 2
"""

#: Each live trade joined (as of) to the prevailing close: the latest close strictly before
#: its trade date. slippage_bps = side * (price - reference) / reference * 10,000, side +1 for
#: a buy and -1 for a sell (positive = paid more / received less than the reference).
SLIPPAGE_SQL = """
SELECT t.trade_id, t.portfolio_code, t.instrument_code, t.trade_date, t.side, t.quantity,
       t.price, p.price_date AS reference_date, p.close_price AS reference_price,
       (CASE WHEN t.side = 'BUY' THEN 1 ELSE -1 END)
           * (t.price - p.close_price) / p.close_price * 10000 AS slippage_bps
FROM fact_trade t
ASOF LEFT JOIN fact_price p
  ON t.instrument_code = p.instrument_code AND t.trade_date > p.price_date
WHERE t.trade_date BETWEEN ? AND ? AND t.trade_month BETWEEN ? AND ?{instrument}
ORDER BY t.trade_date, t.trade_id
"""


#: Live trades up to a date (parameter), in the order they happened, for the P&L by instrument.
PNL_TRADES_SQL = """
SELECT portfolio_code, instrument_code, trade_ts, trade_id, signed_quantity AS q, price
FROM fact_trade WHERE trade_date <= ?{portfolios}
ORDER BY portfolio_code, instrument_code, trade_ts, trade_id
"""
#: The latest close on or before the date (parameters: the date, the date).
PNL_CLOSES_SQL = """
SELECT instrument_code, arg_max(close_price, price_date) AS close_price
FROM fact_price WHERE price_date <= ? AND price_date >= CAST(? AS DATE) - INTERVAL 31 DAY
GROUP BY 1
"""


def average_cost_path(trades: pl.DataFrame) -> pl.DataFrame:
    """The average-cost state after every trade, vectorized (no loop over trades).

    ``trades``: portfolio_code, instrument_code, trade_ts, trade_id, q (signed quantity),
    price (local currency), in trade order; other columns are carried along. A trade that
    takes the position through zero is split into the part that closes it and the part that
    opens the other side. Opening trades add to the cost basis; a reducing trade realizes
    |q| * (price - average cost) on a long (* -1 on a short) and leaves the average cost
    unchanged. The basis follows the linear recurrence C_k = a_k C_{k-1} + b_k, solved with
    cumulative products within each position episode (between flat points).

    Returns one row per trade, in trade order, adding ``position`` (after the trade),
    ``cost_basis`` (the signed basis of the open position after it: position x average cost,
    0 when flat) and ``realized`` (the P&L the trade realized).
    """
    keys = ["portfolio_code", "instrument_code"]
    t = trades.with_columns(seq=pl.int_range(pl.len())).with_columns(
        before=pl.col("q").cum_sum().over(keys) - pl.col("q")
    )
    after = pl.col("before") + pl.col("q")
    flips = (pl.col("before") != 0) & (pl.col("before").sign() * after.sign() < 0)
    closing = t.filter(flips).with_columns(q=-pl.col("before"), part=pl.lit(0))
    opening = t.filter(flips).with_columns(q=pl.col("before") + pl.col("q"), part=pl.lit(1))
    rows = (
        pl.concat([t.filter(~flips).with_columns(part=pl.lit(0)), closing, opening])
        .sort("seq", "part")
        .with_columns(before=pl.col("q").cum_sum().over(keys) - pl.col("q"))
        .with_columns(after=pl.col("before") + pl.col("q"))
    )
    reducing = (pl.col("before") != 0) & (pl.col("q").sign() != pl.col("before").sign())
    rows = rows.with_columns(
        reducing=reducing,
        episode=(pl.col("before") == 0).cast(pl.Int64).cum_sum().over(keys),
    )
    group = [*keys, "episode"]
    # a: how much of the basis survives; b: cost added. Closing to zero keeps a = 1 (the
    # episode ends there; its basis is never used again).
    a = (
        pl.when(pl.col("reducing") & (pl.col("after") != 0))
        .then(pl.col("after").abs() / pl.col("before").abs())
        .otherwise(1.0)
    )
    b = pl.when(pl.col("reducing")).then(0.0).otherwise(pl.col("q").abs() * pl.col("price"))
    rows = rows.with_columns(a=a, b=b).with_columns(A=pl.col("a").cum_prod().over(group))
    rows = rows.with_columns(
        basis=pl.col("A") * (pl.col("b") / pl.col("A")).cum_sum().over(group)
    ).with_columns(basis_before=pl.col("basis").shift(1).over(group).fill_null(0.0))
    avg_before = pl.col("basis_before") / pl.col("before").abs()
    rows = rows.with_columns(
        realized=pl.when(pl.col("reducing"))
        .then(pl.col("q").abs() * (pl.col("price") - avg_before) * pl.col("before").sign())
        .otherwise(0.0)
    )
    flat = pl.col("after").abs() <= 1e-12
    work = ["seq", "before", "after", "part", "reducing", "episode", "a", "b", "A", "basis"]
    # a flip's two parts are adjacent (closing, then opening): the trade's state is its
    # opening part's, and what it realized is the closing part's
    split = pl.col("seq") == pl.col("seq").shift(1)
    return (
        rows.with_columns(
            realized=pl.col("realized")
            + pl.when(split).then(pl.col("realized").shift(1)).otherwise(0.0)
        )
        .filter((pl.col("seq") != pl.col("seq").shift(-1)).fill_null(True))
        .with_columns(
            position=pl.when(flat).then(0.0).otherwise(pl.col("after")),
            cost_basis=pl.when(flat).then(0.0).otherwise(pl.col("basis") * pl.col("after").sign()),
        )
        .drop(*work, "basis_before")
    )


def realized_pnl(trades: pl.DataFrame) -> pl.DataFrame:
    """Average-cost P&L per portfolio and instrument (``average_cost_path``): realized P&L,
    the open position and its average cost (null when flat), and the number of trades."""
    keys = ["portfolio_code", "instrument_code"]
    last = (
        average_cost_path(trades)
        .group_by(keys)
        .agg(
            realized_pnl=pl.col("realized").sum(),
            position=pl.col("position").last(),
            basis=pl.col("cost_basis").last().abs(),
            trades=pl.col("trade_id").n_unique(),
        )
    )
    return (
        last.with_columns(
            average_cost=pl.when(pl.col("position").abs() > 1e-12).then(
                pl.col("basis") / pl.col("position").abs()
            ),
        )
        .drop("basis")
        .sort(keys)
    )
