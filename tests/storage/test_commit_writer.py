"""The commit writer: one transaction per commit (lock, recovery, staged writes, listeners, the
commit point), and every writer of a warehouse goes through it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from ledgerhouse import Warehouse
from ledgerhouse.ingest import LOAD_ORDER
from ledgerhouse.model.schema import TableDef
from ledgerhouse.session import Session
from ledgerhouse.storage import CommitWriter, DeltaStore, MetadataStore
from tests.conftest import REF, TRADE_HEADER, admin, trade_row

EVENTS = TableDef(
    "events", "core", (("id", pa.int64()), ("note", pa.string())), "test events", grain="event"
)
TOTALS = TableDef("totals", "mart", (("n", pa.int64()),), "rows of events", grain="all")


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[CommitWriter]:
    meta = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    meta.migrate()
    meta.tenants_store.ensure_tenant("t")
    store = DeltaStore(tmp_path)
    w = CommitWriter(store, meta, (EVENTS, TOTALS))
    with w.transaction("t", "init") as txn:
        txn.create(EVENTS)
        txn.create(TOTALS)
    yield w
    meta.close()


def _rows(*ids: int) -> pl.DataFrame:
    return pl.DataFrame({"id": list(ids), "note": [f"n{i}" for i in ids]})


def _committed_ids(w: CommitWriter) -> list[int]:
    commit = w.meta.commit_log.latest_commit("t")
    assert commit is not None
    ids: list[int] = sorted(w.store.read("t", EVENTS, commit.table_versions["events"])["id"])
    return ids


def test_a_transaction_commits_its_staged_versions(writer: CommitWriter) -> None:
    with writer.transaction("t", "load") as txn:
        version = txn.append(EVENTS, _rows(1, 2))
        assert txn.versions["events"] == version
        assert writer.meta.commit_log.latest_commit("t").operation == "init"  # type: ignore[union-attr]
    commit = txn.commit
    assert commit is not None and commit.operation == "load"
    assert commit.changed_tables == ["events"] and commit.table_versions["events"] == version
    assert writer.meta.commit_log.latest_commit("t") == commit and _committed_ids(writer) == [1, 2]


def test_a_body_that_raises_or_stages_nothing_records_no_commit(writer: CommitWriter) -> None:
    commits = len(writer.meta.commit_log.commits("t"))
    with pytest.raises(RuntimeError), writer.transaction("t", "load") as txn:
        txn.append(EVENTS, _rows(9))  # a Delta version ahead of the last commit
        raise RuntimeError("the writer died")
    with writer.transaction("t", "nothing"):
        pass
    assert len(writer.meta.commit_log.commits("t")) == commits and _committed_ids(writer) == []
    # the next transaction starts from the committed state: the leftover row is gone
    with writer.transaction("t", "load") as txn:
        assert writer.store.read("t", EVENTS, txn.committed["events"]).is_empty()
        txn.append(EVENTS, _rows(1))
    assert _committed_ids(writer) == [1]


def test_recovery_restores_once(writer: CommitWriter) -> None:
    """A restored table is pinned at the version RESTORE made, so the commit after the one
    that recovered has nothing to restore again."""
    writer.store.append("t", EVENTS, _rows(9))  # left by a crashed writer
    with writer.transaction("t", "other") as txn:
        txn.append(TOTALS, pl.DataFrame({"n": [0]}))
    restored = writer.store.version("t", EVENTS)
    assert txn.versions["events"] == restored and _committed_ids(writer) == []
    with writer.transaction("t", "other") as txn:
        txn.append(TOTALS, pl.DataFrame({"n": [0]}))
    assert writer.store.version("t", EVENTS) == restored


def test_a_table_no_commit_knows_is_emptied_before_it_is_added(tmp_path: Path) -> None:
    meta = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    meta.migrate()
    meta.tenants_store.ensure_tenant("t")
    store = DeltaStore(tmp_path)
    store.create("t", EVENTS)
    store.append("t", EVENTS, _rows(7))  # a crashed first commit filled it
    w = CommitWriter(store, meta, (EVENTS,))
    with w.transaction("t", "init") as txn:
        assert txn.base is None and txn.committed == {}
        version = txn.create(EVENTS)
    assert store.read("t", EVENTS, version).is_empty() and txn.commit is not None
    meta.close()


def test_listeners_join_the_commit_in_order(writer: CommitWriter) -> None:
    seen: list[tuple[str, dict[str, int], dict[str, int]]] = []

    def totals(tenant: str, committed: dict[str, int], new: dict[str, int]) -> dict[str, int]:
        seen.append((tenant, committed, new))
        n = writer.store.read(tenant, EVENTS, new["events"]).height
        return {"totals": writer.store.overwrite(tenant, TOTALS, pl.DataFrame({"n": [n]}))}

    def after(tenant: str, committed: dict[str, int], new: dict[str, int]) -> dict[str, int]:
        seen.append((tenant, committed, new))
        return {}

    writer.add_listener(totals)
    writer.add_listener(after)
    before = writer.meta.commit_log.latest_commit("t")
    with writer.transaction("t", "load") as txn:
        events = txn.append(EVENTS, _rows(1, 2, 3))
    assert txn.commit is not None and before is not None
    assert seen[0] == ("t", before.table_versions, {**before.table_versions, "events": events})
    assert seen[1][2]["totals"] == txn.commit.table_versions["totals"]  # sees the first's table
    assert txn.commit.changed_tables == ["events", "totals"]
    totals_now = writer.store.read("t", TOTALS, txn.commit.table_versions["totals"])
    assert totals_now["n"].to_list() == [3]


def test_a_listener_that_raises_aborts_the_commit(writer: CommitWriter) -> None:
    def gate(tenant: str, committed: dict[str, int], new: dict[str, int]) -> dict[str, int]:
        raise ValueError("quality gate: events must not be empty")

    writer.add_listener(gate)
    commits = len(writer.meta.commit_log.commits("t"))
    with pytest.raises(ValueError, match="quality gate"), writer.transaction("t", "load") as txn:
        txn.append(EVENTS, _rows(1))
    assert len(writer.meta.commit_log.commits("t")) == commits and txn.commit is None


def test_transactions_of_one_tenant_apply_one_at_a_time(writer: CommitWriter) -> None:
    entered = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def slow() -> None:
        with writer.transaction("t", "slow") as txn:
            entered.set()
            release.wait(timeout=30)
            txn.append(EVENTS, _rows(1))
            order.append("slow")

    thread = threading.Thread(target=slow)
    thread.start()
    assert entered.wait(timeout=30)
    timer = threading.Timer(0.3, release.set)
    timer.start()
    with writer.transaction("t", "fast") as txn:  # waits for the slow one's commit
        assert txn.base is not None and txn.base.operation == "slow"
        txn.append(EVENTS, _rows(2))
        order.append("fast")
    thread.join(timeout=30)
    timer.cancel()
    assert order == ["slow", "fast"] and _committed_ids(writer) == [1, 2]


# -- every writer of a warehouse goes through the commit writer -------------------------------


class CommitCounter:
    """The smallest commit listener: counts commits by tenant and by table written."""

    def __init__(self) -> None:
        self.commits: list[tuple[str, set[str]]] = []

    def __call__(
        self, tenant: str, committed: dict[str, int], new: dict[str, int]
    ) -> dict[str, int]:
        self.commits.append((tenant, {t for t, v in new.items() if committed.get(t) != v}))
        return {}


def test_every_writer_goes_through_the_listeners(wh: Session, finbench_dir: Path) -> None:
    counter = CommitCounter()
    wh.warehouse.writer.add_listener(counter)  # the one registration point

    for ds, text in REF.items():  # ingestion
        wh.ingest(ds, text.encode(), fmt="csv")
    trades = TRADE_HEADER + trade_row("T1", date="2024-01-10", ts="2024-01-10T10:00:00Z")
    wh.ingest("trades", trades.encode(), fmt="csv")
    assert len(counter.commits) == len(REF) + 1
    assert {"fact_trade", "mart_trading_activity"} <= counter.commits[-1][1]  # after the marts

    wh.warehouse.create_tenant("acme")  # tenant creation
    assert counter.commits[-1][0] == "acme" and "dim_date" in counter.commits[-1][1]

    loaded, _ = Warehouse.init(root=wh.warehouse.root.parent / "ml")  # anomaly scoring
    try:
        scoring = CommitCounter()
        loaded.writer.add_listener(scoring)
        for ds in LOAD_ORDER:
            admin(loaded).ingest(ds, finbench_dir / f"{ds}.parquet")
        first, last = (
            admin(loaded).query("SELECT min(trade_date), max(trade_date) FROM fact_trade").rows()[0]
        )
        split = first + timedelta(days=40)
        record = admin(loaded).detect_anomalies(first, split, split + timedelta(days=1), last)
        assert len(scoring.commits) == len(LOAD_ORDER) + 1
        assert scoring.commits[-1] == ("default", {"ml_trade_anomaly"})
        assert admin(loaded).commits()[0].id == record["scoring_commit"]
    finally:
        loaded.close()
    assert len(wh.commits()) == 1 + len(REF) + 1  # init, then one commit per batch
