"""The contract of every dataset Ledgerhouse ingests (rendered into docs/datasets.md)."""

from __future__ import annotations

from decimal import Decimal

from ledgerhouse.ingest.errors import UnknownDataset
from ledgerhouse.ingest.models import Column, Contract
from ledgerhouse.model.schema import RATE_SCALE

_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,63}$"
_EFFECTIVE = Column(
    "effective_date",
    "date",
    description="First day this record is valid (SCD2 valid_from).",
)

INSTRUMENTS = Contract(
    "instruments",
    "Instrument reference data. Each record is a version effective from `effective_date`.",
    (
        Column("instrument_code", "str", description="Durable instrument id.", pattern=_CODE),
        Column("name", "str"),
        Column(
            "asset_class",
            "str",
            enum=("EQUITY", "BOND", "FX", "FUTURE", "OPTION", "FUND", "CASH"),
        ),
        Column("currency", "currency", description="Currency the instrument is priced in."),
        Column("sector", "str", required=False),
        Column("industry", "str", required=False),
        Column("country", "str", required=False, pattern=r"^[A-Z]{2}$"),
        Column("issuer", "str", required=False),
        Column("isin", "str", required=False, pattern=r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$"),
        _EFFECTIVE,
    ),
    key=("instrument_code", "effective_date"),
    target="dim_instrument (SCD2)",
    rules=(
        "For each instrument and day, the version in force is the record with the latest "
        "`effective_date` on or before that day; of two records with the same date, the later "
        "one sent wins.",
        "A record equal to the version already in force creates no new version.",
    ),
)

PORTFOLIOS = Contract(
    "portfolios",
    "Portfolio reference data with its hierarchy firm > desk > portfolio.",
    (
        Column("portfolio_code", "str", pattern=_CODE),
        Column("name", "str"),
        Column("firm", "str"),
        Column("desk", "str"),
        Column("base_currency", "currency"),
        Column("manager", "str", required=False),
        Column("strategy", "str", required=False),
        Column("benchmark_code", "str", required=False, pattern=_CODE),
        _EFFECTIVE,
    ),
    key=("portfolio_code", "effective_date"),
    target="dim_portfolio (SCD2)",
    rules=INSTRUMENTS.rules,
)

COUNTERPARTIES = Contract(
    "counterparties",
    "Trading counterparties. The latest record sent wins (type 1).",
    (
        Column("counterparty_code", "str", pattern=_CODE),
        Column("name", "str"),
        Column(
            "counterparty_type",
            "str",
            required=False,
            enum=("BANK", "BROKER", "DEALER", "EXCHANGE", "FUND", "CORPORATE", "OTHER"),
        ),
        Column("country", "str", required=False, pattern=r"^[A-Z]{2}$"),
        Column("rating", "str", required=False),
    ),
    key=("counterparty_code",),
    target="dim_counterparty",
)

FX_RATES = Contract(
    "fx_rates",
    "Daily FX rates: the value in USD of one unit of `currency` (USD itself is always 1).",
    (
        Column("rate_date", "date"),
        Column("currency", "currency"),
        Column("rate_to_usd", "decimal", min=0, min_exclusive=True, scale=RATE_SCALE),
    ),
    key=("currency", "rate_date"),
    target="fact_fx_rate (upsert by key), dim_currency",
    rules=("Amounts are converted with the latest rate on or before their business date.",),
)

PRICES = Contract(
    "prices",
    "Daily close prices, in the instrument's currency.",
    (
        Column("price_date", "date"),
        Column("instrument_code", "str", pattern=_CODE),
        Column("close_price", "decimal", min=0, min_exclusive=True),
    ),
    key=("instrument_code", "price_date"),
    target="fact_price (upsert by key)",
    rules=("`instrument_code` must have a version valid on `price_date`.",),
)

BENCHMARKS = Contract(
    "benchmarks",
    "Benchmark constituents: weight and daily return of each instrument, per benchmark and day.",
    (
        Column("benchmark_code", "str", pattern=_CODE),
        Column("as_of_date", "date"),
        Column("instrument_code", "str", pattern=_CODE),
        Column("weight", "float", min=-1, max=1),
        Column("daily_return", "float", min=-1),
    ),
    key=("benchmark_code", "instrument_code", "as_of_date"),
    target="fact_benchmark_constituent (upsert by key)",
    rules=("`instrument_code` must have a version valid on `as_of_date`.",),
)

_TRADE_FIELD = "Required unless `event` is CANCEL."
TRADES = Contract(
    "trades",
    "Trade lifecycle events. NEW opens a trade, AMEND replaces its whole state, CANCEL "
    "removes it from the current view (`fact_trade`); every event stays in `fact_trade_event`.",
    (
        Column("trade_id", "str", pattern=_CODE),
        Column("event", "str", enum=("NEW", "AMEND", "CANCEL")),
        Column("event_ts", "ts", description="When the event happened (orders events)."),
        Column("trade_ts", "ts", required=False, description=_TRADE_FIELD),
        Column("trade_date", "date", required=False, description=_TRADE_FIELD),
        Column("settle_date", "date", required=False, description=_TRADE_FIELD),
        Column("portfolio_code", "str", required=False, pattern=_CODE, description=_TRADE_FIELD),
        Column("instrument_code", "str", required=False, pattern=_CODE, description=_TRADE_FIELD),
        Column("counterparty_code", "str", required=False, pattern=_CODE, description=_TRADE_FIELD),
        Column("side", "str", required=False, enum=("BUY", "SELL"), description=_TRADE_FIELD),
        Column(
            "quantity",
            "decimal",
            required=False,
            min=0,
            min_exclusive=True,
            description=_TRADE_FIELD,
        ),
        Column(
            "price", "decimal", required=False, min=0, min_exclusive=True, description=_TRADE_FIELD
        ),
        Column("currency", "currency", required=False, description=_TRADE_FIELD),
        Column("fees", "decimal", required=False, min=0, default=Decimal(0)),
    ),
    key=("trade_id", "event_ts"),
    target="fact_trade (current state), fact_trade_event (history)",
    rules=(
        "NEW for a trade_id that already exists, AMEND or CANCEL for a trade_id with no NEW, "
        "any event after a CANCEL, and an event not later than the trade's latest stored event "
        "are quarantined.",
        "`settle_date` must not be before `trade_date`.",
        "Portfolio, instrument and counterparty must have a version valid on `trade_date`; "
        "base-currency amounts use the FX rate of `trade_date` (latest on or before); "
        "reporting amounts convert them to the `reporting_currency` setting at that date's "
        "rate.",
    ),
)

POSITIONS = Contract(
    "positions",
    "Daily position snapshots per portfolio and instrument (market value in local currency).",
    (
        Column("position_date", "date"),
        Column("portfolio_code", "str", pattern=_CODE),
        Column("instrument_code", "str", pattern=_CODE),
        Column("quantity", "decimal"),
        Column("market_value", "decimal", description="Quantity × close, local currency."),
        Column(
            "cost_basis",
            "decimal",
            required=False,
            description="Average-cost basis of the open quantity, local currency: the quantity "
            "× the average price paid (average-cost method, gross of fees; negative for a "
            "short). Not the cumulative cash paid.",
        ),
    ),
    key=("portfolio_code", "instrument_code", "position_date"),
    target="fact_position (upsert by key)",
    rules=(
        "Currency is the instrument's; base amounts use the portfolio's base currency and the "
        "FX rate of `position_date`; reporting amounts convert the base amounts to the "
        "`reporting_currency` setting at the rate of `position_date`.",
        "Unrealized P&L = `market_value` − `cost_basis` (null without a cost basis): the "
        "unrealized figure of `ledgerhouse analytics pnl`.",
    ),
)

PERFORMANCE = Contract(
    "performance",
    "Daily portfolio performance in base currency.",
    (
        Column("performance_date", "date"),
        Column("portfolio_code", "str", pattern=_CODE),
        Column("begin_nav", "decimal"),
        Column("end_nav", "decimal"),
        Column(
            "net_flow",
            "decimal",
            required=False,
            default=Decimal(0),
            description="External flows (subscriptions +, redemptions −), start of day.",
        ),
        Column("income", "decimal", required=False, default=Decimal(0)),
        Column(
            "daily_return",
            "float",
            required=False,
            description="When absent: end_nav / (begin_nav + net_flow) − 1 "
            "(flows at the start of the day).",
        ),
    ),
    key=("portfolio_code", "performance_date"),
    target="fact_performance (upsert by key)",
    rules=(
        "Reporting amounts convert the base amounts to the `reporting_currency` setting at the "
        "FX rate of `performance_date` (latest on or before).",
    ),
)

CONTRACTS: dict[str, Contract] = {
    c.dataset: c
    for c in (
        INSTRUMENTS,
        PORTFOLIOS,
        COUNTERPARTIES,
        FX_RATES,
        PRICES,
        BENCHMARKS,
        TRADES,
        POSITIONS,
        PERFORMANCE,
    )
}

#: The order in which a full load must arrive (reference data before facts).
LOAD_ORDER = (
    "fx_rates",
    "instruments",
    "portfolios",
    "counterparties",
    "prices",
    "benchmarks",
    "trades",
    "positions",
    "performance",
)


def contract(dataset: str) -> Contract:
    try:
        return CONTRACTS[dataset]
    except KeyError:
        raise UnknownDataset(
            f"unknown dataset {dataset!r}",
            hint="Use one of: " + ", ".join(CONTRACTS),
            dataset=dataset,
        ) from None


def render_markdown() -> str:
    """The dataset contracts as Markdown (docs/datasets.md is this text, checked by a test)."""
    out = [
        "# Dataset contracts",
        "",
        "Generated from `src/ledgerhouse/ingest/datasets.py`; a test keeps this file in step.",
        "Column names are matched case-insensitively; unknown columns are ignored with a warning.",
        "Formats: CSV, JSON (array of objects), NDJSON, Parquet, Arrow IPC (file or stream).",
        "CSV: UTF-8 with a header row; the separator (`,` `;` tab or `|`) is detected from the",
        "header, and a byte-order mark is ignored (spreadsheet exports load as they are).",
        "Timestamps without a zone are read as UTC. A `decimal(p,s)` column (money, quantities,",
        "prices, FX rates) is stored exactly: a value with more than `s` decimal places or more",
        "than `p - s` integer digits is quarantined with the column and value named, never",
        "rounded; a float (Parquet, Arrow) is read as its shortest decimal text (`0.1` is 0.1)",
        "and JSON numbers as their text. Text values longer than `max_field_chars`",
        "are quarantined. A batch whose share of quarantined rows exceeds `max_error_rate`",
        "is rejected whole and changes nothing.",
        "",
        "Load order for a full load: " + ", ".join(f"`{d}`" for d in LOAD_ORDER) + ".",
        "",
    ]
    for c in CONTRACTS.values():
        out += [f"## `{c.dataset}`", "", c.description, ""]
        out += [f"- Key (unique within a batch): `{', '.join(c.key)}`", f"- Loads into: {c.target}"]
        out += [f"- {r}" for r in c.rules]
        out += ["", "| column | type | required | rules | description |", "|---|---|---|---|---|"]
        for col in c.columns:
            out.append(
                f"| `{col.name}` | {col.type_text} | {'yes' if col.required else 'no'} | "
                f"{col.rule_text()} | {col.description} |"
            )
        out.append("")
    return "\n".join(out)
