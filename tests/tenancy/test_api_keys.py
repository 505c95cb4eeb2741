"""Key management in the library: what the Warehouse methods return, who may call them, and
how the last use of a key is recorded (cheaply: at most once a minute per key)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ledgerhouse import Warehouse
from ledgerhouse.errors import Forbidden, NotFound, Unauthorized
from ledgerhouse.session import Session
from ledgerhouse.storage import ApiKeyConflict
from ledgerhouse.storage import keys as key_store
from ledgerhouse.tenancy import Principal
from tests.conftest import InitCopy, admin


def test_local_admin_lists_revokes_and_rotates(wh: Session) -> None:
    bob = wh.create_api_key("bob", ("writer",))
    admin, listed_bob = wh.list_api_keys()
    assert (listed_bob.user, listed_bob.roles, listed_bob.revoked_at) == ("bob", ("writer",), None)
    assert bob not in repr(wh.list_api_keys()) and "key_hash" not in listed_bob.to_dict()

    issued = wh.rotate_api_key(listed_bob.id)
    assert issued.secret not in repr(issued)  # the secret is never in a log line by accident
    assert (issued.key.user, issued.key.roles) == ("bob", ("writer",))
    with pytest.raises(Unauthorized):
        wh.warehouse.authenticate(f"Bearer {bob}")
    assert wh.warehouse.authenticate(f"Bearer {issued.secret}").user == "bob"

    revoked = wh.revoke_api_key(issued.key.id)
    assert revoked.revoked_at is not None
    assert [k.id for k in wh.list_api_keys(active=True)] == [admin.id]
    with pytest.raises(ApiKeyConflict):
        wh.revoke_api_key(admin.id)
    assert wh.revoke_api_key(admin.id, force=True).revoked_at is not None
    assert wh.list_api_keys(active=True) == []
    # locked out over HTTP, but the local CLI can always issue a new admin key
    assert wh.warehouse.authenticate(f"Bearer {wh.create_api_key('ops', ('admin',))}").is_admin


def test_key_management_needs_the_admin_role_and_stays_in_the_tenant(wh: Session) -> None:
    wh.warehouse.create_tenant("acme")
    (acme_admin,) = admin(wh.warehouse, "acme").list_api_keys()
    reader = wh.warehouse.session(
        Principal(tenant="default", user="ana", roles=("reader", "writer"))
    )
    with pytest.raises(Forbidden, match="may not manage keys"):
        reader.list_api_keys()
    with pytest.raises(Forbidden):
        reader.revoke_api_key(acme_admin.id)
    with pytest.raises(Forbidden):
        reader.rotate_api_key(acme_admin.id)
    with pytest.raises(NotFound):
        wh.revoke_api_key(acme_admin.id, force=True)  # default tenant's admin
    with pytest.raises(NotFound):
        wh.rotate_api_key(acme_admin.id)
    assert admin(wh.warehouse, "acme").list_api_keys() == [acme_admin]


def test_last_use_is_written_at_most_once_a_minute(
    wh: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = wh.create_api_key("bob", ("reader",))
    keys = wh.warehouse.meta.keys
    writes: list[int] = []
    write = keys._write_last_used
    monkeypatch.setattr(keys, "_write_last_used", lambda i, t: (writes.append(i), write(i, t)))

    for _ in range(50):
        wh.warehouse.authenticate(f"Bearer {key}")
    keys.flush_usage()
    assert len(writes) == 1
    first = wh.list_api_keys()[1].last_used_at
    assert first is not None

    # a new process (a restarted server) sees the recent write and does not write again
    with Warehouse.open(root=wh.warehouse.root) as other:
        other.authenticate(f"Bearer {key}")
        other.meta.keys.flush_usage()
        assert admin(other).list_api_keys()[1].last_used_at == first

    monkeypatch.setattr(key_store, "LAST_USED_EVERY_S", 0.0)
    wh.warehouse.authenticate(f"Bearer {key}")
    keys.flush_usage()
    assert len(writes) == 2
    later = wh.list_api_keys()[1].last_used_at
    assert later is not None and later > first


@pytest.mark.parametrize("attempt", range(3))  # a race: try it a few times
def test_two_processes_revoking_the_two_admin_keys_at_once_leave_one(
    init_copy: InitCopy, tmp_path: Path, attempt: int
) -> None:
    # Each revocation alone is allowed (another admin key exists); both at once must not be.
    wh, _ = init_copy(tmp_path / "wh")
    admin(wh).create_api_key("ops", ("admin",))
    first, second = admin(wh).list_api_keys()
    other = Warehouse.open(root=wh.root)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def revoke(w: Warehouse, key_id: int) -> None:
        barrier.wait()
        try:
            admin(w).revoke_api_key(key_id)
            outcomes.append("revoked")
        except ApiKeyConflict:
            outcomes.append("refused")

    threads = [
        threading.Thread(target=revoke, args=(wh, first.id)),
        threading.Thread(target=revoke, args=(other, second.id)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert sorted(outcomes) == ["refused", "revoked"]
    assert len(admin(wh).list_api_keys(active=True)) == 1
    wh.close()
