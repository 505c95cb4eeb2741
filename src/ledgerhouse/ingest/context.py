"""What a loader sees: pinned reads of the committed warehouse, and deferred writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import polars as pl

from ledgerhouse.ingest.conform import lookup_version
from ledgerhouse.ingest.plausibility import DEFAULT_RULES, IngestRules
from ledgerhouse.ingest.validate import REASON, ROW
from ledgerhouse.model.schema import DIM_INSTRUMENT, DIM_PORTFOLIO, TableDef
from ledgerhouse.storage.delta import DeltaStore

Write = Callable[[], int]


@dataclass
class LoadPlan:
    """Rows refused while conforming (``_row_number``, ``_reason``) and the writes to run if
    the batch is accepted."""

    bad: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={ROW: pl.Int64, REASON: pl.String})
    )
    writes: list[tuple[TableDef, Write]] = field(default_factory=list)
    #: what the batch report's ``warnings`` should add (rows loaded, but worth a look)
    warnings: list[str] = field(default_factory=list)

    def refuse(self, rows: pl.DataFrame) -> None:
        if rows[REASON].null_count() == rows.height:
            return
        part = rows.filter(pl.col(REASON).is_not_null()).select(ROW, REASON)
        if not part.is_empty():
            self.bad = pl.concat([self.bad, part])


@dataclass
class LoadContext:
    tenant: str
    store: DeltaStore
    versions: dict[str, int]
    batch_id: str
    loaded_at: datetime
    #: the tenant's reporting currency (setting reporting_currency): amounts are stored in
    #: it beside the base-currency ones
    reporting_currency: str = "USD"
    #: the plausibility rules' settings (ingest/plausibility.py)
    rules: IngestRules = DEFAULT_RULES

    @property
    def today(self) -> date:
        """The load date: the ingestor's clock, in UTC (the future horizon counts from it)."""
        at = self.loaded_at
        return at.astimezone(UTC).date() if at.tzinfo else at.date()

    def version(self, table: TableDef) -> int:
        return self.versions[table.relation]

    def scan(self, table: TableDef) -> pl.LazyFrame:
        return self.store.scan(self.tenant, table, self.version(table))

    def read(self, table: TableDef) -> pl.DataFrame:
        return self.store.read(self.tenant, table, self.version(table))

    def is_empty(self, table: TableDef) -> bool:
        return not self.store.files(self.tenant, table, self.version(table))

    def instrument_version(
        self, df: pl.DataFrame, on: str, take: list[str], rename: dict[str, str] | None = None
    ) -> pl.DataFrame:
        """Attach the dim_instrument version valid on ``on`` (or a reason); ``rename`` names
        dimension columns that the facts already have (a trade's own ``currency``)."""
        dim = self.read(DIM_INSTRUMENT)
        return lookup_version(
            df,
            dim.rename(rename) if rename else dim,
            code="instrument_code",
            on=on,
            key="instrument_key",
            take=take,
        )

    def portfolio_version(self, df: pl.DataFrame, on: str, take: list[str]) -> pl.DataFrame:
        """Attach the dim_portfolio version valid on ``on`` (or a reason)."""
        return lookup_version(
            df,
            self.read(DIM_PORTFOLIO),
            code="portfolio_code",
            on=on,
            key="portfolio_key",
            take=take,
        )

    def stored(
        self, table: TableDef, columns: list[str], codes: pl.Series, where: pl.Expr | None = None
    ) -> pl.DataFrame:
        """``columns`` of the committed rows of ``table`` whose ``instrument_code`` is one of
        ``codes`` and that match ``where`` (a partition filter prunes files); empty when the
        table is."""
        if self.is_empty(table):
            empty = pl.from_arrow(table.schema.empty_table())
            assert isinstance(empty, pl.DataFrame)
            return empty.select(columns)
        wanted = pl.DataFrame({"instrument_code": codes.unique()}).lazy()
        rows = self.scan(table)
        if where is not None:
            rows = rows.filter(where)
        return rows.select(columns).join(wanted, on="instrument_code", how="semi").collect()

    def audit(self) -> list[pl.Expr]:
        return [
            pl.lit(self.batch_id).alias("batch_id"),
            pl.lit(self.loaded_at).cast(pl.Datetime("us", "UTC")).alias("loaded_at"),
        ]


def unchecked(df: pl.DataFrame) -> pl.DataFrame:
    """Rows entering conformance: no refusal reason yet."""
    return df.with_columns(pl.lit(None, dtype=pl.String).alias(REASON))


def keep(df: pl.DataFrame, mask: pl.Expr) -> pl.DataFrame:
    """``df.filter(mask)``, without copying every column when the mask keeps every row (the
    bulk-load case: a filter of a 10M-row frame costs seconds)."""
    selected = df.select(mask.fill_null(False)).to_series()
    return df if selected.all() else df.filter(selected)


def accepted(df: pl.DataFrame) -> pl.DataFrame:
    return keep(df, pl.col(REASON).is_null())
