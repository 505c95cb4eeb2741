"""The declared lineage of ingestion's Polars transforms (ingest/lineage.py) covers every core
column: each has source columns that exist, or is declared generated with what makes it."""

from __future__ import annotations

import pytest

from ledgerhouse.ingest.lineage import declared_transforms
from ledgerhouse.ingest.tables import INGEST_TABLES
from ledgerhouse.model.schema import CORE_TABLES, QUARANTINE, TableDef

COLUMNS = {t.relation: t.column_names for t in (*CORE_TABLES, *INGEST_TABLES)}
DECLARED = declared_transforms()


@pytest.mark.parametrize("table", [*CORE_TABLES, QUARANTINE], ids=lambda t: t.name)
def test_every_column_of_every_core_table_is_declared(table: TableDef) -> None:
    mine = [d for d in DECLARED if d.output == table.relation]
    assert mine, f"no transform declares {table.relation}"
    for d in mine:
        assert set(d.columns) == set(table.column_names), d.job
        for column, sources in d.columns.items():
            if not sources:
                assert d.notes.get(column, "").startswith("generated"), (d.job, column)


def test_every_declared_source_exists_and_none_is_its_own_output() -> None:
    for d in DECLARED:
        for column, sources in d.columns.items():
            for source in sources:
                relation, _, col = source.partition(".")
                assert col in COLUMNS[relation], (d.job, column, source)
                assert relation != d.output, (d.job, column, source)
                assert relation in d.inputs, (d.job, column, source)


def _sources(table: str, column: str) -> set[str]:
    return {s for d in DECLARED if d.output == table for s in d.columns[column]}


def test_computed_columns_name_what_they_are_computed_from() -> None:
    rate = "fact_fx_rate.rate_to_usd"
    assert _sources("fact_trade", "notional_base") == {
        "raw_trades.quantity", "raw_trades.price", rate,
    }  # fmt: skip
    assert _sources("fact_trade", "signed_quantity") == {"raw_trades.quantity", "raw_trades.side"}
    assert _sources("fact_position", "unrealized_pnl_base") == {
        "raw_positions.market_value", "raw_positions.cost_basis", rate,
    }  # fmt: skip
    assert _sources("fact_trade", "portfolio_key") == {
        "dim_portfolio.portfolio_key", "raw_trades.portfolio_code",
    }  # fmt: skip
    assert _sources("dim_instrument", "valid_from") == {"raw_instruments.effective_date"}
    # every batch_id is the raw batch's: the link cell lineage follows
    for d in DECLARED:
        if "batch_id" in d.columns and d.inputs:
            assert d.columns["batch_id"] == (f"{d.inputs[0]}._batch_id",), d.job
    # dim_currency is fed by three datasets
    assert _sources("dim_currency", "currency_code") == {
        "raw_fx_rates.currency", "raw_instruments.currency", "raw_portfolios.base_currency",
    }  # fmt: skip
