"""Data marts: derived tables in the mart layer, each defined by SQL over the core star.

A mart is partitioned by month and refreshed, after each commit that changes its sources, for
the months that changed only. ``{months}`` in the SQL is replaced by the quoted list of months to
rebuild; the SQL reads the core tables by name, pinned to the versions being committed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledgerhouse.model.schema import DATE, F64, I64, MONEY, STR, TOTAL, TS, TableDef


@dataclass(frozen=True)
class MartDef:
    table: TableDef
    sources: dict[str, str]  # core fact table -> its month partition column
    sql: str
    #: Dimensions the SQL joins: a change to one rebuilds every month of the mart (a
    #: correction can change a version's attributes in place, under the same key).
    dimensions: tuple[str, ...] = ()


MART_TRADING_ACTIVITY = MartDef(
    TableDef(
        "mart_trading_activity",
        "mart",
        (
            ("activity_month", STR),
            ("trade_date", DATE),
            ("portfolio_key", I64),
            ("portfolio_code", STR),
            ("asset_class", STR),
            ("trades", I64),
            ("instruments", I64),
            ("buy_notional_base", TOTAL),
            ("sell_notional_base", TOTAL),
            ("notional_base", TOTAL),
            ("fees_base", TOTAL),
            ("refreshed_at", TS),
        ),
        "Trading activity of live trades per portfolio, trade date and asset class (base "
        "currency).",
        grain="portfolio × trade date × asset class",
        partition_by=("activity_month",),
    ),
    {"fact_trade": "trade_month"},
    """
    SELECT t.trade_month AS activity_month, t.trade_date, t.portfolio_key, t.portfolio_code,
           i.asset_class, count(*) AS trades, count(DISTINCT t.instrument_key) AS instruments,
           sum(CASE WHEN t.side = 'BUY' THEN t.notional_base ELSE 0 END)
               AS buy_notional_base,
           sum(CASE WHEN t.side = 'SELL' THEN t.notional_base ELSE 0 END)
               AS sell_notional_base,
           sum(t.notional_base) AS notional_base,
           sum(t.fees_base) AS fees_base,
           now() AS refreshed_at
    FROM fact_trade t JOIN dim_instrument i USING (instrument_key)
    WHERE t.trade_month IN ({months})
    GROUP BY ALL
    """,
    dimensions=("dim_instrument",),
)

MART_PORTFOLIO_DAILY_PNL = MartDef(
    TableDef(
        "mart_portfolio_daily_pnl",
        "mart",
        (
            ("pnl_month", STR),
            ("performance_date", DATE),
            ("portfolio_key", I64),
            ("portfolio_code", STR),
            ("base_currency", STR),
            ("begin_nav", MONEY),
            ("end_nav", MONEY),
            ("net_flow", MONEY),
            ("income", MONEY),
            ("pnl", TOTAL),
            ("daily_return", F64),
            ("refreshed_at", TS),
        ),
        "Daily P&L per portfolio in base currency: end NAV − begin NAV − external flows.",
        grain="portfolio × day",
        partition_by=("pnl_month",),
    ),
    {"fact_performance": "performance_month"},
    """
    SELECT performance_month AS pnl_month, performance_date, portfolio_key, portfolio_code,
           base_currency, begin_nav, end_nav, net_flow, income,
           end_nav - begin_nav - net_flow AS pnl, daily_return, now() AS refreshed_at
    FROM fact_performance
    WHERE performance_month IN ({months})
    """,
)

MART_EXPOSURE_DAILY = MartDef(
    TableDef(
        "mart_exposure_daily",
        "mart",
        (
            ("exposure_month", STR),
            ("position_date", DATE),
            ("portfolio_key", I64),
            ("portfolio_code", STR),
            ("asset_class", STR),
            ("sector", STR),
            ("long_base", TOTAL),
            ("short_base", TOTAL),
            ("gross_base", TOTAL),
            ("net_base", TOTAL),
            ("positions", I64),
            ("refreshed_at", TS),
        ),
        "Daily exposures per portfolio by asset class and sector in base currency (long, "
        "short, gross, net), with the instrument version valid that day.",
        grain="portfolio × day × asset class × sector",
        partition_by=("exposure_month",),
    ),
    {"fact_position": "position_month"},
    """
    SELECT p.position_month AS exposure_month, p.position_date, p.portfolio_key,
           p.portfolio_code, i.asset_class, i.sector,
           sum(greatest(p.market_value_base, 0)) AS long_base,
           sum(least(p.market_value_base, 0)) AS short_base,
           sum(abs(p.market_value_base)) AS gross_base,
           sum(p.market_value_base) AS net_base,
           count(*) AS positions, now() AS refreshed_at
    FROM fact_position p JOIN dim_instrument i USING (instrument_key)
    WHERE p.position_month IN ({months})
    GROUP BY ALL
    """,
    dimensions=("dim_instrument",),
)

MARTS: tuple[MartDef, ...] = (MART_TRADING_ACTIVITY, MART_PORTFOLIO_DAILY_PNL, MART_EXPOSURE_DAILY)
MART_TABLES: tuple[TableDef, ...] = tuple(m.table for m in MARTS)
