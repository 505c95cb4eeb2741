"""Conventions: every choice a performance or risk number depends on, as an explicit parameter
with a documented default (docs/analytics.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Decimal places of the fixed point in which SQL adds floats (``fixed_sum``).
FIXED_SCALE = 24


def fixed_sum(expr: str) -> str:
    """SQL: the sum of a float expression, each term rounded to FIXED_SCALE places and added
    exactly, as a DOUBLE. DuckDB adds DOUBLEs in parallel in an order that changes from run
    to run (so does the last bit of the sum); integers add up the same in any order. Holds
    terms and sums below 10^14 in magnitude (weights, returns, their products)."""
    return f"CAST(sum(CAST({expr} AS DECIMAL(38, {FIXED_SCALE}))) AS DOUBLE)"


class Conventions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    periods_per_year: int = Field(
        default=252, gt=0, le=366, description="Return periods per year (252 business days)."
    )
    risk_free: float = Field(
        default=0.0, ge=-0.5, le=1.0, description="Risk-free rate, in `risk_free_unit`."
    )
    risk_free_unit: Literal["annual", "period"] = Field(
        default="annual",
        description="annual: a yearly rate, compounded to a per-period rate; period: per day.",
    )
    var_method: Literal["historical", "parametric"] = Field(
        default="historical", description="historical (empirical quantile) or parametric (normal)."
    )
    confidence: float = Field(default=0.99, gt=0.5, lt=1.0, description="VaR / ES confidence.")
    horizon_days: int = Field(default=1, ge=1, le=250, description="VaR / ES horizon in periods.")
    return_type: Literal["simple", "log"] = Field(
        default="simple",
        description="Per-period returns used by volatility, Sharpe, Sortino, beta and VaR.",
    )

    @property
    def risk_free_per_period(self) -> float:
        if self.risk_free_unit == "period":
            return self.risk_free
        return float((1 + self.risk_free) ** (1 / self.periods_per_year) - 1)
