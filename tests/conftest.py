"""Shared fixtures: a fresh warehouse in a temp dir, and a small generated FinBench load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.finbench.generate import generate
from ledgerhouse.ingest import LOAD_ORDER

REF = {
    "fx_rates": "rate_date,currency,rate_to_usd\n2024-01-01,EUR,1.10\n2024-01-01,GBP,1.25\n"
    "2024-02-01,EUR,1.20\n",
    "instruments": "instrument_code,name,asset_class,currency,sector,effective_date\n"
    "AAPL,Apple,EQUITY,USD,Technology,2020-01-01\nSAP,SAP SE,EQUITY,EUR,Technology,2020-01-01\n"
    "BUND,Bund 2030,BOND,EUR,Government,2020-01-01\n",
    "portfolios": "portfolio_code,name,firm,desk,base_currency,benchmark_code,effective_date\n"
    "P1,Growth,ACME,Equities,USD,BM1,2020-01-01\nP2,Euro,ACME,Europe,EUR,BM1,2020-01-01\n",
    "counterparties": "counterparty_code,name,counterparty_type\nGS,Goldman,BANK\nMS,Morgan,BANK\n",
}

TRADE_HEADER = (
    "trade_id,event,event_ts,trade_ts,trade_date,settle_date,portfolio_code,instrument_code,"
    "counterparty_code,side,quantity,price,currency,fees\n"
)


def trade_row(
    tid: str,
    event: str = "NEW",
    ts: str = "2024-01-02T10:00:00Z",
    date: str = "2024-01-02",
    qty: str = "100",
    price: str = "10",
    pf: str = "P1",
    inst: str = "AAPL",
    ccy: str = "USD",
    side: str = "BUY",
) -> str:
    settle = date
    return f"{tid},{event},{ts},{ts},{date},{settle},{pf},{inst},GS,{side},{qty},{price},{ccy},0\n"


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    warehouse, _key = Warehouse.init(root=tmp_path / "wh")
    yield warehouse
    warehouse.close()


@pytest.fixture
def ref_wh(wh: Warehouse) -> Warehouse:
    """A warehouse with a little reference data (FX, instruments, portfolios, counterparties)."""
    for ds, text in REF.items():
        wh.ingest(ds, text.encode(), fmt="csv")
    return wh


@pytest.fixture(scope="session")
def finbench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finbench")
    generate(out, 0.002, seed=7, days=60)
    return out


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory, finbench_dir: Path) -> Iterator[Warehouse]:
    warehouse, _ = Warehouse.init(root=tmp_path_factory.mktemp("loaded") / "wh")
    for ds in LOAD_ORDER:
        report = warehouse.ingest(ds, finbench_dir / f"{ds}.parquet")
        assert report.status == "committed", report
    yield warehouse
    warehouse.close()


def snapshot(w: Warehouse) -> dict[str, tuple[int | None, int]]:
    """(version, rows) of every table at the latest commit: 'nothing changed' means equal."""
    return {t["name"]: (t["version"], t["rows"]) for t in w.tables()}
