"""Isolation below the guard: each tenant's engine spills into its own folder inside its own
root, and no other tenant can reach it — not through the guard, not even with the guard gone.
What every engine must do on its own (spill folders, stale ones removed, the sandbox) is in
tests/engines/test_engine_behaviors.py."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import duckdb
import pytest

from ledgerhouse.errors import QueryRejected
from ledgerhouse.tenancy import Principal
from tests.conftest import InitCopy

SPILLING = (
    "SELECT max(s) FROM (SELECT 'SECRET-' || i::varchar || repeat('x', 300) AS s, i "
    "FROM range(1500000) t(i) ORDER BY s DESC, i) q"
)


@pytest.fixture
def two_tenants(init_copy: InitCopy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # DuckDB's default spill folder was ./.tmp: make it observable
    wh, _ = init_copy(tmp_path / "wh", duckdb_memory_limit="96MB", duckdb_threads=1)
    wh.create_tenant("other")
    yield wh, cwd
    wh.close()


def test_every_engine_may_touch_only_its_own_tenant_root(two_tenants) -> None:  # type: ignore[no-untyped-def]
    wh, _ = two_tenants
    for tenant in ("default", "other"):
        engine = wh.engines.get(tenant)
        root = str(wh.store.tenant_root(tenant).resolve()) + "/"
        assert engine.allowed_directories(), "the engine lists its allowed directories"
        assert all(d.startswith(root) for d in engine.allowed_directories()), (tenant, root)
        assert str(engine.spill_dir).startswith(root)


def test_a_spilling_query_of_one_tenant_is_invisible_to_another(two_tenants) -> None:  # type: ignore[no-untyped-def]
    wh, cwd = two_tenants
    victim = wh.engines.get("default")
    spill = victim.spill_dir
    answer: list[object] = []
    runner = threading.Thread(
        target=lambda: answer.append(wh.local(roles=("admin",)).query(SPILLING, use_cache=False))
    )
    runner.start()
    seen_spill = False
    attacker = Principal(tenant="other", user="eve", roles=("reader",))
    raw = wh.engines.get("other").cursor()  # the other tenant's engine, guard bypassed
    attacks = [
        f"SELECT regexp_extract(content::varchar, 'SECRET-[0-9]+') FROM (VALUES (1)) v(a), "
        f"LATERAL \"read_blob\"('{spill}/*')",
        f"SELECT * FROM (VALUES (1)) v(a), LATERAL \"glob\"('{spill.parent}/**')",
        "SELECT * FROM (VALUES (1)) v(a), LATERAL \"read_blob\"('.tmp/*')",
        f'SELECT * FROM "{spill}/*"',
    ]
    deadline = time.monotonic() + 120
    while runner.is_alive() and time.monotonic() < deadline:
        files = [p for p in spill.rglob("*") if p.is_file()] if spill.exists() else []
        if any(p.stat().st_size > 0 and "owner" not in p.name for p in files):
            seen_spill = True
            for sql in attacks:
                with pytest.raises(QueryRejected):
                    wh.session(attacker).query(sql)
                with pytest.raises(duckdb.Error) as info:  # the engine refuses it too
                    raw.execute(sql).fetchall()
                assert not re.search(r"SECRET-\d", str(info.value))
            for path in files[:3]:
                with pytest.raises(duckdb.PermissionException):
                    raw.execute(f"SELECT content FROM read_blob('{path}')").fetchall()
        time.sleep(0.05)
    runner.join(timeout=120)
    assert seen_spill, "the query did not spill: the test proves nothing (lower the memory)"
    assert answer and "SECRET-" in str(answer[0].rows()[0][0])  # type: ignore[attr-defined]
    assert not (cwd / ".tmp").exists(), "nothing spills into the working directory"
