"""Resources per tenant: overrides validated and applied at every enforcement point, usage
metered, Prometheus series per tenant, result-cache partitions (docs/tenancy/resources.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse.access import PLATFORM_ROLE, PLATFORM_TENANT, Principal
from ledgerhouse.api.app import create_app
from ledgerhouse.cli.main import app as cli_app
from ledgerhouse.client import Client
from ledgerhouse.errors import Forbidden
from ledgerhouse.query.cache import CachedResult, ResultCache, cache_key
from ledgerhouse.services import Warehouse
from ledgerhouse.tenancy.errors import InvalidResourceValue
from tests.conftest import InitCopy, admin, copy_warehouse

PLATFORM = Principal(tenant=PLATFORM_TENANT, user="ops", roles=(PLATFORM_ROLE,))
PLATFORM_KEY = "platform-test-key"
FX = b"rate_date,currency,rate_to_usd\n2024-01-01,EUR,1.1\n2024-01-01,GBP,1.3\n"


@pytest.fixture(scope="module")
def shared_two(
    tmp_path_factory: pytest.TempPathFactory, keyed_template: tuple[Path, str]
) -> Iterator[tuple[Warehouse, str, str]]:
    """One warehouse per module (a tenant costs a second to create) with tenants ``default``
    and ``acme`` and their admin keys; the header ``Bearer platform-test-key``
    authenticates as a platform admin (test only)."""
    template, key = keyed_template
    wh = copy_warehouse(template, tmp_path_factory.mktemp("resources") / "wh").warehouse
    other = wh.create_tenant("acme")
    assert other is not None
    real = wh.authenticate

    def authenticate(header: str | None) -> Principal:
        return PLATFORM if header == f"Bearer {PLATFORM_KEY}" else real(header)

    wh.authenticate = authenticate  # type: ignore[method-assign]
    yield wh, key, other
    wh.close()


@pytest.fixture
def two(shared_two: tuple[Warehouse, str, str]) -> Iterator[tuple[Warehouse, str, str]]:
    """``shared_two``, every override reset after the test."""
    yield shared_two
    for tenant in ("default", "acme"):
        shared_two[0].resources.reset(PLATFORM, tenant)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_overrides_are_validated_naming_the_field_and_its_range(
    two: tuple[Warehouse, str, str],
) -> None:
    wh = two[0]
    for values, field, allowed in (
        ({"duckdb_threads": 0}, "duckdb_threads", "from 1 to 256"),
        ({"query_concurrency": "many"}, "query_concurrency", "from 1 to 1024"),
        ({"duckdb_memory_limit": "lots"}, "duckdb_memory_limit", "from 16MiB to 1TiB"),
        ({"rate_limit_per_s": -1}, "rate_limit_per_s", "from 0.001 to"),
    ):
        with pytest.raises(InvalidResourceValue) as err:
            wh.resources.set(PLATFORM, "acme", values)
        assert err.value.details["field"] == field and allowed in err.value.message
    with pytest.raises(InvalidResourceValue, match="not a resource setting"):
        wh.resources.set(PLATFORM, "acme", {"query_speed": 2})
    assert wh.resources.show(PLATFORM, "acme")["overrides"] == {}  # nothing was stored


def test_a_tenant_admin_cannot_set_its_resources_nor_read_another_tenants_usage(
    two: tuple[Warehouse, str, str],
) -> None:
    wh, key, _other = two
    with pytest.raises(Forbidden):
        wh.resources.set(admin(wh).principal, "default", {"query_concurrency": 64})
    with TestClient(create_app(wh)) as c:
        put = c.put("/v1/tenants/default/resources", json={"query_concurrency": 64},
                    headers=bearer(key))  # fmt: skip
        assert put.status_code == 403
        assert c.get("/v1/tenants/acme/usage", headers=bearer(key)).status_code == 403
        assert c.get("/v1/tenants/acme/resources", headers=bearer(key)).status_code == 403
        # its own: readable
        assert c.get("/v1/usage", headers=bearer(key)).json()["tenants"][0]["tenant"] == "default"
        mine = c.get("/v1/tenants/default/resources", headers=bearer(key))
        assert mine.status_code == 200 and mine.json()["overrides"] == {}
        # the platform sets them
        put = c.put("/v1/tenants/acme/resources", json={"query_row_limit": 5},
                    headers=bearer(PLATFORM_KEY))  # fmt: skip
        assert put.status_code == 200 and put.json()["overrides"] == {"query_row_limit": 5}
        bad = c.put("/v1/tenants/acme/resources", json={"duckdb_threads": 999},
                    headers=bearer(PLATFORM_KEY))  # fmt: skip
        assert bad.status_code == 400
        assert bad.json()["error"]["details"]["field"] == "duckdb_threads"
        # the HTTP client mirrors the calls
        ops = Client("http://testserver", PLATFORM_KEY, http=c)
        assert ops.set_resources("acme", {"query_queue": 3})["overrides"] == {"query_queue": 3}
        assert ops.resources("acme")["effective"]["query_queue"] == 3
        assert ops.usage("acme")["tenants"][0]["tenant"] == "acme"
        with pytest.raises(Forbidden):
            Client("http://testserver", key, http=c).set_resources("default", {})
    assert wh.resources.effective("default").query_concurrency == 4  # unchanged
    assert any(e["action"] == "resources_changed" for e in wh.meta.audit.entries("acme"))


def test_concurrency_one_queue_zero_refuses_a_second_query_while_the_other_tenant_runs(
    two: tuple[Warehouse, str, str],
) -> None:
    wh, key, other = two
    wh.resources.set(PLATFORM, "acme", {"query_concurrency": 1, "query_queue": 0})
    sql = {"sql": "SELECT count(*) FROM dim_date"}
    with TestClient(create_app(wh)) as c, wh.queries.admission.slot("acme"):  # acme: 1 running
        refused = c.post("/v1/query/sql", json=sql, headers=bearer(other))
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        error = refused.json()["error"]
        assert error["code"] == "overloaded"
        assert (error["details"]["limit"], error["details"]["running"]) == (1, 1)
        assert "query_concurrency" in error["details"]["exceeded"]
        ok = c.post("/v1/query/sql", json=sql, headers=bearer(key))  # the other tenant runs
        assert ok.status_code == 200
    wh.query_log.flush()
    assert wh.usage.usage(PLATFORM, "acme")["tenants"][0]["totals"]["throttled"] >= 1


def test_a_row_limit_override_truncates_that_tenants_answers_only(
    two: tuple[Warehouse, str, str],
) -> None:
    wh = two[0]
    wh.resources.set(PLATFORM, "acme", {"query_row_limit": 3})
    sql = "SELECT date_key FROM dim_date ORDER BY 1"
    mine = admin(wh, "acme").query(sql)
    assert mine.table.num_rows == 3 and mine.truncated
    assert admin(wh).query(sql).table.num_rows > 3
    wh.resources.reset(PLATFORM, "acme", ["query_row_limit"])
    assert admin(wh, "acme").query(sql).table.num_rows > 3  # applied on the next query


def test_memory_and_threads_reach_the_tenants_engine_without_a_restart(
    two: tuple[Warehouse, str, str],
) -> None:
    wh = two[0]
    me = admin(wh, "acme")
    assert me.query("SELECT count(*) FROM dim_date").rows()[0][0] > 0  # engine open, bound
    wh.resources.set(PLATFORM, "acme", {"duckdb_threads": 1, "duckdb_memory_limit": "256MiB"})
    assert me.query("SELECT count(*) FROM dim_date", use_cache=False).rows()[0][0] > 0
    cur = wh.engines.get("acme").cursor()  # type: ignore[attr-defined]
    threads, memory = cur.execute(
        "SELECT current_setting('threads'), current_setting('memory_limit')"
    ).fetchone()
    assert threads == 1 and memory.startswith("256")
    other = wh.engines.get("default").cursor()  # type: ignore[attr-defined]
    assert other.execute("SELECT current_setting('threads')").fetchone()[0] == 2


def test_a_storage_quota_refuses_an_ingestion_with_507_and_stores_nothing(
    two: tuple[Warehouse, str, str],
) -> None:
    wh, _key, other = two
    used = wh.usage.storage_bytes("acme")
    wh.resources.set(PLATFORM, "acme", {"storage_quota_bytes": used + 10})
    commits = len(admin(wh, "acme").commits())
    body = FX
    with TestClient(create_app(wh)) as c:
        r = c.post("/v1/ingest/trades", content=body,
                   headers={**bearer(other), "Content-Type": "text/csv"})  # fmt: skip
    assert r.status_code == 507
    error = r.json()["error"]
    assert error["code"] == "storage_quota_exceeded"
    assert error["details"]["used"] == used and error["details"]["limit"] == used + 10
    assert "storage_quota_bytes" in error["hint"]
    assert len(admin(wh, "acme").commits()) == commits
    assert wh.usage.storage_bytes("acme") == used


def test_a_rate_limit_answers_429_with_retry_after(two: tuple[Warehouse, str, str]) -> None:
    wh, key, other = two
    wh.resources.set(PLATFORM, "acme", {"rate_limit_per_s": 0.01, "rate_limit_burst": 2})
    with TestClient(create_app(wh)) as c:
        codes = [c.get("/v1/tables", headers=bearer(other)).status_code for _ in range(2)]
        third = c.get("/v1/tables", headers=bearer(other))
        assert codes == [200, 200] and third.status_code == 429
        assert int(third.headers["Retry-After"]) >= 1
        error = third.json()["error"]
        assert error["code"] == "rate_limited" and error["details"]["limit"] == 0.01
        assert c.get("/v1/tables", headers=bearer(key)).status_code == 200  # not the other


def test_usage_counts_what_was_done_and_metrics_have_the_tenant_label(
    two: tuple[Warehouse, str, str],
) -> None:
    wh, _key, _other = two
    me = admin(wh, "acme")

    def now(tenant: str) -> dict[str, Any]:
        return dict(wh.usage.usage(PLATFORM, tenant)["tenants"][0]["totals"])

    before, theirs = now("acme"), now("default")
    counted = dict(wh.usage.totals["acme"].to_dict()) if "acme" in wh.usage.totals else {}
    report = me.ingest("fx_rates", FX, fmt="csv")
    for i in range(3):
        me.query(f"SELECT count(*) + {i} FROM fact_fx_rate")
    after = now("acme")
    done = {k: after[k] - before[k] for k in after}
    assert done["queries"] == 3 and done["rows_returned"] == 3
    assert done["ingested_rows"] == report.rows_accepted == 2
    assert done["ingest_batches"] == 1
    assert done["bytes_scanned"] > 0 and done["cpu_seconds"] > 0
    assert wh.usage.usage(PLATFORM, "acme")["tenants"][0]["storage_bytes"] > 0
    assert now("default") == theirs  # nothing counted for the other tenant
    queries = counted.get("queries", 0) + 3
    with TestClient(create_app(wh)) as c:
        text = c.get("/metrics").text
    assert f'ledgerhouse_tenant_queries_total{{tenant="acme"}} {float(queries)}' in text
    assert 'ledgerhouse_tenant_ingested_rows_total{tenant="acme"}' in text
    assert 'ledgerhouse_tenant_storage_bytes{tenant="default"}' in text


def test_one_tenant_filling_its_cache_never_evicts_another_tenants_entry() -> None:
    cache = ResultCache(max_bytes=40_000)
    table = pa.table({"x": list(range(100))})  # 800 bytes
    theirs = cache_key("b", "q", None, 10, None, {"t": 1})
    cache.put(theirs, CachedResult(table, False))
    for i in range(500):  # far more than the whole cache
        cache.put(cache_key("a", f"q{i}", None, 10, None, {"t": 1}), CachedResult(table, False))
    assert cache.get(theirs) is not None
    stats = cache.stats()
    assert stats["a"]["bytes"] <= stats["a"]["budget"] < 40_000 and stats["a"]["evictions"] > 0
    cache.budget_of = lambda t: 1600 if t == "a" else None  # an override: its own budget
    cache.put(cache_key("a", "new", None, 10, None, {"t": 1}), CachedResult(table, False))
    assert cache.stats()["a"]["bytes"] <= 1600
    assert cache.drop_tenant("b") == 800 and cache.get(theirs) is None


def test_the_cli_sets_shows_resets_and_reports_usage(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, _ = init_copy(tmp_path / "wh")
    wh.close()
    root = str(tmp_path / "wh")
    run = CliRunner().invoke
    r = run(cli_app, ["resources", "set", "--root", root, "--concurrency", "2", "--json"])
    assert r.exit_code == 0, r.output
    assert '"query_concurrency": 2' in r.output
    r = run(cli_app, ["resources", "set", "--root", root, "--threads", "0"])
    assert r.exit_code == 2 and "duckdb_threads" in r.output
    r = run(cli_app, ["resources", "reset", "--root", root, "--json"])
    assert r.exit_code == 0 and '"overrides": {}' in r.output
    r = run(cli_app, ["usage", "--root", root, "--tenant", "default", "--json"])
    assert r.exit_code == 0 and '"tenant": "default"' in r.output


def test_a_tenants_cache_share_follows_its_workload_above_a_floor() -> None:
    now = [0.0]
    cache = ResultCache(max_bytes=100_000, clock=lambda: now[0])
    table = pa.table({"x": [1]})
    for tenant, cost in (("a", 2.0), ("b", 0.01)):
        key = cache_key(tenant, "q", None, 10, None, {"t": 1})
        assert cache.get(key) is None  # a miss: its recompute is timed until the put
        now[0] += cost
        cache.put(key, CachedResult(table, False))
    a, b = cache.budget("a"), cache.budget("b")
    assert a > b >= 100_000 * 0.5 / 2  # the floor: half of an equal share
    assert a + b <= 100_000


def test_a_saturated_tenant_is_refused_before_its_body_is_read_after_a_pause(
    two: tuple[Warehouse, str, str],
) -> None:
    """A tenant whose slots and queue are full gets 429 before the body is read or parsed
    (a malformed body still answers 429), after overload_pause_s (a client that resends at
    once costs the server a sleeping task); routes that run no query still answer."""
    wh, _key, other = two
    wh.resources.set(PLATFORM, "acme", {"query_concurrency": 1, "query_queue": 0})
    pause = wh.settings.overload_pause_s
    assert pause > 0
    with TestClient(create_app(wh)) as c, wh.queries.admission.slot("acme"):
        for path, body in (("/v1/query/sql", b"{not json"), ("/v1/cubes/trades/query", b"{}"),
                           ("/v1/analytics/performance", b"[]")):  # fmt: skip
            started = time.perf_counter()
            refused = c.post(
                path, content=body, headers={**bearer(other), "Content-Type": "application/json"}
            )
            assert refused.status_code == 429, (path, refused.text)
            assert refused.json()["error"]["code"] == "overloaded"
            assert time.perf_counter() - started >= pause * 0.9
        assert c.get("/v1/tables", headers=bearer(other)).status_code == 200
    assert wh.usage.usage(PLATFORM, "acme")["tenants"][0]["totals"]["throttled"] >= 3


def _refusal(query_id: str) -> dict[str, object]:
    return {"id": query_id, "tenant_id": "acme", "user": "u", "roles": ("reader",),
            "status": "overloaded", "error": "x", "text": "SELECT 1", "route": "raw"}  # fmt: skip


def test_refusals_are_logged_once_a_second_and_counted_all() -> None:
    from unittest import mock

    from ledgerhouse.query.log import QueryLog

    meta = mock.MagicMock()
    log = QueryLog(meta)
    heard: list[str] = []
    log.listeners.append(lambda e: heard.append(e["status"]))
    clock = [100.0]
    try:
        with mock.patch("ledgerhouse.query.log.time.monotonic", lambda: clock[0]):
            for i in range(3):
                log.record(_refusal(f"q{i}"))
            clock[0] += 1.5
            last = _refusal("q3")
            log.record(last)
    finally:
        log.close()
    assert heard == ["overloaded"] * 4  # the usage meter hears every one
    stored = [e["id"] for c in meta.query_store.record_queries.call_args_list for e in c.args[0]]
    assert stored == ["q0", "q3"]  # the first, and the one a second later
    assert "2 more refused" in last["error"]
