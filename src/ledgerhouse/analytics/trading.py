"""Trading analytics, computed by the engine in SQL over live trades (``fact_trade``)."""

from __future__ import annotations

#: VWAP = Σ price × quantity / Σ quantity; TWAP weights each trade's price by the time until
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
#: its trade date. slippage_bps = side × (price − reference) / reference × 10,000, side +1 for
#: a buy and −1 for a sell (positive = paid more / received less than the reference).
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
