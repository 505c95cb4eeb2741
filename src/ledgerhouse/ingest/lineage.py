"""Declared column lineage of ingestion's Polars transforms: raw_<dataset> -> core tables.

SQL transforms get their lineage from SQLGlot; these Polars steps cannot, so each one is
declared here, next to the code it describes (load_dims.py, load_facts.py, load_trades.py,
conform.py). Every column of every core table has either source columns (``relation.column``)
or is declared *generated* with what makes it (a surrogate key, the load time); a computed
column names what it is computed from (``notional_base`` <- quantity, price and the FX rates).
A test (tests/governance/test_lineage_declared.py) checks that no core column is left out and that
every source column exists.

Plain data: the composition root turns these into the governance graph's transforms (ingest
imports no other domain). Sources are direct but never the output table itself (a product of
two stored columns names the raw columns and rates it is made of), so the table graph has no
self-loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledgerhouse.ingest.datasets import CONTRACTS
from ledgerhouse.model.schema import (
    CORE_TABLES,
    DIM_DATE,
    DIM_PORTFOLIO,
    FACT_TRADE,
    FACT_TRADE_EVENT,
    QUARANTINE,
)


@dataclass(frozen=True)
class DeclaredTransform:
    """One Polars step: the job, the table it writes, the tables it reads, each output column's
    sources (``relation.column``; empty for a generated column) and how a column is made when
    it is not a plain copy."""

    job: str
    output: str
    inputs: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]
    notes: dict[str, str] = field(default_factory=dict)


_GENERATED_LOAD = "generated: the time the batch was loaded"
_REPORTING = "generated: the reporting_currency setting when the row was loaded"
_RATE = "fact_fx_rate.rate_to_usd"


def _raw(dataset: str, *columns: str) -> tuple[str, ...]:
    return tuple(f"raw_{dataset}.{c}" for c in columns)


def _copies(dataset: str, *columns: str) -> dict[str, tuple[str, ...]]:
    return {c: _raw(dataset, c) for c in columns}


def _scd2(dataset: str, table: str, key: str, attributes: tuple[str, ...]) -> DeclaredTransform:
    # load_dims.py: a new version per changed record, valid from its effective date
    columns = {
        key: (),
        **_copies(dataset, *attributes),
        "valid_from": _raw(dataset, "effective_date"),
        "valid_to": _raw(dataset, "effective_date"),
        "is_current": _raw(dataset, "effective_date"),
        "batch_id": _raw(dataset, "_batch_id"),
        "loaded_at": (),
    }
    notes = {
        key: "generated: surrogate key of the version",
        "valid_from": "computed: the record's effective_date",
        "valid_to": "computed: the next version's effective_date (9999-12-31 when none)",
        "is_current": "computed: whether no later version exists",
        "loaded_at": _GENERATED_LOAD,
    }
    return DeclaredTransform(f"ingest:{dataset}", table, (f"raw_{dataset}",), columns, notes)


def _trade_columns(event_count: bool) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    # load_trades.py _conform: point-in-time dimension lookups, FX conversion, exact products
    t = "trades"
    rate = (_RATE,)
    columns: dict[str, tuple[str, ...]] = {
        **_copies(
            t,
            "trade_id",
            "event",
            "event_ts",
            "trade_ts",
            "trade_date",
            "settle_date",
            "portfolio_code",
            "instrument_code",
            "counterparty_code",
            "side",
            "quantity",
            "price",
            "currency",
        ),
        "trade_month": _raw(t, "trade_date"),
        "portfolio_key": ("dim_portfolio.portfolio_key", *_raw(t, "portfolio_code")),
        "instrument_key": ("dim_instrument.instrument_key", *_raw(t, "instrument_code")),
        "counterparty_key": ("dim_counterparty.counterparty_key", *_raw(t, "counterparty_code")),
        "signed_quantity": _raw(t, "quantity", "side"),
        "notional_local": _raw(t, "quantity", "price"),
        "fees_local": _raw(t, "fees"),
        "base_currency": ("dim_portfolio.base_currency",),
        "fx_rate": (*rate, *_raw(t, "currency"), "dim_portfolio.base_currency"),
        "notional_base": (*_raw(t, "quantity", "price"), *rate),
        "fees_base": (*_raw(t, "fees"), *rate),
        "reporting_currency": (),
        "reporting_fx_rate": (*rate, "dim_portfolio.base_currency"),
        "notional_reporting": (*_raw(t, "quantity", "price"), *rate),
        "fees_reporting": (*_raw(t, "fees"), *rate),
        "batch_id": _raw(t, "_batch_id"),
        "loaded_at": (),
    }
    notes = {
        "trade_month": "computed: month of trade_date",
        "portfolio_key": "lookup: dim_portfolio version valid on trade_date",
        "instrument_key": "lookup: dim_instrument version valid on trade_date",
        "counterparty_key": "lookup: dim_counterparty by counterparty_code",
        "signed_quantity": "computed: quantity, negative for a SELL",
        "notional_local": "computed: quantity × price",
        "fees_local": "computed: fees (0 when absent)",
        "base_currency": "lookup: the portfolio's base currency on trade_date",
        "fx_rate": "computed: rate of currency to the base currency on trade_date",
        "notional_base": "computed: quantity × price × fx_rate",
        "fees_base": "computed: fees × fx_rate",
        "reporting_currency": _REPORTING,
        "reporting_fx_rate": "computed: rate of the base currency to the reporting currency",
        "notional_reporting": "computed: notional_base × reporting_fx_rate",
        "fees_reporting": "computed: fees_base × reporting_fx_rate",
        "loaded_at": _GENERATED_LOAD,
    }
    if event_count:
        columns["event_count"] = _raw(t, "trade_id", "event")
        notes["event_count"] = "computed: number of events of the trade so far"
    return columns, notes


def _trades() -> list[DeclaredTransform]:
    inputs = ("raw_trades", "dim_portfolio", "dim_instrument", "dim_counterparty", "fact_fx_rate")
    out = []
    for table, count in ((FACT_TRADE_EVENT, False), (FACT_TRADE, True)):
        columns, notes = _trade_columns(count)
        if count:
            notes["trade_id"] = "latest NEW or AMEND event of each live trade (CANCEL removes it)"
        out.append(DeclaredTransform("ingest:trades", table.name, inputs, columns, notes))
    return out


def _positions() -> DeclaredTransform:
    p, rate = "positions", (_RATE,)
    columns: dict[str, tuple[str, ...]] = {
        **_copies(p, "position_date", "portfolio_code", "instrument_code", "quantity"),
        "position_month": _raw(p, "position_date"),
        "portfolio_key": ("dim_portfolio.portfolio_key", *_raw(p, "portfolio_code")),
        "instrument_key": ("dim_instrument.instrument_key", *_raw(p, "instrument_code")),
        "currency": ("dim_instrument.currency",),
        "market_value_local": _raw(p, "market_value"),
        "cost_basis_local": _raw(p, "cost_basis"),
        "unrealized_pnl_local": _raw(p, "market_value", "cost_basis"),
        "base_currency": ("dim_portfolio.base_currency",),
        "fx_rate": (*rate, "dim_instrument.currency", "dim_portfolio.base_currency"),
        "reporting_currency": (),
        "reporting_fx_rate": (*rate, "dim_portfolio.base_currency"),
        "batch_id": _raw(p, "_batch_id"),
        "loaded_at": (),
    }
    notes = {
        "position_month": "computed: month of position_date",
        "portfolio_key": "lookup: dim_portfolio version valid on position_date",
        "instrument_key": "lookup: dim_instrument version valid on position_date",
        "currency": "lookup: the instrument's currency",
        "unrealized_pnl_local": "computed: market_value − cost_basis",
        "fx_rate": "computed: rate of the instrument's currency to the base currency",
        "reporting_currency": _REPORTING,
        "reporting_fx_rate": "computed: rate of the base currency to the reporting currency",
        "loaded_at": _GENERATED_LOAD,
    }
    for suffix in ("base", "reporting"):
        columns[f"market_value_{suffix}"] = (*_raw(p, "market_value"), *rate)
        columns[f"cost_basis_{suffix}"] = (*_raw(p, "cost_basis"), *rate)
        columns[f"unrealized_pnl_{suffix}"] = (*_raw(p, "market_value", "cost_basis"), *rate)
        for a in ("market_value", "cost_basis", "unrealized_pnl"):
            notes[f"{a}_{suffix}"] = f"computed: {a}_local converted at the {suffix} rate"
    inputs = ("raw_positions", "dim_portfolio", "dim_instrument", "fact_fx_rate")
    return DeclaredTransform("ingest:positions", "fact_position", inputs, columns, notes)


def _performance() -> DeclaredTransform:
    f, rate = "performance", (_RATE,)
    amounts = ("begin_nav", "end_nav", "net_flow", "income")
    columns: dict[str, tuple[str, ...]] = {
        **_copies(f, "performance_date", "portfolio_code", *amounts),
        "performance_month": _raw(f, "performance_date"),
        "portfolio_key": ("dim_portfolio.portfolio_key", *_raw(f, "portfolio_code")),
        "base_currency": ("dim_portfolio.base_currency",),
        "daily_return": _raw(f, "daily_return", "begin_nav", "end_nav", "net_flow"),
        "reporting_currency": (),
        "reporting_fx_rate": (*rate, "dim_portfolio.base_currency"),
        **{f"{a}_reporting": (*_raw(f, a), *rate) for a in amounts},
        "batch_id": _raw(f, "_batch_id"),
        "loaded_at": (),
    }
    notes = {
        "performance_month": "computed: month of performance_date",
        "portfolio_key": "lookup: dim_portfolio version valid on performance_date",
        "base_currency": "lookup: the portfolio's base currency",
        "daily_return": "daily_return when sent, else (end_nav − begin_nav − net_flow) / "
        "(begin_nav + net_flow)",
        "reporting_currency": _REPORTING,
        "reporting_fx_rate": "computed: rate of the base currency to the reporting currency",
        **{f"{a}_reporting": f"computed: {a} × reporting_fx_rate" for a in amounts},
        "loaded_at": _GENERATED_LOAD,
    }
    inputs = ("raw_performance", "dim_portfolio", "fact_fx_rate")
    return DeclaredTransform("ingest:performance", "fact_performance", inputs, columns, notes)


def _instrument_fact(
    dataset: str, table: str, date: str, month: str, copies: tuple[str, ...], extra: dict[str, str]
) -> DeclaredTransform:
    columns: dict[str, tuple[str, ...]] = {
        **_copies(dataset, date, "instrument_code", *copies),
        month: _raw(dataset, date),
        "instrument_key": ("dim_instrument.instrument_key", *_raw(dataset, "instrument_code")),
        **{c: (src,) for c, src in extra.items()},
        "batch_id": _raw(dataset, "_batch_id"),
        "loaded_at": (),
    }
    notes = {
        month: f"computed: month of {date}",
        "instrument_key": f"lookup: dim_instrument version valid on {date}",
        "loaded_at": _GENERATED_LOAD,
    }
    inputs = (f"raw_{dataset}", "dim_instrument")
    return DeclaredTransform(f"ingest:{dataset}", table, inputs, columns, notes)


def _quarantine(dataset: str) -> DeclaredTransform:
    contract_columns = tuple(c.name for c in CONTRACTS[dataset].columns)
    columns: dict[str, tuple[str, ...]] = {
        "batch_id": _raw(dataset, "_batch_id"),
        "dataset": (),
        "row_number": _raw(dataset, "_row_number"),
        "reason": _raw(dataset, "_reason"),
        "record": _raw(dataset, *contract_columns),
        "loaded_at": (),
    }
    notes = {
        "dataset": f"generated: the dataset's name ({dataset!r})",
        "record": "computed: the row as received, as JSON",
        "loaded_at": _GENERATED_LOAD,
    }
    return DeclaredTransform(
        f"ingest:{dataset}", QUARANTINE.relation, (f"raw_{dataset}",), columns, notes
    )


def _calendar() -> DeclaredTransform:
    # model/calendar: build_dim_date, written when a tenant is created
    columns: dict[str, tuple[str, ...]] = {c: () for c in DIM_DATE.column_names}
    notes = {c: "generated: calendar (computed from date)" for c in DIM_DATE.column_names}
    notes["date"] = "generated: one row per calendar day"
    return DeclaredTransform("init:calendar", DIM_DATE.name, (), columns, notes)


def declared_transforms() -> list[DeclaredTransform]:
    """Every Polars transform of ingestion (and the calendar), as declared lineage."""
    portfolio_attributes = tuple(
        c
        for c in DIM_PORTFOLIO.column_names
        if c in {x.name for x in CONTRACTS["portfolios"].columns}
    )
    out = [
        _calendar(),
        _scd2(
            "instruments",
            "dim_instrument",
            "instrument_key",
            (
                "instrument_code",
                "isin",
                "name",
                "asset_class",
                "sector",
                "industry",
                "currency",
                "country",
                "issuer",
            ),
        ),
        _scd2("portfolios", "dim_portfolio", "portfolio_key", portfolio_attributes),
        DeclaredTransform(
            "ingest:counterparties",
            "dim_counterparty",
            ("raw_counterparties",),
            {
                "counterparty_key": (),
                **_copies(
                    "counterparties",
                    "counterparty_code",
                    "name",
                    "counterparty_type",
                    "country",
                    "rating",
                ),
                "batch_id": _raw("counterparties", "_batch_id"),
                "loaded_at": (),
            },
            {
                "counterparty_key": "generated: surrogate key (kept for a known code)",
                "loaded_at": _GENERATED_LOAD,
            },
        ),
        DeclaredTransform(
            "ingest:fx_rates",
            "fact_fx_rate",
            ("raw_fx_rates",),
            {
                **_copies("fx_rates", "rate_date", "rate_to_usd"),
                "currency_code": _raw("fx_rates", "currency"),
                "batch_id": _raw("fx_rates", "_batch_id"),
                "loaded_at": (),
            },
            {"loaded_at": _GENERATED_LOAD},
        ),
        _instrument_fact(
            "prices",
            "fact_price",
            "price_date",
            "price_month",
            ("close_price",),
            {"currency": "dim_instrument.currency"},
        ),
        _instrument_fact(
            "benchmarks",
            "fact_benchmark_constituent",
            "as_of_date",
            "as_of_month",
            ("benchmark_code", "weight", "daily_return"),
            {},
        ),
        *_trades(),
        _positions(),
        _performance(),
    ]
    # load_dims.plan_currencies: new codes of fx_rates, instruments and portfolios
    currency_sources = (
        "raw_fx_rates.currency",
        "raw_instruments.currency",
        "raw_portfolios.base_currency",
    )
    for dataset in ("fx_rates", "instruments", "portfolios"):
        src = tuple(s for s in currency_sources if s.startswith(f"raw_{dataset}."))
        out.append(
            DeclaredTransform(
                f"ingest:{dataset}",
                "dim_currency",
                (f"raw_{dataset}",),
                {
                    "currency_code": src,
                    "name": src,
                    "numeric_code": src,
                    "minor_unit": src,
                    "batch_id": _raw(dataset, "_batch_id"),
                    "loaded_at": (),
                },
                {
                    "name": "computed: ISO 4217 name of currency_code",
                    "numeric_code": "computed: ISO 4217 numeric code of currency_code",
                    "minor_unit": "computed: ISO 4217 minor unit of currency_code",
                    "loaded_at": _GENERATED_LOAD,
                },
            )
        )
    out += [_quarantine(d) for d in CONTRACTS]
    return out


#: The core tables these declarations cover (all of them; checked by a test).
DECLARED_TABLES = tuple(t.name for t in CORE_TABLES)
