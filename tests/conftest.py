"""Shared fixtures: a fresh warehouse in a temp dir, and a small generated FinBench load; the
hypothesis profiles (``dev`` by default, ``ci`` with HYPOTHESIS_PROFILE=ci or in CI)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
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


def trades_csv(*rows: str) -> bytes:
    """A trades batch (CSV bytes) of ``trade_row`` lines."""
    return (TRADE_HEADER + "".join(rows)).encode()


def copies_of_a_trade(me: Any, prefix: str, n: int = 3) -> bytes:
    """A trades batch (CSV bytes) of ``n`` new trades ``<prefix>0...`` like the warehouse's
    first trade (its portfolio, instrument, counterparty, dates and price), quantities 10+i."""
    (row,) = me.query(
        "SELECT trade_ts, trade_date, settle_date, portfolio_code, instrument_code, "
        "counterparty_code, currency, price FROM fact_trade ORDER BY trade_id LIMIT 1"
    ).rows()
    ts, day, settle, portfolio, instrument, counterparty, currency, price = row
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    return trades_csv(*(
        f"{prefix}{i},NEW,{stamp},{stamp},{day},{settle},{portfolio},{instrument},"
        f"{counterparty},BUY,{10 + i},{price},{currency},0\n" for i in range(n)
    ))  # fmt: skip


# -- warehouses -------------------------------------------------------------------------------
# Creating a warehouse (31 Delta tables, the migrations, the cubes) and loading REF takes about
# a second; copying the folder of one made earlier takes ~15 ms. The fixtures below copy
# templates built once per session: every test still gets its own warehouse, in the state
# `Warehouse.init` (and the REF ingestion) leaves. Tests of init itself call Warehouse.init.
def _shared(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]
) -> Path:
    """A folder ``build(folder)`` fills once per test run: the xdist workers share it (the
    first to come builds it under a lock, the others wait for it and use it; nobody writes to
    it afterwards). Without xdist, a folder of this session."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    # the workers' base temp folders share a parent, made for this run by the controller
    run = tmp_path_factory.getbasetemp().parent
    shared, done = run / f"shared-{name}", run / f"shared-{name}.built"
    with open(run / f"shared-{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                if shared.exists():  # a build that failed in another worker: start over
                    shutil.rmtree(shared)
                shared.mkdir()
                build(shared)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return shared


@pytest.fixture(scope="session")
def keyed_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The folder of a just-initialized warehouse and its default tenant's admin API key, as
    `Warehouse.init` returned it (every copy accepts the key: `init_copy`)."""

    def build(folder: Path) -> None:
        warehouse, key = Warehouse.init(root=folder / "wh")
        warehouse.close()
        assert key is not None
        (folder / "key").write_text(key)

    folder = _shared(tmp_path_factory, "template-empty", build)
    return folder / "wh", (folder / "key").read_text()


@pytest.fixture(scope="session")
def empty_template(keyed_template: tuple[Path, str]) -> Path:
    """The folder of a just-initialized warehouse (copy it with `copy_warehouse`)."""
    return keyed_template[0]


#: the type of the `init_copy` fixture
InitCopy = Callable[..., tuple[Warehouse, str]]


@pytest.fixture
def init_copy(tmp_path: Path, keyed_template: tuple[Path, str]) -> InitCopy:
    """``init_copy(root=None, **overrides)``: what ``Warehouse.init(root=root, **overrides)``
    returns for a new warehouse (the Warehouse, the admin API key), from a copy of
    `keyed_template` (root: ``tmp_path / "wh"`` by default). Tests of init itself call
    Warehouse.init."""

    def make(root: Path | None = None, **overrides: Any) -> tuple[Warehouse, str]:
        template, key = keyed_template
        return copy_warehouse(template, root or tmp_path / "wh", **overrides).warehouse, key

    return make


@pytest.fixture(scope="session")
def ref_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a warehouse holding REF (copy it with `copy_warehouse`)."""

    def build(folder: Path) -> None:
        warehouse, _ = Warehouse.init(root=folder / "wh")
        with warehouse:
            for ds, text in REF.items():
                admin(warehouse).ingest(ds, text.encode(), fmt="csv")

    return _shared(tmp_path_factory, "template-ref", build) / "wh"


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
    return _shared(tmp_path_factory, "finbench", lambda out: generate(out, 0.002, seed=7, days=60))


@pytest.fixture(scope="session")
def loaded_template(tmp_path_factory: pytest.TempPathFactory, finbench_dir: Path) -> Path:
    """The folder of a warehouse holding FinBench SF 0.002 (copy it with `copy_warehouse`)."""

    def build(folder: Path) -> None:
        warehouse, _ = Warehouse.init(root=folder / "wh")
        with warehouse:
            me = admin(warehouse)
            for ds in LOAD_ORDER:
                report = me.ingest(ds, finbench_dir / f"{ds}.parquet")
                assert report.status == "committed", report

    return _shared(tmp_path_factory, "template-loaded", build) / "wh"


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory, loaded_template: Path) -> Iterator[Session]:
    """A warehouse holding FinBench SF 0.002, as the default tenant's admin (tests only read
    it: each worker opens its own copy of the loaded folder)."""
    template = loaded_template
    me = copy_warehouse(template, tmp_path_factory.mktemp("loaded") / "wh")
    yield me
    me.warehouse.close()


@pytest.fixture(scope="session")
def ml_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FinBench SF 0.002, seed 11 (the anomaly-scoring tests' data)."""
    return _shared(tmp_path_factory, "ml-data", lambda out: generate(out, 0.002, seed=11, days=60))


@pytest.fixture(scope="session")
def ml_template(tmp_path_factory: pytest.TempPathFactory, ml_data: Path) -> Path:
    """The folder of a warehouse holding ``ml_data`` (copy it with `copy_warehouse`)."""

    def build(folder: Path) -> None:
        warehouse, _ = Warehouse.init(root=folder / "wh")
        with warehouse:
            for ds in LOAD_ORDER:
                assert admin(warehouse).ingest(ds, ml_data / f"{ds}.parquet").status == "committed"

    return _shared(tmp_path_factory, "template-ml", build) / "wh"


def snapshot(w: Warehouse | Session) -> dict[str, tuple[int | None, int]]:
    """(version, rows) of every table at the latest commit: 'nothing changed' means equal."""
    return {t["name"]: (t["version"], t["rows"]) for t in admin(w).tables()}
