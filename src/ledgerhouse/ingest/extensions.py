"""A tenant's extension of a dimension as a dataset: its own attributes of the dimension's
members, with SCD2 history by the dimension's natural code (docs/tenancy/schemas.md).

The dataset is named like the extension's relation (``ext_instrument_esg``); each record has
the dimension's code, the attributes and ``effective_date``. The versions are computed from
every accepted record ever sent for a code (kept in the extension's raw table), as for the
shared dimensions (``ingest/scd2.py``), so a back-dated correction lands in the right place
and a resent unchanged record is a no-op. A code the dimension does not have is quarantined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from ledgerhouse.ingest.context import LoadContext, LoadPlan
from ledgerhouse.ingest.datasets import _CODE, _EFFECTIVE
from ledgerhouse.ingest.lineage import DeclaredTransform
from ledgerhouse.ingest.models import Column, Contract, Kind
from ledgerhouse.ingest.scd2 import scd2_versions
from ledgerhouse.ingest.validate import REASON, ROW
from ledgerhouse.model.schema import TableDef

#: attribute type (as declared) -> the contract column's kind
KINDS: dict[str, Kind] = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "date": "date",
    "boolean": "bool",
}


@dataclass(frozen=True)
class ExtensionDataset:
    """What ingestion needs of one extension: its contract, its raw table, the table it
    loads into and the dimension whose codes it extends."""

    contract: Contract
    raw: TableDef
    table: TableDef
    dimension: TableDef
    code: str

    @property
    def attributes(self) -> list[str]:
        return [
            c.name for c in self.contract.columns if c.name not in (self.code, "effective_date")
        ]

    def plan(self, ctx: LoadContext, good: pl.DataFrame) -> LoadPlan:
        return plan_extension(ctx, good, self)

    def lineage(self) -> DeclaredTransform:
        """The load as declared lineage (as ``ingest/lineage.py`` declares the dimensions')."""
        raw = self.raw.relation
        columns = {
            **{c: (f"{raw}.{c}",) for c in (self.code, *self.attributes)},
            "valid_from": (f"{raw}.effective_date",),
            "valid_to": (f"{raw}.effective_date",),
            "is_current": (f"{raw}.effective_date",),
            "batch_id": (f"{raw}._batch_id",),
            "loaded_at": (),
        }
        notes = {
            "valid_from": "computed: the record's effective_date",
            "valid_to": "computed: the next version's effective_date (9999-12-31 when none)",
            "is_current": "computed: whether no later version exists",
            "loaded_at": "generated: the time the batch was loaded",
        }
        return DeclaredTransform(f"ingest:{self.table.relation}", self.table.relation, (raw,),
                                 columns, notes)  # fmt: skip


def extension_dataset(
    dataset: str,
    *,
    code: str,
    dimension: TableDef,
    attributes: Sequence[tuple[str, str, int, int, bool, str]],
    table: TableDef,
    raw: TableDef,
) -> ExtensionDataset:
    """The dataset of an extension; ``attributes`` are (name, type, precision, scale, required,
    description), the type one of string, integer, number, decimal, date, boolean."""
    columns = [Column(code, "str", description=f"The {dimension.name} member.", pattern=_CODE)]
    for name, kind, precision, scale, required, description in attributes:
        if kind == "decimal":
            columns.append(
                Column(name, "decimal", required, description, precision=precision, scale=scale)
            )
        else:
            columns.append(Column(name, KINDS[kind], required, description))
    columns.append(_EFFECTIVE)
    contract = Contract(
        dataset,
        f"The tenant's own attributes of {dimension.name}, with SCD2 history.",
        tuple(columns),
        key=(code, "effective_date"),
        target=f"{table.relation} (SCD2)",
        rules=(
            f"`{code}` must be a member of {dimension.name}.",
            "For each member and day, the version in force is the record with the latest "
            "`effective_date` on or before that day; of two with the same date, the later one "
            "sent wins. A record equal to the version in force creates no new version.",
        ),
    )
    if contract.arrow_columns != raw.columns[: len(columns)]:
        raise ValueError(f"the raw table of {dataset!r} does not match its contract")
    return ExtensionDataset(contract, raw, table, dimension, code)


def plan_extension(ctx: LoadContext, good: pl.DataFrame, ext: ExtensionDataset) -> LoadPlan:
    plan = LoadPlan()
    code, attributes = ext.code, ext.attributes
    members = ctx.read(ext.dimension).select(code).unique()
    unknown = good.join(members, on=code, how="anti")
    if not unknown.is_empty():
        plan.refuse(
            unknown.select(
                ROW,
                pl.format(
                    "column {}: '{}' is not a member of {}",
                    pl.lit(code),
                    pl.col(code),
                    pl.lit(ext.dimension.name),
                ).alias(REASON),
            )
        )
        good = good.join(members, on=code, how="semi")
    codes = good.select(code).unique()
    committed = ext.raw.relation in ctx.versions
    prior = (
        ctx.scan(ext.raw)
        .filter(pl.col("_reason").is_null())
        .join(codes.lazy(), on=code, how="semi")
        .select(code, "effective_date", *attributes, "_loaded_at", "_row_number")
        .collect()
        if committed
        else None
    )
    incoming = good.select(
        code,
        "effective_date",
        *attributes,
        pl.lit(ctx.loaded_at).cast(pl.Datetime("us", "UTC")).alias("_loaded_at"),
        pl.col(ROW).alias("_row_number"),
    )
    records = (
        pl.concat([prior, incoming], how="vertical_relaxed") if prior is not None else incoming
    )
    versions = scd2_versions(
        records, code=code, attributes=attributes, order=["_loaded_at", "_row_number"]
    )
    existing = (
        ctx.read(ext.table)
        if ext.table.relation in ctx.versions
        else pl.DataFrame(schema=pl.from_arrow(ext.table.schema.empty_table()).schema)  # type: ignore[union-attr]
    )
    compare = [code, *attributes, "valid_from", "valid_to", "is_current"]
    # a version identical to a stored one keeps its audit columns: nothing changed for it
    kept = existing.join(versions, on=compare, how="semi", nulls_equal=True)
    fresh = versions.join(existing, on=compare, how="anti", nulls_equal=True).with_columns(
        ctx.audit()
    )
    untouched = existing.join(codes, on=code, how="anti")
    touched_before = existing.join(codes, on=code, how="semi")
    if fresh.is_empty() and kept.height == touched_before.height:
        return plan  # a resend of what is stored: no new version
    full = pl.concat(
        [untouched, kept, fresh.select(existing.columns)], how="vertical_relaxed"
    ).sort([code, "valid_from"])
    table = ext.table
    plan.writes.append((table, lambda: ctx.store.overwrite(ctx.tenant, table, full)))
    return plan
