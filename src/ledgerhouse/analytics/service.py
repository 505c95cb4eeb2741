"""The analytics service: reads the star on one pinned commit, computes in Polars.

It never runs SQL itself: the composition root passes ``read(sql, params, as_of)``, the
guarded query service of the caller's tenant (so analytics see exactly what the caller may
read, at the commit asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import polars as pl

from ledgerhouse.analytics.models import Conventions
from ledgerhouse.analytics.performance import performance_report, period_returns
from ledgerhouse.errors import InvalidRequest, NotFound

Read = Callable[[str, list[Any], Any], tuple[pl.DataFrame, int]]

_PERF_SQL = """
SELECT f.portfolio_code, f.performance_date, f.begin_nav, f.end_nav, f.net_flow,
       p.benchmark_code
FROM fact_performance f LEFT JOIN dim_portfolio p ON f.portfolio_key = p.portfolio_key
WHERE f.performance_date BETWEEN ? AND ?{portfolios}
"""
_BENCH_SQL = """
SELECT benchmark_code, as_of_date AS performance_date,
       sum(weight * daily_return) / sum(weight) AS benchmark_return
FROM fact_benchmark_constituent
WHERE as_of_date BETWEEN ? AND ?
GROUP BY 1, 2
"""


class AnalyticsService:
    def __init__(self, read: Read) -> None:
        self.read = read

    def _performance_input(
        self, portfolios: list[str] | None, start: date | None, end: date | None, as_of: Any
    ) -> tuple[pl.DataFrame, int, date, date]:
        first, last = start or date(1900, 1, 1), end or date(9999, 12, 31)
        if first > last:
            raise InvalidRequest(
                f"start {first} is after end {last}", hint="Give start <= end (ISO dates)."
            )
        params: list[Any] = [first.isoformat(), last.isoformat()]
        where = ""
        if portfolios:
            where = f" AND f.portfolio_code IN ({', '.join('?' * len(portfolios))})"
            params += portfolios
        perf, commit = self.read(_PERF_SQL.format(portfolios=where), params, as_of)
        if portfolios:
            missing = sorted(set(portfolios) - set(perf["portfolio_code"].unique().to_list()))
            if missing:
                raise NotFound(
                    f"no performance data for portfolio(s) {missing} in [{first}, {last}]",
                    hint='Check the codes (ledgerhouse query "SELECT DISTINCT portfolio_code '
                    'FROM fact_performance") and the dates.',
                    portfolios=missing,
                )
        if perf.is_empty():
            raise NotFound(
                f"no performance data in [{first}, {last}]",
                hint="Ingest performance first, or widen the dates.",
            )
        return perf, commit, first, last

    def performance(
        self,
        portfolios: list[str] | None = None,
        start: date | None = None,
        end: date | None = None,
        conventions: Conventions | None = None,
        as_of: Any = None,
    ) -> tuple[pl.DataFrame, int]:
        """The performance and risk report of the named portfolios (all when none), with the
        commit it was computed on."""
        conv = conventions or Conventions()
        perf, commit, first, last = self._performance_input(portfolios, start, end, as_of)
        bench, _ = self.read(_BENCH_SQL, [first.isoformat(), last.isoformat()], commit)
        return performance_report(perf, bench, conv), commit

    def period_returns(
        self,
        portfolios: list[str] | None = None,
        start: date | None = None,
        end: date | None = None,
        every: str = "1mo",
        as_of: Any = None,
    ) -> tuple[pl.DataFrame, int]:
        """Modified Dietz returns per sub-period (month, quarter or year), chain-linked."""
        intervals = {"month": "1mo", "quarter": "1q", "year": "1y", "1mo": "1mo", "1q": "1q",
                     "1y": "1y"}  # fmt: skip
        if every not in intervals:
            raise InvalidRequest(f"unknown period {every!r}", hint="Use month, quarter or year.")
        perf, commit, _, _ = self._performance_input(portfolios, start, end, as_of)
        return period_returns(perf, intervals[every]), commit
