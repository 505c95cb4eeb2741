"""Who may read the audit trail (auditors and admins, their own tenant only, the way an
attacker would try otherwise), the HTTP client's twins, and concurrent appends from threads
and processes keeping one valid chain."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgerhouse.api import create_app
from ledgerhouse.client import Client
from ledgerhouse.errors import Forbidden
from ledgerhouse.session import Session
from ledgerhouse.storage.metadata import MetadataStore
from tests.conftest import copy_warehouse


@pytest.fixture(scope="module")
def two_tenants(
    tmp_path_factory: pytest.TempPathFactory, ref_template: Path
) -> Iterator[tuple[Session, Session, dict[str, str]]]:
    """Tenant default (with a query) and tenant acme (with its own query), and API keys of
    each role in default plus acme's auditor."""
    me = copy_warehouse(ref_template, tmp_path_factory.mktemp("audit-access") / "wh")
    wh = me.warehouse
    wh.create_tenant("acme")
    acme = wh.local("acme", roles=("admin",), user="acme-admin")
    me.query("SELECT firm FROM dim_portfolio")
    acme.query("SELECT count(*) FROM fact_trade")
    keys = {role: me.create_api_key(f"{role}-user", (role,)) for role in
            ("reader", "writer", "steward", "auditor", "admin")}  # fmt: skip
    keys["acme-auditor"] = acme.create_api_key("acme-auditor", ("auditor",))
    yield me, acme, keys
    wh.close()


@pytest.mark.parametrize("role", ["reader", "writer", "steward"])
def test_roles_without_read_audit_get_403(
    two_tenants: tuple[Session, Session, dict[str, str]], role: str
) -> None:
    me, _, keys = two_tenants
    with TestClient(create_app(me.warehouse)) as client:
        auth = {"Authorization": f"Bearer {keys[role]}"}
        for path in ("/v1/audit", "/v1/audit/verify"):
            resp = client.get(path, headers=auth)
            assert resp.status_code == 403, (path, resp.text)
            assert resp.json()["error"]["code"] == "forbidden"
    with pytest.raises(Forbidden):
        me.warehouse.local(roles=(role,)).audit_entries()
    with pytest.raises(Forbidden):
        me.warehouse.local(roles=(role,)).verify_audit()


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_read_their_tenant(
    two_tenants: tuple[Session, Session, dict[str, str]], role: str
) -> None:
    me, _, keys = two_tenants
    with TestClient(create_app(me.warehouse)) as client:
        auth = {"Authorization": f"Bearer {keys[role]}"}
        listed = client.get("/v1/audit", headers=auth, params={"action": "query"})
        assert listed.status_code == 200
        assert [e["columns"] for e in listed.json()] == [{"dim_portfolio": ["firm"]}]
        assert client.get("/v1/audit/verify", headers=auth).json()["ok"] is True
        assert client.get("/v1/audit", headers=auth, params={"limit": 0}).status_code == 400
        assert client.get("/v1/audit", headers=auth, params={"since": "soon"}).status_code == 400


def test_tenant_b_auditor_never_sees_tenant_a(
    two_tenants: tuple[Session, Session, dict[str, str]],
) -> None:
    me, _, keys = two_tenants
    default_ids = {e["query_id"] for e in me.audit_entries(limit=1000) if e["query_id"]}
    assert default_ids
    auditor = me.warehouse.local("acme", roles=("auditor",), user="acme-auditor")
    seen = auditor.audit_entries(limit=10_000)
    assert seen and {e["tenant"] for e in seen} == {"acme"}
    assert default_ids.isdisjoint(e["query_id"] for e in seen)
    assert all(e["user"] != "local" for e in seen)  # default's admin is "local"
    assert auditor.audit_entries(user="local") == []
    assert auditor.audit_entries(relation="dim_portfolio") == []  # default's query read it
    with TestClient(create_app(me.warehouse)) as client:
        auth = {"Authorization": f"Bearer {keys['acme-auditor']}"}
        body = client.get("/v1/audit", headers=auth, params={"limit": 10_000}).json()
        assert {e["tenant"] for e in body} == {"acme"}
        assert default_ids.isdisjoint(e["query_id"] for e in body)
        report = client.get("/v1/audit/verify", headers=auth).json()
        assert report["tenant"] == "acme" and report["ok"]
        default_head = me.warehouse.meta.audit.head("default")[1]
        # an anchor of the other tenant's chain is not in this one
        other = client.get("/v1/audit/verify", headers=auth, params={"expect_head": default_head})
        assert other.json()["ok"] is False


def test_the_http_client_mirrors_the_session(
    two_tenants: tuple[Session, Session, dict[str, str]],
) -> None:
    me, _, keys = two_tenants
    with TestClient(create_app(me.warehouse)) as http:
        lh = Client("http://testserver", keys["auditor"], http=http)
        local = me.warehouse.local(roles=("auditor",), user="auditor-user")
        assert lh.audit_entries(action="query") == local.audit_entries(action="query")
        remote, here = lh.verify_audit(), local.verify_audit()
        assert remote["ok"] and here["ok"]
        assert set(remote) == set(here)
        assert lh.audit_entries(action="audit_read", limit=1)[0]["detail"]["read"] == "verify"


def _append(url: str, user: str, n: int) -> None:
    store = MetadataStore(url)
    try:
        for i in range(n):
            store.audit.append("default", user, ("writer",), "ingest", rows=i)
    finally:
        store.close()


def test_concurrent_appends_from_threads_and_stores_keep_one_chain(
    tmp_path: Path, ref_template: Path
) -> None:
    me = copy_warehouse(ref_template, tmp_path / "wh")
    try:
        url = me.warehouse.meta.url
        before = me.warehouse.meta.audit.head("default")[0]
        # two stores on one database: their appends race on the head row, not on a lock
        stores = [me.warehouse.meta, MetadataStore(url)]
        threads = [
            threading.Thread(
                target=lambda s=stores[i % 2], u=f"t{i}": [
                    s.audit.append("default", u, ("admin",), "query", rows=k) for k in range(20)
                ]
            )
            for i in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stores[1].close()
        report = me.warehouse.meta.audit.verify("default")
        assert report.ok, report.problems
        assert report.head_seq == report.entries_checked == before + 120
    finally:
        me.warehouse.close()


@pytest.mark.slow  # spawning two interpreters takes ~6 s
def test_concurrent_appends_from_two_processes_keep_one_chain(
    tmp_path: Path, ref_template: Path
) -> None:
    me = copy_warehouse(ref_template, tmp_path / "wh")
    try:
        url = me.warehouse.meta.url
        before = me.warehouse.meta.audit.head("default")[0]
        spawn = multiprocessing.get_context("spawn")
        procs = [spawn.Process(target=_append, args=(url, f"p{i}", 30)) for i in range(2)]
        for p in procs:
            p.start()
        _append(url, "main", 30)
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0
        report = me.warehouse.meta.audit.verify("default")
        assert report.ok, report.problems
        assert report.head_seq == before + 90
        users = [e["user"] for e in me.warehouse.meta.audit.entries("default", limit=1000)]
        assert {u: users.count(u) for u in ("p0", "p1", "main")} == {"p0": 30, "p1": 30, "main": 30}
    finally:
        me.warehouse.close()
