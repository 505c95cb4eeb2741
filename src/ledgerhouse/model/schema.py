"""The star schema: every table Ledgerhouse stores, with its layer, columns and partitioning.

Core (conformed, Kimball style): dimensions with surrogate keys, facts at a stated grain that
reference the dimension version valid on their business date. Raw: each dataset as received.
Types are Arrow types so that Polars, DuckDB and delta-rs share them without conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa

STR = pa.string()
I64 = pa.int64()
I32 = pa.int32()
I16 = pa.int16()
F64 = pa.float64()
BOOL = pa.bool_()
DATE = pa.date32()
TS = pa.timestamp("us", tz="UTC")

# Exact numbers (decision 0014): money, quantities and prices are decimals with a declared scale,
# summed exactly by every engine; ratios and statistics (returns, weights, scores) stay float64.
#: Decimal places of money, quantities and prices: holds every ISO 4217 minor unit (at most 4,
#: checked by a test against ``model/currencies.py``) and sub-cent prices.
MONEY_SCALE = 6
#: Decimal places of FX rates (units of one currency per unit of another).
RATE_SCALE = 12
#: One row's amount, quantity or price: 18 integer digits (10^18 of any currency), so that an
#: amount times a rate (scale 6 + 12) still fits the 38 digits every engine computes with.
MONEY = pa.decimal128(24, MONEY_SCALE)
QUANTITY = MONEY
PRICE = MONEY
RATE = pa.decimal128(24, RATE_SCALE)
#: A sum of amounts (a mart or rollup column): 32 integer digits, as SQL's SUM widens it.
TOTAL = pa.decimal128(38, MONEY_SCALE)

#: valid_to of the current SCD2 version (exclusive upper bound, far future).
OPEN_END = date(9999, 12, 31)


@dataclass(frozen=True)
class TableDef:
    name: str
    layer: str  # raw | core | mart
    columns: tuple[tuple[str, pa.DataType], ...]
    description: str
    grain: str = ""
    partition_by: tuple[str, ...] = ()
    natural_key: tuple[str, ...] = ()
    query_name: str = ""

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(n, t) for n, t in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [n for n, _ in self.columns]

    @property
    def relation(self) -> str:
        """The name queries use: core tables by name, raw tables as raw_<name>."""
        if self.query_name:
            return self.query_name
        return self.name if self.layer != "raw" else f"raw_{self.name}"


_AUDIT = (("batch_id", STR), ("loaded_at", TS))

DIM_DATE = TableDef(
    "dim_date",
    "core",
    (
        ("date_key", I32),
        ("date", DATE),
        ("year", I16),
        ("quarter", I16),
        ("month", I16),
        ("day", I16),
        ("day_of_week", I16),
        ("day_name", STR),
        ("month_name", STR),
        ("iso_week", I16),
        ("month_label", STR),
        ("quarter_label", STR),
        ("is_weekend", BOOL),
        ("is_business_day", BOOL),
    ),
    "Calendar: one row per day, with business-day flag (Monday to Friday).",
    grain="one row per calendar day",
    natural_key=("date",),
)

DIM_INSTRUMENT = TableDef(
    "dim_instrument",
    "core",
    (
        ("instrument_key", I64),
        ("instrument_code", STR),
        ("isin", STR),
        ("name", STR),
        ("asset_class", STR),
        ("sector", STR),
        ("industry", STR),
        ("currency", STR),
        ("country", STR),
        ("issuer", STR),
        ("valid_from", DATE),
        ("valid_to", DATE),
        ("is_current", BOOL),
        *_AUDIT,
    ),
    "Instruments with SCD2 history: one row per version, valid on [valid_from, valid_to).",
    grain="one row per instrument version",
    natural_key=("instrument_code", "valid_from"),
)

DIM_PORTFOLIO = TableDef(
    "dim_portfolio",
    "core",
    (
        ("portfolio_key", I64),
        ("portfolio_code", STR),
        ("name", STR),
        ("firm", STR),
        ("desk", STR),
        ("manager", STR),
        ("strategy", STR),
        ("base_currency", STR),
        ("benchmark_code", STR),
        ("valid_from", DATE),
        ("valid_to", DATE),
        ("is_current", BOOL),
        *_AUDIT,
    ),
    "Portfolios with SCD2 history, hierarchy firm > desk > portfolio.",
    grain="one row per portfolio version",
    natural_key=("portfolio_code", "valid_from"),
)

DIM_COUNTERPARTY = TableDef(
    "dim_counterparty",
    "core",
    (
        ("counterparty_key", I64),
        ("counterparty_code", STR),
        ("name", STR),
        ("counterparty_type", STR),
        ("country", STR),
        ("rating", STR),
        *_AUDIT,
    ),
    "Counterparties (type 1: the latest record wins).",
    grain="one row per counterparty",
    natural_key=("counterparty_code",),
)

DIM_CURRENCY = TableDef(
    "dim_currency",
    "core",
    (
        ("currency_code", STR),
        ("name", STR),
        ("numeric_code", STR),
        # decimal places of the currency's minor unit (JPY 0, USD 2, KWD 3); null for none
        ("minor_unit", I16),
        *_AUDIT,
    ),
    "ISO 4217 currencies seen in FX rates, trades or reference data, with the decimal places "
    "of each one's minor unit.",
    grain="one row per currency",
    natural_key=("currency_code",),
)

_TRADE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("trade_id", STR),
    ("trade_month", STR),
    ("event", STR),
    ("event_ts", TS),
    ("trade_ts", TS),
    ("trade_date", DATE),
    ("settle_date", DATE),
    ("portfolio_key", I64),
    ("instrument_key", I64),
    ("counterparty_key", I64),
    ("portfolio_code", STR),
    ("instrument_code", STR),
    ("counterparty_code", STR),
    ("side", STR),
    ("quantity", QUANTITY),
    ("signed_quantity", QUANTITY),
    ("price", PRICE),
    ("currency", STR),
    ("notional_local", MONEY),
    ("fees_local", MONEY),
    ("base_currency", STR),
    ("fx_rate", RATE),
    ("notional_base", MONEY),
    ("fees_base", MONEY),
    # the tenant's reporting currency (setting reporting_currency) when the row was loaded,
    # units of it per unit of the base currency on the trade date, and the amounts in it
    ("reporting_currency", STR),
    ("reporting_fx_rate", RATE),
    ("notional_reporting", MONEY),
    ("fees_reporting", MONEY),
)

FACT_TRADE = TableDef(
    "fact_trade",
    "core",
    (*_TRADE_COLUMNS, ("event_count", I32), *_AUDIT),
    "Current state of every live trade: its latest NEW or AMEND; cancelled trades are removed.",
    grain="one row per live trade",
    partition_by=("trade_month",),
    natural_key=("trade_id",),
)

FACT_TRADE_EVENT = TableDef(
    "fact_trade_event",
    "core",
    (*_TRADE_COLUMNS, *_AUDIT),
    "Every accepted trade event (NEW, AMEND, CANCEL) as conformed: the trade lifecycle history.",
    grain="one row per trade event",
    partition_by=("trade_month",),
    natural_key=("trade_id", "event_ts"),
)

FACT_POSITION = TableDef(
    "fact_position",
    "core",
    (
        ("position_date", DATE),
        ("position_month", STR),
        ("portfolio_key", I64),
        ("instrument_key", I64),
        ("portfolio_code", STR),
        ("instrument_code", STR),
        ("quantity", QUANTITY),
        ("currency", STR),
        ("market_value_local", MONEY),
        # average-cost basis of the open quantity; unrealized = market value - cost basis
        ("cost_basis_local", MONEY),
        ("unrealized_pnl_local", MONEY),
        ("base_currency", STR),
        ("fx_rate", RATE),
        ("market_value_base", MONEY),
        ("cost_basis_base", MONEY),
        ("unrealized_pnl_base", MONEY),
        ("reporting_currency", STR),
        ("reporting_fx_rate", RATE),
        ("market_value_reporting", MONEY),
        ("cost_basis_reporting", MONEY),
        ("unrealized_pnl_reporting", MONEY),
        *_AUDIT,
    ),
    "Daily position snapshot per portfolio and instrument: market value, average-cost basis "
    "and unrealized P&L in local, base and reporting currency.",
    grain="portfolio × instrument × day",
    partition_by=("position_month",),
    natural_key=("portfolio_code", "instrument_code", "position_date"),
)

FACT_PERFORMANCE = TableDef(
    "fact_performance",
    "core",
    (
        ("performance_date", DATE),
        ("performance_month", STR),
        ("portfolio_key", I64),
        ("portfolio_code", STR),
        ("base_currency", STR),
        ("begin_nav", MONEY),
        ("end_nav", MONEY),
        ("net_flow", MONEY),
        ("income", MONEY),
        ("daily_return", F64),
        ("reporting_currency", STR),
        ("reporting_fx_rate", RATE),
        ("begin_nav_reporting", MONEY),
        ("end_nav_reporting", MONEY),
        ("net_flow_reporting", MONEY),
        ("income_reporting", MONEY),
        *_AUDIT,
    ),
    "Daily portfolio performance: NAV, external flows, income and the day's return.",
    grain="portfolio × day",
    partition_by=("performance_month",),
    natural_key=("portfolio_code", "performance_date"),
)

FACT_PRICE = TableDef(
    "fact_price",
    "core",
    (
        ("price_date", DATE),
        ("price_month", STR),
        ("instrument_key", I64),
        ("instrument_code", STR),
        ("currency", STR),
        ("close_price", PRICE),
        *_AUDIT,
    ),
    "Daily close price per instrument, in the instrument's currency.",
    grain="instrument × day",
    partition_by=("price_month",),
    natural_key=("instrument_code", "price_date"),
)

FACT_FX_RATE = TableDef(
    "fact_fx_rate",
    "core",
    (("rate_date", DATE), ("currency_code", STR), ("rate_to_usd", RATE), *_AUDIT),
    "Daily FX rate: the value in USD of one unit of the currency.",
    grain="currency × day",
    natural_key=("currency_code", "rate_date"),
)

FACT_BENCHMARK_CONSTITUENT = TableDef(
    "fact_benchmark_constituent",
    "core",
    (
        ("benchmark_code", STR),
        ("as_of_date", DATE),
        ("as_of_month", STR),
        ("instrument_key", I64),
        ("instrument_code", STR),
        ("weight", F64),
        ("daily_return", F64),
        *_AUDIT,
    ),
    "Benchmark constituents: weight and daily return of each instrument, per benchmark and day.",
    grain="benchmark × instrument × day",
    partition_by=("as_of_month",),
    natural_key=("benchmark_code", "instrument_code", "as_of_date"),
)

QUARANTINE = TableDef(
    "quarantine",
    "raw",
    (
        ("batch_id", STR),
        ("dataset", STR),
        ("row_number", I64),
        ("reason", STR),
        ("record", STR),
        ("loaded_at", TS),
    ),
    "Rows refused by validation, with the reason and the record as received (JSON).",
    grain="one row per refused input row",
    query_name="quarantine",
)

ML_TRADE_ANOMALY = TableDef(
    "ml_trade_anomaly",
    "ml",
    (
        ("trade_id", STR),
        ("trade_month", STR),
        ("trade_date", DATE),
        ("portfolio_code", STR),
        ("instrument_code", STR),
        ("model_id", STR),
        ("score", F64),
        ("is_anomaly", BOOL),
        ("scored_at", TS),
    ),
    "Anomaly scores of live trades by a trading-activity model (higher = more unusual); join "
    "to fact_trade on trade_id. See `ledgerhouse models` for each model's features and commit.",
    grain="trade × model",
    partition_by=("trade_month",),
    natural_key=("model_id", "trade_id"),
)

ML_TABLES: tuple[TableDef, ...] = (ML_TRADE_ANOMALY,)

CORE_TABLES: tuple[TableDef, ...] = (
    DIM_DATE,
    DIM_INSTRUMENT,
    DIM_PORTFOLIO,
    DIM_COUNTERPARTY,
    DIM_CURRENCY,
    FACT_TRADE,
    FACT_TRADE_EVENT,
    FACT_POSITION,
    FACT_PERFORMANCE,
    FACT_PRICE,
    FACT_FX_RATE,
    FACT_BENCHMARK_CONSTITUENT,
)


def raw_table(dataset: str, columns: tuple[tuple[str, pa.DataType], ...]) -> TableDef:
    """The raw-layer table of a dataset: its contract columns plus the batch bookkeeping."""
    return TableDef(
        dataset,
        "raw",
        (
            *columns,
            ("_batch_id", STR),
            ("_row_number", I64),
            ("_loaded_at", TS),
            ("_reason", STR),
        ),
        f"Dataset {dataset!r} as received, one row per input row, per batch; `_reason` is "
        "null for accepted rows and says why a row was quarantined otherwise.",
        grain="one row per received row",
    )
