"""Anomaly detection on trading activity with scikit-learn, on point-in-time features.

Each live trade is described only by what was known on its trade date (no look-ahead):

- ``log_notional``: ln(1 + notional in base currency);
- ``notional_vs_history``: ln(notional) minus the mean ln(notional) of the same portfolio's
  trades over the 60 calendar days *before* the trade date (0 without history);
- ``price_gap_bps``: |price / prevailing close - 1| * 10,000, the prevailing close being the
  latest close strictly before the trade date (as-of join);
- ``log_quantity``: ln(1 + quantity).

The logs are added in fixed point (18 places, exactly), so the history mean — and the features
and scores — are the same on every run whatever order DuckDB's threads add them in.

An IsolationForest is trained on the trades of a training window and scores the trades of a
scoring window; the most unusual ``contamination`` share is flagged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from sklearn.ensemble import IsolationForest

FEATURES = ("log_notional", "notional_vs_history", "price_gap_bps", "log_quantity")
HISTORY_DAYS = 60

#: Parameters: first day minus the history, last day, their months, then the first day.
FEATURES_SQL = """
WITH t AS (
  SELECT trade_id, trade_month, trade_date, portfolio_code, instrument_code, quantity, price,
         notional_base
  FROM fact_trade
  WHERE trade_date BETWEEN ? AND ? AND trade_month BETWEEN ? AND ?
),
daily AS (
  SELECT portfolio_code, trade_date,
         sum(CAST(ln(greatest(notional_base, 1e-9)) AS DECIMAL(38, 18))) AS s, count(*) AS n
  FROM t GROUP BY 1, 2
),
history AS (
  SELECT portfolio_code, trade_date,
         sum(s) OVER w / nullif(sum(n) OVER w, 0) AS mean_log_notional
  FROM daily
  WINDOW w AS (PARTITION BY portfolio_code ORDER BY trade_date
               RANGE BETWEEN INTERVAL 60 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING)
)
SELECT t.trade_id, t.trade_month, t.trade_date, t.portfolio_code, t.instrument_code,
       ln(1 + t.notional_base) AS log_notional,
       coalesce(ln(greatest(t.notional_base, 1e-9)) - h.mean_log_notional, 0)
           AS notional_vs_history,
       coalesce(abs(t.price / p.close_price - 1) * 10000, 0) AS price_gap_bps,
       ln(1 + t.quantity) AS log_quantity
FROM t
JOIN history h ON h.portfolio_code = t.portfolio_code AND h.trade_date = t.trade_date
ASOF LEFT JOIN fact_price p
  ON p.instrument_code = t.instrument_code AND t.trade_date > p.price_date
WHERE t.trade_date >= ?
"""


def train(
    features: pl.DataFrame, contamination: float, seed: int = 0, max_rows: int = 200_000
) -> tuple[IsolationForest, dict[str, Any]]:
    """Fit an IsolationForest (a seeded sample of at most ``max_rows`` trades)."""
    x = features.select(FEATURES).to_numpy()
    if len(x) < 50:
        raise ValueError(f"{len(x)} trades are too few to train on (50 at least)")
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(len(x), max_rows, replace=False)] if len(x) > max_rows else x
    model = IsolationForest(n_estimators=200, contamination=contamination, random_state=seed)
    model.fit(sample)
    train_scores = -model.score_samples(sample)
    return model, {
        "training_rows": len(x),
        "fitted_rows": len(sample),
        "threshold": float(-model.offset_),
        "training_flag_rate": float(np.mean(train_scores > -model.offset_)),
    }


def score(model: IsolationForest, features: pl.DataFrame) -> pl.DataFrame:
    """Anomaly score of each trade (higher = more unusual) and whether it is flagged."""
    raw = -model.score_samples(features.select(FEATURES).to_numpy())
    return features.select(
        "trade_id", "trade_month", "trade_date", "portfolio_code", "instrument_code"
    ).with_columns(score=pl.Series(raw), is_anomaly=pl.Series(raw > -model.offset_))
