"""The query-engine behaviour suite runs against every registered engine that is installed here,
as pyiceberg's catalog behaviours run over ``_CATALOG_FACTORIES``: an engine that is added to
the registry is tested by the same cases with no change to them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot

from ledgerhouse.model.schema import TableDef
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.engines import (
    Engine,
    EngineOptions,
    PinnedFiles,
    installed_engines,
    load_engine,
)

ENGINES = installed_engines()

#: The few statements that cannot be written once for every engine, by dialect.
READ_FILE = {"duckdb": "SELECT * FROM read_csv('{path}')"}
RECONFIGURE = {"duckdb": "SET enable_external_access = true"}

TRADES = TableDef(
    "trade",
    "core",
    (("trade_id", pa.string()), ("quantity", pa.float64()), ("trade_month", pa.string())),
    "test trades, by month",
    partition_by=("trade_month",),
)


def in_dialect(engine: Engine, sql: str) -> str:
    """A statement written for DuckDB, in the engine's dialect."""
    if engine.dialect == "duckdb":
        return sql
    return sqlglot.transpile(sql, read="duckdb", write=engine.dialect)[0]


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_engine(engine_name: str, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    factory = load_engine(engine_name)
    opened: list[Engine] = []

    def make(tenant: str = "t1", memory_limit: str = "256MB") -> Engine:
        engine = factory(
            EngineOptions(
                tenant_root=tmp_path / "tenants" / tenant,
                memory_limit=memory_limit,
                threads=1,
                private_root=tmp_path,
            )
        )
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()


@pytest.fixture
def versions(tmp_path: Path) -> dict[int, PinnedFiles]:
    """Two versions of a partitioned Delta table of tenant t1: v1 has 2 trades, v2 has 3."""
    store = DeltaStore(tmp_path)
    store.create("t1", TRADES)
    rows = [("T1", 10.0, "2024-01"), ("T2", 20.0, "2024-02"), ("T3", 30.0, "2024-02")]
    out = {}
    for version, batch in ((1, rows[:2]), (2, rows[2:])):
        ids, qty, month = zip(*batch, strict=True)
        got = store.append(
            "t1",
            TRADES,
            pa.table({"trade_id": ids, "quantity": qty, "trade_month": month}, TRADES.schema),
        )
        assert got == version
        out[version] = PinnedFiles(
            relation=TRADES.relation,
            version=version,
            columns=tuple(TRADES.column_names),
            files=tuple(store.files("t1", TRADES, version)),
            partition_by=TRADES.partition_by,
        )
    return out
