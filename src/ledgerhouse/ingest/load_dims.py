"""Loading reference data into the dimensions (SCD2 and type 1) and dim_currency."""

from __future__ import annotations

import polars as pl
import pycountry

from ledgerhouse.ingest.context import LoadContext, LoadPlan
from ledgerhouse.ingest.scd2 import assign_keys, scd2_versions
from ledgerhouse.ingest.validate import ROW
from ledgerhouse.model.currencies import minor_unit
from ledgerhouse.model.schema import DIM_COUNTERPARTY, DIM_CURRENCY, TableDef


def plan_scd2(
    ctx: LoadContext,
    good: pl.DataFrame,
    *,
    dim: TableDef,
    raw: TableDef,
    code: str,
    key: str,
    attributes: list[str],
) -> LoadPlan:
    plan = LoadPlan()
    codes = good.select(code).unique()
    prior = (
        ctx.scan(raw)
        .filter(pl.col("_reason").is_null())
        .join(codes.lazy(), on=code, how="semi")
        .select(code, "effective_date", *attributes, "_loaded_at", "_row_number")
        .collect()
    )
    incoming = good.select(
        code,
        "effective_date",
        *attributes,
        pl.lit(ctx.loaded_at).cast(pl.Datetime("us", "UTC")).alias("_loaded_at"),
        pl.col(ROW).alias("_row_number"),
    )
    records = pl.concat([prior, incoming], how="vertical_relaxed")
    versions = scd2_versions(
        records, code=code, attributes=attributes, order=["_loaded_at", "_row_number"]
    )
    existing = ctx.read(dim)
    keyed = assign_keys(versions, existing, code=code, key=key)
    # A version identical to a stored one keeps its audit columns: nothing changed for it.
    compare = [key, code, *attributes, "valid_from", "valid_to", "is_current"]
    same = keyed.join(existing, on=compare, how="semi", nulls_equal=True)
    kept = existing.join(same.select(key), on=key, how="semi")
    fresh = keyed.join(same.select(key), on=key, how="anti").with_columns(ctx.audit())
    untouched = existing.join(codes, on=code, how="anti")
    touched_before = existing.join(codes, on=code, how="semi")
    if fresh.is_empty() and kept.height == touched_before.height:
        return plan  # a resend of what is stored: no new version, nothing written
    full = pl.concat(
        [untouched, kept, fresh.select(existing.columns)], how="vertical_relaxed"
    ).sort([code, "valid_from"])
    plan.writes.append((dim, lambda: ctx.store.overwrite(ctx.tenant, dim, full)))
    return plan


def plan_counterparties(ctx: LoadContext, good: pl.DataFrame) -> LoadPlan:
    plan = LoadPlan()
    attrs = ["name", "counterparty_type", "country", "rating"]
    existing = ctx.read(DIM_COUNTERPARTY)
    incoming = (
        good.sort(ROW).unique("counterparty_code", keep="last").select("counterparty_code", *attrs)
    )
    changed = incoming.join(
        existing.select("counterparty_code", *attrs),
        on=["counterparty_code", *attrs],
        how="anti",
        nulls_equal=True,
    )
    if changed.is_empty():
        return plan
    start = int(existing["counterparty_key"].max() or 0) if not existing.is_empty() else 0  # type: ignore[arg-type]
    keyed = changed.join(
        existing.select("counterparty_code", "counterparty_key"),
        on="counterparty_code",
        how="left",
    )
    new = keyed.filter(pl.col("counterparty_key").is_null()).with_columns(
        (pl.int_range(pl.len()) + start + 1).cast(pl.Int64).alias("counterparty_key")
    )
    rows = pl.concat([keyed.filter(pl.col("counterparty_key").is_not_null()), new]).with_columns(
        ctx.audit()
    )
    full = pl.concat(
        [existing.join(rows, on="counterparty_code", how="anti"), rows.select(existing.columns)],
        how="vertical_relaxed",
    ).sort("counterparty_key")
    plan.writes.append(
        (DIM_COUNTERPARTY, lambda: ctx.store.overwrite(ctx.tenant, DIM_COUNTERPARTY, full))
    )
    return plan


def plan_currencies(ctx: LoadContext, codes: pl.Series, plan: LoadPlan) -> None:
    """Add currencies not yet in dim_currency (names from ISO 4217 via pycountry)."""
    existing = ctx.read(DIM_CURRENCY)
    wanted = set(codes.drop_nulls().unique().to_list()) | {"USD"}
    new = sorted(wanted - set(existing["currency_code"].to_list()))
    if not new:
        return
    rows = []
    for c in new:
        cur = pycountry.currencies.get(alpha_3=c)
        rows.append(
            {
                "currency_code": c,
                "name": getattr(cur, "name", c),
                "numeric_code": getattr(cur, "numeric", None),
                "minor_unit": minor_unit(c),
            }
        )
    df = pl.DataFrame(
        rows,
        schema={
            "currency_code": pl.String,
            "name": pl.String,
            "numeric_code": pl.String,
            "minor_unit": pl.Int16,
        },
    ).with_columns(ctx.audit())
    plan.writes.append((DIM_CURRENCY, lambda: ctx.store.append(ctx.tenant, DIM_CURRENCY, df)))
