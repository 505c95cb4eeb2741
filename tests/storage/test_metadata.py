"""The metadata store on its own (a SQLite file in a temp dir): warehouse commits by id and by
time, the ingestion ledger, and the query log; each answer is the tenant's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledgerhouse.errors import NotFound
from ledgerhouse.storage.metadata import MetadataStore
from ledgerhouse.storage.query_store import QUERY_LOG_FIELDS


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetadataStore]:
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    store.migrate()
    assert store.is_initialized()
    for tenant in ("acme", "other"):
        assert store.tenants_store.ensure_tenant(tenant)
    yield store
    store.close()


def _commit(meta: MetadataStore, tenant: str = "acme", **versions: int) -> Any:
    return meta.commit_log.record_commit(
        tenant, "ingest", versions or {"fact_trade": 1}, sorted(versions)
    )


def test_a_tenant_is_created_once(meta: MetadataStore) -> None:
    assert meta.tenants_store.ensure_tenant("acme") is False
    assert meta.tenants_store.tenants() == ["acme", "other"]


def test_commits_by_id_latest_first_and_per_tenant(meta: MetadataStore) -> None:
    assert meta.commit_log.latest_commit("acme") is None and meta.commit_log.commits("acme") == []
    first = _commit(meta, fact_trade=1)
    theirs = _commit(meta, "other", fact_trade=7)
    second = _commit(meta, fact_trade=2, dim_instrument=1)
    assert first.id < theirs.id < second.id
    assert meta.commit_log.latest_commit("acme") == second
    assert meta.commit_log.latest_commit("other") == theirs
    assert [c.id for c in meta.commit_log.commits("acme")] == [second.id, first.id]  # newest first
    assert [c.id for c in meta.commit_log.commits("acme", limit=1)] == [second.id]
    got = meta.commit_log.commit_by_id("acme", first.id)
    assert got == first and got.table_versions == {"fact_trade": 1}
    assert second.changed_tables == ["dim_instrument", "fact_trade"]
    assert second.tenant == "acme" and second.operation == "ingest" and second.batch_id is None
    assert first.created_at.tzinfo is not None  # stored in UTC, read back aware
    # another tenant's commit id is not found (and says what to do), cached or not
    for commit_id in (theirs.id, 10_000):
        with pytest.raises(NotFound, match=f"commit {commit_id} does not exist") as info:
            meta.commit_log.commit_by_id("acme", commit_id)
        assert info.value.details["commit_id"] == commit_id and info.value.hint


def test_a_commit_read_fresh_equals_the_recorded_one(meta: MetadataStore) -> None:
    recorded = _commit(meta, fact_trade=3)
    fresh = MetadataStore(meta.url)  # another process: nothing cached
    try:
        assert fresh.commit_log.commit_by_id("acme", recorded.id) == recorded
        assert fresh.commit_log.latest_commit("acme") == recorded
    finally:
        fresh.close()


def test_commit_at_a_time_is_the_newest_commit_not_after_it(meta: MetadataStore) -> None:
    first = _commit(meta, fact_trade=1)
    second = _commit(meta, fact_trade=2)
    _commit(meta, "other", fact_trade=9)  # later, another tenant's: never an answer
    assert meta.commit_log.commit_at("acme", first.created_at - timedelta(seconds=1)) is None
    assert meta.commit_log.commit_at("acme", first.created_at) == first
    assert meta.commit_log.commit_at("acme", second.created_at) == second
    assert meta.commit_log.commit_at("acme", datetime.now(UTC) + timedelta(days=1)) == second
    if second.created_at > first.created_at:  # (equal only within one clock tick)
        assert (
            meta.commit_log.commit_at("acme", second.created_at - timedelta(microseconds=1))
            == first
        )
    assert meta.commit_log.commit_at("other", second.created_at) is None


def test_the_ledger_records_a_batch_with_its_commit(meta: MetadataStore) -> None:
    assert meta.commit_log.batch("acme", "b-1") is None
    report = {"dataset": "trades", "rows_accepted": 3, "status": "committed"}
    commit = meta.commit_log.record_commit(
        "acme", "ingest", {"fact_trade": 1}, ["fact_trade"], batch=("b-1", "trades", report)
    )
    assert commit.batch_id == "b-1"
    status, stored = meta.commit_log.batch("acme", "b-1")  # type: ignore[misc]
    assert status == "committed" and stored == {**report, "commit_id": commit.id}
    assert meta.commit_log.batch("other", "b-1") is None  # batch ids are per tenant
    assert meta.commit_log.batches("acme") == [stored] and meta.commit_log.batches("other") == []


def test_a_rejection_is_remembered_and_a_later_commit_replaces_it(meta: MetadataStore) -> None:
    rejected = {"dataset": "prices", "status": "rejected", "errors": ["missing column"]}
    meta.commit_log.record_rejection("acme", "b-2", "prices", rejected)
    assert meta.commit_log.batch("acme", "b-2") == ("rejected", rejected)
    meta.commit_log.record_rejection(
        "acme", "b-2", "prices", {**rejected, "errors": ["again"]}
    )  # resent
    assert meta.commit_log.batch("acme", "b-2") == ("rejected", {**rejected, "errors": ["again"]})
    fixed = {"dataset": "prices", "status": "committed"}
    commit = meta.commit_log.record_commit(
        "acme", "ingest", {"fact_price": 1}, ["fact_price"], batch=("b-2", "prices", fixed)
    )
    assert meta.commit_log.batch("acme", "b-2") == ("committed", {**fixed, "commit_id": commit.id})
    assert len(meta.commit_log.batches("acme")) == 1


def test_batches_are_newest_first_and_limited(meta: MetadataStore) -> None:
    for n in range(3):
        meta.commit_log.record_rejection("acme", f"b{n}", "prices", {"n": n})
    assert [b["n"] for b in meta.commit_log.batches("acme")] == [2, 1, 0]
    assert [b["n"] for b in meta.commit_log.batches("acme", limit=2)] == [2, 1]


def _entry(tenant: str, duration_ms: float, status: str = "ok", **kw: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "tenant_id": tenant,
        "user": "ana",
        "fingerprint": "f" * 16,
        "text": "SELECT 1",
        "route": "raw",
        "commit_id": None,
        "started_at": datetime.now(UTC),
        "duration_ms": duration_ms,
        "rows": 1,
        "bytes": 8,
        "status": status,
        "error": None,
        **kw,
    }


def test_the_query_log_by_time_by_duration_by_status(meta: MetadataStore) -> None:
    t0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
    entries = [
        _entry("acme", 5.0, started_at=t0),
        _entry("acme", 50.0, started_at=t0 + timedelta(seconds=1)),
        _entry("acme", 1.0, "refused", started_at=t0 + timedelta(seconds=2), error="no"),
        _entry("other", 900.0, started_at=t0 + timedelta(seconds=3)),
    ]
    meta.query_store.record_queries(entries)
    meta.query_store.record_queries([])  # nothing to write: no empty transaction, no error
    ids = [e["id"] for e in entries]
    assert [q["id"] for q in meta.query_store.queries("acme")] == [
        ids[2],
        ids[1],
        ids[0],
    ]  # newest first
    assert [q["id"] for q in meta.query_store.queries("acme", slowest=True)] == [
        ids[1],
        ids[0],
        ids[2],
    ]
    assert [q["id"] for q in meta.query_store.queries("acme", status="refused")] == [ids[2]]
    assert [q["id"] for q in meta.query_store.queries("acme", limit=1)] == [ids[2]]
    one = meta.query_store.query_entry("acme", ids[2])
    assert one["tenant"] == "acme" and one["error"] == "no" and one["duration_ms"] == 1.0
    assert one["started_at"] == (t0 + timedelta(seconds=2)).isoformat()
    # every stored field, and params_omitted (why parameters were not kept, None when they were)
    assert set(one) == {*QUERY_LOG_FIELDS, "tenant", "params_omitted"} - {"tenant_id"}
    with pytest.raises(NotFound, match="no query"):
        meta.query_store.query_entry("acme", ids[3])  # the other tenant's
    with pytest.raises(NotFound):
        meta.query_store.query_entry("acme", "0" * 32)
