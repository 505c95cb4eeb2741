"""`DESCRIBE t` and `SHOW TABLES`: read-only catalog statements that answer from the
warehouse's own relations (a BI tool or a newcomer sends them first), through the same gate,
log and result shape as any query; other catalog commands stay refused."""

from __future__ import annotations

import pytest

from ledgerhouse.errors import Forbidden, QueryRejected
from ledgerhouse.session import Session


def test_show_tables_lists_the_queryable_relations(wh: Session) -> None:
    res = wh.query("SHOW TABLES")
    names = [row[0] for row in res.rows()]
    assert names == sorted(t["name"] for t in wh.tables())
    assert res.route == "catalog" and res.columns[0]["name"] == "name"
    assert wh.query("show tables;").rows() == res.rows()


def test_describe_gives_each_column_and_its_type(wh: Session) -> None:
    res = wh.query("DESCRIBE fact_trade")
    expected = next(t for t in wh.tables() if t["name"] == "fact_trade")["columns"]
    assert [(r[0], r[1]) for r in res.rows()] == [(c["name"], c["type"]) for c in expected]
    assert wh.query('describe "fact_trade"').rows() == res.rows()
    with pytest.raises(QueryRejected, match=r"unknown relation 'fact_trad'.*fact_trade"):
        wh.query("DESCRIBE fact_trad")
    logged = wh.query_log_entries(limit=1)[0]
    assert logged["text"] == "DESCRIBE fact_trad" and logged["status"] == "rejected"


def test_catalog_statements_pass_the_read_gate_and_nothing_else_is_let_through(
    wh: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledgerhouse.access import permissions

    admitted = permissions.may

    def deny_fact_trade(p, action, resource=None):  # type: ignore[no-untyped-def]
        if resource is not None and resource.name == "fact_trade":
            return False
        return admitted(p, action, resource)

    monkeypatch.setattr(permissions, "may", deny_fact_trade)
    with pytest.raises(Forbidden, match="fact_trade"):
        wh.query("DESCRIBE fact_trade")
    assert "fact_trade" not in [row[0] for row in wh.query("SHOW TABLES").rows()]
    for sql in ("SHOW ALL TABLES", "DESCRIBE SELECT 1", "SHOW databases", "DESCRIBE pg_settings"):
        with pytest.raises(QueryRejected):
            wh.query(sql)
