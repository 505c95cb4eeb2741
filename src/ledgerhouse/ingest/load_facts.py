"""Loading facts keyed by a natural key (prices, FX, benchmarks, positions, performance).

A batch is upserted: when none of its keys is stored yet (the bulk-load case) it is appended;
otherwise it is MERGEd on the key, restricted to the partitions (months) it touches.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from ledgerhouse.ingest.conform import (
    fx_to,
    fx_to_reporting,
    month_of,
    with_differences,
    with_products,
)
from ledgerhouse.ingest.context import LoadContext, LoadPlan, accepted, unchecked
from ledgerhouse.ingest.load_dims import plan_currencies
from ledgerhouse.ingest.plausibility import close_jumps, within_horizon
from ledgerhouse.model.schema import (
    FACT_BENCHMARK_CONSTITUENT,
    FACT_FX_RATE,
    FACT_PERFORMANCE,
    FACT_POSITION,
    FACT_PRICE,
    RATE_SCALE,
    TableDef,
)


def upsert(ctx: LoadContext, plan: LoadPlan, table: TableDef, rows: pl.DataFrame) -> None:
    """Queue the upsert of ``rows`` (already free of refused rows) into ``table``."""
    rows = rows.with_columns(ctx.audit()).select(table.column_names)
    if rows.is_empty():
        return
    keys = list(table.natural_key)
    overlap = False
    if not ctx.is_empty(table):
        stored = ctx.scan(table)
        if table.partition_by:
            part = table.partition_by[0]
            months = rows[part].unique().to_list()
            stored = stored.filter(pl.col(part).is_in(months))
        overlap = (
            stored.select(keys)
            .join(rows.select(keys).lazy(), on=keys, how="semi")
            .head(1)
            .collect()
            .height
            > 0
        )
    if not overlap:
        plan.writes.append((table, lambda: ctx.store.append(ctx.tenant, table, rows)))
        return
    match = [f"t.{k} = s.{k}" for k in keys]
    if table.partition_by:
        match.insert(0, f"t.{table.partition_by[0]} = s.{table.partition_by[0]}")
    predicate = " AND ".join(match)

    def _merge() -> int:
        ctx.store.merge(ctx.tenant, table, rows, predicate)
        return ctx.store.version(ctx.tenant, table)

    plan.writes.append((table, _merge))


def _accepted(plan: LoadPlan, df: pl.DataFrame) -> pl.DataFrame:
    plan.refuse(df)
    return accepted(df)


def _horizon(ctx: LoadContext, df: pl.DataFrame, on: str) -> pl.DataFrame:
    """End-of-day data dated too far after the load date is refused (max_future_days)."""
    return within_horizon(df, on, ctx.today, ctx.rules.max_future_days)


def plan_fx_rates(ctx: LoadContext, good: pl.DataFrame) -> LoadPlan:
    plan = LoadPlan()
    rows = good.rename({"currency": "currency_code"})
    plan_currencies(ctx, rows["currency_code"], plan)
    upsert(ctx, plan, FACT_FX_RATE, rows)
    return plan


def plan_prices(ctx: LoadContext, good: pl.DataFrame) -> LoadPlan:
    plan = LoadPlan()
    df = ctx.instrument_version(unchecked(good), "price_date", ["currency"])
    df = _horizon(ctx, df, "price_date")
    factor = ctx.rules.price_jump_factor
    if factor > 0:
        stored = ctx.stored(
            FACT_PRICE, ["instrument_code", "price_date", "close_price"], df["instrument_code"]
        )
        df = close_jumps(df, stored, factor)
    df = _accepted(plan, df).with_columns(price_month=month_of("price_date"))
    upsert(ctx, plan, FACT_PRICE, df)
    return plan


def plan_benchmarks(ctx: LoadContext, good: pl.DataFrame) -> LoadPlan:
    plan = LoadPlan()
    df = ctx.instrument_version(unchecked(good), "as_of_date", [])
    df = _accepted(plan, df).with_columns(as_of_month=month_of("as_of_date"))
    upsert(ctx, plan, FACT_BENCHMARK_CONSTITUENT, df)
    return plan


def plan_positions(ctx: LoadContext, good: pl.DataFrame) -> LoadPlan:
    plan = LoadPlan()
    df = ctx.portfolio_version(unchecked(good), "position_date", ["base_currency"])
    df = ctx.instrument_version(df, "position_date", ["currency"])
    df = _horizon(ctx, df, "position_date")
    rates = ctx.read(FACT_FX_RATE)
    df = fx_to(df, rates, on="position_date", from_ccy="currency", to_ccy="base_currency")
    df = fx_to_reporting(df, rates, on="position_date", reporting_currency=ctx.reporting_currency)
    df = _accepted(plan, df).with_columns(
        position_month=month_of("position_date"),
        market_value_local=pl.col("market_value"),
        cost_basis_local=pl.col("cost_basis"),
    )
    products = []
    for a in ("market_value", "cost_basis"):
        products += [
            (f"{a}_base", f"{a}_local", "fx_rate", RATE_SCALE),
            (f"{a}_reporting", f"{a}_base", "reporting_fx_rate", RATE_SCALE),
        ]
    df = with_products(df, products)
    # average cost: what the open quantity is worth beyond what it cost, in each currency
    # exactly the difference of the two amounts stored beside it
    df = _accepted(
        plan,
        with_differences(
            df,
            [
                (f"unrealized_pnl_{c}", f"market_value_{c}", f"cost_basis_{c}")
                for c in ("local", "base", "reporting")
            ],
        ),
    )
    upsert(ctx, plan, FACT_POSITION, df)
    return plan


def plan_performance(ctx: LoadContext, good: pl.DataFrame) -> LoadPlan:
    plan = LoadPlan()
    df = ctx.portfolio_version(unchecked(good), "performance_date", ["base_currency"])
    df = _horizon(ctx, df, "performance_date")
    df = fx_to_reporting(
        df,
        ctx.read(FACT_FX_RATE),
        on="performance_date",
        reporting_currency=ctx.reporting_currency,
    )
    df = (
        _accepted(plan, df)
        .with_columns(
            pl.col("net_flow").fill_null(Decimal(0)), pl.col("income").fill_null(Decimal(0))
        )
        .with_columns(
            # a ratio: float64, from the exact amounts (one division, the same bits every time)
            daily_return=pl.coalesce(
                pl.col("daily_return"),
                # the day's exact gain over the exact base, one float division
                (pl.col("end_nav") - pl.col("begin_nav") - pl.col("net_flow")).cast(pl.Float64)
                / (pl.col("begin_nav") + pl.col("net_flow")).cast(pl.Float64),
            ),
            performance_month=month_of("performance_date"),
        )
    )
    df = _accepted(
        plan,
        with_products(
            df,
            [
                (f"{a}_reporting", a, "reporting_fx_rate", RATE_SCALE)
                for a in ("begin_nav", "end_nav", "net_flow", "income")
            ],
        ),
    )
    upsert(ctx, plan, FACT_PERFORMANCE, df)
    return plan
