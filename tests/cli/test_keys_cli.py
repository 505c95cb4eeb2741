"""`ledgerhouse keys list|revoke|rotate`, and a revocation from the CLI reaching a running
server on its next request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app
from ledgerhouse.storage import keys as key_store
from tests.conftest import InitCopy, admin

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def _keys(root: str, *extra: str) -> list[dict]:  # type: ignore[type-arg]
    code, out, err = _run("keys", "list", "--root", root, "--json", *extra)
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_list_rotate_revoke(tmp_path: Path) -> None:
    root = str(tmp_path / "wh")
    code, out, _ = _run("init", "--root", root, "--json")
    admin_key = json.loads(out)["admin_api_key"]
    code, out, _ = _run("keys", "create", "--user", "bob", "--role", "writer", "--root", root,
                        "--json")  # fmt: skip
    bob_key = json.loads(out)["api_key"]
    keys = _keys(root)
    assert [(k["user"], k["roles"], k["revoked_at"]) for k in keys] == [
        ("admin", ["admin"], None),
        ("bob", ["writer"], None),
    ]
    code, text, _ = _run("keys", "list", "--root", root)
    assert code == 0 and "bob" in text and "writer" in text
    for listing in (json.dumps(keys), text):
        assert admin_key not in listing and bob_key not in listing

    admin_id, bob_id = keys[0]["id"], keys[1]["id"]
    code, out, _ = _run("keys", "rotate", str(bob_id), "--root", root, "--json")
    rotated = json.loads(out)
    assert code == 0 and rotated["replaces"] == bob_id and rotated["user"] == "bob"
    assert rotated["api_key"].startswith("lh_") and rotated["api_key"] != bob_key
    assert [k["id"] for k in _keys(root, "--active")] == [admin_id, rotated["id"]]

    code, out, _ = _run("keys", "revoke", str(rotated["id"]), "--root", root)
    assert code == 0 and f"API key {rotated['id']} (bob) revoked" in out

    code, _, err = _run("keys", "revoke", str(admin_id), "--root", root)
    assert code == 2 and "last admin key" in err and "--force" in err
    assert [k["id"] for k in _keys(root, "--active")] == [admin_id]
    code, out, _ = _run("keys", "revoke", str(admin_id), "--force", "--root", root, "--json")
    assert code == 0 and json.loads(out)["revoked_at"] is not None
    assert _keys(root, "--active") == []


def test_another_tenants_key_is_not_found(tmp_path: Path) -> None:
    root = str(tmp_path / "wh")
    _run("init", "--root", root)
    _run("init", "--root", root, "--tenant", "acme")
    (acme_admin,) = _keys(root, "--tenant", "acme")
    (default_admin,) = _keys(root)
    assert acme_admin["id"] != default_admin["id"]
    for verb, *flags in (("revoke", "--force"), ("rotate",)):
        code, _, err = _run("keys", verb, str(acme_admin["id"]), *flags, "--root", root)
        assert code == 2 and "not_found" in err, err
    assert _keys(root, "--tenant", "acme") == [acme_admin]


def test_a_cli_revocation_reaches_a_running_server_at_once(
    init_copy: InitCopy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_store, "KEY_CACHE_S", 3600.0)  # only the generation check can work
    root = tmp_path / "wh"
    wh, _admin = init_copy(root)
    bob = admin(wh).create_api_key("bob", ("reader",))
    bob_id = admin(wh).list_api_keys()[1].id
    with TestClient(create_app(wh)) as server:
        h = {"Authorization": f"Bearer {bob}"}
        assert server.get("/v1/tables", headers=h).status_code == 200
        code, _, err = _run("keys", "revoke", str(bob_id), "--root", str(root))
        assert code == 0, err
        assert server.get("/v1/tables", headers=h).status_code == 401
    wh.close()
