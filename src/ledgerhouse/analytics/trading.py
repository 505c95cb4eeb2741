"""Trading analytics, computed by the engine in SQL over live trades (``fact_trade``), and the
average-cost P&L, computed exactly in scaled integers (docs/analytics.md, "What is exact and
what is a float")."""

from __future__ import annotations

import polars as pl

from ledgerhouse.model.money import exact_product
from ledgerhouse.model.schema import MONEY_SCALE

#: An amount or quantity analytics return: a sum of MONEY values, exact (as SQL's SUM widens).
AMOUNT = pl.Decimal(38, MONEY_SCALE)
_UNIT = 10**MONEY_SCALE
#: Products of two scaled integers must stay below 2^127 (Int128): checked before the scan.
_INT128_LIMIT = 2**126

#: VWAP = Σ price * quantity / Σ quantity; TWAP weights each trade's price by the time until
#: the next trade of the instrument that day (the last trade carries no weight), over the
#: span from the first to the last trade; with one trade (or all at one instant) it is the
#: plain mean of the prices. Parameters: first day, last day, then the months they span.
#: Every sum is of exact decimals (prices times quantities or integer microseconds), so the
#: one division at the end gives the same float on every run, whatever DuckDB's threads do.
VWAP_TWAP_SQL = """
WITH t AS (
  SELECT instrument_code, trade_date, trade_ts, price, quantity,
         epoch_us(lead(trade_ts) OVER w) - epoch_us(trade_ts) AS held_us
  FROM fact_trade
  WHERE trade_date BETWEEN ? AND ? AND trade_month BETWEEN ? AND ?{instrument}
  WINDOW w AS (PARTITION BY instrument_code, trade_date ORDER BY trade_ts, trade_id)
)
SELECT instrument_code, trade_date,
       count(*) AS trades,
       sum(quantity) AS quantity,
       sum(price * quantity) / sum(quantity) AS vwap,
       CASE WHEN sum(held_us) > 0 THEN sum(price * held_us) / sum(held_us)
            ELSE sum(price) / count(*) END AS twap,
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
    """The average-cost state after every trade, exact (no float anywhere).

    ``trades``: portfolio_code, instrument_code, trade_ts, trade_id, q (signed quantity),
    price (local currency), in trade order; other columns are carried along. Amounts are
    integers of 10^-6 (MONEY_SCALE) held in Int128, and each amount that needs a division is
    rounded once, half to even, to 6 places (docs/analytics.md, "What is exact"):

    - a trade's cash is |q| * price rounded (as ingestion rounds ``notional_local``);
    - an opening trade adds its cash to the cost basis (the basis of buys only is their cash);
    - a reducing trade releases basis * |q| / |position| rounded (all of it when it closes the
      position) and realizes its cash minus the released basis on a long (the reverse on a
      short); the average cost is unchanged;
    - a trade through zero closes at |position| * price rounded and opens the other side
      with the rest of its cash, so realized + unrealized = market value - net cash, exactly.

    The rounding makes each state depend on the previous one, so the scan is sequential per
    position, but it runs in lockstep over all positions at once (one vectorized step per
    trade rank, not a loop over trades).

    Returns one row per trade, in trade order, adding ``position`` (after the trade),
    ``cost_basis`` (signed basis of the open position after it, 0 when flat) and ``realized``
    (the P&L the trade realized), all ``decimal(38, 6)``.
    """
    keys = ["portfolio_code", "instrument_code"]
    t = trades.with_columns(_seq=pl.int_range(pl.len()))
    ranked = _ranked(t, keys)
    _check_range(ranked)
    steps = [_step_inputs(f) for f in ranked.partition_by("_k", maintain_order=True)]
    positions = ranked.filter(pl.col("_k") == 0).height
    state = pl.DataFrame(
        {"_p": [0] * positions, "_c": [0] * positions},
        schema={"_p": pl.Int128, "_c": pl.Int128},
    )
    done = []
    for step in steps:
        out = _apply(step.hstack(state.head(step.height)))
        done.append(out.select("_seq", "_after", "_basis", "_realized"))
        new = out.select(_p="_after", _c="_basis")
        state = pl.concat([new, state.slice(step.height)]) if step.height < state.height else new
    path = pl.concat(done) if done else _empty_path()
    return (
        t.join(path, on="_seq", how="left", maintain_order="left")
        .with_columns(
            position=_decimal(pl.col("_after")),
            cost_basis=_decimal(pl.col("_basis") * pl.col("_after").sign()),
            realized=_decimal(pl.col("_realized")),
        )
        .drop("_seq", "_after", "_basis", "_realized")
    )


def _ranked(t: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Each trade with ``_k``, its rank within its position, and ``_pos``, the position's
    number, busiest first: the positions with a k-th trade are then positions 0 … n_k - 1,
    so each lockstep step is a prefix of the state, without a gather or a scatter."""
    counts = (
        t.group_by(keys)
        .agg(_n=pl.len())
        .sort(["_n", *keys], descending=[True, False, False])
        .with_row_index("_pos")
    )
    return (
        t.select(*keys, "_seq", _q=_scaled(pl.col("q")), _px=_scaled(pl.col("price")))
        .join(counts.select(*keys, "_pos"), on=keys, how="left", maintain_order="left")
        .with_columns(_k=pl.int_range(pl.len()).over("_pos"))
        .sort("_k", "_pos")
    )


