"""The tenant lifecycle (docs/tenancy/lifecycle.md): platform admins create, list, suspend,
resume, delete (export first) and purge tenants, through the API, the CLI and the library; a
suspended or deleted tenant's keys are refused, its engine and cached results released, its
data kept until purged; the other tenant is untouched throughout."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse import Warehouse
from ledgerhouse.access import PLATFORM_TENANT
from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app as cli_app
from ledgerhouse.client import Client
from ledgerhouse.errors import Forbidden, LedgerhouseError
from ledgerhouse.tenancy.errors import (
    PurgeNotDue,
    TenantDeleted,
    TenantExists,
    TenantStateConflict,
    TenantSuspended,
)
from tests.conftest import REF, InitCopy, admin, snapshot

COUNT = "SELECT count(*) AS n FROM dim_counterparty"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _rows(c: TestClient, key: str, sql: str = COUNT) -> Any:
    r = c.post("/v1/query/sql", json={"sql": sql}, headers=_bearer(key))
    return r


@pytest.fixture
def two(init_copy: InitCopy) -> Iterator[tuple[Warehouse, str, str, str]]:
    """A warehouse with tenants ``default`` (its admin key) and ``acme`` (created by the
    platform, its admin key, counterparties loaded), and a platform key."""
    wh, default_key = init_copy()
    platform_key = wh.tenants_admin.issue_platform_key("ops")
    created = wh.platform("ops").create_tenant("acme")
    admin(wh, "acme").ingest("counterparties", REF["counterparties"].encode(), fmt="csv")
    yield wh, default_key, created.admin_key, platform_key
    wh.close()


def test_suspend_and_resume_through_the_api(two: tuple[Warehouse, str, str, str]) -> None:
    wh, default_key, acme_key, platform_key = two
    before = snapshot(wh)  # the default tenant
    with TestClient(create_app(wh)) as c:
        assert _rows(c, acme_key).json()["rows"] == [[2]]
        assert _rows(c, acme_key).json()["rows"] == [[2]]  # a cache hit
        assert "acme" in wh.engines
        assert wh.queries.cache is not None and wh.queries.cache.stats()["acme"]["entries"]

        r = c.post(
            "/v1/tenants/acme/suspend", json={"reason": "invoice 42 unpaid"},
            headers=_bearer(platform_key),
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "suspended" and r.json()["changed_by"] == "ops"
        # released at once: no engine, no cached answer, no bound table of the tenant
        assert "acme" not in wh.engines
        assert "acme" not in wh.queries.cache.stats()

        for path in ("/v1/tables", "/v1/keys"):
            refused = c.get(path, headers=_bearer(acme_key))
            assert refused.status_code == 403, refused.text
            error = refused.json()["error"]
            assert error["code"] == "tenant_suspended"
            assert "'acme'" in error["message"] and "invoice 42 unpaid" in error["message"]
            assert "since 20" in error["message"] and "platform admin" in error["hint"]
        assert _rows(c, acme_key).status_code == 403
        with pytest.raises(TenantSuspended):
            admin(wh, "acme")  # a local session too
        # the other tenant is untouched
        assert c.get("/v1/tables", headers=_bearer(default_key)).status_code == 200

        listed = {t["name"]: t for t in c.get("/v1/tenants", headers=_bearer(platform_key)).json()}
        assert set(listed) == {"default", "acme"}  # never the platform's pseudo-tenant
        assert listed["acme"]["status"] == "suspended" and listed["acme"]["suspended_at"]
        assert listed["acme"]["latest_commit"] and listed["acme"]["storage_bytes"] > 0

        r = c.post("/v1/tenants/acme/resume", headers=_bearer(platform_key))
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
        assert r.json()["suspended_at"] is None
        assert _rows(c, acme_key).json()["rows"] == [[2]]  # data intact, a new engine
    assert snapshot(wh) == before
    trail = [e["action"] for e in admin(wh, "acme").audit_entries(limit=50)]
    assert "tenant_suspend" in trail and "tenant_resume" in trail


def test_only_platform_admins_manage_tenants_and_they_read_no_data(
    two: tuple[Warehouse, str, str, str],
) -> None:
    wh, default_key, acme_key, platform_key = two
    with TestClient(create_app(wh)) as c:
        for key in (default_key, acme_key):  # a tenant's admin is no platform admin
            assert c.get("/v1/tenants", headers=_bearer(key)).status_code == 403
            r = c.post("/v1/tenants/acme/suspend", headers=_bearer(key))
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
            r = c.post("/v1/tenants", json={"name": "evil"}, headers=_bearer(key))
            assert r.status_code == 403
        # the platform key reads no tenant's data, and manages no tenant's keys
        r = _rows(c, platform_key)
        assert r.status_code == 403, r.text
        assert "platform principal" in r.json()["error"]["message"]
        assert c.get("/v1/keys", headers=_bearer(platform_key)).status_code == 403
        assert c.get("/v1/tables", headers=_bearer(platform_key)).status_code == 403
    assert PLATFORM_TENANT not in wh.meta.tenants_store.tenants()
    with pytest.raises(Forbidden):
        wh.tenants_admin.suspend(admin(wh, "acme").principal, "default")
    with pytest.raises(LedgerhouseError):  # "_platform" is no tenant name
        wh.local(PLATFORM_TENANT, roles=("admin",))


def test_the_http_client_mirrors_the_platform_calls(
    two: tuple[Warehouse, str, str, str],
) -> None:
    wh, _, acme_key, platform_key = two
    with TestClient(create_app(wh)) as c:
        ops = Client("http://testserver", platform_key, http=c)
        made = ops.create_tenant("beta")
        assert made["admin_api_key"].startswith("lh_") and made["tenant"]["status"] == "active"
        with pytest.raises(TenantExists):
            ops.create_tenant("beta")
        assert ops.suspend_tenant("acme", reason="audit")["status"] == "suspended"
        with pytest.raises(TenantSuspended) as info:
            Client("http://testserver", acme_key, http=c).tables()
        assert info.value.details["tenant"] == "acme"
        assert ops.resume_tenant("acme")["status"] == "active"
        deleted = ops.delete_tenant("beta", retention_days=0, reason="trial ended")
        assert deleted["tenant"]["status"] == "deleted"
        export = Path(deleted["export"]["directory"])
        assert export.parent == wh.root / "_exports" and (export / "manifest.json").is_file()
        with pytest.raises(TenantDeleted):
            Client("http://testserver", made["admin_api_key"], http=c).tables()
        purged = ops.purge_tenant("beta")
        assert purged["files_removed"] > 0 and purged["metadata_rows"]["api_keys"] == 1
        assert [t["name"] for t in ops.tenants()] == ["acme", "default"]


def test_delete_exports_then_refuses_and_purges_after_the_retention(
    two: tuple[Warehouse, str, str, str], tmp_path: Path
) -> None:
    wh, default_key, acme_key, _ = two
    before = snapshot(wh)
    counts = {t["name"]: t["rows"] for t in admin(wh, "acme").tables()}
    me = wh.platform("ops")
    admin(wh, "acme").query(COUNT)
    assert "acme" in wh.engines

    deleted = me.delete_tenant("acme", export_to=tmp_path / "export", reason="offboarded")
    assert "acme" not in wh.engines
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["commit_id"] == me.tenant("acme").latest_commit
    assert {r: m["rows"] for r, m in manifest["relations"].items()} == counts
    assert manifest["relations"]["dim_counterparty"]["rows"] == 2
    for entry in manifest["relations"].values():
        path = tmp_path / "export" / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert pq.read_metadata(path).num_rows == entry["rows"]
    names = pq.read_table(tmp_path / "export" / "dim_counterparty.parquet")["name"]
    assert sorted(names.to_pylist()) == ["Goldman", "Morgan"]

    record = deleted.record
    assert record.status == "deleted" and record.purge_after is not None
    assert record.deleted_at is not None
    assert record.purge_after - record.deleted_at == timedelta(days=30)  # the default
    with pytest.raises(TenantDeleted, match="purged after"):
        wh.authenticate(f"Bearer {acme_key}")
    with pytest.raises(TenantExists, match="retained until"):
        me.create_tenant("acme")
    with pytest.raises(TenantExists):
        Warehouse.create_tenant(wh, "acme")  # `ledgerhouse init --tenant acme` as well
    with pytest.raises(TenantStateConflict):
        me.delete_tenant("acme")
    due = re.escape(record.purge_after.isoformat(timespec="seconds"))
    with pytest.raises(PurgeNotDue, match=due):
        me.purge_tenant("acme")

    # a clock past the retention: the purge is due
    later = record.purge_after + timedelta(seconds=1)
    service = wh.tenants_admin
    service.ports = dataclasses.replace(service.ports, clock=lambda: later)
    tenant_root = wh.store.tenant_root("acme")
    assert tenant_root.is_dir()
    purged = me.purge_tenant("acme")
    assert purged.files_removed > 0 and purged.metadata_rows["api_keys"] == 1
    assert not tenant_root.exists() and (tmp_path / "export" / "manifest.json").is_file()
    assert wh.meta.tenants_store.tenants() == ["default"]
    assert wh.meta.keys.records("acme") == []
    with pytest.raises(LedgerhouseError) as info:
        wh.authenticate(f"Bearer {acme_key}")
    assert info.value.status == 401  # the key went with the tenant
    assert wh.authenticate(f"Bearer {default_key}").tenant == "default"
    assert snapshot(wh) == before
    # the tenant's trail went with it; the platform's keeps every step
    trail = [e["action"] for e in wh.meta.audit.entries(PLATFORM_TENANT)]
    assert trail[:2] == ["tenant_purge", "tenant_delete"] and "tenant_create" in trail
    assert wh.meta.audit.entries("acme") == []
    # the name is free again: a new, empty tenant
    assert me.create_tenant("acme").admin_key.startswith("lh_")
    assert admin(wh, "acme").query(COUNT).table.column("n").to_pylist() == [0]


def test_a_deleted_tenant_is_resumed_within_its_retention(
    two: tuple[Warehouse, str, str, str], tmp_path: Path
) -> None:
    wh, _, acme_key, _ = two
    me = wh.platform("ops")
    me.suspend_tenant("acme", reason="review")
    deleted = me.delete_tenant("acme", export_to=tmp_path / "e", retention_days=7)
    assert deleted.record.purge_after - deleted.record.deleted_at == timedelta(days=7)
    with pytest.raises(TenantStateConflict):
        me.suspend_tenant("acme")
    resumed = me.resume_tenant("acme")
    assert resumed.record.status == "active" and resumed.record.purge_after is None
    assert wh.authenticate(f"Bearer {acme_key}").tenant == "acme"
    assert admin(wh, "acme").query(COUNT).table.column("n").to_pylist() == [2]
    with pytest.raises(TenantStateConflict, match="only a deleted tenant"):
        me.purge_tenant("acme")


def test_the_cli_round_trip(init_copy: InitCopy, tmp_path: Path) -> None:
    wh, _ = init_copy()
    root = str(wh.root)
    wh.close()
    runner = CliRunner()

    def run(*args: str) -> tuple[int, Any]:
        r = runner.invoke(cli_app, [*args, "--root", root, "--json"])
        return r.exit_code, json.loads(r.stdout if r.exit_code == 0 else r.stderr)

    code, out = run("tenants", "platform-key", "--user", "ops")
    assert code == 0 and out["api_key"].startswith("lh_") and out["roles"] == ["platform_admin"]
    code, out = run("tenants", "create", "acme")
    assert code == 0 and out["admin_api_key"].startswith("lh_")
    code, out = run("tenants", "suspend", "acme", "--reason", "maintenance")
    assert code == 0 and out["status"] == "suspended" and out["reason"] == "maintenance"
    code, out = run("tables", "--tenant", "acme")
    assert code == 2 and out["error"]["code"] == "tenant_suspended"
    code, out = run("tenants", "list")
    assert code == 0 and [(t["name"], t["status"]) for t in out] == [
        ("acme", "suspended"), ("default", "active"),
    ]  # fmt: skip
    code, out = run("tenants", "resume", "acme")
    assert code == 0 and out["status"] == "active"
    assert run("tables", "--tenant", "acme")[0] == 0
    export = tmp_path / "acme-export"
    code, out = run(
        "tenants", "delete", "acme", "--export-to", str(export), "--retention-days", "0"
    )
    assert code == 0 and out["tenant"]["status"] == "deleted"
    assert (export / "manifest.json").is_file() and out["export"]["directory"] == str(export)
    code, out = run("tenants", "purge", "acme")
    assert code == 0 and out["files_removed"] > 0
    code, out = run("tenants", "show", "acme")
    assert code == 2 and out["error"]["code"] == "not_found"
    code, out = run("tenants", "purge", "default")
    assert code == 2 and out["error"]["code"] == "tenant_state_conflict"


def test_init_prints_the_platform_key_the_first_time(tmp_path: Path) -> None:
    runner = CliRunner()
    root = str(tmp_path / "wh")
    first = json.loads(runner.invoke(cli_app, ["init", "--root", root, "--json"]).stdout)
    assert first["platform_api_key"].startswith("lh_")
    again = runner.invoke(cli_app, ["init", "--root", root, "--tenant", "b", "--json"])
    assert json.loads(again.stdout)["platform_api_key"] is None
    with Warehouse.open(root=root) as wh:
        principal = wh.authenticate(f"Bearer {first['platform_api_key']}")
        assert principal.is_platform_admin
        assert wh.meta.tenants_store.tenants() == ["b", "default"]


def test_a_single_sign_on_token_of_a_suspended_tenant_is_refused(
    init_copy: InitCopy, tmp_path: Path
) -> None:
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "alg": "ES256"}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    iss, aud = "https://idp.example.test", "ledgerhouse"
    wh, _ = init_copy(oidc_issuer=iss, oidc_audience=aud, oidc_jwks=str(tmp_path / "jwks.json"))
    with wh:
        wh.platform().create_tenant("acme")
        now = int(time.time())
        claims = {"iss": iss, "aud": aud, "sub": "ana", "tenant": "acme", "roles": ["reader"]}
        token = jwt.encode(
            {**claims, "iat": now, "exp": now + 300}, key, algorithm="ES256",
            headers={"kid": "k1"},
        )  # fmt: skip
        assert wh.authenticate(f"Bearer {token}").tenant == "acme"
        wh.platform().suspend_tenant("acme", reason="sso check")
        with pytest.raises(TenantSuspended, match="sso check"):
            wh.authenticate(f"Bearer {token}")
        wh.platform().resume_tenant("acme")
        assert wh.authenticate(f"Bearer {token}").user == "ana"
