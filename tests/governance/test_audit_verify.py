"""Tampering with the audit trail by raw SQL, the way someone with write access to the
metadata database would, is detected by verify: an edited field (named, with its recorded and
stored values), a deleted entry, a deleted last entry, two entries swapped, and, with an anchor
kept outside the database, a chain rewritten from scratch. In the library, the CLI (exit code
1) and the API."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from ledgerhouse import Warehouse
from ledgerhouse.api import create_app
from ledgerhouse.cli.main import app
from ledgerhouse.errors import InvalidRequest
from ledgerhouse.session import Session
from ledgerhouse.storage.audit import GENESIS, canonical, entry_hash
from tests.conftest import copy_warehouse

runner = CliRunner()


@pytest.fixture
def me(tmp_path: Path, ref_template: Path) -> Iterator[Session]:
    """A warehouse whose default tenant's chain has a few entries (the REF ingestions, a
    query, entries appended through the public ``append``)."""
    me = copy_warehouse(ref_template, tmp_path / "wh")
    me.query("SELECT firm FROM dim_portfolio")
    me.warehouse.query_log.flush()  # its entry (written by the log's thread) before carol's
    for i in range(3):
        me.warehouse.meta.audit.append(
            "default", "carol", ("steward",), "metadata_change", rows=i,
            detail={"object": f"fact_trade.col{i}", "after": {"description": "x"}},
        )  # fmt: skip
    yield me
    me.warehouse.close()


def _sql(me: Session, statement: str, **params: Any) -> None:
    with me.warehouse.meta.engine.begin() as c:
        c.execute(text(statement), params)


def _last_seq(me: Session) -> int:
    return me.warehouse.meta.audit.head("default")[0]


def _stored(me: Session) -> list[dict[str, Any]]:
    """The entries as stored (reading through the session would append an audit_read)."""
    return me.warehouse.meta.audit.entries("default", limit=1000)


def _verify(me: Session, **kw: Any) -> dict[str, Any]:
    return me.warehouse.meta.audit.verify("default", **kw).to_dict()


def _kinds(report: dict[str, Any]) -> list[tuple[int | None, str]]:
    return [(p["seq"], p["kind"]) for p in report["problems"]]


def test_an_intact_chain_verifies(me: Session) -> None:
    report = me.verify_audit()
    assert report["ok"] and report["problems"] == []
    assert report["entries_checked"] == report["head_seq"] == report["last_seq"] >= 8
    entries = me.audit_entries(limit=1000)
    # the report's own audit_read entry came after it
    assert entries[0]["action"] == "audit_read" and entries[0]["seq"] == report["head_seq"] + 1
    assert entries[1]["hash"] == report["head_hash"]
    # each entry links to the one before, and its hash is that of its canonical JSON
    ordered = sorted(entries, key=lambda e: e["seq"])
    assert ordered[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(ordered):
        assert after["prev_hash"] == before["hash"]
    assert all(entry_hash(canonical(e)) == e["hash"] for e in ordered)


def test_an_edited_field_is_named_with_its_recorded_and_stored_values(me: Session) -> None:
    seq = _last_seq(me) - 1  # carol's rows=1 entry
    _sql(me, "UPDATE audit_log SET rows = 999 WHERE tenant_id = 'default' AND seq = :s", s=seq)
    report = _verify(me)
    assert not report["ok"]
    assert _kinds(report) == [(seq, "edited")]
    assert report["problems"][0]["fields"] == {"rows": {"recorded": 1, "stored": 999}}


def test_an_edit_with_a_recomputed_canonical_text_breaks_the_hash(me: Session) -> None:
    seq = _last_seq(me) - 1
    entry = next(e for e in _stored(me) if e["seq"] == seq)
    forged = canonical({**entry, "user": "mallory"})
    _sql(
        me,
        "UPDATE audit_log SET \"user\" = 'mallory', canonical = :c "
        "WHERE tenant_id = 'default' AND seq = :s",
        c=forged,
        s=seq,
    )
    assert _kinds(_verify(me)) == [(seq, "hash_mismatch")]
    # recomputing the hash too moves the break to the next entry's link
    _sql(
        me,
        "UPDATE audit_log SET hash = :h WHERE tenant_id = 'default' AND seq = :s",
        h=entry_hash(forged),
        s=seq,
    )
    assert _kinds(_verify(me)) == [(seq + 1, "broken_link")]


def test_a_deleted_entry_is_a_gap(me: Session) -> None:
    seq = _last_seq(me) - 2
    _sql(me, "DELETE FROM audit_log WHERE tenant_id = 'default' AND seq = :s", s=seq)
    report = _verify(me)
    assert _kinds(report) == [(seq, "missing")]
    assert f"seq {seq} missing" in report["problems"][0]["message"]


def test_a_deleted_last_entry_is_a_truncated_tail(me: Session) -> None:
    last = _last_seq(me)
    _sql(me, "DELETE FROM audit_log WHERE tenant_id = 'default' AND seq = :s", s=last)
    report = _verify(me)
    assert _kinds(report) == [(last, "truncated")]
    assert report["head_seq"] == last and report["last_seq"] == last - 1


def test_two_swapped_entries_are_moved(me: Session) -> None:
    a = _last_seq(me) - 2
    b = a + 1
    _sql(me, "UPDATE audit_log SET seq = -1 WHERE tenant_id = 'default' AND seq = :a", a=a)
    _sql(me, "UPDATE audit_log SET seq = :a WHERE tenant_id = 'default' AND seq = :b", a=a, b=b)
    _sql(me, "UPDATE audit_log SET seq = :b WHERE tenant_id = 'default' AND seq = -1", b=b)
    report = _verify(me)
    kinds = _kinds(report)
    assert (a, "moved") in kinds and (b, "moved") in kinds
    assert (a, "broken_link") in kinds
    moved = next(p for p in report["problems"] if p["kind"] == "moved")
    assert moved["fields"] == {"seq": {"recorded": b, "stored": a}}


def test_a_tail_cut_with_the_head_moved_back_needs_the_anchor(me: Session) -> None:
    anchor = _verify(me)["head_hash"]
    last = _last_seq(me)
    previous = next(e for e in _stored(me) if e["seq"] == last - 1)
    _sql(me, "DELETE FROM audit_log WHERE tenant_id = 'default' AND seq = :s", s=last)
    _sql(
        me,
        "UPDATE audit_heads SET seq = :s, hash = :h WHERE tenant_id = 'default'",
        s=last - 1,
        h=previous["hash"],
    )
    assert _verify(me)["ok"]  # consistent again: only an anchor kept elsewhere tells
    report = _verify(me, expect_head=anchor)
    assert _kinds(report) == [(None, "anchor_not_found")]
    assert report["anchor"] == {"hash": anchor, "seq": None}


def test_a_chain_rewritten_from_scratch_is_caught_by_the_anchor(me: Session) -> None:
    anchor = _verify(me)["head_hash"]
    me.warehouse.meta.audit.append("default", "x", ("admin",), "query", rows=1)
    assert _verify(me, expect_head=anchor)["anchor"]["seq"] == _last_seq(me) - 1  # still there
    _sql(me, "DELETE FROM audit_log WHERE tenant_id = 'default'")
    _sql(me, "DELETE FROM audit_heads WHERE tenant_id = 'default'")
    for i in range(3):  # a whole new, internally consistent chain
        me.warehouse.meta.audit.append("default", "x", ("admin",), "query", rows=i)
    assert _verify(me)["ok"]
    assert _kinds(_verify(me, expect_head=anchor)) == [(None, "anchor_not_found")]


def test_a_deleted_head_row_is_detected(me: Session) -> None:
    _sql(me, "DELETE FROM audit_heads WHERE tenant_id = 'default'")
    assert _kinds(_verify(me)) == [(None, "head_missing")]


def test_a_bad_anchor_is_refused_with_what_to_give(me: Session) -> None:
    with pytest.raises(InvalidRequest, match="not a SHA-256 hash"):
        me.verify_audit(expect_head="abc")


def _cli(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return r.exit_code, r.stdout


def test_cli_verify_exit_code_and_list(tmp_path: Path, ref_template: Path) -> None:
    me = copy_warehouse(ref_template, tmp_path / "wh")
    me.query("SELECT name FROM dim_counterparty")
    me.warehouse.close()
    root = str(tmp_path / "wh")
    code, out = _cli("audit", "verify", "--root", root)
    assert code == 0 and "ok" in out and "entries checked: 5" in out
    code, out = _cli("audit", "verify", "--root", root, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"]
    code, out = _cli("audit", "list", "--root", root, "--json", "--action", "query")
    listed = json.loads(out)
    assert code == 0 and len(listed) == 1
    assert listed[0]["columns"] == {"dim_counterparty": ["name"]}
    code, out = _cli("audit", "list", "--root", root, "--relation", "dim_counterparty")
    assert code == 0 and "dim_counterparty(name)" in out
    with Warehouse.open(root=root) as wh, wh.meta.engine.begin() as c:
        c.execute(text("UPDATE audit_log SET status = 'ok?' WHERE seq = 2"))
    code, out = _cli("audit", "verify", "--root", root)
    assert code == 1 and "BROKEN" in out and "seq 2 edited" in out and "status" in out
    code, out = _cli("audit", "verify", "--root", root, "--expect-head", report["head_hash"])
    assert code == 1
    assert json.loads(_cli("audit", "verify", "--root", root, "--json")[1])["ok"] is False


def test_api_verify_reports_a_broken_chain(me: Session) -> None:
    key = me.create_api_key("ann", ("auditor",))
    with TestClient(create_app(me.warehouse)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        ok = client.get("/v1/audit/verify", headers=auth)
        assert ok.status_code == 200 and ok.json()["ok"] is True
        anchor = ok.json()["head_hash"]
        _sql(me, "DELETE FROM audit_log WHERE tenant_id = 'default' AND seq = 3")
        broken = client.get("/v1/audit/verify", headers=auth, params={"expect_head": anchor})
        assert broken.status_code == 200
        body = broken.json()
        assert body["ok"] is False
        assert [(p["seq"], p["kind"]) for p in body["problems"]] == [(3, "missing")]
        assert body["anchor"]["seq"] is not None  # the anchor itself is still in the chain
        bad = client.get("/v1/audit/verify", headers=auth, params={"expect_head": "zz"})
        assert bad.status_code == 400