def _scaled(e: pl.Expr) -> pl.Expr:
    """A quantity or price as an integer of 10^-6 (a value with more places is refused at
    ingestion; a float from a frame is read as its nearest 6-place decimal)."""
    return (e.cast(AMOUNT) * _UNIT).cast(pl.Int128)


def _decimal(e: pl.Expr) -> pl.Expr:
    """An integer of 10^-6 back as ``decimal(38, 6)``: exact."""
    return e.cast(AMOUNT) / _UNIT


def _check_range(ranked: pl.DataFrame) -> None:
    """Refuse, rather than wrap around, trades whose products would not fit Int128: a bound
    on the largest basis (the position's total cash) times the largest quantity."""
    if ranked.is_empty():
        return
    bound = ranked.group_by("_pos").agg(
        cash=(pl.col("_q").abs().cast(pl.Float64) * pl.col("_px").cast(pl.Float64)).sum() / _UNIT,
        q=pl.col("_q").abs().cast(pl.Float64).max(),
        px=pl.col("_px").cast(pl.Float64).max(),
    )
    worst = bound.select(
        pl.max_horizontal(pl.col("cash") * pl.col("q"), pl.col("q") * pl.col("px")).max()
    ).item()
    if worst is not None and worst >= _INT128_LIMIT:
        raise ValueError("quantities and prices too large for the exact average-cost P&L")


def _step_inputs(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("_seq", "_q", "_px")


def _round_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den rounded half to even, for num >= 0 and den > 0 (integers)."""
    quotient = num // den
    twice_rest = (num - quotient * den) * 2
    up = (twice_rest > den) | ((twice_rest == den) & (quotient % 2 == 1))
    return quotient + up.cast(pl.Int128)


def _apply(step: pl.DataFrame) -> pl.DataFrame:
    """One trade per position: ``_p``/``_c`` before (position, unsigned basis), the trade's
    ``_q``/``_px``; adds ``_after``, ``_basis`` (unsigned) and ``_realized``."""
    p, c, q = pl.col("_p"), pl.col("_c"), pl.col("_q")
    cash = _round_div(q.abs() * pl.col("_px"), pl.lit(_UNIT, pl.Int128))
    closing_cash = _round_div(p.abs() * pl.col("_px"), pl.lit(_UNIT, pl.Int128))
    after = p + q
    opening = (p == 0) | (p.sign() == q.sign())
    flip = ~opening & (q.abs() > p.abs())
    released = (
        pl.when(after == 0).then(c).otherwise(_round_div(c * q.abs(), p.abs().clip(lower_bound=1)))
    )
    side = p.sign().cast(pl.Int128)
    return step.with_columns(
        _after=after,
        _basis=pl.when(opening)
        .then(c + cash)
        .when(flip)
        .then(cash - closing_cash)
        .otherwise(c - released),
        _realized=pl.when(opening)
        .then(pl.lit(0, pl.Int128))
        .when(flip)
        .then(side * (closing_cash - c))
        .otherwise(side * (cash - released)),
    )


def _empty_path() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"_seq": pl.Int64, "_after": pl.Int128, "_basis": pl.Int128, "_realized": pl.Int128}
    )


def realized_pnl(trades: pl.DataFrame) -> pl.DataFrame:
    """Average-cost P&L per portfolio and instrument (``average_cost_path``): realized P&L
    (an exact sum), the open position, its signed cost basis, its average cost (basis /
    position rounded half to even to 6 places, a price; null when flat) and the number of
    trades."""
    keys = ["portfolio_code", "instrument_code"]
    last = (
        average_cost_path(trades)
        .group_by(keys)
        .agg(
            realized_pnl=pl.col("realized").sum(),
            position=pl.col("position").last(),
            cost_basis=pl.col("cost_basis").last(),
            trades=pl.col("trade_id").n_unique(),
        )
    )
    return last.with_columns(
        average_cost=pl.when(pl.col("position") != 0).then(
            pl.col("cost_basis").abs() / pl.col("position").abs()
        ),
    ).sort(keys)


def with_market_value(pnl: pl.DataFrame) -> pl.DataFrame:
    """Add ``market_value`` = position * close (rounded half to even to 6 places, as
    ingestion rounds a position's market value) and ``unrealized_pnl`` = market value - cost
    basis, exact: the figure ``fact_position.unrealized_pnl_local`` stores. Null without a
    close."""
    return pnl.with_columns(
        market_value=exact_product(
            pl.col("position").cast(AMOUNT), "close_price", MONEY_SCALE, out=AMOUNT
        )
    ).with_columns(unrealized_pnl=pl.col("market_value") - pl.col("cost_basis"))
