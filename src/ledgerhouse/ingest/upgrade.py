"""The columns an upgrade computes for facts written before the reporting currency (decision
0012): ``reporting_currency``, ``reporting_fx_rate`` and the ``*_reporting`` amounts, as loading
computes them (``conform.fx_to_reporting``, ``conform.with_products``), from the row's base
amounts and the tenant's FX rates. ``storage/upgrade.py`` runs them (the composition root passes
them in); ``fact_position`` of a release before the average-cost basis cannot be computed (its
``cost_basis_*`` is not the old ``cost_*``): the upgrade then asks to re-ingest.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pyarrow as pa

from ledgerhouse.errors import StorageError
from ledgerhouse.ingest.conform import fx_to_reporting, with_differences, with_products
from ledgerhouse.ingest.validate import REASON
from ledgerhouse.model.schema import (
    FACT_FX_RATE,
    FACT_PERFORMANCE,
    FACT_POSITION,
    FACT_TRADE,
    FACT_TRADE_EVENT,
    RATE_SCALE,
    TableDef,
)
from ledgerhouse.storage.upgrade import Filler

_RATE = ("reporting_currency", "reporting_fx_rate")
#: table -> (business date, [(reporting amount, base amount)], [(difference, a, b)])
_AMOUNTS: dict[str, tuple[str, list[tuple[str, str]], list[tuple[str, str, str]]]] = {
    FACT_TRADE.relation: (
        "trade_date",
        [("notional_reporting", "notional_base"), ("fees_reporting", "fees_base")],
        [],
    ),
    FACT_TRADE_EVENT.relation: (
        "trade_date",
        [("notional_reporting", "notional_base"), ("fees_reporting", "fees_base")],
        [],
    ),
    FACT_PERFORMANCE.relation: (
        "performance_date",
        [(f"{a}_reporting", a) for a in ("begin_nav", "end_nav", "net_flow", "income")],
        [],
    ),
    FACT_POSITION.relation: (
        "position_date",
        [(f"{a}_reporting", f"{a}_base") for a in ("market_value", "cost_basis")],
        [("unrealized_pnl_reporting", "market_value_reporting", "cost_basis_reporting")],
    ),
}


def upgrade_fillers(reporting_currency: str) -> tuple[Filler, ...]:
    """The fillers of the reporting-currency columns, in ``reporting_currency``."""
    out = []
    for relation, (on, products, differences) in _AMOUNTS.items():
        adds = frozenset({*_RATE, *(p for p, _ in products), *(d for d, _, _ in differences)})
        out.append(
            Filler(
                frozenset({relation}),
                adds,
                _reporting(reporting_currency, on, products, differences),
                reads=frozenset({FACT_FX_RATE.relation}),
            )
        )
    return tuple(out)


def _reporting(
    reporting_currency: str,
    on: str,
    products: list[tuple[str, str]],
    differences: list[tuple[str, str, str]],
) -> Callable[[str, TableDef, pa.Table, Callable[[TableDef], pl.DataFrame]], pa.Table]:
    def fill(
        tenant: str, table: TableDef, batch: pa.Table, read: Callable[[TableDef], pl.DataFrame]
    ) -> pa.Table:
        if "reporting_fx_rate" in batch.column_names or batch.num_rows == 0:
            return batch  # this layout has them already (the table changed types only)
        df = pl.from_arrow(batch)
        assert isinstance(df, pl.DataFrame)
        df = df.with_columns(pl.lit(None, pl.String).alias(REASON))
        df = fx_to_reporting(df, read(FACT_FX_RATE), on=on, reporting_currency=reporting_currency)
        df = with_products(
            df, [(out, base, "reporting_fx_rate", RATE_SCALE) for out, base in products]
        )
        df = with_differences(df, differences)
        bad = df.filter(pl.col(REASON).is_not_null())
        if bad.height:
            raise StorageError(
                f"{bad.height} rows of {table.relation!r} (tenant {tenant!r}) cannot be "
                f"converted to the reporting currency {reporting_currency}: "
                f"{bad[REASON][0]}",
                hint="Set `reporting_currency` to a currency with FX rates for those dates, "
                "or re-ingest into a new root (docs/storage.md, upgrading).",
                table=table.relation,
                tenant=tenant,
            )
        return df.drop(REASON).to_arrow()

    return fill
