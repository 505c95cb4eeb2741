"""Portfolio analytics: returns, risk and risk-adjusted ratios, computed over all portfolios at
once from the star schema, with every convention an explicit parameter."""

from ledgerhouse.analytics.anomalies import TradeAnomalies
from ledgerhouse.analytics.jobs import Analytics
from ledgerhouse.analytics.models import Conventions
from ledgerhouse.analytics.performance import (
    daily_returns,
    modified_dietz,
    money_weighted_returns,
    performance_report,
    period_returns,
)
from ledgerhouse.analytics.service import AnalyticsService

__all__ = [
    "Analytics",
    "AnalyticsService",
    "Conventions",
    "TradeAnomalies",
    "daily_returns",
    "modified_dietz",
    "money_weighted_returns",
    "performance_report",
    "period_returns",
]
