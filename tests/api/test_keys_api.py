"""API key management over HTTP: list without secrets, revoke (effective on the very next
request, from this process or another), rotate, roles, tenant isolation, last-admin guard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledgerhouse import Warehouse
from ledgerhouse.api import create_app
from ledgerhouse.client import Client
from ledgerhouse.storage import ApiKeyConflict
from ledgerhouse.storage import keys as key_store
from ledgerhouse.storage.keys import hash_key
from tests.conftest import InitCopy, admin


@pytest.fixture(autouse=True)
def _long_key_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Remember looked-up keys for an hour: a revocation that works here works because of the
    # key generation check, not because the cache entry happened to expire.
    monkeypatch.setattr(key_store, "KEY_CACHE_S", 3600.0)


@pytest.fixture
def served(init_copy: InitCopy, tmp_path: Path) -> Iterator[tuple[TestClient, Warehouse, str]]:
    wh, key = init_copy(tmp_path / "wh")
    assert key is not None
    with TestClient(create_app(wh)) as c:
        yield c, wh, key
    wh.close()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _new_key(c: TestClient, admin: str, user: str, roles: list[str]) -> tuple[int, str]:
    r = c.post("/v1/keys", headers=_bearer(admin), json={"user": user, "roles": roles})
    assert r.status_code == 201, r.text
    secret = r.json()["api_key"]
    listed = c.get("/v1/keys", headers=_bearer(admin)).json()
    (key_id,) = [k["id"] for k in listed if k["user"] == user and k["revoked_at"] is None]
    return key_id, secret


def _error(resp, status: int, code: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["code"] == code and body["message"] and body["hint"]
    return body  # type: ignore[no-any-return]


def test_list_shows_every_key_and_never_a_secret(served) -> None:  # type: ignore[no-untyped-def]
    c, _wh, admin = served
    _kid, bob = _new_key(c, admin, "bob", ["writer", "reader"])
    resp = c.get("/v1/keys", headers=_bearer(admin))
    assert resp.status_code == 200
    keys = resp.json()
    assert [(k["user"], k["roles"]) for k in keys] == [
        ("admin", ["admin"]),
        ("bob", ["writer", "reader"]),
    ]
    for k in keys:
        assert set(k) == {"id", "user", "roles", "created_at", "last_used_at", "revoked_at",
                          "attributes"}  # fmt: skip
        assert k["created_at"] and k["revoked_at"] is None
    for secret in (admin, bob):
        assert secret not in resp.text and hash_key(secret) not in resp.text
    # the admin key has authenticated these requests: its last use is recorded (off the
    # request path), bob's key has never been used
    c.app.state.warehouse.meta.keys.flush_usage()
    keys = {k["user"]: k for k in c.get("/v1/keys", headers=_bearer(admin)).json()}
    assert keys["admin"]["last_used_at"] is not None and keys["bob"]["last_used_at"] is None


def test_revoke_takes_effect_on_the_very_next_request(served) -> None:  # type: ignore[no-untyped-def]
    c, wh, admin = served
    kid, bob = _new_key(c, admin, "bob", ["reader"])
    assert c.get("/v1/tables", headers=_bearer(bob)).status_code == 200
    assert hash_key(bob) in wh.meta.keys._cache  # the key is remembered...
    revoked = c.post(f"/v1/keys/{kid}/revoke", headers=_bearer(admin))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["id"] == kid and revoked.json()["revoked_at"] is not None
    _error(c.get("/v1/tables", headers=_bearer(bob)), 401, "unauthorized")  # ...yet refused
    # revoking again changes nothing (same revoked_at); the list shows it revoked
    again = c.post(f"/v1/keys/{kid}/revoke", headers=_bearer(admin)).json()
    assert again["revoked_at"] == revoked.json()["revoked_at"]
    active = c.get("/v1/keys", headers=_bearer(admin), params={"active": True}).json()
    assert [k["user"] for k in active] == ["admin"]
    assert c.get("/v1/tables", headers=_bearer(admin)).status_code == 200


def test_revoke_by_another_process_takes_effect_on_the_next_request(  # type: ignore[no-untyped-def]
    served, tmp_path: Path
) -> None:
    c, wh, admin_key = served
    kid, bob = _new_key(c, admin_key, "bob", ["reader"])
    _other_kid, carol = _new_key(c, admin_key, "carol", ["reader"])
    for key in (bob, carol, admin_key):
        assert c.get("/v1/tables", headers=_bearer(key)).status_code == 200
    assert hash_key(bob) in wh.meta.keys._cache
    # a second Warehouse on the same root (the CLI while `ledgerhouse serve` runs)
    with Warehouse.open(root=tmp_path / "wh") as other:
        admin(other).revoke_api_key(kid)
    assert hash_key(bob) in wh.meta.keys._cache  # the server's cache was not told directly
    _error(c.get("/v1/tables", headers=_bearer(bob)), 401, "unauthorized")
    # the tenant's other keys keep working
    assert c.get("/v1/tables", headers=_bearer(carol)).status_code == 200
    assert c.get("/v1/tables", headers=_bearer(admin_key)).status_code == 200


def test_rotate_gives_a_working_key_and_the_old_one_fails(served) -> None:  # type: ignore[no-untyped-def]
    c, _wh, admin = served
    kid, bob = _new_key(c, admin, "bob", ["writer"])
    assert c.get("/v1/tables", headers=_bearer(bob)).status_code == 200
    r = c.post(f"/v1/keys/{kid}/rotate", headers=_bearer(admin))
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["replaces"] == kid and new["id"] != kid
    assert (new["user"], new["roles"], new["revoked_at"]) == ("bob", ["writer"], None)
    assert new["api_key"].startswith("lh_") and new["api_key"] != bob
    _error(c.get("/v1/tables", headers=_bearer(bob)), 401, "unauthorized")
    assert c.get("/v1/tables", headers=_bearer(new["api_key"])).status_code == 200
    listed = {k["id"]: k for k in c.get("/v1/keys", headers=_bearer(admin)).json()}
    assert listed[kid]["revoked_at"] is not None and listed[new["id"]]["revoked_at"] is None
    assert new["api_key"] not in str(listed)
    # a revoked key cannot be rotated (it would bring a revoked user back)
    err = _error(c.post(f"/v1/keys/{kid}/rotate", headers=_bearer(admin)), 409, "api_key_conflict")
    assert err["details"]["reason"] == "revoked"


def test_rotating_the_only_admin_key_keeps_the_tenant_managed(served) -> None:  # type: ignore[no-untyped-def]
    c, _wh, admin = served
    (me,) = c.get("/v1/keys", headers=_bearer(admin)).json()
    new = c.post(f"/v1/keys/{me['id']}/rotate", headers=_bearer(admin)).json()
    _error(c.get("/v1/keys", headers=_bearer(admin)), 401, "unauthorized")
    assert c.get("/v1/keys", headers=_bearer(new["api_key"])).status_code == 200


@pytest.mark.parametrize("role", ["reader", "writer"])
def test_only_admins_manage_keys(served, role: str) -> None:  # type: ignore[no-untyped-def]
    c, _wh, admin = served
    kid, secret = _new_key(c, admin, "someone", [role])
    h = _bearer(secret)
    _error(c.get("/v1/keys", headers=h), 403, "forbidden")
    _error(c.post(f"/v1/keys/{kid}/revoke", headers=h), 403, "forbidden")
    _error(c.post(f"/v1/keys/{kid}/rotate", headers=h), 403, "forbidden")
    assert c.get("/v1/tables", headers=h).status_code == 200  # the key still works


def test_another_tenants_key_is_not_found(served) -> None:  # type: ignore[no-untyped-def]
    c, wh, admin = served
    acme = wh.create_tenant("acme")
    assert acme is not None
    (acme_key,) = c.get("/v1/keys", headers=_bearer(acme)).json()
    for path in (f"/v1/keys/{acme_key['id']}/revoke", f"/v1/keys/{acme_key['id']}/rotate"):
        err = _error(c.post(path, headers=_bearer(admin)), 404, "not_found")
        assert "acme" not in err["message"]
    _error(c.post("/v1/keys/9999/revoke", headers=_bearer(admin)), 404, "not_found")
    assert [k["user"] for k in c.get("/v1/keys", headers=_bearer(admin)).json()] == ["admin"]
    assert c.get("/v1/tables", headers=_bearer(acme)).status_code == 200  # untouched


def test_the_last_admin_key_is_kept_unless_forced(served) -> None:  # type: ignore[no-untyped-def]
    c, _wh, admin = served
    (me,) = c.get("/v1/keys", headers=_bearer(admin)).json()
    err = _error(c.post(f"/v1/keys/{me['id']}/revoke", headers=_bearer(admin)), 409,
                 "api_key_conflict")  # fmt: skip
    assert err["details"] == {"key_id": me["id"], "reason": "last_admin_key"}
    assert "--force" in err["hint"]
    assert c.get("/v1/keys", headers=_bearer(admin)).status_code == 200  # still works
    # with a second admin key, the first one may go
    kid2, admin2 = _new_key(c, admin, "ops", ["admin"])
    assert c.post(f"/v1/keys/{me['id']}/revoke", headers=_bearer(admin2)).status_code == 200
    # a revoked admin key does not count: ops is now the last one
    _error(c.post(f"/v1/keys/{kid2}/revoke", headers=_bearer(admin2)), 409, "api_key_conflict")
    forced = c.post(f"/v1/keys/{kid2}/revoke", headers=_bearer(admin2), params={"force": True})
    assert forced.status_code == 200 and forced.json()["revoked_at"] is not None
    _error(c.get("/v1/keys", headers=_bearer(admin2)), 401, "unauthorized")


def test_client_lists_revokes_and_rotates(served) -> None:  # type: ignore[no-untyped-def]
    c, _wh, admin = served
    lh = Client("http://testserver", admin, http=c)
    bob = lh.create_api_key("bob", ["reader"])
    keys = lh.list_api_keys()
    assert [k.user for k in keys] == ["admin", "bob"] and bob not in str(keys)
    bob_id = keys[1].id
    rotated = lh.rotate_api_key(bob_id)
    assert rotated.key.id != bob_id and rotated.secret.startswith("lh_")
    assert [k.user for k in lh.list_api_keys(active=True)] == ["admin", "bob"]
    assert lh.revoke_api_key(rotated.key.id).revoked_at is not None
    with pytest.raises(ApiKeyConflict, match="last admin key") as info:
        lh.revoke_api_key(keys[0].id)
    assert info.value.retryable is False and info.value.status == 409
