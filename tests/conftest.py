"""Shared fixtures: a fresh warehouse in a temp dir, and a small generated FinBench load; the
hypothesis profiles (``dev`` by default, ``ci`` with HYPOTHESIS_PROFILE=ci or in CI)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from ledgerhouse import Warehouse
from ledgerhouse.finbench.generate import generate
from ledgerhouse.ingest import LOAD_ORDER
from ledgerhouse.session import Session

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


# -- hypothesis profiles ----------------------------------------------------------------------
# ci: hypothesis' own ci profile (derandomized, no deadline, no example database, failing example
# printed as a blob) with each property test's full example count. dev: the default tier on a
# laptop, fewer examples (see `examples`) and no deadline (a shared machine is not a slow test).
settings.register_profile("ci", settings.get_profile("ci"))
settings.register_profile("dev", max_examples=25, deadline=None)
# Hypothesis loads its "ci" profile by itself when the CI variable is set; keep that choice.
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or (
    "ci" if settings.get_current_profile_name() == "ci" else "dev"
)
settings.load_profile(_PROFILE)


def examples(*, ci: int, dev: int) -> int:
    """``max_examples`` of a property test: ``ci`` under every profile but ``dev`` (the default
    tier's), ``dev`` there. CI runs the ci profile, so no property loses examples in CI."""
    return dev if settings.get_current_profile_name().startswith("dev") else ci


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


# -- warehouses -------------------------------------------------------------------------------
# Creating a warehouse (31 Delta tables, the migrations, the cubes) and loading REF takes about
# a second; copying the folder of one made earlier takes ~15 ms. The fixtures below copy
# templates built once per session: every test still gets its own warehouse, in the state
# `Warehouse.init` (and the REF ingestion) leaves. Tests of init itself call Warehouse.init.
@pytest.fixture(scope="session")
def empty_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a just-initialized warehouse (copy it with `copy_warehouse`)."""
    root = tmp_path_factory.mktemp("template-empty") / "wh"
    Warehouse.init(root=root)[0].close()
    return root


@pytest.fixture(scope="session")
def ref_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a warehouse holding REF (copy it with `copy_warehouse`)."""
    root = tmp_path_factory.mktemp("template-ref") / "wh"
    warehouse, _ = Warehouse.init(root=root)
    with warehouse:
        for ds, text in REF.items():
            admin(warehouse).ingest(ds, text.encode(), fmt="csv")
    return root


def admin(warehouse: Warehouse | Session, tenant: str | None = None) -> Session:
    """A session of the tenant's admin (the default tenant when None)."""
    if isinstance(warehouse, Session):
        warehouse = warehouse.warehouse
    return warehouse.local(tenant, roles=("admin",))


def copy_warehouse(template: Path, root: Path, **overrides: Any) -> Session:
    """Open a copy of ``template`` at ``root`` (settings ``overrides`` as for Warehouse.open),
    as the default tenant's admin (the warehouse is ``.warehouse``)."""
    shutil.copytree(template, root)
    return admin(Warehouse.open(root=root, **overrides))


@pytest.fixture
def wh(tmp_path: Path, empty_template: Path) -> Iterator[Session]:
    """A new warehouse, as the default tenant's admin (the Warehouse is ``wh.warehouse``)."""
    me = copy_warehouse(empty_template, tmp_path / "wh")
    yield me
    me.warehouse.close()


@pytest.fixture
def ref_wh(request: pytest.FixtureRequest, tmp_path: Path, ref_template: Path) -> Iterator[Session]:
    """A warehouse with a little reference data (FX, instruments, portfolios, counterparties),
    as the default tenant's admin."""
    if "wh" in request.fixturenames:  # asked for both: one warehouse, as `wh` plus REF
        me: Session = request.getfixturevalue("wh")
        for ds, text in REF.items():
            me.ingest(ds, text.encode(), fmt="csv")
        yield me
        return
    me = copy_warehouse(ref_template, tmp_path / "wh")
    yield me
    me.warehouse.close()


@pytest.fixture(scope="session")
def finbench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finbench")
    generate(out, 0.002, seed=7, days=60)
    return out


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory, finbench_dir: Path) -> Iterator[Session]:
    """A warehouse holding FinBench SF 0.002, as the default tenant's admin."""
    warehouse, _ = Warehouse.init(root=tmp_path_factory.mktemp("loaded") / "wh")
    me = admin(warehouse)
    for ds in LOAD_ORDER:
        report = me.ingest(ds, finbench_dir / f"{ds}.parquet")
        assert report.status == "committed", report
    yield me
    warehouse.close()


def snapshot(w: Warehouse | Session) -> dict[str, tuple[int | None, int]]:
    """(version, rows) of every table at the latest commit: 'nothing changed' means equal."""
    return {t["name"]: (t["version"], t["rows"]) for t in admin(w).tables()}
