"""Each store behind the metadata facade, reached as its attribute: tenants, the commit log
(warehouse commits and the ingestion ledger, written in one transaction), the query log and the
machine-learning models; every answer is the tenant's own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import StatementError

from ledgerhouse.errors import NotFound
from ledgerhouse.storage.metadata import MetadataStore
from ledgerhouse.storage.rows import BatchRow


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetadataStore]:
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def tenants(meta: MetadataStore) -> MetadataStore:
    for tenant in ("acme", "other"):
        meta.tenants_store.ensure_tenant(tenant)
    return meta


# -- tenants ----------------------------------------------------------------------------------
def test_ensuring_a_tenant_creates_it_once_and_says_so(meta: MetadataStore) -> None:
    store = meta.tenants_store
    assert store.tenants() == []
    assert store.ensure_tenant("other") is True
    assert store.ensure_tenant("acme") is True
    assert store.ensure_tenant("acme") is False  # already there: nothing created
    assert store.tenants() == ["acme", "other"]  # once each, by name


# -- commit log -------------------------------------------------------------------------------
def test_latest_by_id_and_by_time_agree_and_stay_in_the_tenant(tenants: MetadataStore) -> None:
    log = tenants.commit_log
    first = log.record_commit("acme", "ingest", {"fact_trade": 1}, ["fact_trade"])
    theirs = log.record_commit("other", "ingest", {"fact_trade": 9}, ["fact_trade"])
    second = log.record_commit("acme", "ingest", {"fact_trade": 2}, ["fact_trade"])
    assert log.latest_commit("acme") == second == log.commit_by_id("acme", second.id)
    assert log.commit_at("acme", second.created_at) == second
    assert log.commit_at("acme", first.created_at) in (first, second)  # same clock tick: second
    assert log.commit_by_id("acme", first.id) == first
    assert log.commits("acme") == [second, first]
    assert log.commit_by_id("other", theirs.id) == theirs  # now cached as well
    with pytest.raises(NotFound) as info:
        log.commit_by_id("acme", theirs.id)
    assert info.value.details["commit_id"] == theirs.id


def test_a_commit_and_its_batch_are_recorded_together(tenants: MetadataStore) -> None:
    log = tenants.commit_log
    report = {"dataset": "trades", "rows_accepted": 2}
    commit = log.record_commit(
        "acme", "ingest:trades", {"fact_trade": 1}, ["fact_trade"], batch=("b-1", "trades", report)
    )
    assert commit.batch_id == "b-1" and log.latest_commit("acme") == commit
    assert log.batch("acme", "b-1") == ("committed", {**report, "commit_id": commit.id})
    assert log.batches("acme") == [{**report, "commit_id": commit.id}]
    assert log.batch("other", "b-1") is None and log.batches("other") == []


@contextmanager
def _unstorable_report(report: dict[str, Any]) -> Iterator[type[Exception]]:
    report["received_by"] = object()  # not JSON: the ledger row cannot be written
    yield StatementError
    del report["received_by"]


@contextmanager
def _failing_ledger_write(report: dict[str, Any]) -> Iterator[type[Exception]]:
    def fail(*_: Any) -> None:  # the commit row is flushed by now: the transaction is half done
        raise RuntimeError("the ledger write failed")

    # an update: the batch's rejection is replaced
    event.listen(BatchRow, "before_update", fail)
    try:
        yield RuntimeError
    finally:
        event.remove(BatchRow, "before_update", fail)


@pytest.mark.parametrize("failure", [_unstorable_report, _failing_ledger_write])
def test_a_failure_recording_the_batch_records_no_commit_either(
    tenants: MetadataStore,
    failure: Callable[[dict[str, Any]], AbstractContextManager[type[Exception]]],
) -> None:
    log = tenants.commit_log
    before = log.record_commit("acme", "init", {"fact_trade": 0}, ["fact_trade"])
    rejected = {"dataset": "trades", "status": "rejected", "errors": ["missing column"]}
    log.record_rejection("acme", "b-1", "trades", rejected)
    report: dict[str, Any] = {"dataset": "trades", "rows_accepted": 2}
    batch = ("b-1", "trades", report)
    with failure(report) as expected, pytest.raises(expected):
        log.record_commit("acme", "ingest", {"fact_trade": 1}, ["fact_trade"], batch=batch)
    assert log.latest_commit("acme") == before and log.commits("acme") == [before]
    assert log.batch("acme", "b-1") == ("rejected", rejected)  # the ledger is unchanged too
    assert log.batches("acme") == [rejected]
    after = log.record_commit("acme", "ingest", {"fact_trade": 1}, ["fact_trade"], batch=batch)
    assert log.latest_commit("acme") == after == log.commit_by_id("acme", after.id)
    assert log.batch("acme", "b-1") == ("committed", {**report, "commit_id": after.id})


# -- query log --------------------------------------------------------------------------------
def _entry(tenant: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "tenant_id": tenant,
        "user": "ana",
        "fingerprint": "f" * 16,
        "text": "SELECT 1",
        "route": "raw",
        "commit_id": 3,
        "started_at": datetime(2026, 1, 5, 9, tzinfo=UTC),
        "duration_ms": 2.5,
        "rows": 1,
        "bytes": 8,
        "status": "ok",
        "error": None,
        **kw,
    }


def test_a_logged_query_reads_back_in_its_tenant_only(tenants: MetadataStore) -> None:
    store = tenants.query_store
    mine, theirs = _entry("acme"), _entry("other", text="SELECT 2")
    store.record_queries([mine, theirs])
    got = store.query_entry("acme", mine["id"])
    expected = {k: v for k, v in mine.items() if k != "tenant_id"}
    assert got == {
        **expected,
        "tenant": "acme",
        "started_at": mine["started_at"].isoformat(),
        # what it read (0.5): None for an entry that does not say
        "request": None,
        "relations": None,
        "columns": None,
        # its parameters (none here), and why they were not kept when they were not
        "params": None,
        "params_omitted": None,
    }
    assert store.queries("acme") == [got]
    assert [q["id"] for q in store.queries("other")] == [theirs["id"]]
    with pytest.raises(NotFound):
        store.query_entry("acme", theirs["id"])


# -- machine-learning models ------------------------------------------------------------------
def test_models_are_listed_newest_first_per_tenant(tenants: MetadataStore) -> None:
    store = tenants.models_store
    assert store.models("acme") == []
    old = store.record_model("acme", "m-old", "trade_anomaly", 1, None, {"rows": 10})
    theirs = store.record_model("other", "m-theirs", "trade_anomaly", 2, 2, {"rows": 5})
    new = store.record_model("acme", "m-new", "trade_anomaly", 3, 4, {"rows": 20})
    assert new["training_commit"] == 3 and new["scoring_commit"] == 4 and new["rows"] == 20
    assert [m["id"] for m in store.models("acme")] == [new["id"], old["id"]]
    assert [m["id"] for m in store.models("acme", limit=1)] == [new["id"]]
    (listed,) = store.models("other")
    assert {k: v for k, v in listed.items() if k != "created_at"} == {
        k: v for k, v in theirs.items() if k != "created_at"
    }
