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

from ledgerhouse.analytics.attribution import BENCHMARK_SQL, HOLDINGS_SQL, daily_effects, linked
from ledgerhouse.analytics.models import Conventions, fixed_sum
from ledgerhouse.analytics.performance import performance_report, period_returns
from ledgerhouse.analytics.risk import (
    EXPOSURE_BY,
    LEVELS,
    RECONCILE_SQL,
    correlation_matrix,
    exposure_sql,
    with_shares,
)
from ledgerhouse.analytics.trading import (
    PNL_CLOSES_SQL,
    PNL_TRADES_SQL,
    SLIPPAGE_SQL,
    VWAP_TWAP_SQL,
    realized_pnl,
    with_market_value,
)
from ledgerhouse.errors import InvalidRequest, NotFound
from ledgerhouse.model.calendar import days_before

Read = Callable[[str, list[Any], Any], tuple[pl.DataFrame, int]]

_PERF_SQL = """
SELECT f.portfolio_code, f.performance_date, f.begin_nav, f.end_nav, f.net_flow,
       p.benchmark_code
FROM fact_performance f LEFT JOIN dim_portfolio p ON f.portfolio_key = p.portfolio_key
WHERE f.performance_date BETWEEN ? AND ?{portfolios}
"""
#: The weights and returns are floats: summed in fixed point (``fixed_sum``), so the benchmark
#: return is the same float whatever order DuckDB's threads add the constituents in.
_BENCH_SQL = f"""
SELECT benchmark_code, as_of_date AS performance_date,
       {fixed_sum("weight * daily_return")} / {fixed_sum("weight")} AS benchmark_return
FROM fact_benchmark_constituent
WHERE as_of_date BETWEEN ? AND ?
GROUP BY 1, 2
ORDER BY 1, 2
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

    # -- risk views ------------------------------------------------------------------------
    def exposures(
        self, on: date, by: list[str] | None = None, level: str = "portfolio", as_of: Any = None
    ) -> tuple[pl.DataFrame, int]:
        """Long, short, gross and net exposure on a date, by ``level`` of the portfolio
        hierarchy (firm, desk, portfolio) and the breakdowns ``by`` (asset_class, sector,
        currency, country)."""
        by = list(dict.fromkeys(by or ["asset_class"]))
        unknown = [b for b in by if b not in EXPOSURE_BY]
        if unknown:
            raise InvalidRequest(
                f"cannot break exposures down by {unknown}",
                hint=f"Use {', '.join(EXPOSURE_BY)}.",
            )
        if level not in LEVELS:
            raise InvalidRequest(
                f"unknown hierarchy level {level!r}", hint=f"Use {', '.join(LEVELS)}."
            )
        frame, commit = self.read(
            exposure_sql(by, level), [on.isoformat(), on.strftime("%Y-%m")], as_of
        )
        if frame.is_empty():
            raise NotFound(
                f"no positions on {on}",
                hint="Pick a business day with positions (exposures are as of a date).",
            )
        return with_shares(frame, level), commit

    def reconcile_positions(self, on: date, as_of: Any = None) -> tuple[pl.DataFrame, int]:
        """Positions rebuilt from the cumulative live trades up to ``on``, beside the stored
        snapshot of that day, with the difference (``matches`` within 1e-6 units)."""
        return self.read(RECONCILE_SQL, [on.isoformat(), on.isoformat(), on.strftime("%Y-%m")],
                         as_of)  # fmt: skip

    def correlation(
        self,
        portfolios: list[str] | None = None,
        start: date | None = None,
        end: date | None = None,
        min_periods: int = 20,
        as_of: Any = None,
    ) -> tuple[pl.DataFrame, int]:
        """Correlation matrix of the portfolios' daily returns."""
        perf, commit, _, _ = self._performance_input(portfolios, start, end, as_of)
        return correlation_matrix(perf, min_periods), commit

    # -- trading ---------------------------------------------------------------------------
    def _trading(
        self, sql: str, start: date, end: date, instrument: str | None, as_of: Any
    ) -> tuple[pl.DataFrame, int]:
        if start > end:
            raise InvalidRequest(f"start {start} is after end {end}", hint="Give start <= end.")
        params: list[Any] = [
            start.isoformat(), end.isoformat(), start.strftime("%Y-%m"), end.strftime("%Y-%m"),
        ]  # fmt: skip
        clause = ""
        if instrument:
            column = "t.instrument_code" if "fact_trade t" in sql else "instrument_code"
            clause, params = f" AND {column} = ?", [*params, instrument]
        return self.read(sql.format(instrument=clause), params, as_of)

    def vwap(
        self, start: date, end: date, instrument: str | None = None, as_of: Any = None
    ) -> tuple[pl.DataFrame, int]:
        """VWAP and TWAP (and count, quantity, low, high) per instrument and day."""
        return self._trading(VWAP_TWAP_SQL, start, end, instrument, as_of)

    def slippage(
        self, start: date, end: date, instrument: str | None = None, as_of: Any = None
    ) -> tuple[pl.DataFrame, int]:
        """Each trade against the prevailing close (as-of join): slippage in basis points."""
        return self._trading(SLIPPAGE_SQL, start, end, instrument, as_of)

    # -- attribution -----------------------------------------------------------------------
    def attribution(
        self,
        portfolios: list[str] | None = None,
        start: date | None = None,
        end: date | None = None,
        daily: bool = False,
        as_of: Any = None,
    ) -> tuple[pl.DataFrame, int]:
        """Brinson-Fachler allocation, selection and interaction by sector against each
        portfolio's benchmark: per day (``daily``) or linked over [start, end] (Carino)."""
        if start is None or end is None:
            raise InvalidRequest("attribution needs start and end", hint="Give both dates.")
        if start > end:
            raise InvalidRequest(f"start {start} is after end {end}", hint="Give start <= end.")
        lookback = days_before(start, 10)  # the close before the first day
        where, extra = "", []
        if portfolios:
            where = f" AND x.portfolio_code IN ({', '.join('?' * len(portfolios))})"
            extra = list(portfolios)
        params = [lookback.isoformat(), end.isoformat(), start.isoformat(), end.isoformat(),
                  lookback.strftime("%Y-%m"), end.strftime("%Y-%m"), *extra]  # fmt: skip
        holdings, commit = self.read(HOLDINGS_SQL.format(portfolios=where), params, as_of)
        bench, _ = self.read(BENCHMARK_SQL, [start.isoformat(), end.isoformat()], commit)
        owners, _ = self.read(
            "SELECT portfolio_code, benchmark_code FROM dim_portfolio "
            "WHERE valid_from <= ? AND ? < valid_to",
            [end.isoformat(), end.isoformat()],
            commit,
        )
        if portfolios:
            known = dict(owners.iter_rows())
            lacking = [p for p in portfolios if p in known and not known[p]]
            if lacking:
                raise InvalidRequest(
                    f"portfolio(s) {lacking} have no benchmark: attribution is undefined",
                    hint="Set benchmark_code on the portfolio (the portfolios dataset).",
                )
            missing = sorted(set(portfolios) - set(holdings["portfolio_code"].to_list()))
            if missing:
                raise NotFound(
                    f"no positions for portfolio(s) {missing} in [{start}, {end}]",
                    hint="Check the codes and the dates.",
                )
        if holdings.is_empty():
            raise NotFound(f"no positions in [{start}, {end}]", hint="Widen the dates.")
        owners = owners.filter(pl.col("benchmark_code").is_not_null())
        effects = daily_effects(holdings, bench, owners)
        return (effects if daily else linked(effects)), commit

    def pnl(
        self, on: date, portfolios: list[str] | None = None, as_of: Any = None
    ) -> tuple[pl.DataFrame, int]:
        """Realized (average cost) and unrealized P&L by portfolio and instrument, in the
        instrument's currency, from the live trades up to ``on`` and the latest close: exact
        decimals (``with_market_value``)."""
        where, params = "", [on.isoformat()]
        if portfolios:
            where = f" AND portfolio_code IN ({', '.join('?' * len(portfolios))})"
            params += portfolios
        trades, commit = self.read(PNL_TRADES_SQL.format(portfolios=where), params, as_of)
        if trades.is_empty():
            raise NotFound(f"no trades up to {on}", hint="Pick a later date or other portfolios.")
        closes, _ = self.read(PNL_CLOSES_SQL, [on.isoformat(), on.isoformat()], commit)
        out = realized_pnl(trades).join(closes, on="instrument_code", how="left")
        return with_market_value(out), commit
