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
    rules=(
        "`instrument_code` must have a version valid on `price_date`.",
        "`price_date` at most `max_future_days` after the load date; a close more than "
        "`price_jump_factor` times (or less than 1/`price_jump_factor` of) the previous close "
        "is quarantined unless the next close confirms it (see Plausibility rules).",
    ),
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
        "`currency` must be the currency of the instrument's version valid on `trade_date`; "
        "`trade_date` at most `max_future_days` after the load date and a business day "
        "(unless `allow_non_business_days`); `price` within `price_band` of the prevailing "
        "close; a notional outlier is warned about (see Plausibility rules).",
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
        "`position_date` at most `max_future_days` after the load date.",
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
        "`performance_date` at most `max_future_days` after the load date.",
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


#: The plausibility rules' section of docs/datasets.md (ingest/plausibility.py).
_PLAUSIBILITY = [
    "## Plausibility rules",
    "",
    "Some values read and conform but cannot be right. These rules quarantine them like any",
    "other refused row (the reason names the value, what was expected and the fix; the batch is",
    "rejected whole above `max_error_rate`). Each rule runs after the reference-data lookups",
    "(an unknown code is reported first) and is set in the configuration",
    "([configuration.md](configuration.md)) for the whole warehouse (every tenant: there are",
    "no per-tenant settings yet); the load date is the ingestor's clock, in UTC.",
    "",
    "| rule | datasets | setting (default) | refused when |",
    "|---|---|---|---|",
    "| currency mismatch | trades | — | `currency` is not the currency of the instrument's "
    "version valid on `trade_date` |",
    "| future date | trades, prices, positions, performance | `max_future_days` (5) | the "
    "business date is more than that many days after the load date |",
    "| non-business day | trades | `allow_non_business_days` (false) | `trade_date` is not a "
    "business day of `dim_date` (weekends); set it to true for a tenant that trades every day "
    "(crypto) |",
    "| price band | trades | `price_band` (0.5; 0 = off) | `price` is outside close × "
    "(1 ± band), close being the prevailing close |",
    "| close jump | prices | `price_jump_factor` (10; 0 = off) | a close is more than factor × "
    "(or less than 1/factor of) the previous close, and the next close does not confirm it |",
    "| notional outlier | trades | `notional_outlier_factor` (10), "
    "`notional_outlier_min_history` (50), `notional_outlier_action` (`warn`) | `notional_local` "
    "is above factor × the 99th percentile of the instrument's stored notionals |",
    "",
    "- **Trades**: NEW and AMEND events are judged (an AMEND carries the whole new state); a",
    "  CANCEL carries the stored state and is not.",
    "- **Edges pass.** A date exactly `max_future_days` after the load date, a price exactly at",
    "  close × (1 ± band), a close exactly factor × the previous one and a notional exactly",
    "  factor × the 99th percentile are accepted. Prices are compared exactly (decimals).",
    "- **Prevailing close**: the latest `fact_price` close of the instrument on or before the",
    "  trade date, in the committed warehouse (an as-of join; load prices before the trades",
    "  they price). Without one (a new instrument, a trade before its first close) the band",
    "  does not apply. The close may be old: the rule does not judge its age.",
    "- **Close jumps** compare each close with the previous close of the instrument, from the",
    "  batch itself or the committed `fact_price`. A jump that the next close confirms (it stays",
    "  within the factor of the new level: a split) passes; a spike between two ordinary closes",
    "  is refused, the close after it passes. A real jump in the last close of a batch (a daily",
    "  feed) has no next close yet: it is refused until `price_jump_factor` is raised for that",
    "  load.",
    "- **Notional outliers** compare a trade's `notional_local` (quantity × price, in the",
    "  instrument's currency) with the 99th percentile of the notionals of the instrument's",
    "  trades already stored (`fact_trade`, the current state) in the months from 12 months",
    "  before the batch's first trade date on, for instruments with at least",
    "  `notional_outlier_min_history` of them; the batch's own trades are not part of the",
    "  reference, so a batch cannot raise its own bar, and a first load of an instrument is not",
    "  judged. By default an outlier is loaded and **warned** about in the batch report's",
    "  `warnings` (trade ids, notional, the percentile): a notional ten times an instrument's",
    "  usual size is often real (a block trade, a rebalance, a new large client), and refusing",
    "  it would leave positions and cash out of step with what was traded; the rules above catch",
    "  the values that cannot be right (a wrong currency, a price far from the market), which is",
    '  how a wrong notional usually arises. Set `notional_outlier_action = "quarantine"` to',
    '  refuse outliers instead, or `"off"`.',
    "",
    "Examples (AAPL closed at 64 on 2024-01-02; load date 2024-01-31):",
    "",
    "```text",
    "price 1000000000 is outside ±50% of the prevailing close 64 of instrument 'AAPL' (close of"
    " 2024-01-02): expected 32 to 96; correct the price (its unit or decimal point), load the "
    "close of the trade date first, or widen price_band",
    "currency 'EUR' differs from the currency 'USD' of instrument 'AAPL' on 2024-01-03; send the"
    " trade in the currency of the instrument (or correct its reference data)",
    "trade_date 2024-02-06 is more than 5 days after the load date 2024-01-31 (latest accepted "
    "2024-02-05); correct the date, or raise max_future_days",
    "trade_date 2024-01-06 is a Saturday, not a business day; correct the date, or set "
    "allow_non_business_days for a tenant that trades every day",
    "close_price 6400 of instrument 'AAPL' on 2024-01-10 is 100× the previous close 64 of "
    "2024-01-09, beyond price_jump_factor 10; correct the price (its unit or decimal point); a "
    "real jump passes when the next close confirms it, or raise price_jump_factor",
    "```",
    "",
    "A notional outlier's warning, in the batch report:",
    "",
    "```text",
    "notional outliers: 1 trade(s) above 10 × the 99th percentile of their instrument's stored "
    "notionals (notional_outlier_factor): O1 (instrument AAPL, notional 640000.000000, above 10 "
    "× its 99th percentile 6400.00). They were loaded: check their quantity and price, and "
    "amend them if they are wrong",
    "```",
    "",
    "The FinBench generator's data passes every rule (trades on business days, in the",
    "instrument's currency, within 0.1% of the day's close).",
    "",
]


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
    out += _PLAUSIBILITY
    return "\n".join(out)
